"""The ledger: exact money, budgets, and no lost or torn writes across kernels and kills."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orjupyter.core.budget import BudgetExceeded, budget_warning
from orjupyter.core.domain import Totals, Usage
from orjupyter.store.ledger import (
    SCHEMA_VERSION,
    CallRecord,
    Ledger,
    LedgerError,
    default_ledger_path,
)

NB = "/home/me/analysis.ipynb"
T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def call(
    cost: str = "0.0002725", notebook: str = NB, model: str = "openai/gpt-4o", **kw
) -> CallRecord:
    usage = Usage(
        prompt_tokens=kw.pop("prompt_tokens", 97),
        completion_tokens=kw.pop("completion_tokens", 3),
        cost=Decimal(cost),
        cost_is_estimate=kw.pop("estimate", False),
    )
    cell = kw.pop("cell", "In [3]")
    outcome = kw.pop("outcome", "ok")
    return CallRecord(
        NB if notebook is None else notebook, cell, model, "gen-1", usage, outcome, **kw
    )


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "deep" / "dir" / "ledger.sqlite") as opened:
        yield opened


def run_child(code: str, *args: object, **popen) -> subprocess.Popen:
    """A new Python process running `code` (sys.argv[1:] = args), stdin/stdout as pipes."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        **popen,
    )


def start_together(children: list[subprocess.Popen]) -> None:
    """Wait until every child says "ready", then tell them all "go" at once."""
    for child in children:
        assert child.stdout.readline() == "ready\n"
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()


# --- records and totals ------------------------------------------------------------------


def test_every_field_round_trips(ledger):
    full = CallRecord(
        notebook=NB,
        cell="In [12]",
        model="anthropic/claude-3.5-sonnet",
        generation_id="gen-abc",
        usage=Usage(1200, 345, Decimal("0.0087"), True, cached_tokens=1024, reasoning_tokens=99),
        outcome="error",
        error="429 rate limited <again>",
        time_to_first_token=0.42,
        duration=3.5,
        from_cache=True,
        prompt="What is in {fig}?",
        answer="A chart.",
        started_at=T0,
    )
    bare = call(outcome="stopped", started_at=T0 + timedelta(seconds=1))
    ledger.record(full)
    ledger.record(bare)
    assert ledger.calls() == [full, bare]
    assert bare.prompt is None
    assert bare.answer is None
    raw = ledger._conn.execute("SELECT prompt, answer, cost FROM calls ORDER BY id").fetchall()
    assert raw == [("What is in {fig}?", "A chart.", "0.0087"), (None, None, "0.0002725")]


def test_an_api_key_in_an_error_message_is_not_stored(ledger):
    ledger.record(call(outcome="error", error="401 for key sk-or-v1-0123456789abcdef: invalid"))
    (error,) = ledger._conn.execute("SELECT error FROM calls").fetchone()
    assert error == "401 for key sk-or-…: invalid"


def test_naive_and_non_utc_times_are_stored_as_utc(ledger):
    plus_two = timezone(timedelta(hours=2))
    ledger.record(call(started_at=T0.astimezone(plus_two)))
    ledger.record(call(started_at=T0.replace(tzinfo=None) + timedelta(seconds=1)))
    assert [c.started_at for c in ledger.calls()] == [T0, T0 + timedelta(seconds=1)]


def test_rejects_bad_outcomes_and_costs(ledger):
    with pytest.raises(ValueError, match="outcome"):
        ledger.record(call(outcome="maybe"))
    with pytest.raises(ValueError, match="finite"):
        ledger.record(call(cost="NaN"))
    with pytest.raises(ValueError, match="non-negative"):
        ledger.reserve(NB, Decimal("-0.01"))
    assert ledger.totals() == Totals()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=0, max_value=50, places=10),
            st.integers(0, 200_000),
            st.integers(0, 100_000),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_totals_are_the_exact_decimal_sum(entries):
    with tempfile.TemporaryDirectory() as folder, Ledger(Path(folder) / "l.sqlite") as ledger:
        expected = Totals()
        for cost, prompt, completion, estimate in entries:
            usage = Usage(prompt, completion, cost, estimate)
            ledger.record(CallRecord(NB, None, "m", "g", usage, "ok"))
            expected = expected.add(usage)
        assert ledger.totals(NB) == expected
        assert ledger.totals() == expected
        assert ledger.totals().cost == sum((cost for cost, *_ in entries), Decimal(0))


def test_many_small_costs_do_not_drift(ledger):
    for _ in range(1000):
        ledger.record(call("0.0002725"))
    assert ledger.totals().cost == Decimal("0.2725")


