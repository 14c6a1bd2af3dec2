"""Answers kept on disk, so re-running an identical request is free.

Pure: no IPython, no widgets, no SDK. One JSON file per request key (`_cache_key`),
`<directory>/<key[:2]>/<key>.json`, written atomically (temp file + `os.replace`), so
kernels and processes can share one folder with no lock, and a folder committed to git
diffs and merges file by file. The format is stable: the same answer always gives the
same bytes, and its text is stored as a list of lines (as notebooks store cell sources),
so a re-recorded answer diffs line by line.

Eviction is least-recently-used by file mtime (a hit touches it) once the folder grows
beyond `max_bytes`, down to 90% of it. Nothing here receives the API key; image bytes
are never stored, only their SHA-256. Entries hold whole prompts and answers, so files are
created 0600 and the folders this module makes 0700.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from orjupyter.core.cache_key import canonical_request, json_default
from orjupyter.core.domain import Citation, Reply, ToolCall, Usage, decimal_text
from orjupyter.core.errors import NotSent

__all__ = [
    "DEFAULT_MAX_BYTES",
    "CacheMiss",
    "CachedAnswer",
    "ResponseCache",
    "default_cache_dir",
    "replay_miss",
]

FILE_FORMAT = 1
DEFAULT_MAX_BYTES = 200 * 2**20

_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
_EVICT_TO = 0.9
_RESCAN_SECONDS = 60.0  # other kernels write too: recount the folder at least this often
_STALE_TEMP_SECONDS = 3600.0
_REPLACE_ATTEMPTS = 5  # Windows refuses os.replace while a reader has the file open


# --- answers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedAnswer:
    """A complete answer as stored. `usage` is what the original call billed."""

    text: str
    model: str
    generation_id: str
    usage: Usage
    finish_reason: str | None
    created_at: datetime
    reasoning: str = ""
    citations: tuple[Citation, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    """A tool loop's round: the calls it asked for (its requests offered functions)."""
    reasoning_details: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_reply(cls, reply: Reply, created_at: datetime | None = None) -> CachedAnswer:
        if reply.outcome != "ok":
            raise ValueError(f"only complete answers are cached, not {reply.outcome!r} ones")
        return cls(
            text=reply.text,
            model=reply.model,
            generation_id=reply.id,
            usage=reply.usage,
            finish_reason=reply.finish_reason,
            created_at=created_at or datetime.now(timezone.utc).replace(microsecond=0),
            reasoning=reply.reasoning,
            citations=reply.citations,
            tool_calls=reply.tool_calls,
            reasoning_details=reply.reasoning_details,
        )

    def to_reply(self, duration: float = 0.0) -> Reply:
        """The answer as a cached `Reply` that cost nothing; `extra["billed_usage"]` holds
        what the original call cost, `extra["created_at"]` when it was recorded."""
        return Reply(
            text=self.text,
            model=self.model,
            id=self.generation_id,
            usage=Usage(),
            finish_reason=self.finish_reason,
            duration=duration,
            cached=True,
            reasoning=self.reasoning,
            citations=self.citations,
            tool_calls=self.tool_calls,
            reasoning_details=self.reasoning_details,
            extra={"billed_usage": self.usage, "created_at": self.created_at},
        )


def _encode(key: str, answer: CachedAnswer, request: Mapping[str, Any] | None) -> bytes:
    usage = answer.usage
    entry: dict[str, Any] = {
        "format": FILE_FORMAT,
        "key": key,
        "model": answer.model,
        "generation_id": answer.generation_id,
        "finish_reason": answer.finish_reason,
        "created_at": answer.created_at.isoformat(),
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost": decimal_text(usage.cost),
            "cost_is_estimate": usage.cost_is_estimate,
            "cached_tokens": usage.cached_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
        },
    }
    if request is not None:
        entry["request"] = canonical_request(request)
    entry["text"] = answer.text.splitlines(keepends=True)
    if answer.reasoning:
        entry["reasoning"] = answer.reasoning
    if answer.citations:
        entry["citations"] = [{"url": c.url, "title": c.title} for c in answer.citations]
    if answer.tool_calls:
        entry["tool_calls"] = [[c.id, c.name, c.arguments] for c in answer.tool_calls]
    if answer.reasoning_details:
        entry["reasoning_details"] = list(answer.reasoning_details)
    text = json.dumps(entry, indent=1, ensure_ascii=False, default=json_default)
    return (text + "\n").encode()


