"""Budgets on a team ledger: a notebook's, a user's and the team's, held across machines.

A budget row is `(user_name, notebook)`: `(user, notebook)` is a notebook's (its whole
history, as on SQLite), `(user, '')` a user's and `('', '')` the team's, each for a period
(`month`, `week`, `day`, from midnight UTC). Before a call is sent its worst case is held
(`reserve`): under one advisory lock, spent + held + this call must fit every budget that
applies, or the call is refused saying whose budget and what is left. A hold is released
when the call's row is written; a crashed kernel's holds go when its connection does (its
backend leaves `pg_stat_activity`), or after the TTL.

While the server is away, `Figures` holds calls to the last limits the database gave
(kept on disk beside the spool), counting the rows waiting and this kernel's holds.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from orjupyter.core.budget import BudgetExceeded, Reservation, SharedBudgetExceeded
from orjupyter.core.domain import Totals

if TYPE_CHECKING:
    from psycopg import Connection

    from orjupyter.store.columns import CallRecord
    from orjupyter.store.postgres import PostgresLedger
    from orjupyter.store.spool import Spool

LOCK = 0x6F726A62  # pg_advisory_xact_lock's key for holding budgets ("orjb")
_APPLYING = (
    "SELECT user_name, notebook, amount, period FROM budgets "
    "WHERE (user_name = %s AND notebook IN (%s, '')) OR (user_name = '' AND notebook = '') "
    "ORDER BY user_name DESC, notebook DESC"  # the notebook's, the user's, the team's
)


@dataclass(frozen=True)
class Limit:
    """One budget that applies to a call, with what is spent and held against it."""

    user: str  # '' for the team's
    notebook: str  # '' for a user's or the team's
    period: str
    amount: Decimal
    spent: Decimal
    held: Decimal

    def refusal(self, worst_case: Decimal, extra: Decimal = Decimal(0)) -> BudgetExceeded | None:
        """The refusal if `worst_case` (on top of `extra` held here) would not fit."""
        held = self.held + extra
        if self.spent + held + worst_case <= self.amount:
            return None
        if self.notebook:
            return BudgetExceeded(self.spent, held, worst_case, self.amount)
        whose = self.user or None
        return SharedBudgetExceeded(
            whose,
            self.period,
            spent=self.spent,
            held=held,
            worst_case=worst_case,
            budget=self.amount,
        )


def applying(conn: Connection[Any], user: str, notebook: str) -> list[tuple[Any, ...]]:
    return conn.execute(_APPLYING, (user, notebook)).fetchall()


def put(
    conn: Connection[Any], user: str, notebook: str, amount: Decimal | None, period: str
) -> None:
    """Set (None: remove) one budget: `('', '')` the team's, `(user, '')` a user's."""
    with conn.transaction():
        conn.execute("DELETE FROM budgets WHERE user_name = %s AND notebook = %s", (user, notebook))
        if amount is not None:
            conn.execute(
                "INSERT INTO budgets (user_name, notebook, amount, period) VALUES (%s, %s, %s, %s)",
                (user, notebook, amount, period),
            )


def _since(period: str) -> str:
    return "true" if period == "ever" else f"started_at >= date_trunc('{period}', now())"


def _limit(conn: Connection[Any], user: str, notebook: str, row: tuple[Any, ...]) -> Limit:
    budget_user, budget_notebook, amount, period = row
    params: tuple[str, ...]
    if budget_notebook:
        mine, params = "user_name = %s AND notebook = %s", (user, notebook)
    elif budget_user:
        mine, params = "user_name = %s", (user,)
    else:
        mine, params = "true", ()
    assert period in ("ever", "month", "week", "day")
    ((spent, held),) = conn.execute(  # one statement, one snapshot: a row written (and
        # its hold freed) meanwhile is counted once, never in neither
        f"SELECT (SELECT COALESCE(SUM(cost), 0) FROM calls WHERE {mine} AND {_since(period)}), "
        f"(SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE {mine})",
        params * 2,
    ).fetchall()
    return Limit(budget_user, budget_notebook, period, Decimal(amount), spent, held)


def limits(conn: Connection[Any], user: str, notebook: str) -> list[Limit]:
    """Every budget that applies to the user's notebook, with what is spent and held."""
    return [_limit(conn, user, notebook, row) for row in applying(conn, user, notebook)]


def expire(conn: Connection[Any], ttl: float) -> None:
    """Forget holds older than the TTL, or whose kernel's connection is gone."""
    conn.execute(
        "DELETE FROM reservations WHERE created_at < now() - make_interval(secs => %s) "
        "OR backend_pid NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)",
        (ttl,),
    )


