"""Accumulating a streamed chat completion, chunk by chunk, with no I/O.

Chunks are read by attribute (the SDK's pydantic chunks, or anything shaped like them),
so the hot path costs a few attribute reads per chunk and no copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from orjupyter.core.domain import Usage


@dataclass(frozen=True)
class BilledUsage:
    """Usage exactly as the server reported it; `cost` is None when it sent none."""

    prompt_tokens: int
    completion_tokens: int
    cost: Decimal | None
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def to_usage(self) -> Usage | None:
        if self.cost is None:
            return None
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost,
            cost_is_estimate=False,
            cached_tokens=self.cached_tokens,
            reasoning_tokens=self.reasoning_tokens,
        )


@dataclass
class StreamState:
    """The answer so far. Feed it every chunk with `handle_chunk`."""

    pieces: list[str] = field(default_factory=list)
    id: str = ""
    model: str = ""
    provider: str | None = None
    finish_reason: str | None = None
    usage: BilledUsage | None = None
    content_chunks: int = 0
    length: int = 0

    def handle_chunk(self, chunk: Any) -> str:
        """Take one chunk; return the text it added ('' for none)."""
        if not self.id:  # the envelope repeats on every chunk: read it once
            self.id = getattr(chunk, "id", None) or ""
            self.model = getattr(chunk, "model", None) or self.model
            self.provider = getattr(chunk, "provider", None) or self.provider
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = read_usage(usage)
        added = ""
        for choice in getattr(chunk, "choices", None) or ():
            delta = getattr(choice, "delta", None)
            content = getattr(delta, "content", None) if delta is not None else None
            if content:
                added += content
            reason = getattr(choice, "finish_reason", None)
            if reason:
                self.finish_reason = reason
        if added:
            self.pieces.append(added)
            self.content_chunks += 1
            self.length += len(added)
        return added

    @property
    def text(self) -> str:
        if len(self.pieces) > 1:
            self.pieces[:] = ["".join(self.pieces)]
        return self.pieces[0] if self.pieces else ""


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _money(value: Any) -> Decimal | None:
    """A cost from JSON (a float) as the decimal it was written as."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def read_usage(usage: Any) -> BilledUsage:
    """Read OpenRouter's usage object (SDK model or dict)."""

    def get(obj: Any, name: str) -> Any:
        if isinstance(obj, dict):
            return obj.get(name)
        return getattr(obj, name, None)

    prompt_details = get(usage, "prompt_tokens_details")
    completion_details = get(usage, "completion_tokens_details")
    return BilledUsage(
        prompt_tokens=_int(get(usage, "prompt_tokens")),
        completion_tokens=_int(get(usage, "completion_tokens")),
        cost=_money(get(usage, "cost")),
        cached_tokens=_int(get(prompt_details, "cached_tokens")) if prompt_details else 0,
        reasoning_tokens=(
            _int(get(completion_details, "reasoning_tokens")) if completion_details else 0
        ),
    )
