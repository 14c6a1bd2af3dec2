"""The ledger: every call, its tokens and cost, in a local SQLite file; per-notebook budgets.

Pure standard library (`sqlite3`, WAL mode): no server, no IPython. Money is stored as the
exact decimal text of the cost and summed as `Decimal`, so totals never drift. Each write is
one short `BEGIN IMMEDIATE` transaction and every connection waits (busy timeout) rather than
fail, so kernels sharing a ledger lose nothing; a kernel killed mid-write leaves the last
committed state. Prompts and answers are stored only when the caller passes them.
The schema grows by named migrations (`migrations`); a call's columns are `columns`.
Reservations, refusals and the warning a budget gives are in `core/budget`.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, localcontext
from pathlib import Path
from typing import Any, cast

from orjupyter.core.budget import RESERVATION_TTL, BudgetExceeded, Reservation
from orjupyter.core.domain import Totals, Usage, decimal_text
from orjupyter.core.errors import LedgerError
from orjupyter.store import migrations, usage
from orjupyter.store.columns import CallRecord, call_record, call_row
from orjupyter.store.usage import Entries, ModelUsage, SpendStep

__all__ = ["SCHEMA_VERSION", "CallRecord", "Ledger", "LedgerError", "default_ledger_path"]

SCHEMA_VERSION = len(migrations.MIGRATIONS)  # what `PRAGMA user_version` reads once migrated

_OUTCOMES = ("ok", "error", "stopped")
_BILLED = "COALESCE(SUM(1 - from_cache), 0)"
"""Calls sent (the answers from the cache are not calls)."""
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def default_ledger_path() -> Path:
    """$ORJUPYTER_LEDGER, else `<jupyter data dir>/orjupyter/ledger.sqlite`."""
    override = os.environ.get("ORJUPYTER_LEDGER", "").strip()
    if override:
        return Path(override).expanduser()
    try:
        from jupyter_core.paths import jupyter_data_dir
    except ImportError:  # jupyter_core's default on Linux; the others need jupyter_core anyway
        data = Path(os.environ.get("JUPYTER_DATA_DIR") or "~/.local/share/jupyter").expanduser()
    else:
        data = Path(jupyter_data_dir())
    return data / "orjupyter" / "ledger.sqlite"


class _DecimalSum(list[str | None]):
    """SQL aggregate `decimal_sum(cost)`: the exact sum of decimal text, as text. Each row
    only keeps its text (`step` is the list's own append: no Python per row); at the end
    each distinct amount is counted (in C) and multiplied by its count."""

    step = list.append

    def finalize(self) -> str:
        with localcontext(_EXACT):
            amounts = Counter(self)
            total = sum(
                (Decimal(text) * count for text, count in amounts.items() if text), Decimal(0)
            )
            return decimal_text(total)


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate it on Windows; rely on the TTL
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, owned by someone else
        return True
    return True


def _host() -> str:
    """This machine, and on Linux its PID namespace: containers sharing a hostname differ."""
    try:
        namespace = f":{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        namespace = ""
    return socket.gethostname() + namespace


def _where(notebook: str | None) -> tuple[str, tuple[str, ...]]:
    return ("WHERE notebook = ?", (notebook,)) if notebook is not None else ("", ())


class Ledger:
    """One ledger file. Safe to share between threads; each process opens its own."""

    def __init__(
        self, path: Path | str, *, timeout: float = 30.0, reservation_ttl: float = RESERVATION_TTL
    ) -> None:
        self.path = Path(path)
        self.reservation_ttl = reservation_ttl
        self._lock = threading.RLock()
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Prompts may be stored: the file (and SQLite's -wal/-shm beside it) stays private.
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        self._conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.create_aggregate("decimal_sum", 1, cast(Any, _DecimalSum))
        self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        self._conn.execute("PRAGMA trusted_schema = OFF")  # the file's schema calls nothing
        self._set_wal(timeout)
        self._conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable across process kills
        self._migrate()

    def _set_wal(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:  # switching a new file to WAL can meet another process creating it
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        """Bring the schema up to date; a current ledger opens without taking the write lock."""
        migrations.refuse_hooks(self._conn, self.path)
        if migrations.is_current(self._conn):
            return
        with self._write() as conn:
            migrations.migrate(conn, self.path)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taking the write lock up front (waits if busy)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """Rows that can be read by column name (`row["cost"]`) as well as unpacked."""
        with self._lock:
            cursor = self._conn.cursor()
            cursor.row_factory = sqlite3.Row
            return cursor.execute(sql, params).fetchall()

    def record(self, record: CallRecord, *, release: Reservation | None = None) -> None:
        """Write one call; with `release`, free its budget reservation in the same transaction."""
        if record.outcome not in _OUTCOMES:
            raise ValueError(f"outcome must be one of {_OUTCOMES}, not {record.outcome!r}")
        usage = record.usage
        if not usage.cost.is_finite():
            raise ValueError(f"cost must be a finite number, not {usage.cost}")
        row = call_row(record)
        with self._write() as conn:
            names = ", ".join(row)
            conn.execute(f"INSERT INTO calls ({names}) VALUES (:{', :'.join(row)})", row)
            if release is not None and release.id is not None:
                conn.execute("DELETE FROM reservations WHERE id = ?", (release.id,))

    def totals(self, notebook: str | None = None) -> Totals:
        """Calls, tokens and exact cost of one notebook, or of every notebook (None)."""
        where, params = _where(notebook)
        ((calls, prompt, completion, cost, estimated, cached, reasoning, answers),) = self._read(
            f"SELECT {_BILLED}, COALESCE(SUM(prompt_tokens), 0), "
            f"COALESCE(SUM(completion_tokens), 0), {usage.SQLITE.cost_sum}, "
            "COALESCE(SUM(cost_is_estimate), 0), COALESCE(SUM(cached_tokens), 0), "
            "COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(from_cache), 0) "
            f"FROM calls {where}",
            params,
        )
        return Totals(calls or 0, prompt, completion, Decimal(cost or 0), estimated, cached,
                      reasoning, from_cache=answers)  # fmt: skip

    def calls(self, notebook: str | None = None, limit: int | None = None) -> list[CallRecord]:
        """Calls in the order they started (newest last); with `limit`, the newest `limit`."""
        where, params = _where(notebook)
        rows = self._read(
            f"SELECT * FROM (SELECT * FROM calls {where} "
            "ORDER BY started_at DESC, id DESC LIMIT ?) ORDER BY started_at, id",
            (*params, -1 if limit is None else limit),
        )
        return [call_record(row) for row in rows]

    def estimated(self, notebook: str) -> list[CallRecord]:
        """The notebook's calls recorded at an estimate that OpenRouter may have billed
        (sent, with a generation id), oldest first."""
        rows = self._read(
            "SELECT * FROM calls WHERE notebook = ? AND cost_is_estimate = 1 "
            "AND from_cache = 0 AND generation_id != '' ORDER BY started_at, id",
            (notebook,),
        )
        return [call_record(row) for row in rows]

    def settle(self, generation_id: str, usage: Usage, notebook: str) -> bool:
        """Replace one estimated call's tokens and cost with what OpenRouter billed: the
        notebook's oldest estimated row with that generation id, unless a row anywhere
        already holds that generation's bill (one generation, one bill). False when no
        row was changed."""
        if usage.cost_is_estimate or not usage.cost.is_finite():
            raise ValueError("settle with a billed usage, not an estimate")
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE calls SET prompt_tokens = ?, completion_tokens = ?, cached_tokens = ?, "
                "reasoning_tokens = ?, cost = ?, cost_is_estimate = 0 "
                "WHERE id = (SELECT id FROM calls WHERE notebook = ? AND generation_id = ? "
                "AND cost_is_estimate = 1 AND from_cache = 0 ORDER BY started_at, id LIMIT 1) "
                "AND NOT EXISTS (SELECT 1 FROM calls WHERE generation_id = ? "
                "AND cost_is_estimate = 0 AND from_cache = 0)",
                (
                    usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens,
                    usage.reasoning_tokens, decimal_text(usage.cost), notebook, generation_id,
                    generation_id,
                ),
            )  # fmt: skip
            return cursor.rowcount > 0

    def cost_by_model(self, notebook: str | None = None) -> list[tuple[str, int, Decimal]]:
        """(model, calls, cost), dearest first."""
        where, params = _where(notebook)
        rows = self._read(
            f"SELECT model, {_BILLED}, {usage.SQLITE.cost_sum} FROM calls {where} GROUP BY model",
            params,
        )
        return _by_cost(rows)

    def notebooks(self) -> list[tuple[str, int, Decimal]]:
        """(notebook, calls, cost) of every notebook in the ledger, dearest first."""
        rows = self._read(
            f"SELECT notebook, {_BILLED}, {usage.SQLITE.cost_sum} FROM calls GROUP BY 1"
        )
        return _by_cost(rows)

    def entries(self, notebook: str | None = None, limit: int = 50) -> Entries:
        """The newest `limit` lines of the usage view (a run is one), oldest first."""
        where, params = _where(notebook)
        sql = usage.newest_entries_sql(usage.SQLITE, where)
        rows = self._read(sql, (*params, limit, *params, limit, limit, *params))
        ((total,),) = self._read(usage.entry_count_sql(where), params)
        return Entries([usage.entry(usage.SQLITE, row) for row in reversed(rows)], total)

    def spend(self, notebook: str | None = None, steps: int = 500) -> list[SpendStep]:
        """The spend over time in slices of a second, a minute, an hour or a day (the finest
        that gives at most about `steps`), oldest first."""
        where, params = _where(notebook)
        ((first, last),) = self._read(usage.ends_sql(where), (*params, *params))
        if first is None:
            return []
        chars, _ = usage.slice_for(_time(first), _time(last), steps)
        sql = usage.sliced_spend_sql(where, usage.slice_bounds(first, last, chars))
        rows = self._read(sql, (*params, *params, *params))
        return [usage.spend_step(usage.SQLITE, row) for row in rows if row[0] is not None]

    def by_model(self, notebook: str | None = None) -> list[ModelUsage]:
        """Each model's totals, dearest first."""
        where, params = _where(notebook)
        return usage.model_usage(self._read(usage.by_model_sql(usage.SQLITE, where), params))

    def budget(self, notebook: str) -> Decimal | None:
        rows = self._read("SELECT amount FROM budgets WHERE notebook = ?", (notebook,))
        return Decimal(rows[0][0]) if rows else None

    def set_budget(self, notebook: str, amount: Decimal | None) -> None:
        """Set (or, with None, remove) a notebook's budget in US dollars."""
        if amount is not None and not (amount.is_finite() and amount >= 0):
            raise ValueError(f"a budget is a non-negative number of dollars, not {amount}")
        with self._write() as conn:
            conn.execute("DELETE FROM budgets WHERE notebook = ?", (notebook,))
            if amount is not None:
                conn.execute("INSERT INTO budgets VALUES (?, ?)", (notebook, decimal_text(amount)))

    def reserve(self, notebook: str, worst_case: Decimal) -> Reservation:
        """Hold `worst_case` dollars of the notebook's budget, or raise `BudgetExceeded`.

        Atomic across threads and processes: spent + calls in flight + this call must fit.
        Release the reservation when the call's record is written or it failed before sending.
        """
        if not (worst_case.is_finite() and worst_case >= 0):
            raise ValueError(f"a worst-case cost is a non-negative number, not {worst_case}")
        if self.budget(notebook) is None:
            return Reservation(None, notebook, worst_case)
        with self._write() as conn:
            (budget,) = conn.execute(
                "SELECT amount FROM budgets WHERE notebook = ?", (notebook,)
            ).fetchone() or (None,)
            if budget is None:  # removed meanwhile
                return Reservation(None, notebook, worst_case)
            self._expire(conn)
            (spent,) = conn.execute(
                "SELECT decimal_sum(cost) FROM calls WHERE notebook = ?", (notebook,)
            ).fetchone()
            (held,) = conn.execute(
                "SELECT decimal_sum(amount) FROM reservations WHERE notebook = ?", (notebook,)
            ).fetchone()
            spent, held, budget = Decimal(spent or 0), Decimal(held or 0), Decimal(budget)
            if spent + held + worst_case > budget:
                raise BudgetExceeded(spent, held, worst_case, budget)
            cursor = conn.execute(
                "INSERT INTO reservations (notebook, amount, host, pid, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (notebook, decimal_text(worst_case), _host(), os.getpid(), time.time()),
            )
            return Reservation(cursor.lastrowid, notebook, worst_case)

    def _expire(self, conn: sqlite3.Connection) -> None:
        """Forget reservations older than the TTL, or held by processes gone from this host."""
        conn.execute(
            "DELETE FROM reservations WHERE created_at < ?", (time.time() - self.reservation_ttl,)
        )
        rows = conn.execute("SELECT id, pid FROM reservations WHERE host = ?", (_host(),))
        dead = [(id_,) for id_, pid in rows.fetchall() if not _pid_alive(pid)]
        conn.executemany("DELETE FROM reservations WHERE id = ?", dead)

    def release(self, reservation: Reservation) -> None:
        if reservation.id is not None:
            with self._write() as conn:
                conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))

    def rename_notebook(self, old: str, new: str) -> int:
        """Move `old`'s history (and its budget, unless `new` has one) to `new`; rows moved."""
        if old == new:
            return 0
        with self._write() as conn:
            moved = conn.execute("UPDATE calls SET notebook = ? WHERE notebook = ?", (new, old))
            conn.execute("UPDATE reservations SET notebook = ? WHERE notebook = ?", (new, old))
            conn.execute("UPDATE OR IGNORE budgets SET notebook = ? WHERE notebook = ?", (new, old))
            conn.execute("DELETE FROM budgets WHERE notebook = ?", (old,))
            return moved.rowcount

    @property
    def location(self) -> str:
        return str(self.path)

    def budgeted(self, notebook: str) -> bool:
        return self.budget(notebook) is not None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _time(text: str) -> datetime:
    return usage.SQLITE.parse_time(text)


def _by_cost(rows: list[sqlite3.Row]) -> list[tuple[str, int, Decimal]]:
    result = [(str(name), int(count), Decimal(cost)) for name, count, cost in rows]
    return sorted(result, key=lambda row: (-row[2], -row[1], row[0]))
