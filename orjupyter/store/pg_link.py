"""A kernel's connection to the team's PostgreSQL server, and what happens while it is away.

`ServerLink` holds one psycopg connection (autocommit; each change is one explicit
transaction), guarded by a lock so a kernel's threads take turns. An operation runs through
`_run(work, away)`: on the live connection, or, when the server cannot be reached (at start
or mid-session), `away()` instead, after one warning. The server is tried again after
`retry_after` seconds; when it is back, the schema is brought up to date and every row that
waited in the spool is written (`ON CONFLICT (row_key) DO NOTHING`: a row sent twice is
written once). The password stays with libpq: `location` and every message leave it out.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from orjupyter.core.errors import LedgerError
from orjupyter.core.redact import redact
from orjupyter.store import pg_migrations
from orjupyter.store.spool import Row, Spool

if TYPE_CHECKING:
    from psycopg import Connection

T = TypeVar("T")


def safe_location(url: str) -> str:
    """`postgresql://user@host:port/db`: the URL as it may be shown (no password, no
    other parameters)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except Exception:
        raise LedgerError("ORJUPYTER_LEDGER is not a postgresql:// URL libpq can read") from None
    user = f"{info['user']}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{info.get('host') or ''}{port}/{info.get('dbname') or ''}"


class ServerLink:
    """One kernel's connection to the server; the spool for the rows that wait."""

    def __init__(self, url: str, spool: Spool, *, retry_after: float, connect_timeout: int) -> None:
        from psycopg.conninfo import conninfo_to_dict

        self._location = safe_location(url)
        self._url = url
        given = (conninfo_to_dict(url).get("password"), os.environ.get("PGPASSWORD"))
        self._secrets = tuple(str(secret) for secret in given if secret)
        self._connect_timeout = connect_timeout
        self.retry_after = retry_after
        self.spool = spool
        self._lock = threading.RLock()
        self._conn: Connection[Any] | None = None
        self._columns: dict[str, str] = {}
        self._retry_at = 0.0
        self._away: str | None = None

    @property
    def location(self) -> str:
        return self._location

    def _connection(self) -> Connection[Any] | None:
        """The live connection, or None while the server is away (tried again after
        `retry_after` seconds; rows that waited are written when it is back)."""
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if time.monotonic() < self._retry_at:
            return None
        import psycopg

        try:
            conn = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                application_name="orjupyter",
                options="-c TimeZone=UTC",
            )
        except psycopg.OperationalError as exc:
            self._went_away(exc)
            return None
        except psycopg.Error as exc:
            raise LedgerError(f"{self._location}: {self._safe(exc)}") from None
        try:
            if not self._columns:
                pg_migrations.migrate(conn, self._location)
                self._columns = dict(
                    conn.execute(
                        "SELECT column_name, udt_name FROM information_schema.columns "
                        "WHERE table_name = 'calls' AND table_schema = current_schema()"
                    ).fetchall()
                )
            self._conn = conn
            written = self.spool.drain(self._write_waiting)
        except psycopg.OperationalError as exc:
            conn.close()
            self._went_away(exc)
            return None
        except BaseException:
            self._conn = None
            conn.close()
            raise
        if self._away is not None:
            self._away = None
            print(
                f"orjupyter: the team ledger {self._location} is back; {written} waiting "
                "calls written.",
                file=sys.stderr,
            )
        return conn

    def _went_away(self, exc: BaseException) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._retry_at = time.monotonic() + self.retry_after
        if self._away is None:
            self._away = self._safe(exc)
            print(
                f"orjupyter: the team ledger {self._location} cannot be reached "
                f"({self._away}); calls go on, their rows wait in {self.spool.folder} and are "
                "written when it is back, and budgets are held here from the last known "
                "figures.",
                file=sys.stderr,
            )

    def _safe(self, exc: BaseException) -> str:
        """An error's first line, with the password (in any form) taken out."""
        from orjupyter.store.base import without_password

        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return without_password(redact(text, self._secrets))

    def _run(self, work: Callable[[Connection[Any]], T], away: Callable[[], T]) -> T:
        """`work` on the live connection; `away()` instead while the server is away."""
        import psycopg

        with self._lock:
            conn = self._connection()
            if conn is None:
                return away()
            try:
                return work(conn)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._went_away(exc)
                return away()

    def _refuse_while_away(self) -> NoReturn:
        raise LedgerError(
            f"the team ledger {self._location} cannot be reached ({self._away}); "
            "try again when it is back"
        )

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read (a `LedgerError` while the server is away)."""
        return self._run(lambda c: c.execute(sql, params).fetchall(), self._refuse_while_away)

    def change(self, work: Callable[[Connection[Any]], T]) -> T:
        """`work` in one transaction (a `LedgerError` while the server is away)."""

        def transaction(conn: Connection[Any]) -> T:
            with conn.transaction():
                result: T = work(conn)
            return result

        return self._run(transaction, self._refuse_while_away)

    def _insert(self, conn: Connection[Any], rows: list[Row], *, free: int | None = None) -> None:
        """Write rows (a row already there is left alone); with `free`, also delete that
        hold, in the same statement."""
        names = list(rows[0])
        missing = [name for name in names if name not in self._columns]
        if missing:
            raise LedgerError(f"{self._location} has no column {missing[0]}; upgrade orjupyter")
        casts = {name: "::int::bool" if kind == "bool" else f"::{kind}" for name, kind in
                 self._columns.items()}  # fmt: skip
        values = ", ".join(f"%({name})s{casts[name]}" for name in names)
        freed = "WITH freed AS (DELETE FROM reservations WHERE id = %(free)s) " if free else ""
        with conn.cursor() as cursor:
            cursor.executemany(
                f"{freed}INSERT INTO calls ({', '.join(names)}) VALUES ({values}) "
                "ON CONFLICT (row_key) DO NOTHING",
                [{**row, "free": free} for row in rows] if free else rows,
            )

    def _write_waiting(self, rows: list[Row]) -> None:
        assert self._conn is not None
        with self._conn.transaction():
            for start in range(0, len(rows), 500):
                self._insert(self._conn, rows[start : start + 500])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