def reserve(
    ledger: PostgresLedger, conn: Connection[Any], notebook: str, worst_case: Decimal
) -> Reservation:
    """Hold `worst_case` against every budget that applies, or raise the refusal."""
    user = ledger.caller.user
    if not applying(conn, user, notebook):
        ledger.figures.remember(notebook, [])
        return Reservation(None, notebook, worst_case)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        found = limits(conn, user, notebook)
        if any(limit.refusal(worst_case) for limit in found):  # a crashed kernel's in the way?
            expire(conn, ledger.reservation_ttl)
            found = limits(conn, user, notebook)
        ledger.figures.remember(notebook, found, worst_case)
        for limit in found:
            refusal = limit.refusal(worst_case)
            if refusal is not None:
                raise refusal
        if not found:
            return Reservation(None, notebook, worst_case)
        ((held,),) = conn.execute(
            "INSERT INTO reservations (user_name, notebook, amount, host, backend_pid) "
            "VALUES (%s, %s, %s, %s, pg_backend_pid()) RETURNING id",
            (user, notebook, worst_case, ledger.caller.host),
        ).fetchall()
    return Reservation(int(held), notebook, worst_case)


class Figures:
    """The last figures the database gave, to hold budgets by while it is away."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        saved = spool.load_figures().get("limits", {})
        self._limits: dict[str, list[Limit]] = {
            notebook: [_limit_from(item) for item in items] for notebook, items in saved.items()
        }
        self.known_totals: dict[str | None, Totals] = {}
        self._holds: dict[int, Reservation] = {}
        self._last_hold = 0

    def remember(self, notebook: str, limits: list[Limit], holding: Decimal = Decimal(0)) -> None:
        """The limits the database gave now; on disk (for a kernel started while it is
        away), with `holding` (this call's worst case) counted as spent."""
        if not limits and not self._limits.get(notebook, [None]):
            return  # still no budget: nothing to keep
        self._limits[notebook] = limits
        saved = {nb: [_limit_to(limit) for limit in items] for nb, items in self._limits.items()}
        saved[notebook] = [
            _limit_to(replace(limit, spent=limit.spent + holding)) for limit in limits
        ]
        with contextlib.suppress(OSError):  # the figures in memory still hold this kernel
            self.spool.save_figures({"limits": saved})

    def recorded(self, record: CallRecord) -> None:
        """A row written: the figures known for its notebook (and for all) include it."""
        for key in (record.notebook, None):
            if key in self.known_totals:
                self.known_totals[key] = self.known_totals[key].add(
                    record.usage, from_cache=record.from_cache
                )
        if any(self._limits.values()):
            cost = record.usage.cost
            self._limits = {
                nb: [replace(limit, spent=limit.spent + cost) if nb == record.notebook
                     or not limit.notebook else limit for limit in items]
                for nb, items in self._limits.items()
            }  # fmt: skip

    def limits(self, notebook: str) -> list[Limit]:
        """The notebook's last known limits; for a notebook never seen, its user's and the
        team's from any other."""
        if notebook in self._limits:
            return self._limits[notebook]
        shared: dict[tuple[str, str], Limit] = {}
        for items in self._limits.values():
            for limit in items:
                known = shared.get((limit.user, limit.period))
                if not limit.notebook and (known is None or known.spent < limit.spent):
                    shared[(limit.user, limit.period)] = limit  # the latest: the most spent
        return list(shared.values())

    def known_budget(self, notebook: str) -> list[tuple[Decimal]]:
        return [(limit.amount,) for limit in self._limits.get(notebook, []) if limit.notebook]

    def reserve(self, notebook: str, worst_case: Decimal) -> Reservation:
        limits = self.limits(notebook)
        if not limits:
            return Reservation(None, notebook, worst_case)
        waiting = self.spool.waiting(every_kernel=True)
        for limit in limits:
            here = [row for row in waiting if not limit.notebook or row["notebook"] == notebook]
            holds = [hold for hold in self._holds.values()
                     if not limit.notebook or hold.notebook == notebook]  # fmt: skip
            extra = sum((Decimal(row["cost"]) for row in here), Decimal(0))
            extra += sum((hold.amount for hold in holds), Decimal(0))
            refusal = limit.refusal(worst_case, extra)
            if refusal is not None:
                raise refusal
        self._last_hold -= 1  # negative: a hold kept here, never in the database
        hold = self._holds[self._last_hold] = Reservation(self._last_hold, notebook, worst_case)
        return hold

    def release(self, reservation: Reservation) -> None:
        if reservation.id is not None:
            self._holds.pop(reservation.id, None)


def _limit_to(limit: Limit) -> dict[str, str]:
    return {key: str(value) for key, value in asdict(limit).items()}


def _limit_from(item: dict[str, str]) -> Limit:
    amounts = {key: Decimal(item[key]) for key in ("amount", "spent", "held")}
    return Limit(item["user"], item["notebook"], item["period"], **amounts)
