"""`{Err[n]}`: the traceback of cell n, kept as text for "why did this fail?"."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_IPYTHON_FRAMES = ("/IPython/", "/ipykernel/")

CellNamer = Callable[[str], "str | None"]
"""A code file's name as a person knows it (`Cell In[7]` for the kernel's temporary file of
cell 7), or None for a real file. The Jupyter glue makes one from IPython's compiler."""


def is_ipython_frame(filename: str) -> bool:
    path = filename.replace("\\", "/")
    return any(part in path for part in _IPYTHON_FRAMES)


def with_cell_names(text: str, filenames: Iterable[str], cell_name: CellNamer | None) -> str:
    """A formatted traceback with each cell's frames named as IPython names them
    (`Cell In[7], line 3, in f`) instead of the kernel's temporary file
    (`File "/tmp/ipykernel_123/4567.py", line 3, in f`)."""
    if cell_name is None:
        return text
    for filename in set(filenames):
        try:
            label = cell_name(filename)
        except Exception:  # naming is a courtesy; the file's own name is still true
            label = None
        if label:
            text = text.replace(f'File "{filename}"', label)
    return text


class ErrorLog:
    """Fills `Err` (a dict in the user namespace) after every failed cell."""

    def __init__(self, cell_name: CellNamer | None = None) -> None:
        self.tracebacks: dict[int, str] = {}
        self.cell_name = cell_name

    def remember(self, result: Any) -> None:
        """IPython's post_run_cell event: keep the failed cell's traceback."""
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        count = getattr(result, "execution_count", None)
        if error is None or count is None:
            return
        self.tracebacks[count] = format_traceback(error, self.cell_name)


def format_traceback(error: BaseException, cell_name: CellNamer | None = None) -> str:
    """Plain text, without IPython's own frames, as a person would paste it; a cell's
    frames say which cell (`Cell In[7]`) when `cell_name` knows it."""
    summary = traceback.TracebackException.from_exception(error)
    for part in _chain(summary):
        own = [frame for frame in part.stack if not is_ipython_frame(frame.filename)]
        part.stack = traceback.StackSummary.from_list(own)
    filenames = (frame.filename for part in _chain(summary) for frame in part.stack)
    return with_cell_names("".join(summary.format()).rstrip(), list(filenames), cell_name)


def _chain(summary: traceback.TracebackException) -> Iterator[traceback.TracebackException]:
    """The exception and those it was raised from or during (each once)."""
    seen: set[int] = set()
    todo = [summary]
    while todo:
        part = todo.pop()
        if id(part) in seen:
            continue
        seen.add(id(part))
        yield part
        todo += [p for p in (part.__cause__, part.__context__) if p is not None]
