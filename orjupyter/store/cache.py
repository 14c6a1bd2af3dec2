"""Answers kept on disk, so re-running an identical request is free.

Pure: no IPython, no widgets, no SDK. One SQLite file, `<folder>/answers.sqlite` (standard
library, WAL mode, a busy timeout), holds every answer: one row per request key, its entry
(`answers.py`: JSON text, readable with any SQLite tool) and when it was last used. Kernels
and processes share the file; each write is one short transaction, so a reader never sees
half an answer. In one file, 100,000 small answers take about their own bytes on disk (a
file per answer took five times as much, a block each).

The cap (`max_bytes`) counts the entries' bytes: once they pass it, the least recently used
(a hit counts as a use) are deleted down to 90% of it, and the file gives the freed pages
back (`auto_vacuum`), so the file on disk stays near the cap. Nothing here receives the API
key; image bytes are never stored, only their SHA-256. Entries hold whole prompts and
answers, so the file is created 0600 (SQLite gives its `-wal` and `-shm` files the same
mode) and the folders this module makes 0700.

A folder written by an older orjupyter (one JSON file per answer, `<key[:2]>/<key>.json`)
is moved into the file the first time it is opened, oldest use first, and its files are
removed; where it cannot be written (read-only), its files are still read.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from orjupyter.core.errors import NotSent
from orjupyter.store import old_folder
from orjupyter.store.answers import DAMAGED, CachedAnswer, decode, encode

__all__ = [
    "DEFAULT_MAX_BYTES",
    "CacheMiss",
    "CachedAnswer",
    "ResponseCache",
    "default_cache_dir",
    "replay_miss",
]

DEFAULT_MAX_BYTES = 200 * 2**20
FILE_NAME = "answers.sqlite"

_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
_EVICT_TO = 0.9
_TOUCH_BATCH = 500  # answers read before their use is written (one transaction for all)
_TOUCH_SECONDS = 5.0  # ... or seconds since the last such write
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS answers (
        key TEXT PRIMARY KEY,        -- the request's key (64 hex digits)
        used_at REAL NOT NULL,       -- Unix time it was last written or read
        size INTEGER NOT NULL,       -- bytes of entry
        entry TEXT NOT NULL          -- the answer, JSON (answers.py)
    )""",
    "CREATE INDEX IF NOT EXISTS answers_by_use ON answers (used_at, size)",
    "CREATE TABLE IF NOT EXISTS sizes (name TEXT PRIMARY KEY, bytes INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO sizes VALUES ('entries', 0)",
)


