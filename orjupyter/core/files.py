"""A person's file, read for a prompt: a regular file only, never more than its limit.

The one place the core reads a file the notebook named (a PDF, an image). A FIFO, a
socket or a device (`/dev/zero`, a pipe nobody writes to) is refused before a byte is
read: the file is looked at with `stat`, opened without waiting for a writer
(`O_NONBLOCK`), looked at again through the open descriptor (it may have been swapped
in between) and read to at most `limit` + 1 bytes, so no file, however it changes
meanwhile, can block a worker thread or fill the kernel's memory.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import PurePath

from orjupyter.core.errors import PromptError

_CHUNK = 1 << 20
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_FLAGS |= getattr(os, "O_BINARY", 0)


def read_regular(
    path: PurePath,
    limit: int,
    *,
    noun: str,
    error: type[PromptError],
    too_big: Callable[[int], str],
) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them.

    Anything else raises `error` with one line: no such file, a directory, not a regular
    file, unreadable, or (`too_big(size)`) larger than `limit`. `noun` names the kind of
    file the person meant to pass ("PDF", "image").
    """
    try:
        refusal = _refusal(os.stat(path), path, limit, noun, too_big)
        if refusal:
            raise error(refusal)
        descriptor = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise error(
            f"no {noun} file at {path}; check the path (relative paths start at {os.getcwd()})"
        ) from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}; check the file") from None
    try:
        refusal = _refusal(os.fstat(descriptor), path, limit, noun, too_big)
        data = b"" if refusal else _read_at_most(descriptor, limit + 1)
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}; check the file") from None
    finally:
        os.close(descriptor)
    if refusal:
        raise error(refusal)
    if len(data) > limit:  # it grew since it was looked at
        raise error(too_big(len(data)))
    return data


def _refusal(
    info: os.stat_result, path: PurePath, limit: int, noun: str, too_big: Callable[[int], str]
) -> str | None:
    if stat.S_ISDIR(info.st_mode):
        return f"{path} is a directory; pass the path of a {noun} file"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file (a pipe, socket or device); pass a {noun} file"
    return too_big(info.st_size) if info.st_size > limit else None


def _read_at_most(descriptor: int, most: int) -> bytes:
    chunks: list[bytes] = []
    left = most
    while left > 0:
        chunk = os.read(descriptor, min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
