"""One cell's question, parsed: what to send and how to treat it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orjupyter.core.domain import Part
from orjupyter.core.formats import Format
from orjupyter.core.request import CallOptions


@dataclass(frozen=True)
class Question:
    """What the magic hands the session: the message parts, the call's options, and the
    bookkeeping labels (cell, notebook) its ledger row carries."""

    parts: Sequence[Part]
    options: CallOptions
    fmt: Format = "markdown"
    thread: str | None = None
    new_thread: bool = False
    use_cache: bool = True
    cell: str = "[?]"
    notebook: str = "(unknown notebook)"
    context: Sequence[Part] = ()
    """The `--context` cells, already at the start of `parts`; kept apart for the dry run."""
    note: str = ""
    """What went with the question, for the status line (`context: 2 cells · df: …`)."""
    run: str | None = None
    """The `--map` run this question is one row of (the ledger groups its calls)."""