class ResponseCache:
    """The answers in one folder, keyed by `request_key`, shared by every process."""

    def __init__(self, directory: Path | str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory).expanduser()
        self.path = self.directory / FILE_NAME
        self.max_bytes = max_bytes
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._touched: dict[str, float] = {}
        """Answers read since the last write of their use: key → when."""
        self._flushed = time.monotonic()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.directory)!r}, max_bytes={self.max_bytes})"

    # -- the file ------------------------------------------------------------------------

    def _open(self, create: bool) -> sqlite3.Connection | None:
        """The connection, opened (and an older folder moved in) on first use; None when
        there is no file yet and `create` is false, or the file cannot be opened."""
        if self._conn is not None and self.path.exists():
            return self._conn
        self.close()  # the folder was deleted: start a new file
        old = old_folder.entries(self.directory)
        if not (create or old or self.path.exists()):
            return None
        try:
            _private_folder(self.directory)
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error):
            if create:
                raise
            return None
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA trusted_schema = OFF")
            if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only before the first table
            _set_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            with _transaction(conn):
                for statement in _SCHEMA:
                    conn.execute(statement)
        except sqlite3.Error as exc:
            conn.close()
            if create:
                raise OSError(f"the cache {self.path} cannot be used: {exc}") from exc
            return None
        self._conn = conn
        if old:
            old_folder.move_in(old, self._write)
        return conn

    # -- reading and writing -------------------------------------------------------------

    def get(self, key: str, *, touch: bool = True) -> CachedAnswer | None:
        """The stored answer, or None. A damaged entry is removed and counts as a miss.
        `touch=False` (replay): reading writes nothing, so a committed file stays as it is."""
        _check(key)
        with self._lock:
            conn = self._open(create=False)
            row = None if conn is None else _one(conn, key)
            if conn is None or row is None:
                return old_folder.read(self.directory, key)
            try:
                answer = decode(key, row)
            except DAMAGED:
                with contextlib.suppress(sqlite3.Error), _transaction(conn) as c:
                    self._delete(c, [key])
                return None
            if touch:  # the most recently used, written a batch at a time
                self._touched[key] = time.time()
                due = time.monotonic() - self._flushed > _TOUCH_SECONDS
                if due or len(self._touched) >= _TOUCH_BATCH:
                    with contextlib.suppress(sqlite3.Error), _transaction(conn) as c:
                        self._flush(c)
            return answer

    def _flush(self, conn: sqlite3.Connection) -> None:
        """Write when the answers read lately were used (a read-only file: never)."""
        touched = [(used_at, key) for key, used_at in self._touched.items()]
        self._touched.clear()
        self._flushed = time.monotonic()
        conn.executemany("UPDATE answers SET used_at = ? WHERE key = ?", touched)

    def put(
        self, key: str, answer: CachedAnswer, *, request: Mapping[str, Any] | None = None
    ) -> None:
        """Store a complete answer (empty text is not stored, unless the answer is a round
        of function calls). With `request`, its canonical form (images as hashes) is kept
        beside the answer for people to read.

        Raises OSError when the folder cannot be written.
        """
        _check(key)
        if not answer.text.strip() and not answer.tool_calls:
            return
        with self._lock:
            try:
                self._open(create=True)
                self._write(key, answer, request, used_at=time.time())
            except sqlite3.Error as exc:
                raise OSError(f"the cache {self.path} cannot be written: {exc}") from exc

    def _write(
        self,
        key: str,
        answer: CachedAnswer,
        request: Mapping[str, Any] | None = None,
        *,
        used_at: float,
    ) -> None:
        entry = encode(key, answer, request).decode()
        size = len(entry.encode())
        if size > self.max_bytes * _EVICT_TO:
            return
        assert self._conn is not None
        with _transaction(self._conn) as conn:
            self._flush(conn)
            self._delete(conn, [key])
            conn.execute("INSERT INTO answers VALUES (?, ?, ?, ?)", (key, used_at, size, entry))
            conn.execute("UPDATE sizes SET bytes = bytes + ? WHERE name = 'entries'", (size,))
            if _entries_bytes(conn) > self.max_bytes:
                self._evict(conn, keep=key)

    def _delete(self, conn: sqlite3.Connection, keys: list[str]) -> None:
        for key in keys:
            found = conn.execute("SELECT size FROM answers WHERE key = ?", (key,)).fetchone()
            if found is not None:
                conn.execute("DELETE FROM answers WHERE key = ?", (key,))
                conn.execute(
                    "UPDATE sizes SET bytes = bytes - ? WHERE name = 'entries'", (found[0],)
                )

    def _evict(self, conn: sqlite3.Connection, keep: str) -> None:
        """The least recently used entries out, until at most 90% of the cap is used; the
        file gives the pages back."""
        excess = _entries_bytes(conn) - int(self.max_bytes * _EVICT_TO)
        doomed = []
        rows = conn.execute("SELECT key, size FROM answers ORDER BY used_at, key")
        for key, size in rows:
            if excess <= 0:
                break
            if key != keep:
                doomed.append(key)
                excess -= size
        rows.close()
        self._delete(conn, doomed)
        conn.execute("PRAGMA incremental_vacuum").fetchall()  # each step frees a page

    # -- the whole cache -----------------------------------------------------------------

    def size_bytes(self) -> int:
        """Bytes of all the answers now stored (every process's)."""
        with self._lock:
            conn = self._open(create=False)
            stored = 0 if conn is None else _entries_bytes(conn)
        return stored + sum(
            path.stat().st_size for path, _, _ in old_folder.entries(self.directory)
        )

    def disk_bytes(self) -> int:
        """Bytes the cache takes on disk: its file and SQLite's files beside it, in blocks."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                stat = os.stat(f"{self.path}{suffix}")
                total += getattr(stat, "st_blocks", 0) * 512 or stat.st_size
        return total

    def __len__(self) -> int:
        with self._lock:
            conn = self._open(create=False)
            return (
                0
                if conn is None
                else int(conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
            )

    def clear(self) -> int:
        """Remove every answer (and the file); the number removed."""
        with self._lock:
            removed = len(self)
            self.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{self.path}{suffix}")
            return removed

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                if self._touched:
                    with contextlib.suppress(sqlite3.Error), _transaction(self._conn) as conn:
                        self._flush(conn)
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _set_wal(conn: sqlite3.Connection, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:  # switching a new file to WAL can meet another process creating it
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _one(conn: sqlite3.Connection, key: str) -> str | None:
    found = conn.execute("SELECT entry FROM answers WHERE key = ?", (key,)).fetchone()
    return None if found is None else str(found[0])


def _entries_bytes(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT bytes FROM sizes WHERE name = 'entries'").fetchone()[0])


def _check(key: str) -> None:
    if not _KEY_PATTERN.fullmatch(key):
        raise ValueError(f"not a cache key: {key!r:.80}")


def _private_folder(folder: Path) -> None:
    """Make `folder` (and its parents) if missing; a folder made here is 0700."""
    if folder.is_dir():
        return
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):  # mkdir's mode is masked by the umask
        os.chmod(folder, 0o700)


# --- where, and replay -------------------------------------------------------------------


def default_cache_dir() -> Path:
    """$ORJUPYTER_CACHE_DIR, else the user cache folder: `$XDG_CACHE_HOME/orjupyter` or
    `~/.cache/orjupyter` (`~/Library/Caches/orjupyter` on macOS,
    `%LOCALAPPDATA%\\orjupyter\\Cache` on Windows)."""
    chosen = os.environ.get("ORJUPYTER_CACHE_DIR", "").strip()
    if chosen:
        return Path(chosen).expanduser()
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA", "").strip()
        base = Path(local) if local else Path.home() / "AppData" / "Local"
        return base / "orjupyter" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "orjupyter"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "orjupyter"


class CacheMiss(NotSent):
    """Replay mode found no cached answer: the call would have needed a key and a bill."""

    def __init__(self, message: str, cell_label: str = "", directory: Path | None = None) -> None:
        super().__init__(message)
        self.cell_label = cell_label
        self.directory = directory


def replay_miss(cell_label: str, directory: Path) -> CacheMiss:
    """The error for a replay-mode miss; `cell_label` is how the cell is shown, e.g. `[12]`."""
    return CacheMiss(
        f"cell {cell_label}: no cached answer for this request "
        f"(replay mode: ORJUPYTER_REPLAY=1); run it once with a key and the cache at "
        f"{directory} to record it",
        cell_label=cell_label,
        directory=directory,
    )
