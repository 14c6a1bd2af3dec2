"""The team ledger under load and under faults, on a real PostgreSQL server: kernels writing at
once lose nothing and never together cross a budget; a server that stops mid-session and
starts again loses no row and doubles none."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal

import psycopg
import pytest

from orjupyter.core.budget import SharedBudgetExceeded
from orjupyter.core.domain import Usage
from orjupyter.store.base import open_ledger
from orjupyter.store.columns import CallRecord
from orjupyter.store.postgres import Caller, PostgresLedger
from orjupyter.store.team import set_shared_budget

NB = "/home/jovyan/load.ipynb"
KERNEL = textwrap.dedent("""
    import sys
    from decimal import Decimal
    from orjupyter.core.budget import SharedBudgetExceeded
    from orjupyter.core.domain import Usage
    from orjupyter.store.columns import CallRecord
    from orjupyter.store.postgres import Caller, PostgresLedger

    url, kernel, worst = sys.argv[1], int(sys.argv[2]), Decimal(sys.argv[3])
    ledger = PostgresLedger(url, caller=Caller(user="alice"))
    print("ready", flush=True)
    sys.stdin.readline()
    refused = 0
    for i in range(25):
        cost = Decimal(sys.argv[4 + i])
        try:
            hold = ledger.reserve("nb-%d" % kernel, worst)
        except SharedBudgetExceeded:
            refused += 1
            continue
        usage = Usage(prompt_tokens=10, completion_tokens=i, cost=cost)
        record = CallRecord("nb-%d" % kernel, None, "openai/gpt-4o", "gen-%d-%d" % (kernel, i),
                            usage, "ok")
        ledger.record(record, release=hold)
    ledger.close()
    print(refused, flush=True)
""")


def run_kernels(url: str, worst: str, costs: list[list[str]]) -> list[int]:
    """Four processes, each with its own connection, making 25 calls at the same moment;
    how many calls each had refused."""
    kernels = [
        subprocess.Popen(
            [sys.executable, "-c", KERNEL, url, str(k), worst, *costs[k]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    try:
        for kernel in kernels:
            assert kernel.stdout.readline() == "ready\n"
        for kernel in kernels:
            kernel.stdin.write("go\n")
            kernel.stdin.flush()
        return [int(kernel.stdout.readline()) for kernel in kernels]
    finally:
        for kernel in kernels:
            kernel.stdin.close()
            kernel.wait(timeout=60)
            kernel.stdout.close()


def rows(url: str) -> tuple[int, int, Decimal]:
    with psycopg.connect(url) as conn:
        ((count, distinct, total),) = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT generation_id), COALESCE(SUM(cost), 0) FROM calls"
        ).fetchall()
    return count, distinct, total


def test_four_kernels_times_25_calls_at_once_are_100_rows_and_the_exact_sum(team_url):
    costs = [[f"0.{k}{i:02d}0000123456789" for i in range(25)] for k in range(4)]
    assert run_kernels(team_url, "0.5", costs) == [0, 0, 0, 0]
    expected = sum((Decimal(c) for kernel in costs for c in kernel), Decimal(0))
    assert rows(team_url) == (100, 100, expected)


def test_four_kernels_of_one_user_never_together_cross_the_users_budget(team_url):
    open_ledger(team_url).close()
    with psycopg.connect(team_url, autocommit=True) as conn:
        set_shared_budget(conn, "alice", Decimal("2.00"), "month")
    refused = run_kernels(team_url, "0.05", [["0.05"] * 25] * 4)  # each spends its worst case
    assert sum(refused) == 60
    assert rows(team_url)[0::2] == (40, Decimal("2.00"))


def call(i: int, cost: str) -> CallRecord:
    usage = Usage(prompt_tokens=10, completion_tokens=i, cost=Decimal(cost))
    return CallRecord(NB, None, "openai/gpt-4o", f"gen-fault-{i}", usage, "ok")


def test_a_server_stopped_mid_session_loses_no_row_and_doubles_none(team_url, postgres, capfd):
    open_ledger(team_url).close()
    with psycopg.connect(team_url, autocommit=True) as conn:
        set_shared_budget(conn, "alice", Decimal("1.00"), "month")
    ledger = PostgresLedger(team_url, caller=Caller(user="alice"), retry_after=0)
    costs = [f"0.01{i:02d}000123" for i in range(30)]
    try:
        assert ledger.totals(NB).calls == 0  # as the panel reads it
        for i in range(10):
            ledger.record(call(i, costs[i]), release=ledger.reserve(NB, Decimal("0.02")))
        postgres.stop()
        try:
            for i in range(10, 20):  # calls go on; their rows wait
                ledger.record(call(i, costs[i]), release=ledger.reserve(NB, Decimal("0.02")))
            assert ledger.totals(NB).calls == 20
            with pytest.raises(SharedBudgetExceeded, match="alice's monthly budget"):
                ledger.reserve(NB, Decimal("0.90"))  # held here from the last known figures
            waiting = ledger.spool.waiting()
            assert len(waiting) == 10
            ledger.spool.add(waiting[0])  # the same row twice: still written once
        finally:
            postgres.start()
        for i in range(20, 30):
            ledger.record(call(i, costs[i]), release=ledger.reserve(NB, Decimal("0.02")))
    finally:
        ledger.close()
    assert rows(team_url) == (30, 30, sum(map(Decimal, costs), Decimal(0)))
    assert list(ledger.spool.folder.glob("*.jsonl")) == []
    err = capfd.readouterr().err
    assert err.count("cannot be reached") == 1
    assert "budgets are held here from the last known figures" in err
    assert postgres.password not in err


def test_a_kernel_started_while_the_server_is_away_holds_the_last_known_budget(
    team_url, postgres, capfd
):
    open_ledger(team_url).close()
    with psycopg.connect(team_url, autocommit=True) as conn:
        set_shared_budget(conn, "alice", Decimal("0.10"), "month")
    with PostgresLedger(team_url, caller=Caller(user="alice")) as first:
        first.record(call(0, "0.06"), release=first.reserve(NB, Decimal("0.06")))
    postgres.stop()
    try:
        later = PostgresLedger(team_url, caller=Caller(user="alice"), retry_after=0)
        with pytest.raises(SharedBudgetExceeded, match=r"\$0\.04 left"):
            later.reserve("/another.ipynb", Decimal("0.05"))
        later.record(call(1, "0.03"), release=later.reserve(NB, Decimal("0.03")))
    finally:
        postgres.start()
    with later:
        assert later.totals(NB).calls == 2  # back: the waiting row is written
    assert rows(team_url) == (2, 2, Decimal("0.09"))
    assert capfd.readouterr().err.count("cannot be reached") == 1
