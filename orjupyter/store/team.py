"""The team's view of a shared ledger: spend by user and by model since a date, and the
users' and the team's budgets (set by whoever runs the ledger: `python -m orjupyter.team`).

Each function takes a psycopg connection; `PostgresLedger.team_usage` is the same, for a
kernel's `%gpt4o usage --team`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from orjupyter.core.budget import MAX_BUDGET, PERIODS
from orjupyter.core.errors import LedgerError
from orjupyter.core.redact import redact
from orjupyter.store import budgets, pg_migrations

if TYPE_CHECKING:
    from psycopg import Connection


@dataclass(frozen=True)
class TeamUsage:
    """Every user's spend since `since`: by user (with every user who has a budget), and by
    user and model (dearest first). Calls are billed calls: answers from the cache apart."""

    since: datetime
    by_user: list[tuple[str, int, Decimal]]
    """(user, calls billed, cost): an answer from the cache is not a call."""
    by_model: list[tuple[str, str, int, Decimal]]
    budgets: list[tuple[str | None, str, Decimal]]
    """(user, or None for the team's; its period; the amount)."""
    from_cache: dict[str, int] = field(default_factory=dict)
    """Each user's answers from the cache (not billed, not counted as calls)."""

    @property
    def total(self) -> tuple[int, Decimal]:
        calls = sum(row[1] for row in self.by_user)
        return calls, sum((row[2] for row in self.by_user), Decimal(0))


def month_start(now: datetime | None = None) -> datetime:
    """Midnight UTC on the first of this month."""
    now = now or datetime.now(timezone.utc)
    return datetime(now.year, now.month, 1, tzinfo=timezone.utc)


def since_date(text: str) -> datetime:
    """`--since 2026-11-01` → midnight UTC that day (`ValueError` if it is not a date)."""
    day = date.fromisoformat(text)
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def usage(conn: Connection[Any], since: datetime) -> TeamUsage:
    billed = "COUNT(*) FILTER (WHERE NOT from_cache)"
    by_user = conn.execute(
        f"SELECT user_name, {billed}, SUM(cost), COUNT(*) FILTER (WHERE from_cache) FROM calls "
        "WHERE started_at >= %s GROUP BY user_name ORDER BY SUM(cost) DESC, user_name",
        (since,),
    ).fetchall()
    by_model = conn.execute(
        f"SELECT user_name, model, {billed}, SUM(cost) FROM calls WHERE started_at >= %s "
        "GROUP BY user_name, model ORDER BY SUM(cost) DESC, user_name, model",
        (since,),
    ).fetchall()
    shared = conn.execute(
        "SELECT user_name, period, amount FROM budgets WHERE notebook = '' ORDER BY user_name"
    ).fetchall()
    spenders = [(str(user), int(calls), Decimal(cost)) for user, calls, cost, _ in by_user]
    idle = sorted({str(user) for user, _, _ in shared if user} - {row[0] for row in spenders})
    return TeamUsage(
        since,
        spenders + [(user, 0, Decimal(0)) for user in idle],  # budgeted, nothing spent yet
        [(str(u), str(m), int(n), Decimal(cost)) for u, m, n, cost in by_model],
        [(user or None, str(period), Decimal(amount)) for user, period, amount in shared],
        {str(user): int(cached) for user, _, _, cached in by_user if cached},
    )


def set_shared_budget(
    conn: Connection[Any], user: str | None, amount: Decimal | None, period: str = "month"
) -> None:
    """A user's budget (`user` None: the team's) per `period`; `amount` None removes it."""
    if period not in PERIODS:
        raise ValueError(f"a budget's period is one of {', '.join(PERIODS)}, not {period!r}")
    if amount is not None and not (amount.is_finite() and 0 <= amount <= MAX_BUDGET):
        raise ValueError(f"a budget is between $0 and ${MAX_BUDGET:,}, not {amount}")
    if user == "":
        raise ValueError("name the user, or use --all for the team's budget")
    budgets.put(conn, user or "", "", amount, period)


def connect(location: str) -> Connection[Any]:
    """An admin's connection to the team's ledger at `location` (a postgresql:// URL), its
    schema brought up to date; a `LedgerError` (one line, no password) if it cannot be."""
    from orjupyter.store.base import LEDGERS, require, without_password

    if require(location) not in (LEDGERS["postgresql"], LEDGERS["postgres"]):
        raise LedgerError(
            f"{without_password(location)!r} is not a team ledger: set ORJUPYTER_LEDGER (or "
            "--ledger) to the team's postgresql:// URL"
        )
    import psycopg

    from orjupyter.store.pg_link import safe_location

    where = safe_location(location)
    try:
        conn = psycopg.connect(
            location, autocommit=True, connect_timeout=10, options="-c TimeZone=UTC"
        )
    except psycopg.Error as exc:
        secrets = [s for s in (conninfo_password(location), os.environ.get("PGPASSWORD")) if s]
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LedgerError(
            f"{where}: {redact(first, secrets)}; check the URL, the password (PGPASSWORD or "
            "~/.pgpass) and that the server is up"
        ) from None
    try:
        pg_migrations.migrate(conn, where)
    except BaseException:
        conn.close()
        raise
    return conn


def conninfo_password(location: str) -> str | None:
    from psycopg.conninfo import conninfo_to_dict

    try:
        value = conninfo_to_dict(location).get("password")
    except Exception:
        return None
    return str(value) if value else None
