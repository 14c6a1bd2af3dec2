"""A cache folder written by an older orjupyter: one JSON file per answer, read and moved
into the one-file store (`cache.py`).

Such a folder holds `<key[:2]>/<key>.json`, each the entry `answers.py` reads, its last
use in its mtime. Opening the cache moves every answer into the file, oldest use first,
then removes the files; a folder that cannot be written keeps its files, which are still
read.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

from orjupyter.store.answers import DAMAGED, CachedAnswer, decode

OldEntry = tuple[Path, str, float]
"""(path, key, last used) of one answer file."""
Writer = Callable[..., None]
"""`ResponseCache._write(key, answer, used_at=…)`."""

_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")


def entries(directory: Path) -> list[OldEntry]:
    """Every `<key[:2]>/<key>.json` in `directory` (none: an empty list)."""
    found = []
    try:
        with os.scandir(directory) as items:
            shards = [item.path for item in items if len(item.name) == 2 and item.is_dir()]
    except OSError:
        return []
    for shard in shards:
        with contextlib.suppress(OSError), os.scandir(shard) as items:
            for item in items:
                key = item.name.removesuffix(".json")
                if item.name.endswith(".json") and _KEY_PATTERN.fullmatch(key):
                    with contextlib.suppress(OSError):
                        found.append((Path(item.path), key, item.stat().st_mtime))
    return found


def read(directory: Path, key: str) -> CachedAnswer | None:
    """An answer still in its file (one that could not be moved in), or None."""
    try:
        return decode(key, (directory / key[:2] / f"{key}.json").read_bytes())
    except (OSError, *DAMAGED):
        return None


def move_in(old: list[OldEntry], write: Writer) -> None:
    """The files' answers written to the store, oldest use first, then the files removed
    (a damaged one too: it was a miss); on the first write that fails, nothing more."""
    moved = []
    for path, key, used_at in sorted(old, key=lambda entry: entry[2]):
        try:
            answer = decode(key, path.read_bytes())
        except (OSError, *DAMAGED):
            moved.append(path)
            continue
        try:
            write(key, answer, used_at=used_at)
        except (OSError, sqlite3.Error):
            return  # a read-only folder: its files are still read (`read`)
        moved.append(path)
    for path in moved:
        with contextlib.suppress(OSError):
            path.unlink()
    for shard in {path.parent for path, _, _ in old}:
        for temp in shard.glob(".*.tmp"):  # what a writer killed mid-write left
            with contextlib.suppress(OSError):
                temp.unlink()
        with contextlib.suppress(OSError):
            shard.rmdir()
