"""`{Err[n]}`: the traceback of cell n, kept as text for "why did this fail?"."""

from __future__ import annotations

import traceback
from typing import Any

_IPYTHON_FRAMES = ("/IPython/", "/ipykernel/")


def is_ipython_frame(filename: str) -> bool:
    path = filename.replace("\\", "/")
    return any(part in path for part in _IPYTHON_FRAMES)


class ErrorLog:
    """Fills `Err` (a dict in the user namespace) after every failed cell."""

    def __init__(self) -> None:
        self.tracebacks: dict[int, str] = {}

    def remember(self, result: Any) -> None:
        """IPython's post_run_cell event: keep the failed cell's traceback."""
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        count = getattr(result, "execution_count", None)
        if error is None or count is None:
            return
        self.tracebacks[count] = format_traceback(error)


def format_traceback(error: BaseException) -> str:
    """Plain text, without IPython's own frames, as a person would paste it."""
    summary = traceback.TracebackException.from_exception(error)
    own = [frame for frame in summary.stack if not is_ipython_frame(frame.filename)]
    summary.stack = traceback.StackSummary.from_list(own)
    return "".join(summary.format()).rstrip()
