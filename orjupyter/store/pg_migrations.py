"""The team ledger's schema on PostgreSQL, as named migrations applied once each, oldest first.

As for the SQLite file (`migrations.py`): to change the schema, append one function decorated
with `@migration` (`m002_…`); never edit, reorder or remove one that has shipped. The
database records each migration's name in `orjupyter_migrations`; an orjupyter that finds a
name it does not know refuses the database rather than misread it. Migrations run in one
transaction under an advisory lock, so kernels starting together migrate once.

`calls` holds the columns of `CallRecord` (`columns.py`, by name) in PostgreSQL's own types,
and who made each call: `user_name`, `host`, `session_id`. `row_key` (the generation id, or
a key of its own for a call OpenRouter never answered) makes writing a row idempotent: a
row sent again after a lost connection is not written twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orjupyter.core.errors import LedgerError

if TYPE_CHECKING:
    from psycopg import Connection

Migration = Callable[["Connection[Any]"], None]
MIGRATIONS: list[Migration] = []
LOCK = 0x6F726A75  # pg_advisory_xact_lock's key for migrating ("orju")


def migration(fn: Migration) -> Migration:
    """Append `fn` to the schema's history; it runs once on every database that lacks it."""
    MIGRATIONS.append(fn)
    return fn


def migrate(conn: Connection[Any], where: str) -> list[str]:
    """Apply the migrations the database lacks, in one transaction; the names applied.

    Raises `LedgerError` for a database a newer orjupyter has migrated further.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS orjupyter_migrations "
            "(name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in conn.execute("SELECT name FROM orjupyter_migrations")}
        unknown = sorted(applied - {fn.__name__ for fn in MIGRATIONS})
        if unknown:
            raise LedgerError(
                f"{where} was migrated by a newer orjupyter ({unknown[-1]}); upgrade orjupyter"
            )
        done = []
        for fn in MIGRATIONS:
            if fn.__name__ not in applied:
                fn(conn)
                conn.execute("INSERT INTO orjupyter_migrations (name) VALUES (%s)", (fn.__name__,))
                done.append(fn.__name__)
        return done


# --- the history: append only ------------------------------------------------------------


@migration
def m001_team_ledger(conn: Connection[Any]) -> None:
    """Calls (with who made them), budgets (a notebook's, a user's, the team's) and holds."""
    conn.execute(
        """CREATE TABLE calls (
            id BIGSERIAL PRIMARY KEY,
            row_key TEXT NOT NULL UNIQUE,
            started_at TIMESTAMPTZ NOT NULL,
            user_name TEXT NOT NULL,
            host TEXT NOT NULL,
            session_id TEXT NOT NULL,
            notebook TEXT NOT NULL,
            cell TEXT,
            model TEXT NOT NULL,
            generation_id TEXT NOT NULL,
            prompt_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL,
            cached_tokens BIGINT NOT NULL,
            reasoning_tokens BIGINT NOT NULL,
            cost NUMERIC NOT NULL,                 -- exact US dollars
            cost_is_estimate BOOLEAN NOT NULL,     -- false: billed by OpenRouter
            from_cache BOOLEAN NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'stopped')),
            error TEXT,
            time_to_first_token DOUBLE PRECISION,
            duration DOUBLE PRECISION NOT NULL,
            prompt TEXT,
            answer TEXT,
            run TEXT
        )"""
    )
    conn.execute("CREATE INDEX calls_by_time ON calls (started_at)")
    conn.execute("CREATE INDEX calls_by_user ON calls (user_name, notebook, started_at)")
    conn.execute("CREATE INDEX calls_by_generation ON calls (generation_id)")
    conn.execute(
        """CREATE TABLE budgets (
            user_name TEXT NOT NULL,               -- '': the team's
            notebook TEXT NOT NULL,                -- '': the user's (or the team's)
            amount NUMERIC NOT NULL CHECK (amount >= 0),
            period TEXT NOT NULL CHECK (period IN ('month', 'week', 'day', 'ever')),
            PRIMARY KEY (user_name, notebook)
        )"""
    )
    conn.execute(
        """CREATE TABLE reservations (
            id BIGSERIAL PRIMARY KEY,
            user_name TEXT NOT NULL,
            notebook TEXT NOT NULL,
            amount NUMERIC NOT NULL,
            host TEXT NOT NULL,
            backend_pid INTEGER NOT NULL,          -- the holder's connection: gone, hold gone
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )"""
    )
