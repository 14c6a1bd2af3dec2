"""The team's ledger on a PostgreSQL server: every kernel of every user writes to one database.

`ORJUPYTER_LEDGER=postgresql://user@host/db` (psycopg 3, the `orjupyter[team]` extra; the
password the way libpq takes it: `PGPASSWORD`, `~/.pgpass`, or in the URL; `sslmode` and
the rest as libpq reads them). Each row records who made the call (`Caller`: the JupyterHub
user, else the OS user; the host; one id per kernel). A notebook's totals and budget are its
user's; a user's and the team's budgets (`team.py`) hold across kernels and machines, because
each call's worst case is held in the database (`budgets.py`) before it is sent.

When the server cannot be reached, nothing is lost: one warning, the rows wait in a private
local spool (`spool.py`) and are written once when it is back (`pg_link.py`), and budgets
are held here from the last figures the database gave. The password never leaves libpq:
`location`, every message and the repr show the URL without it.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from orjupyter.core.budget import RESERVATION_TTL, Reservation
from orjupyter.core.domain import Totals, Usage
from orjupyter.store import budgets, usage
from orjupyter.store.columns import CallRecord, call_record, call_row
from orjupyter.store.pg_link import ServerLink, safe_location
from orjupyter.store.spool import Row, Spool, spool_folder
from orjupyter.store.usage import Entries, ModelUsage, SpendStep

if TYPE_CHECKING:
    from psycopg import Connection

    from orjupyter.store.team import TeamUsage

_OUTCOMES = ("ok", "error", "stopped")
_TOTALS = (
    "SELECT COUNT(*) FILTER (WHERE NOT from_cache), COALESCE(SUM(prompt_tokens), 0), "
    "COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost), 0), "
    "COUNT(*) FILTER (WHERE cost_is_estimate), COALESCE(SUM(cached_tokens), 0), "
    "COALESCE(SUM(reasoning_tokens), 0), COUNT(*) FILTER (WHERE from_cache) FROM calls "
)

_BILLED = "COUNT(*) FILTER (WHERE NOT from_cache)"
"""Calls sent (the answers from the cache are not calls)."""


def current_user() -> str:
    """`$JUPYTERHUB_USER` (the Hub's name for the person), else the OS user."""
    return os.environ.get("JUPYTERHUB_USER", "").strip() or getpass.getuser()


@dataclass(frozen=True)
class Caller:
    """Who a kernel's calls are recorded for."""

    user: str = field(default_factory=current_user)
    host: str = field(default_factory=socket.gethostname)
    session: str = field(default_factory=lambda: uuid.uuid4().hex)


def _row_key(record: CallRecord) -> str:
    """The generation id of a call OpenRouter answered; a key of its own otherwise."""
    if record.generation_id and not record.from_cache:
        return record.generation_id
    return f"local-{uuid.uuid4().hex}"


class PostgresLedger(ServerLink):
    """A shared ledger on a PostgreSQL server. Safe to share between a kernel's threads."""

    def __init__(
        self,
        url: str,
        *,
        caller: Caller | None = None,
        reservation_ttl: float = RESERVATION_TTL,
        retry_after: float = 10.0,
        connect_timeout: int = 5,
        spool: Spool | None = None,
    ) -> None:
        spool = spool or Spool(spool_folder(safe_location(url)))
        super().__init__(url, spool, retry_after=retry_after, connect_timeout=connect_timeout)
        self.caller = caller or Caller()
        self.reservation_ttl = reservation_ttl
        self.path = self.spool.path
        self.figures = budgets.Figures(self.spool)
        self._connection()

    def __repr__(self) -> str:
        return f"PostgresLedger({self._location!r}, user={self.caller.user!r})"

    def record(self, record: CallRecord, *, release: Reservation | None = None) -> None:
        """Write one call (and free its hold); while the server is away, spool it."""
        if record.outcome not in _OUTCOMES:
            raise ValueError(f"outcome must be one of {_OUTCOMES}, not {record.outcome!r}")
        if not record.usage.cost.is_finite():
            raise ValueError(f"cost must be a finite number, not {record.usage.cost}")
        caller = self.caller
        row: Row = {**call_row(record), "user_name": caller.user, "host": caller.host,
                    "session_id": caller.session, "row_key": _row_key(record)}  # fmt: skip

        def write(conn: Connection[Any]) -> bool:  # one statement: atomic, one round trip
            held = release.id if release is not None and release.id and release.id > 0 else None
            self._insert(conn, [row], free=held)
            return True

        def away() -> bool:
            self.spool.add(row)
            return False

        if self._run(write, away):
            self.figures.recorded(record)
        if release is not None:
            self.figures.release(release)

    def _mine(self, notebook: str | None) -> tuple[str, tuple[object, ...]]:
        if notebook is None:
            return "WHERE user_name = %s ", (self.caller.user,)
        return "WHERE user_name = %s AND notebook = %s ", (self.caller.user, notebook)

    def _records(self, sql: str, params: tuple[object, ...]) -> list[CallRecord]:
        from psycopg.rows import dict_row

        def read(conn: Connection[Any]) -> list[CallRecord]:
            with conn.cursor(row_factory=dict_row) as cursor:
                rows = cursor.execute(sql, params).fetchall()
            return [call_record({k: _as_text(v) for k, v in row.items()}) for row in rows]

        return self._run(read, lambda: [])

    def totals(self, notebook: str | None = None) -> Totals:
        """This user's calls, tokens and exact cost in one notebook, or in all (None); while
        the server is away, the last known totals and the calls waiting since."""
        where, params = self._mine(notebook)

        def read(conn: Connection[Any]) -> Totals:
            (row,) = conn.execute(_TOTALS + where, params).fetchall()
            calls, prompt, completion, cost, estimated, cached, reasoning, answers = row
            totals = Totals(calls, int(prompt), int(completion), Decimal(cost), estimated,
                            int(cached), int(reasoning), from_cache=answers)  # fmt: skip
            self.figures.known_totals[notebook] = totals
            return totals

        def away() -> Totals:
            totals = self.figures.known_totals.get(notebook, Totals())
            for waiting in self.spool.waiting():
                if notebook is None or waiting["notebook"] == notebook:
                    row = call_record(waiting)
                    totals = totals.add(row.usage, from_cache=row.from_cache)
            return totals

        return self._run(read, away)

    def calls(self, notebook: str | None = None, limit: int | None = None) -> list[CallRecord]:
        where, params = self._mine(notebook)
        return self._records(
            f"SELECT * FROM (SELECT * FROM calls {where} ORDER BY started_at DESC, id DESC "
            "LIMIT %s) newest ORDER BY started_at, id",
            (*params, limit),
        )

    def estimated(self, notebook: str) -> list[CallRecord]:
        where, params = self._mine(notebook)
        return self._records(
            f"SELECT * FROM calls {where} AND cost_is_estimate AND NOT from_cache "
            "AND generation_id != '' ORDER BY started_at, id",
            params,
        )

    def settle(self, generation_id: str, usage: Usage, notebook: str) -> bool:
        """Replace one of this user's estimated calls with what OpenRouter billed: the
        notebook's oldest estimated row with that generation id, unless a row anywhere
        already holds that generation's bill (one generation, one bill). False when no
        row was changed (or the server is away)."""
        if usage.cost_is_estimate or not usage.cost.is_finite():
            raise ValueError("settle with a billed usage, not an estimate")
        where, params = self._mine(notebook)

        def write(conn: Connection[Any]) -> bool:
            cursor = conn.execute(
                "UPDATE calls SET prompt_tokens = %s, completion_tokens = %s, "
                "cached_tokens = %s, reasoning_tokens = %s, cost = %s, cost_is_estimate = false "
                f"WHERE id = (SELECT id FROM calls {where} AND generation_id = %s "
                "AND cost_is_estimate AND NOT from_cache ORDER BY started_at, id LIMIT 1) "
                "AND NOT EXISTS (SELECT 1 FROM calls WHERE generation_id = %s "
                "AND NOT cost_is_estimate AND NOT from_cache)",
                (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens,
                 usage.reasoning_tokens, usage.cost, *params, generation_id, generation_id),
            )  # fmt: skip
            return cursor.rowcount > 0

        return self._run(write, lambda: False)

    def cost_by_model(self, notebook: str | None = None) -> list[tuple[str, int, Decimal]]:
        where, params = self._mine(notebook)
        sql = f"SELECT model, {_BILLED}, SUM(cost) FROM calls {where} GROUP BY model"
        return _by_cost(self._run(lambda c: c.execute(sql, params).fetchall(), lambda: []))

    def notebooks(self) -> list[tuple[str, int, Decimal]]:
        where, params = self._mine(None)
        sql = f"SELECT notebook, {_BILLED}, SUM(cost) FROM calls {where} GROUP BY notebook"
        return _by_cost(self._run(lambda c: c.execute(sql, params).fetchall(), lambda: []))

    def entries(self, notebook: str | None = None, limit: int = 50) -> Entries:
        """The newest `limit` lines of this user's usage view (a run is one), oldest first."""
        where, params = self._mine(notebook)

        def read(conn: Connection[Any]) -> Entries:
            sql = usage.entries_sql(usage.POSTGRES, where)
            rows = conn.execute(sql, (*params, limit, *params))
            shown = [usage.entry(usage.POSTGRES, row) for row in reversed(rows.fetchall())]
            (total,) = conn.execute(usage.entry_count_sql(where), params).fetchone() or (0,)
            return Entries(shown, int(total))

        return self._run(read, lambda: Entries([], 0))

    def spend(self, notebook: str | None = None, steps: int = 500) -> list[SpendStep]:
        where, params = self._mine(notebook)

        def read(conn: Connection[Any]) -> list[tuple[Any, ...]]:
            first, last = conn.execute(usage.span_sql(where), params).fetchone() or (None, None)
            if first is None or last is None:
                return []
            _chars, field = usage.slice_for(first, last, steps)
            return conn.execute(usage.spend_sql(usage.POSTGRES, where, 0, field), params).fetchall()

        rows = self._run(read, lambda: [])
        return [usage.spend_step(usage.POSTGRES, row) for row in rows]

    def by_model(self, notebook: str | None = None) -> list[ModelUsage]:
        where, params = self._mine(notebook)
        sql = usage.by_model_sql(usage.POSTGRES, where)
        return usage.model_usage(self._run(lambda c: c.execute(sql, params).fetchall(), lambda: []))

    def rename_notebook(self, old: str, new: str) -> int:
        """Move this user's history (and budget) of `old` to `new`; the rows moved."""
        if old == new:
            return 0
        user = self.caller.user

        def move(conn: Connection[Any]) -> int:
            moved = conn.execute(
                "UPDATE calls SET notebook = %s WHERE user_name = %s AND notebook = %s",
                (new, user, old),
            ).rowcount
            conn.execute(
                "UPDATE budgets SET notebook = %s WHERE user_name = %s AND notebook = %s "
                "AND NOT EXISTS (SELECT 1 FROM budgets WHERE user_name = %s AND notebook = %s)",
                (new, user, old, user, new),
            )
            conn.execute("DELETE FROM budgets WHERE user_name = %s AND notebook = %s", (user, old))
            return moved

        return self.change(move)

    # -- budgets (`budgets.py` holds the arithmetic and the holds) ------------------------

    def budget(self, notebook: str) -> Decimal | None:
        """This user's budget for the notebook (its whole history, as on SQLite)."""
        found = self._run(
            lambda c: c.execute(
                "SELECT amount FROM budgets WHERE user_name = %s AND notebook = %s",
                (self.caller.user, notebook),
            ).fetchall(),
            lambda: self.figures.known_budget(notebook),
        )
        return Decimal(found[0][0]) if found else None

    def budgeted(self, notebook: str) -> bool:
        return bool(
            self._run(
                lambda c: budgets.applying(c, self.caller.user, notebook),
                lambda: self.figures.limits(notebook),
            )
        )

    def set_budget(self, notebook: str, amount: Decimal | None) -> None:
        if amount is not None and not (amount.is_finite() and amount >= 0):
            raise ValueError(f"a budget is a non-negative number of dollars, not {amount}")
        self.change(lambda c: budgets.put(c, self.caller.user, notebook, amount, "ever"))

    def reserve(self, notebook: str, worst_case: Decimal) -> Reservation:
        """Hold `worst_case` against every budget that applies (the notebook's, the user's,
        the team's), or raise a `BudgetExceeded` that says whose and what is left."""
        if not (worst_case.is_finite() and worst_case >= 0):
            raise ValueError(f"a worst-case cost is a non-negative number, not {worst_case}")
        return self._run(
            lambda c: budgets.reserve(self, c, notebook, worst_case),
            lambda: self.figures.reserve(notebook, worst_case),
        )

    def shared_budgets(self, notebook: str) -> list[budgets.Limit]:
        """The user's and the team's budgets that apply to `notebook`, with what is spent
        and held against each (while the server is away: the last known figures)."""
        user = self.caller.user
        return self._run(
            lambda c: [limit for limit in budgets.limits(c, user, notebook) if not limit.notebook],
            lambda: [limit for limit in self.figures.limits(notebook) if not limit.notebook],
        )

    def release(self, reservation: Reservation) -> None:
        if reservation.id is not None and reservation.id > 0:
            self._run(
                lambda c: c.execute("DELETE FROM reservations WHERE id = %s", (reservation.id,)),
                lambda: None,
            )
        self.figures.release(reservation)

    # -- the team's view ----------------------------------------------------------------

    def team_usage(self, since: datetime) -> TeamUsage:
        """Every user's spend since `since` (a `LedgerError` while the server is away)."""
        from orjupyter.store import team

        return self.change(lambda conn: team.usage(conn, since))

    def __enter__(self) -> PostgresLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_text(value: object) -> object:
    """A server value in the shape `call_record` reads (a SQLite row's): times as text."""
    return value.isoformat() if isinstance(value, datetime) else value


def _by_cost(rows: list[tuple[Any, ...]]) -> list[tuple[str, int, Decimal]]:
    result = [(str(name), int(count), Decimal(cost)) for name, count, cost in rows]
    return sorted(result, key=lambda row: (-row[2], -row[1], row[0]))
