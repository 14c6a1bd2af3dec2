"""The ledger's schema: named migrations, applied once, and old ledger files keep their rows."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from orjupyter.core.domain import Usage
from orjupyter.store import migrations
from orjupyter.store.ledger import SCHEMA_VERSION, CallRecord, Ledger, LedgerError

NB = "/home/me/analysis.ipynb"
T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)

# What orjupyter wrote before migrations had names (user_version 1), statement for statement.
SCHEMA_BEFORE_MIGRATIONS = (
    """CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        notebook TEXT NOT NULL,
        cell TEXT,
        model TEXT NOT NULL,
        generation_id TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cached_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost TEXT NOT NULL,
        cost_is_estimate INTEGER NOT NULL,
        from_cache INTEGER NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'stopped')),
        error TEXT,
        time_to_first_token REAL,
        duration REAL NOT NULL,
        prompt TEXT,
        answer TEXT
    )""",
    "CREATE INDEX calls_by_notebook ON calls (notebook, started_at)",
    "CREATE TABLE budgets (notebook TEXT PRIMARY KEY, amount TEXT NOT NULL)",
    """CREATE TABLE reservations (
        id INTEGER PRIMARY KEY,
        notebook TEXT NOT NULL,
        amount TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        created_at REAL NOT NULL
    )""",
    "PRAGMA user_version = 1",
)
OLD_ROWS = [
    ("2025-01-02T03:04:05.678901+00:00", NB, "In [3]", "openai/gpt-4o", "gen-old-1",
     97, 3, 0, 0, "0.0002725", 0, 0, "ok", None, 0.4, 1.5, None, None),
    ("2025-01-02T03:05:00.000000+00:00", NB, None, "openai/gpt-4o-mini", "gen-old-2",
     1200, 345, 1024, 99, "0.0087", 1, 0, "error", "429 rate limited", None, 2.0,
     "What is in {fig}?", "A chart."),
]  # fmt: skip


def old_ledger(path):
    """A ledger file as the previous orjupyter left it: two calls and a budget."""
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
        for statement in SCHEMA_BEFORE_MIGRATIONS:
            raw.execute(statement)
        raw.executemany(
            "INSERT INTO calls (started_at, notebook, cell, model, generation_id, prompt_tokens, "
            "completion_tokens, cached_tokens, reasoning_tokens, cost, cost_is_estimate, "
            "from_cache, outcome, error, time_to_first_token, duration, prompt, answer) "
            f"VALUES ({', '.join('?' * 18)})",
            OLD_ROWS,
        )
        raw.execute("INSERT INTO budgets VALUES (?, ?)", (NB, "0.50"))
    raw.close()
    return path


def recorded(path) -> tuple[list[str], int]:
    """(names in `_migrations`, user_version) as another program would read them."""
    with sqlite3.connect(path) as raw:
        names = [name for (name,) in raw.execute("SELECT name FROM _migrations ORDER BY rowid")]
        (version,) = raw.execute("PRAGMA user_version").fetchone()
    raw.close()
    return names, version


def new_call(cost: str = "0.001") -> CallRecord:
    return CallRecord(NB, "In [9]", "openai/gpt-4o", "gen-new", Usage(10, 2, Decimal(cost)), "ok")


def test_a_ledger_from_before_migrations_keeps_its_rows_and_takes_new_ones(tmp_path):
    path = old_ledger(tmp_path / "ledger.sqlite")
    with Ledger(path) as ledger:
        first, second = ledger.calls()
        assert (first.generation_id, first.cell, first.usage.cost) == (
            "gen-old-1",
            "In [3]",
            Decimal("0.0002725"),
        )
        assert first.started_at == T0
        assert not first.usage.cost_is_estimate
        assert second.usage == Usage(1200, 345, Decimal("0.0087"), True, 1024, 99)
        assert (second.outcome, second.error, second.prompt, second.answer) == (
            "error", "429 rate limited", "What is in {fig}?", "A chart.",
        )  # fmt: skip
        assert second.time_to_first_token is None
        assert ledger.budget(NB) == Decimal("0.50")
        ledger.record(new_call())
        assert ledger.totals(NB).cost == Decimal("0.0099725")
        assert [c.generation_id for c in ledger.calls()] == ["gen-old-1", "gen-old-2", "gen-new"]
    assert recorded(path) == ([fn.__name__ for fn in migrations.MIGRATIONS], SCHEMA_VERSION)
    with Ledger(path) as again:
        assert again.totals().calls == 3


def test_a_new_ledger_records_every_migration_by_name(tmp_path):
    Ledger(tmp_path / "ledger.sqlite").close()
    names = [fn.__name__ for fn in migrations.MIGRATIONS]
    assert recorded(tmp_path / "ledger.sqlite") == (names, len(names))
    assert names[0] == "m001_initial"


def test_the_next_column_is_one_appended_migration_applied_once(tmp_path, monkeypatch):
    path = old_ledger(tmp_path / "ledger.sqlite")
    runs = []

    def m002_note(conn: sqlite3.Connection) -> None:
        runs.append(1)
        conn.execute("ALTER TABLE calls ADD COLUMN note TEXT")

    newer = [*migrations.MIGRATIONS, m002_note]
    monkeypatch.setattr(migrations, "MIGRATIONS", newer)
    with Ledger(path) as ledger:
        ledger.record(new_call())
        assert [c.generation_id for c in ledger.calls()] == ["gen-old-1", "gen-old-2", "gen-new"]
    Ledger(path).close()
    assert runs == [1]
    assert recorded(path) == ([fn.__name__ for fn in newer], len(newer))
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT note FROM calls").fetchall() == [(None,)] * 3
    raw.close()

    # The same file, opened by the orjupyter before m002: refused, and left as it was.
    monkeypatch.setattr(migrations, "MIGRATIONS", newer[:-1])
    with pytest.raises(LedgerError, match=r"newer orjupyter \(migration m002_note\)"):
        Ledger(path)
    monkeypatch.setattr(migrations, "MIGRATIONS", newer)
    with Ledger(path) as ledger:
        assert ledger.totals().calls == 3


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = old_ledger(tmp_path / "ledger.sqlite")

    def m002_broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE calls ADD COLUMN note TEXT")
        conn.execute("ALTER TABLE calls ADD COLUMN note TEXT")  # duplicate column: fails

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, m002_broken])
    with pytest.raises(sqlite3.OperationalError, match="duplicate column"):
        Ledger(path)
    monkeypatch.undo()
    with sqlite3.connect(path) as raw:
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master")}
        assert "_migrations" not in tables
        assert raw.execute("PRAGMA user_version").fetchone() == (1,)
        columns = [row[1] for row in raw.execute("PRAGMA table_info(calls)")]
        assert "note" not in columns
    raw.close()
    with Ledger(path) as ledger:
        assert ledger.totals().calls == 2


def test_a_current_ledger_with_a_migration_this_orjupyter_does_not_know_is_refused(tmp_path):
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    with sqlite3.connect(path) as raw:  # as many migrations as ours, one of them not ours
        raw.execute("UPDATE _migrations SET name = 'm999_from_the_future' WHERE rowid = 2")
    raw.close()
    assert recorded(path)[1] == SCHEMA_VERSION
    with pytest.raises(LedgerError, match=r"newer orjupyter \(migration m999_from_the_future\)"):
        Ledger(path)


@pytest.mark.parametrize(
    ("hook", "named"),
    [
        (
            "CREATE TRIGGER free AFTER INSERT ON calls BEGIN UPDATE calls SET cost = '0'; END",
            "trigger 'free'",
        ),
        (
            "CREATE TRIGGER unlimited AFTER INSERT ON reservations "
            "BEGIN DELETE FROM reservations; END",
            "trigger 'unlimited'",
        ),
        ("CREATE VIEW spend AS SELECT notebook, cost FROM calls", "view 'spend'"),
    ],
)
def test_a_ledger_with_a_trigger_or_a_view_is_refused_before_anything_runs(tmp_path, hook, named):
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.record(new_call("0.25"))
    with sqlite3.connect(path) as raw:
        raw.execute(hook)
    raw.close()
    with pytest.raises(LedgerError, match=rf"holds what orjupyter never writes \({named}\)"):
        Ledger(path)
    with sqlite3.connect(path) as raw:  # nothing was written, nothing ran
        assert raw.execute("SELECT cost FROM calls").fetchall() == [("0.25",)]
    raw.close()


def test_settling_changes_one_row_of_this_notebook_per_generation(tmp_path):
    def estimated(notebook: str, cell: str) -> CallRecord:
        usage = Usage(10, 2, Decimal("0.0001"), cost_is_estimate=True)
        return CallRecord(notebook, cell, "openai/gpt-4o", "gen-shared", usage, "stopped")

    bill = Usage(12, 40, Decimal("0.05"))
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        for notebook, cell in (("A", "[1]"), ("A", "[2]"), ("A", "[3]"), ("B", "[1]")):
            ledger.record(estimated(notebook, cell))
        assert ledger.settle("gen-shared", bill, "B")
        assert not ledger.settle("gen-shared", bill, "B")  # B has no estimated row left
        assert not ledger.settle("gen-shared", bill, "A")  # the generation is billed once
        assert ledger.totals("B").cost == Decimal("0.05")
        assert ledger.totals("A").cost == Decimal("0.0003")  # A's rows as they were
        assert ledger.totals("A").estimated_calls == 3
        assert ledger.totals().cost == Decimal("0.0503")
