"""The usage view's figures, summed by the ledger's database: the same answers from a
SQLite file and from a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from orjupyter.core.domain import Usage
from orjupyter.store.base import LedgerStore
from orjupyter.store.columns import CallRecord
from orjupyter.store.ledger import Ledger
from orjupyter.store.usage import combined

NB = "/home/ana/tickets.ipynb"
T0 = datetime(2025, 5, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    if request.param == "sqlite":
        with Ledger(tmp_path / "ledger.sqlite") as sqlite:
            yield sqlite
        return
    from orjupyter.store.postgres import Caller, PostgresLedger

    url = request.getfixturevalue("team_url")
    with PostgresLedger(url, caller=Caller(user="ana", host="hub-1")) as team:
        yield team


def call(second: int, cost: str = "0.001", **kw) -> CallRecord:
    fields: dict = {
        "notebook": NB,
        "cell": "[3]",
        "model": "openai/gpt-4o-mini",
        "generation_id": f"gen-{second}-{kw.get('model', '')}",
        "usage": Usage(100, 10, Decimal(cost)),
        "outcome": "ok",
        "started_at": T0 + timedelta(seconds=second),
    }
    fields.update(kw)
    return CallRecord(**fields)


def a_notebooks_day() -> list[CallRecord]:
    """A single call, a --map of 6 rows (2 from the cache, 1 failed at an estimate), a
    --compare of two models, then another single call that stopped."""
    run = "--map tickets 1a2b3c4d"
    rows = [call(10 + i, cell="[4]", run=run) for i in range(3)]
    rows += [
        call(13 + i, "0", cell="[4]", run=run, from_cache=True, generation_id="") for i in range(2)
    ]
    estimate = Usage(100, 0, Decimal("0.0005"), cost_is_estimate=True, cached_tokens=64)
    rows.append(call(15, cell="[4]", run=run, outcome="error", error="429", usage=estimate))
    pair = [call(20, cell="[5]", run="--compare 5e6f7a8b", model=m) for m in ("b/two", "a/one")]
    return [call(0), *rows, *pair, call(30, "0.002", cell="[6]", outcome="stopped")]


def test_a_run_is_one_entry_with_its_counts_and_bill(ledger: LedgerStore) -> None:
    for record in a_notebooks_day():
        ledger.record(record)
    entries = ledger.entries(NB)
    assert entries.total == 4
    first, run, pair, last = entries.shown
    assert (first.run, first.calls, first.answered, first.cost) == (None, 1, 1, Decimal("0.001"))
    assert run.label == "--map tickets"
    assert run.cell == "[4]"
    assert (run.rows, run.answered, run.from_cache, run.failed, run.stopped) == (6, 5, 2, 1, 0)
    assert run.calls == 4  # billed: the answers from the cache are not calls
    assert run.cost == Decimal("0.0035")
    assert run.estimated == 1
    assert run.cached_tokens == 64
    assert run.prompt_tokens == 600
    assert run.started_at == T0 + timedelta(seconds=10)
    assert pair.models == ("a/one", "b/two")
    assert (pair.calls, pair.rows, pair.label) == (2, 2, "--compare")
    assert (last.stopped, last.answered, last.cost) == (1, 0, Decimal("0.002"))
    newest = ledger.entries(NB, limit=2)
    assert newest.total == 4
    assert newest.shown == [pair, last]
    assert ledger.entries("/elsewhere.ipynb").shown == []


def test_calls_are_the_calls_sent_and_the_cache_is_counted_apart(ledger: LedgerStore) -> None:
    for record in a_notebooks_day():
        ledger.record(record)
    totals = ledger.totals(NB)
    assert (totals.calls, totals.from_cache) == (8, 2)
    assert totals.cost == Decimal("0.0085")
    by_model = dict((model, calls) for model, calls, _ in ledger.cost_by_model(NB))
    assert by_model == {"openai/gpt-4o-mini": 6, "a/one": 1, "b/two": 1}
    assert ledger.notebooks() == [(NB, 8, Decimal("0.0085"))]
    models = ledger.by_model(NB)
    assert [m.model for m in models] == ["openai/gpt-4o-mini", "a/one", "b/two"]  # dearest first
    mini = models[0].totals
    assert (mini.calls, mini.from_cache, mini.cached_tokens) == (6, 2, 64)
    assert (mini.cost, mini.estimated_calls) == (Decimal("0.0065"), 1)
    assert combined(models) == totals  # the view's totals: the models' sums


def test_the_spend_comes_in_steps_that_add_up_to_the_bill(ledger: LedgerStore) -> None:
    for record in a_notebooks_day():
        ledger.record(record)
    steps = ledger.spend(NB)  # by the second here: the calls are seconds apart
    assert len(steps) == 9
    drawn = sum(step.cost for step in steps)
    assert abs(drawn - ledger.totals(NB).cost) < Decimal("1e-12")  # drawn, not billed
    assert steps[0].first == T0
    assert steps[-1].last == T0 + timedelta(seconds=30)
    assert [step.last for step in steps] == sorted(step.last for step in steps)
    coarse = ledger.spend(NB, steps=2)  # 30 s in at most about 2 slices: by the minute
    assert len(coarse) == 1
    assert (coarse[0].first, coarse[0].last) == (T0, T0 + timedelta(seconds=30))
    assert abs(coarse[0].cost - Decimal("0.0085")) < Decimal("1e-12")
    assert ledger.spend("/elsewhere.ipynb") == []


def test_one_call_alone_is_one_step(ledger: LedgerStore) -> None:
    ledger.record(call(0, "0.25"))
    (step,) = ledger.spend(NB)
    assert (step.first, step.last, step.cost) == (T0, T0, Decimal("0.25"))


def test_a_run_still_going_behind_newer_calls_keeps_its_place(ledger: LedgerStore) -> None:
    run = "--map late 9a8b7c6d"
    records = [call(0, run=run), call(5), call(10, run=run), call(20), call(3600, run=run)]
    for record in records:
        ledger.record(record)
    entries = ledger.entries(NB, limit=2)  # newest by when each began: the two single calls
    assert entries.total == 3
    assert [(e.run, e.started_at) for e in entries.shown] == [
        (None, T0 + timedelta(seconds=5)),
        (None, T0 + timedelta(seconds=20)),
    ]
    everything = ledger.entries(NB, limit=10).shown
    assert [e.calls for e in everything] == [3, 1, 1]  # the run's three rows, summed
    assert everything[0].cost == Decimal("0.003")
    steps = ledger.spend(NB)  # an hour apart by the minute: the empty minutes are not steps
    assert [(s.first, s.cost) for s in steps] == [
        (T0, Decimal("0.004")),
        (T0 + timedelta(seconds=3600), Decimal("0.001")),
    ]


def test_the_usage_view_reads_indexes_in_order_not_every_row(tmp_path: Path) -> None:
    """On a SQLite ledger the view's totals, spend and choice of lines never sort the
    notebook's rows (a ledger of 150,000 calls is shown in well under a second)."""
    with Ledger(tmp_path / "ledger.sqlite") as sqlite:
        for record in a_notebooks_day():
            sqlite.record(record)
        statements: list[str] = []
        sqlite._conn.set_trace_callback(statements.append)
        sqlite.by_model(NB), sqlite.entries(NB), sqlite.spend(NB)
        sqlite._conn.set_trace_callback(None)
        plans = [
            str(row[3])
            for sql in statements
            for row in sqlite._conn.execute(f"EXPLAIN QUERY PLAN {sql}")
        ]
    assert statements
    assert not [line for line in plans if line.startswith("SCAN calls")], plans
    assert "USE TEMP B-TREE FOR GROUP BY" not in plans, plans
