"""The ledger's schema, as named migrations applied once each, oldest first.

To change the schema, append one function decorated with `@migration` at the end of this
file (`m002_…`, `m003_…`); never edit, reorder or remove one that has shipped. A ledger
records the name of each migration it has had in its `_migrations` table, and `PRAGMA
user_version` holds how many: an orjupyter that finds a migration it does not know, or
a larger count, refuses the file rather than misread it. The count also lets an older
orjupyter that predates the table refuse a file this one has moved on.

A ledger written before migrations had names (user_version 1, no `_migrations` table)
holds exactly what `m001_initial` creates; on first opening it runs again harmlessly and is
recorded, and the file still opens in that older orjupyter until `m002` is applied.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone

from orjupyter.core.errors import LedgerError

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Append `fn` to the schema's history; it runs once on every ledger that lacks it."""
    MIGRATIONS.append(fn)
    return fn


def schema_version(conn: sqlite3.Connection) -> int:
    """How many migrations the file has had (0: a new, empty file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def is_current(conn: sqlite3.Connection) -> bool:
    """True when the file has had exactly our migrations, by name: read without taking the
    write lock (any other file goes through `migrate`, which refuses a newer one)."""
    recorded = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    ).fetchone()
    if recorded is None or schema_version(conn) != len(MIGRATIONS):
        return False
    names = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    return names == {fn.__name__ for fn in MIGRATIONS}


def refuse_hooks(conn: sqlite3.Connection, where: object) -> None:
    """Raise `LedgerError` for a trigger or a view in the file: orjupyter makes neither, and
    one would run on our writes (a trigger that zeroes every cost turns budgets off)."""
    hooks = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY name"
    ).fetchall()
    if hooks:
        named = ", ".join(f"{kind} {name[:40]!r}" for kind, name in hooks[:3])
        raise LedgerError(
            f"{where} holds what orjupyter never writes ({named}); it is not used: move it "
            "aside (a new one is made on the next start) or set ORJUPYTER_LEDGER to another file"
        )


def migrate(conn: sqlite3.Connection, where: object) -> list[str]:
    """Apply the migrations `conn` lacks, in order; call inside one write transaction.

    Returns the names applied. Raises `LedgerError` for a file from a newer orjupyter.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    version = schema_version(conn)
    applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    unknown = sorted(applied - {fn.__name__ for fn in MIGRATIONS})
    if unknown or version > len(MIGRATIONS):
        found = f"migration {unknown[-1]}" if unknown else f"schema {version}"
        raise LedgerError(
            f"{where} was written by a newer orjupyter ({found}); "
            "upgrade orjupyter or set ORJUPYTER_LEDGER to another file"
        )
    done = []
    for fn in MIGRATIONS:
        if fn.__name__ not in applied:
            fn(conn)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (fn.__name__, datetime.now(timezone.utc).isoformat(timespec="seconds")),
            )
            done.append(fn.__name__)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    return done


# --- the history: append only ------------------------------------------------------------


@migration
def m001_initial(conn: sqlite3.Connection) -> None:
    """Calls, budgets and reservations: the schema orjupyter 0.1 wrote as user_version 1."""
    conn.execute(
        """CREATE TABLE IF NOT EXISTS calls (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,              -- ISO 8601, UTC
            notebook TEXT NOT NULL,
            cell TEXT,
            model TEXT NOT NULL,
            generation_id TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cached_tokens INTEGER NOT NULL,
            reasoning_tokens INTEGER NOT NULL,
            cost TEXT NOT NULL,                    -- exact decimal US dollars
            cost_is_estimate INTEGER NOT NULL,     -- 0: billed by OpenRouter, 1: estimated
            from_cache INTEGER NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'stopped')),
            error TEXT,
            time_to_first_token REAL,
            duration REAL NOT NULL,
            prompt TEXT,                           -- only when the user opted in
            answer TEXT
        )"""
    )
    conn.execute("CREATE INDEX IF NOT EXISTS calls_by_notebook ON calls (notebook, started_at)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS budgets (notebook TEXT PRIMARY KEY, amount TEXT NOT NULL)"
    )
    conn.execute(
        """CREATE TABLE IF NOT EXISTS reservations (
            id INTEGER PRIMARY KEY,
            notebook TEXT NOT NULL,
            amount TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            created_at REAL NOT NULL               -- Unix time
        )"""
    )


@migration
def m002_call_run(conn: sqlite3.Connection) -> None:
    """`run`: the `--map` run a call belongs to (NULL for a single cell's call)."""
    conn.execute("ALTER TABLE calls ADD COLUMN run TEXT")


@migration
def m003_calls_by_generation(conn: sqlite3.Connection) -> None:
    """Find a call by its generation id: an estimated row is settled with OpenRouter's bill
    (`Ledger.settle`) once `GET /generation` knows it."""
    conn.execute("CREATE INDEX IF NOT EXISTS calls_by_generation ON calls (generation_id)")


@migration
def m004_usage_indexes(conn: sqlite3.Connection) -> None:
    """`%gpt4o usage` reads indexes, not the calls' rows: each model's totals, the spend
    over time and the newest runs are summed from narrow indexes in their order."""
    conn.execute(
        "CREATE INDEX IF NOT EXISTS calls_by_model ON calls (notebook, model, from_cache, "
        "cost_is_estimate, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, "
        "cost)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS calls_by_run ON calls (notebook, run, started_at)")
    conn.execute("CREATE INDEX IF NOT EXISTS calls_by_time ON calls (notebook, started_at, cost)")
    conn.execute("DROP INDEX IF EXISTS calls_by_notebook")  # calls_by_time begins the same