def test_per_notebook_and_all(ledger):
    ledger.record(call("0.10", notebook="a.ipynb", model="m1", prompt_tokens=10, estimate=True))
    ledger.record(call("0.20", notebook="a.ipynb", model="m2", prompt_tokens=20))
    ledger.record(call("0.05", notebook="b.ipynb", model="m1", prompt_tokens=5))
    assert ledger.totals("a.ipynb") == Totals(2, 30, 6, Decimal("0.30"), 1)
    assert ledger.totals("b.ipynb") == Totals(1, 5, 3, Decimal("0.05"), 0)
    assert ledger.totals("nobody.ipynb") == Totals()
    assert ledger.totals() == Totals(3, 35, 9, Decimal("0.35"), 1)
    assert ledger.cost_by_model("a.ipynb") == [("m2", 1, Decimal("0.2")), ("m1", 1, Decimal("0.1"))]
    assert ledger.cost_by_model() == [("m1", 2, Decimal("0.15")), ("m2", 1, Decimal("0.2"))][::-1]
    assert ledger.notebooks() == [("a.ipynb", 2, Decimal("0.3")), ("b.ipynb", 1, Decimal("0.05"))]
    assert [c.notebook for c in ledger.calls("b.ipynb")] == ["b.ipynb"]


def test_calls_are_oldest_first_and_limit_keeps_the_newest(ledger):
    for minute in (3, 1, 2):
        ledger.record(call(cell=None, started_at=T0 + timedelta(minutes=minute)))
    minutes = [(c.started_at - T0) // timedelta(minutes=1) for c in ledger.calls()]
    assert minutes == [1, 2, 3]
    assert [(c.started_at - T0).seconds // 60 for c in ledger.calls(limit=2)] == [2, 3]


def test_rename_moves_history_and_budget(ledger):
    ledger.record(call(notebook="Untitled.ipynb"))
    ledger.record(call(notebook="Untitled.ipynb"))
    ledger.record(call(notebook="other.ipynb"))
    ledger.set_budget("Untitled.ipynb", Decimal("2"))
    assert ledger.rename_notebook("Untitled.ipynb", "analysis.ipynb") == 2
    assert ledger.totals("analysis.ipynb").calls == 2
    assert ledger.totals("Untitled.ipynb").calls == 0
    assert ledger.budget("analysis.ipynb") == Decimal("2")
    assert ledger.budget("Untitled.ipynb") is None
    ledger.set_budget("other.ipynb", Decimal("1"))  # the target's own budget is kept
    assert ledger.rename_notebook("analysis.ipynb", "other.ipynb") == 2
    assert ledger.budget("other.ipynb") == Decimal("1")
    assert ledger.rename_notebook("other.ipynb", "other.ipynb") == 0


# --- the file ------------------------------------------------------------------------------


def test_file_is_private_versioned_and_in_wal_mode(ledger):
    assert ledger.path.exists()
    assert ledger.path.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(ledger.path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    raw.close()


def test_reopening_keeps_data_and_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path) as first:
        first.record(call())
    with Ledger(path) as second:
        assert second.totals().calls == 1
        second._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LedgerError, match="newer orjupyter"):
        Ledger(path)


def test_default_path(monkeypatch, tmp_path):
    monkeypatch.setenv("ORJUPYTER_LEDGER", str(tmp_path / "mine.sqlite"))
    assert default_ledger_path() == tmp_path / "mine.sqlite"
    monkeypatch.delenv("ORJUPYTER_LEDGER")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    assert default_ledger_path() == tmp_path / "data" / "orjupyter" / "ledger.sqlite"
    monkeypatch.delenv("JUPYTER_DATA_DIR")
    monkeypatch.setitem(sys.modules, "jupyter_core.paths", None)  # as if not installed
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".local/share/jupyter/orjupyter/ledger.sqlite"
    assert default_ledger_path() == expected


# --- budgets -------------------------------------------------------------------------------


def test_budget_persists_across_processes(tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.set_budget(NB, Decimal("0.50"))
    code = """
        import sys
        from decimal import Decimal
        from orjupyter.store.ledger import Ledger
        with Ledger(sys.argv[1]) as ledger:
            print(ledger.budget(sys.argv[2]))
            ledger.set_budget("other.ipynb", Decimal("1.25"))
    """
    with run_child(code, path, NB) as child:
        out, _ = child.communicate(timeout=30)
    assert out.strip() == "0.50"
    with Ledger(path) as ledger:
        assert ledger.budget("other.ipynb") == Decimal("1.25")
        ledger.set_budget("other.ipynb", None)
        assert ledger.budget("other.ipynb") is None
        with pytest.raises(ValueError, match="non-negative"):
            ledger.set_budget(NB, Decimal("-1"))


def test_reserve_refuses_beyond_the_budget_in_one_line(ledger):
    ledger.set_budget(NB, Decimal("0.50"))
    ledger.record(call("0.45"))
    held = ledger.reserve(NB, Decimal("0.03"))
    with pytest.raises(BudgetExceeded) as refused:
        ledger.reserve(NB, Decimal("0.08"))
    message = str(refused.value)
    assert "\n" not in message
    for part in ("$0.45", "$0.50", "$0.08", "$0.03 held", "nothing was sent"):
        assert part in message
    assert "`%gpt4o budget 1.00`" in message
    ledger.release(held)
    assert ledger.reserve(NB, Decimal("0.05")).id is not None  # exactly at the budget: allowed


def test_no_budget_means_a_no_op_reservation(ledger):
    reservation = ledger.reserve(NB, Decimal("1000"))
    assert reservation.id is None
    ledger.release(reservation)
    ledger.record(call(), release=reservation)
    assert ledger._conn.execute("SELECT COUNT(*) FROM reservations").fetchone() == (0,)


def test_recording_with_release_frees_the_hold_atomically(ledger):
    ledger.set_budget(NB, Decimal("0.10"))
    reservation = ledger.reserve(NB, Decimal("0.10"))
    with pytest.raises(BudgetExceeded):
        ledger.reserve(NB, Decimal("0.01"))
    ledger.record(call("0.04"), release=reservation)  # cost less than its worst case
    assert ledger.reserve(NB, Decimal("0.06")).id is not None


def test_budget_warning_at_80_percent():
    assert budget_warning(Decimal("0.39"), Decimal("0.50")) is None
    assert budget_warning(Decimal("0.39"), None) is None
    line = budget_warning(Decimal("0.40"), Decimal("0.50"))
    assert line is not None
    assert "\n" not in line
    assert "$0.40" in line
    assert "$0.50" in line
    assert "80%" in line
    assert "%gpt4o budget 1.00" in line


def test_threads_never_overspend(tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path) as setup:
        setup.set_budget(NB, Decimal("1.00"))
    shared = Ledger(path)
    granted: list[Decimal] = []
    start = threading.Barrier(16)

    def worker(index: int) -> None:
        own = Ledger(path) if index % 2 else None
        ledger = own or shared
        start.wait()
        for _ in range(10):
            with contextlib.suppress(BudgetExceeded):
                granted.append(ledger.reserve(NB, Decimal("0.07")).amount)
        if own:
            own.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shared.close()
    assert len(granted) == 14  # ⌊1.00 / 0.07⌋: every free cent used, none overspent
    assert sum(granted) <= Decimal("1.00")


RESERVER = """
    import sys
    from decimal import Decimal
    from orjupyter.core.budget import BudgetExceeded
    from orjupyter.store.ledger import Ledger
    ledger = Ledger(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    granted = 0
    for _ in range(40):
        try:
            ledger.reserve(sys.argv[2], Decimal("0.03"))
            granted += 1
        except BudgetExceeded:
            pass
    print(granted, flush=True)
    sys.stdin.read()  # stay alive (holding) until told to go
"""


def test_processes_never_overspend(tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.set_budget(NB, Decimal("1.00"))
        ledger.record(call("0.10"))
    children = [run_child(RESERVER, path, NB) for _ in range(3)]
    try:
        start_together(children)
        granted = [int(child.stdout.readline()) for child in children]
    finally:
        for child in children:
            child.communicate(timeout=30)
    assert sum(granted) == 30  # (1.00 - 0.10) / 0.03, across three processes at once


def test_expired_and_orphaned_reservations_do_not_block(tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.set_budget(NB, Decimal("1.00"))
        ledger.reserve(NB, Decimal("1.00"))
        with pytest.raises(BudgetExceeded):
            ledger.reserve(NB, Decimal("0.01"))
    with Ledger(path, reservation_ttl=0.0) as impatient:  # an hour later, as it were
        assert impatient.reserve(NB, Decimal("1.00")).id is not None
    # A kernel that reserved, then died without releasing: its PID is gone.
    code = """
        import sys
        from decimal import Decimal
        from orjupyter.store.ledger import Ledger
        Ledger(sys.argv[1]).reserve(sys.argv[2], Decimal("1.00"))
    """
    with Ledger(path, reservation_ttl=0.0) as ledger:
        ledger._conn.execute("DELETE FROM reservations")
    with run_child(code, path, NB) as child:
        child.communicate(timeout=30)
    with Ledger(path) as ledger:
        assert ledger._conn.execute("SELECT COUNT(*) FROM reservations").fetchone() == (1,)
        assert ledger.reserve(NB, Decimal("1.00")).id is not None


# --- concurrent writers and kills ------------------------------------------------------------

WRITER = """
    import sys, time
    from decimal import Decimal
    from orjupyter.core.domain import Usage
    from orjupyter.store.ledger import CallRecord, Ledger
    ledger = Ledger(sys.argv[1])
    tag, count, pause = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(count):
        usage = Usage(i, 1, Decimal("0.0002725") * (i + 1), i % 2 == 0)
        ledger.record(CallRecord(tag, str(i), "m", f"gen-{tag}-{i}", usage, "ok"))
        print(i, flush=True)
        time.sleep(pause)  # let the other writer in between
    ledger.close()
"""


def cost_of_first(count: int) -> Decimal:
    return sum((Decimal("0.0002725") * (i + 1) for i in range(count)), Decimal(0))


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    children = [run_child(WRITER, path, tag, 200, 0.001) for tag in ("a", "b")]
    try:
        start_together(children)
    finally:
        outputs = [child.communicate(timeout=60)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0]
    assert [len(out.split()) for out in outputs] == [200, 200]
    with Ledger(path) as ledger:
        assert ledger.totals() == Totals(400, 2 * sum(range(200)), 400, 2 * cost_of_first(200), 200)
        assert ledger.totals("a").cost == cost_of_first(200)
        calls = ledger.calls()
    assert len({c.generation_id for c in calls}) == 400
    order = [c.notebook for c in calls]
    # They really wrote at the same time: the rows interleave.
    assert sum(a != b for a, b in itertools.pairwise(order)) >= 10


def assert_consistent(path: Path, committed: int) -> None:
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    raw.close()
    with Ledger(path) as ledger:
        totals = ledger.totals()
        assert totals.calls == committed
        assert totals.cost == cost_of_first(committed)
        ledger.record(call("0.01", notebook="after"))  # the lock died with the process
        assert ledger.totals("after").calls == 1


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")  # no SIGKILL on Windows
def test_sigkill_while_holding_a_write_transaction(tmp_path):
    path = tmp_path / "l.sqlite"
    code = WRITER.replace("    ledger.close()", "") + textwrap.indent(
        textwrap.dedent("""
        conn = ledger._conn
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE calls SET cost = '999'")
        conn.execute("DELETE FROM calls WHERE id % 2 = 0")
        print("holding", flush=True)
        import time; time.sleep(60)
        """),
        "    ",
    )
    with run_child(code, path, "k", 25, 0) as child:
        assert child.stdout.readline() == "ready\n"
        child.stdin.write("go\n")
        child.stdin.flush()
        lines = []
        while (line := child.stdout.readline()) != "holding\n":
            lines.append(line)
        # Another kernel's write waits for the lock (it does not fail) ...
        waiting = Ledger(path)
        writer = threading.Thread(target=waiting.record, args=(call("0.5", notebook="waiter"),))
        writer.start()
        writer.join(timeout=0.3)
        assert writer.is_alive()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        writer.join(timeout=30)  # ... and goes through once the holder is killed
        assert not writer.is_alive()
        assert waiting.totals("waiter").calls == 1
        waiting._conn.execute("DELETE FROM calls WHERE notebook = 'waiter'")
        waiting.close()
    assert len(lines) == 25
    assert_consistent(path, 25)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")  # no SIGKILL on Windows
def test_sigkill_in_the_middle_of_writes(tmp_path):
    path = tmp_path / "l.sqlite"
    with run_child(WRITER, path, "k", 100_000, 0) as child:
        assert child.stdout.readline() == "ready\n"
        child.stdin.write("go\n")
        child.stdin.flush()
        printed = 0
        while printed < 150:
            child.stdout.readline()
            printed += 1
        os.kill(child.pid, signal.SIGKILL)
        printed += len(child.stdout.read().split())
        child.wait(timeout=30)
    with Ledger(path) as ledger:
        committed = ledger.totals().calls
    # The kill may land between a commit and its print: at most one more than printed.
    assert committed in (printed, printed + 1)
    assert_consistent(path, committed)


def test_threads_sharing_one_ledger_lose_nothing(ledger):
    def write() -> None:
        for _ in range(50):
            ledger.record(call("0.0002725"))

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.totals().calls == 400
    assert ledger.totals().cost == Decimal("0.109")


def test_what_is_left_of_a_budget_is_never_shown_as_more_than_it_is():
    from orjupyter.core.budget import dollars

    assert dollars(Decimal("10") - Decimal("0.0022")) == "$9.9978"  # not "$10.00"
    assert dollars(Decimal("4.99728")) == "$4.9972"
    assert dollars(Decimal("10.00001")) == "$10.00"
    assert dollars(Decimal("1234.5")) == "$1,234.50"
    assert dollars(Decimal("0.50")) == "$0.50"
    assert dollars(Decimal("0.0002725")) == "$0.0002725"
