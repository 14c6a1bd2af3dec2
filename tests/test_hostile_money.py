"""A hostile server's money against a real IPython shell (orjupyter.fakerouter.hostile):
costs that rise under a `--map` cap, 429 storms, costs of a billion digits, prices that
are unknown, bills above a call's worst case, and `GET /generation` answers that lie,
swell or hang. Caps hold, nothing expands, and a bill that cannot be right is not booked."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from notebook_support import loaded_shell, point_at

from orjupyter.core.domain import Usage
from orjupyter.fakerouter.hostile import HostileRouter
from orjupyter.fakerouter.hostile_money import BIG_GENERATION
from orjupyter.store.ledger import CallRecord, Ledger

KEY = "plain-test-key-0123456789"
GPT4O = "openai/gpt-4o-2024-11-20"
WORST = Decimal("0.1639")
"""A short question's worst case on GPT-4o: 16,384 answer tokens at $10 per million."""


@pytest.fixture(scope="module")
def server() -> Iterator[HostileRouter]:
    with HostileRouter() as router:
        yield router


@pytest.fixture
def hostile(
    server: HostileRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> HostileRouter:
    server.reset()
    point_at(monkeypatch, tmp_path, server.base_url, KEY)
    return server


@pytest.fixture
def ip(hostile: HostileRouter) -> Iterator[object]:
    yield from loaded_shell()


def run(shell, source: str):
    return shell.run_cell(source, store_history=True)


def notebook_key(shell) -> str:
    return shell.magics_manager.registry["OrJupyterMagics"].notebook().key


def ledger_costs(tmp_path: Path) -> list[tuple[str, str, int]]:
    """(notebook, cost as stored, cost_is_estimate) of every row, in order."""
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        rows = db.execute("SELECT notebook, cost, cost_is_estimate FROM calls ORDER BY id")
        found = rows.fetchall()
    db.close()
    return found


# --- a run's cap -------------------------------------------------------------------------


@pytest.mark.parametrize("storm", ["", "storm=2"], ids=["rising", "rising-429-storm"])
def test_a_map_cap_holds_at_concurrency_32_when_costs_rise(ip, hostile, capsys, storm):
    """The first 40 answers cost $0.0001 and every later one $0.10, each well under a row's
    worst case ($0.1639): the cap must hold the rows in flight at that worst case, not at
    the cheap cost seen so far."""
    directive = f"[[hostile after=40 then=0.10 delay=0.05 {storm}]]"
    ip.user_ns["rows"] = [f"row {i} {directive}" for i in range(500)]
    ip.run_line_magic("config", "OrJupyter.max_retries = 2")  # the storm refuses twice
    cell = "%%gpt4o --map rows -o out --concurrency 32 --budget 0.50\n{item}"
    assert run(ip, cell).success
    out = capsys.readouterr().out
    billed = sum(hostile.bills.billed)
    assert billed <= Decimal("0.50")
    # the dear rows were reached (on a busy machine a cheap row may use up its retries in
    # the storm and fail unbilled, so how many cheap ones were billed varies)
    assert Decimal("0.10") in hostile.bills.billed
    assert "--budget $0.5 reached" in out
    answered = sum(value is not None for value in ip.user_ns["out"])
    assert answered == len(hostile.bills.billed)
    assert f"billed ${billed.normalize():f}" in out


def test_a_map_cap_with_an_unknown_price_sends_nothing(ip, hostile, capsys):
    ip.user_ns["rows"] = [f"row {i} [[hostile cost=0.10]]" for i in range(20)]
    cell = "%%gpt4o --map rows -o out -m hostile/router --budget 0.05\n{item}"
    assert run(ip, cell).success
    out = capsys.readouterr().out
    assert hostile.requests == []
    assert "--budget $0.05 cannot bound this run: hostile/router's price is unknown" in out
    assert "20 rows not sent" in out
    assert ip.user_ns["out"] == [None] * 20


def test_a_cap_below_one_rows_worst_case_says_so_and_sends_nothing(ip, hostile, capsys):
    ip.user_ns["rows"] = ["a", "b", "c"]
    assert run(ip, "%%gpt4o --map rows -o out --budget 0.01\nSay {item}").success
    out = capsys.readouterr().out
    assert hostile.requests == []
    assert "--budget $0.01 is less than one row's worst case ($0.1639" in out
    assert "lower the worst case with --max-tokens" in out
    # a lower --max-tokens brings the worst case under the cap: the rows go
    assert run(ip, "%%gpt4o --map rows -o out --budget 0.01 --max-tokens 100\nSay {item}").success
    assert ip.user_ns["out"] == ["A fine answer."] * 3


def test_a_bill_above_the_worst_case_is_booked_and_warned_about(ip, hostile, capsys, tmp_path):
    assert run(ip, "%%gpt4o -o reply\n[[hostile cost=0.40]]").success
    err = capsys.readouterr().err
    assert (
        "the server billed $0.40 for this call, more than its worst case at list prices "
        "($0.1639); the bill is booked and counts against the budget" in err
    )
    assert [cost for _, cost, _ in ledger_costs(tmp_path)] == ["0.4"]


def test_a_row_billed_above_its_worst_case_stops_a_capped_run(ip, hostile, capsys):
    ip.user_ns["rows"] = [f"row {i} [[hostile cost=0.40 delay=0.05]]" for i in range(50)]
    assert run(ip, "%%gpt4o --map rows -o out --concurrency 8 --budget 0.50\n{item}").success
    out = capsys.readouterr().out
    # three rows fit under the cap at their worst case; each was billed $0.40: no fourth
    assert len(hostile.bills.billed) == 3
    assert "a row was billed more than its worst case at list prices ($0.1639)" in out
    assert "47 rows not sent" in out


# --- numbers of a billion digits ------------------------------------------------------------


@pytest.mark.parametrize("cost", ["1E-999999999", "1E-9999999"])
def test_a_cost_of_a_billion_digits_is_not_believed_and_expands_nowhere(
    ip, hostile, capsys, tmp_path, cost
):
    assert run(ip, f"%%gpt4o -o reply\n[[hostile cost_text={cost}]]").success
    err = capsys.readouterr().err
    assert f"impossible usage (cost {cost})" in err
    assert ip.user_ns["reply"].usage.cost_is_estimate
    ((_, stored, estimate),) = ledger_costs(tmp_path)
    assert len(stored) < 30
    assert estimate == 1
    assert not list(tmp_path.glob("*.unrecorded.jsonl"))
    # the ledger still works, and so do budgets
    ip.run_line_magic("gpt4o", "budget 0.01")
    result = run(ip, "%%gpt4o\nAnything")
    assert "refused (nothing was sent)" in str(result.error_in_exec)


def test_a_price_of_a_billion_digits_is_unknown(ip, hostile, capsys, tmp_path):
    ip.run_line_magic("gpt4o", "budget 1.00")
    result = run(ip, "%%gpt4o -m hostile/digits\n[[hostile truncated]]")
    assert "hostile/digits's price is unknown" in str(result.error_in_exec)
    ip.run_line_magic("gpt4o", "budget off")
    run(ip, "%%gpt4o -m hostile/digits -o reply\n[[hostile truncated]]")  # recorded at an estimate
    assert ip.user_ns["reply"].usage.cost_is_estimate
    assert all(len(stored) < 30 for _, stored, _ in ledger_costs(tmp_path))


# --- GET /generation ---------------------------------------------------------------------


def estimated_rows(tmp_path: Path, rows: list[tuple[str, str, str]]) -> None:
    """Ledger rows recorded at an estimate: (notebook, cell, generation id)."""
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        for notebook, cell, generation_id in rows:
            usage = Usage(10, 5, Decimal("0.0001"), cost_is_estimate=True)
            ledger.record(CallRecord(notebook, cell, GPT4O, generation_id, usage, "stopped"))


def test_a_stopped_call_never_takes_another_generations_bill(ip, hostile, tmp_path):
    run(ip, "%%gpt4o -o reply\n[[hostile truncated id=other-1]]")
    reply = ip.user_ns["reply"]
    assert (reply.outcome, reply.id) == ("incomplete", "gen-hostile-other-1")
    session = ip.magics_manager.registry["OrJupyterMagics"].session
    assert session.settling[reply.id].result(timeout=30) is None  # asked, and not believed
    assert ledger_costs(tmp_path)[0][2] == 1  # still the estimate: not $7.77
    assert "gen-hostile-other-1" in hostile.bills.generation_asked


def test_reconcile_believes_only_bills_that_can_be_right(ip, hostile, capsys, tmp_path):
    me = notebook_key(ip)
    modes = ["ok", "other", "bill", "digits", "big", "slow"]
    estimated_rows(
        tmp_path, [(me, f"[{n}]", f"gen-hostile-{mode}-1") for n, mode in enumerate(modes)]
    )
    ip.run_line_magic("gpt4o", "reconcile")
    out = capsys.readouterr().out
    assert "Settled 1 estimated call with OpenRouter's bill (+$0.0499); 5 still estimated." in out
    assert f"[0] {GPT4O}: ~$0.0001 → $0.05" in out
    assert "Not settled (the estimate is kept):" in out
    says = {
        "other": "the answer was another generation's (gen-someone-else)",
        "bill": "billed $9,999.99, far above this call's worst case of $0.1639",
        "digits": "impossible numbers (cost 1E-999999999)",
        "big": "the answer was longer than 64 KB",
        "slow": "no answer within 5 s",
    }
    for n, mode in enumerate(modes[1:], start=1):
        assert f"[{n}] {GPT4O} gen-hostile-{mode}-1: {says[mode]}" in out
    costs = ledger_costs(tmp_path)
    assert costs[0][1:] == ("0.05", 0)
    assert [row[1:] for row in costs[1:]] == [("0.0001", 1)] * 5
    assert hostile.bills.generation_sent["gen-hostile-big-1"] < BIG_GENERATION // 4


def test_reconcile_settles_only_this_notebooks_rows_and_one_row_per_generation(
    ip, hostile, capsys, tmp_path
):
    me = notebook_key(ip)
    shared = "gen-hostile-ok-shared"
    estimated_rows(
        tmp_path,
        [("A", "[1]", shared), ("A", "[2]", shared), ("A", "[3]", shared),
         (me, "[1]", shared), (me, "[2]", shared)],
    )  # fmt: skip
    ip.run_line_magic("gpt4o", "reconcile")
    out = capsys.readouterr().out
    assert "Settled 1 estimated call with OpenRouter's bill (+$0.0499); 1 still estimated." in out
    assert "[2] openai/gpt-4o-2024-11-20 gen-hostile-ok-shared: shares its generation id" in out
    costs = ledger_costs(tmp_path)
    assert [cost for notebook, cost, _ in costs if notebook == "A"] == ["0.0001"] * 3
    assert [(cost, estimate) for notebook, cost, estimate in costs if notebook == me] == [
        ("0.05", 0),
        ("0.0001", 1),
    ]
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.totals().cost == Decimal("0.0504")  # one bill, once
    ip.run_line_magic("gpt4o", "reconcile")  # again: nothing more is settled
    assert "Settled 0 estimated calls" in capsys.readouterr().out
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.totals().cost == Decimal("0.0504")


# --- the ledger --------------------------------------------------------------------------


def test_a_ledger_from_a_newer_orjupyter_says_budgets_are_off(ip, hostile, tmp_path, capsys):
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    assert run(ip, "%%gpt4o\nHello").success
    err = capsys.readouterr().err
    assert "was written by a newer orjupyter (schema 99)" in err
    assert "totals are kept in this kernel only and budgets are not checked" in err


def test_rows_billed_above_their_worst_case_are_named_in_a_run_without_a_cap(ip, hostile, capsys):
    ip.user_ns["rows"] = [f"row {i} [[hostile cost=0.40]]" for i in range(3)]
    assert run(ip, "%%gpt4o --map rows -o out\n{item}").success
    out = capsys.readouterr().out
    assert len(hostile.bills.billed) == 3  # no cap: every row goes
    assert "billed $1.20" in out
    assert (
        "a row was billed more than its worst case at list prices ($0.1639); check the "
        "charges at https://openrouter.ai/activity" in out
    )