def _decode(key: str, data: bytes) -> CachedAnswer:
    """The answer in an entry file; ValueError, KeyError or TypeError if it is not one."""
    entry = json.loads(data)
    if entry["format"] != FILE_FORMAT or entry["key"] != key:
        raise ValueError("not this entry")
    usage = entry["usage"]
    lines = entry["text"]
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise TypeError("text is not a list of lines")
    try:
        cost = Decimal(usage["cost"])
    except InvalidOperation as exc:
        raise ValueError("cost is not a number") from exc
    if not cost.is_finite() or cost < 0:
        raise ValueError("cost is not a finite, non-negative number")
    finish = entry["finish_reason"]
    return CachedAnswer(
        text="".join(lines),
        model=str(entry["model"]),
        generation_id=str(entry["generation_id"]),
        usage=Usage(
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=int(usage["completion_tokens"]),
            cost=cost,
            cost_is_estimate=bool(usage["cost_is_estimate"]),
            cached_tokens=int(usage.get("cached_tokens", 0)),
            reasoning_tokens=int(usage.get("reasoning_tokens", 0)),
        ),
        finish_reason=None if finish is None else str(finish),
        created_at=datetime.fromisoformat(entry["created_at"]),
        reasoning=str(entry.get("reasoning", "")),
        citations=tuple(
            Citation(str(c["url"]), str(c.get("title", ""))) for c in entry.get("citations", ())
        ),
        tool_calls=tuple(ToolCall(*map(str, c)) for c in entry.get("tool_calls", ())),
        reasoning_details=tuple(dict(d) for d in entry.get("reasoning_details", ())),
    )


# --- the cache ---------------------------------------------------------------------------


class ResponseCache:
    """A folder of answers keyed by `request_key`, shared by every process that opens it."""

    def __init__(self, directory: Path | str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory).expanduser()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size: int | None = None  # this process's running estimate of the folder
        self._counted_at = 0.0

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.directory)!r}, max_bytes={self.max_bytes})"

    def path_for(self, key: str) -> Path:
        if not _KEY_PATTERN.fullmatch(key):
            raise ValueError(f"not a cache key: {key!r:.80}")
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> CachedAnswer | None:
        """The stored answer, or None. A damaged entry is removed and counts as a miss."""
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            answer = _decode(key, data)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):  # most recently used; a read-only folder is fine
            os.utime(path)
        return answer

    def put(
        self, key: str, answer: CachedAnswer, *, request: Mapping[str, Any] | None = None
    ) -> None:
        """Store a complete answer (empty text is not stored, unless the answer is a round
        of function calls). With `request`, its
        canonical form (images as hashes) is kept beside the answer for people to read.

        Raises OSError when the folder cannot be written.
        """
        path = self.path_for(key)
        if not answer.text.strip() and not answer.tool_calls:
            return
        data = _encode(key, answer, request)
        if len(data) > self.max_bytes * _EVICT_TO:
            return
        _private_folder(self.directory)
        _private_folder(path.parent)
        try:
            replaced = path.stat().st_size
        except OSError:
            replaced = 0
        temp = path.with_name(f".{key[:16]}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:  # prompts and answers: readable by you only
                out.write(data)
            _replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        self._grew(len(data) - replaced, keep=path)

    def size_bytes(self) -> int:
        """Bytes of all entries now in the folder (every process's)."""
        return sum(size for _, size, _ in self._entries())

    def clear(self) -> int:
        """Remove every entry; the number removed."""
        removed = 0
        for path, _, _ in self._entries():
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
        for shard in self._shards():
            for temp in shard.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    temp.unlink()
            with contextlib.suppress(OSError):
                shard.rmdir()
        with self._lock:
            self._size, self._counted_at = 0, time.monotonic()
        return removed

    def _grew(self, delta: int, keep: Path) -> None:
        with self._lock:
            stale = time.monotonic() - self._counted_at > _RESCAN_SECONDS
            if self._size is None or stale:
                self._size, self._counted_at = self.size_bytes(), time.monotonic()
            else:
                self._size += delta
            if self._size > self.max_bytes:
                self._size, self._counted_at = self._evict(keep), time.monotonic()

    def _evict(self, keep: Path) -> int:
        """Remove the least recently used entries until at most 90% of the cap is used."""
        entries = sorted(self._entries(), key=lambda entry: entry[2])
        total = sum(size for _, size, _ in entries)
        target = int(self.max_bytes * _EVICT_TO)
        for path, size, _ in entries:
            if total <= target:
                break
            if path == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            total -= size
        self._remove_stale_temps()
        return total

    def _shards(self) -> list[Path]:
        try:
            with os.scandir(self.directory) as items:
                return [Path(item.path) for item in items if len(item.name) == 2]
        except OSError:
            return []

    def _entries(self) -> list[tuple[Path, int, float]]:
        """(path, size, mtime) of every entry file."""
        entries = []
        for shard in self._shards():
            try:
                with os.scandir(shard) as items:
                    found = [item for item in items if item.name.endswith(".json")]
            except OSError:
                continue
            for item in found:
                try:
                    stat = item.stat()
                except OSError:
                    continue
                entries.append((Path(item.path), stat.st_size, stat.st_mtime))
        return entries

    def _remove_stale_temps(self) -> None:
        """Temp files a crashed writer left behind."""
        cutoff = time.time() - _STALE_TEMP_SECONDS
        for shard in self._shards():
            for temp in shard.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    if temp.stat().st_mtime < cutoff:
                        temp.unlink()


def _private_folder(folder: Path) -> None:
    """Make `folder` (and its parents) if missing; a folder made here is 0700."""
    if folder.is_dir():
        return
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):  # mkdir's mode is masked by the umask
        os.chmod(folder, 0o700)


def _replace(source: Path, target: Path) -> None:
    for attempt in range(_REPLACE_ATTEMPTS):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if attempt == _REPLACE_ATTEMPTS - 1:
                raise
            time.sleep(0.01 * 2**attempt)


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
