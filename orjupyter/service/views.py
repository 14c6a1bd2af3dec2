"""The seam between a running question and what a person sees of it.

A `View` is told when the call starts (with its Stop handle), each time the streamed text
grows, when a retry waits, and when the reply is final. Implementations live in the
Jupyter room (`jupyter.panel.Panel`, the live widget; `jupyter.panel.TextView`, plain text
for terminals); the service never knows which one it drives.
"""

from __future__ import annotations

from typing import Protocol

from orjupyter.core.domain import Reply, Totals
from orjupyter.core.formats import Format
from orjupyter.core.stream import StreamState
from orjupyter.service.call import Stopper


class View(Protocol):
    def show(self) -> None:
        """Appear now, before the call starts (a `--bg` answer shows in its own cell)."""

    def start(self, stopper: Stopper) -> None: ...

    def on_text(self, state: StreamState) -> None: ...

    def on_retry(self, attempt: int, delay: float, why: str) -> None: ...

    def finish(self, reply: Reply, totals: Totals, fmt: Format = "markdown") -> None: ...

    def settled(self, reply: Reply, totals: Totals) -> None:
        """The finished reply's estimated cost was replaced by OpenRouter's bill (called
        from the background loop's thread, a moment after `finish`)."""

    def republish(self) -> None:
        """Show the final output again where the frontend can see it (after a `--bg`
        answer ends while another cell runs)."""
