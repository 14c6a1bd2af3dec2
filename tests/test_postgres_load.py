"""The team ledger under load and under faults, on a real PostgreSQL server: kernels writing at
once lose nothing and never together cross a budget; a server that stops mid-session and
starts again loses no row and doubles none."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def jupyter_kernels(count: int) -> Iterator[list]:
    """`count` real ipykernels (their environment: the local OpenRouter and the team's
    ledger), each with a client; all shut down after."""
    from jupyter_client.manager import start_new_kernel

    started = []
    try:
        for _ in range(count):
            started.append(start_new_kernel(kernel_name="python3"))
        yield [client for _manager, client in started]
    finally:
        for manager, client in started:
            client.stop_channels()
            manager.shutdown_kernel(now=True)


def run_at_once(clients: list, cells: list[list[str]]) -> list[list[dict]]:
    """Every kernel's cells queued at once (`%load_ext orjupyter` first; a refused cell
    does not stop the next), the kernels running side by side; each cell's execute_reply
    content, in order."""
    sent = [
        [client.execute(code, stop_on_error=False) for code in ["%load_ext orjupyter", *mine]]
        for client, mine in zip(clients, cells, strict=True)
    ]
    replies: list[list[dict]] = []
    for client, ids in zip(clients, sent, strict=True):
        got: dict[str, dict] = {}
        while len(got) < len(ids):
            msg = client.get_shell_msg(timeout=300)
            if msg["parent_header"].get("msg_id") in ids:
                got[msg["parent_header"]["msg_id"]] = msg["content"]
        replies.append([got[msg_id] for msg_id in ids[1:]])
    return replies


def rows(url: str) -> tuple[int, int, Decimal]:
    with psycopg.connect(url) as conn:
        ((count, distinct, total),) = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT generation_id), COALESCE(SUM(cost), 0) FROM calls"
        ).fetchall()
    return count, distinct, total


def billed(router) -> Decimal:
    """What the local OpenRouter charged, call by call, as it sent each bill."""
    return sum((Decimal(repr(usage["cost"])) for usage in router.billed()), Decimal(0))


def test_four_kernels_times_25_calls_at_once_are_100_rows_and_the_exact_sum(
    router, team_url, monkeypatch
):
    monkeypatch.setenv("ORJUPYTER_LEDGER", team_url)
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    cells = [[f"%%gpt4o\nload test: kernel {k}, call {i}" for i in range(25)] for k in range(4)]
    with jupyter_kernels(4) as clients:
        replies = run_at_once(clients, cells)
    failed = [r.get("evalue") for mine in replies for r in mine if r["status"] != "ok"]
    assert failed == []
    assert len(router.billed()) == 100
    assert rows(team_url) == (100, 100, billed(router))
    with psycopg.connect(team_url) as conn:
        ((users, sessions, cached),) = conn.execute(
            "SELECT array_agg(DISTINCT user_name), COUNT(DISTINCT session_id), "
            "COUNT(*) FILTER (WHERE from_cache) FROM calls"
        ).fetchall()
    assert (users, sessions, cached) == (["alice"], 4, 0)


def test_two_kernels_of_one_user_never_together_cross_the_users_budget(
    router, team_url, monkeypatch
):
    monkeypatch.setenv("ORJUPYTER_LEDGER", team_url)
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    open_ledger(team_url).close()
    budget = Decimal("0.01")
    with psycopg.connect(team_url, autocommit=True) as conn:
        set_shared_budget(conn, "alice", budget, "month")
    # each answer runs to its 200 tokens: a call costs about its worst case ($0.002)
    cells = [
        [f"%%gpt4o --max-tokens 200\n[[fake words=400]] kernel {k}, call {i}" for i in range(8)]
        for k in range(2)
    ]
    with jupyter_kernels(2) as clients:
        replies = run_at_once(clients, cells)
    refused = [r["evalue"] for mine in replies for r in mine if r["status"] != "ok"]
    sent = sum(r["status"] == "ok" for mine in replies for r in mine)
    assert refused, "the budget never bound: the test proves nothing"
    assert all("refused (nothing was sent): alice's monthly budget is $0.01" in e for e in refused)
    count, _, spent = rows(team_url)
    assert count == sent == len(router.billed())
    assert spent == billed(router) <= budget
    assert budget - spent < Decimal("0.0025")  # spent as far as a next call could safely go


FOUR_WRITERS = textwrap.dedent("""
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


def run_writers(url: str, worst: str, costs: list[list[str]]) -> list[int]:
    """Four processes, each with its own connection, holding and writing 25 calls at the
    same moment, every call costing exactly its worst case; how many each had refused."""
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", FOUR_WRITERS, url, str(k), worst, *costs[k]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    try:
        for writer in writers:
            assert writer.stdout.readline() == "ready\n"
        for writer in writers:
            writer.stdin.write("go\n")
            writer.stdin.flush()
        return [int(writer.stdout.readline()) for writer in writers]
    finally:
        for writer in writers:
            writer.stdin.close()
            writer.wait(timeout=60)
            writer.stdout.close()


def test_four_writers_of_one_user_spend_the_users_budget_to_the_cent_and_no_further(team_url):
    open_ledger(team_url).close()
    with psycopg.connect(team_url, autocommit=True) as conn:
        set_shared_budget(conn, "alice", Decimal("2.00"), "month")
    refused = run_writers(team_url, "0.05", [["0.05"] * 25] * 4)  # each spends its worst case
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
