"""One cell's question, parsed: what to send and how to treat it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from orjupyter.core.domain import Part, Reply
from orjupyter.core.errors import FormatError
from orjupyter.core.formats import Format, without_advice
from orjupyter.core.request import CallOptions

if TYPE_CHECKING:
    from orjupyter.core.schema import Schema


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
    """The run this question belongs to (a `--map`, a tool loop, a `--schema` cell asked
    again): the ledger groups its calls."""
    schema: Schema | None = None
    """`--schema`: a whole answer that is not this is `invalid` (shown, billed, never
    cached)."""
    asked_again: bool = False
    """Another attempt at a question whose answer missed its `--schema`: the ledger keeps
    it as a call of the same row (its `error` begins `asked again`)."""


def judged(question: Question, reply: Reply) -> Reply:
    """The reply, `invalid` (with why) when it is a whole answer that is not the question's
    `--schema`; decided before the answer is cached, so a failure never is."""
    schema = question.schema
    if schema is None or reply.outcome != "ok" or reply.tool_calls:
        return reply
    from orjupyter.core.schema import validated

    try:
        validated(schema, reply.text)
    except FormatError as exc:
        return replace(reply, outcome="invalid", error=without_advice(str(exc)))
    return reply
