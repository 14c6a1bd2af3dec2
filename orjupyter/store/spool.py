"""Rows waiting for a team ledger that is away, in a private local folder.

While the database cannot be reached, each call's row is appended to this kernel's file in
the spool folder (0700; files 0600: rows may hold prompts). When the database is back, every
waiting file of that database is written (by whichever kernel of the user gets there first)
and removed; each row carries its key, so a row sent twice is written once. The last budget
figures the database gave are kept beside them (`figures.json`), so a kernel started while
the database is away still holds its user to them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Row = dict[str, Any]

if sys.platform != "win32":  # on Windows, one kernel per spool file is the rule
    import fcntl


def data_dir() -> Path:
    """Jupyter's data folder (`$JUPYTER_DATA_DIR`, else jupyter_core's default)."""
    try:
        from jupyter_core.paths import jupyter_data_dir
    except ImportError:
        return Path(os.environ.get("JUPYTER_DATA_DIR") or "~/.local/share/jupyter").expanduser()
    return Path(jupyter_data_dir())


def spool_folder(location: str) -> Path:
    """The folder for one database's waiting rows (named by a hash of its safe location)."""
    name = hashlib.sha256(location.encode()).hexdigest()[:16]
    return data_dir() / "orjupyter" / "spool" / name


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    """The file at `path`, opened for appending and locked (made again if another kernel
    removed it while we waited for the lock)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if sys.platform != "win32":
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:  # another kernel drained and removed it while we waited: open it again
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield fd
                return
        finally:
            os.close(fd)


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8")


class Spool:
    """This kernel's file of waiting rows, and the drain of every file of its database."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self.path = folder / name

    def add(self, row: Row) -> None:
        """Append one row (its values JSON-safe: text, numbers, None)."""
        with _locked(self.path) as fd:
            os.write(fd, (json.dumps(row) + "\n").encode())

    def waiting(self, *, every_kernel: bool = False) -> list[Row]:
        """This kernel's rows not yet written (with `every_kernel`, every file's here)."""
        rows: list[Row] = []
        for path in sorted(self.folder.glob("*.jsonl")) if every_kernel else [self.path]:
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            rows += [json.loads(line) for line in text.splitlines() if line.strip()]
        return rows

    def drain(self, write: Callable[[list[Row]], None]) -> int:
        """Hand each waiting file's rows to `write` (which must write all or raise), then
        remove the file; the number of rows handed over."""
        count = 0
        for path in sorted(self.folder.glob("*.jsonl")):
            with _locked(path) as fd:
                rows = [json.loads(line) for line in _read(fd).splitlines() if line.strip()]
                if rows:
                    write(rows)
                path.unlink()
                count += len(rows)
        return count

    def save_figures(self, figures: dict[str, Any]) -> None:
        target = self.folder / "figures.json"
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(figures, out)
        os.replace(temporary, target)

    def load_figures(self) -> dict[str, Any]:
        try:
            loaded = json.loads((self.folder / "figures.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}
