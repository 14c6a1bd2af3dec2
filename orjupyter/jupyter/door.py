"""The one place where orjupyter's own errors become IPython's `UsageError`.

IPython shows a `UsageError` as one line ("UsageError: …"), never a traceback wall, which
is what every `OrJupyterError` message is written for. Every entry point from IPython (the
magic, its aliases, an awaited cell, `orjupyter.usage()`) runs inside `speaking_plainly()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from IPython.core.error import UsageError

from orjupyter.core.errors import OrJupyterError


@contextmanager
def speaking_plainly() -> Iterator[None]:
    try:
        yield
    except OrJupyterError as exc:
        raise UsageError(str(exc)) from None
