"""A cached answer as stored: `CachedAnswer`, and its entry, JSON in a stable format.

An entry holds the answer, what it billed, and (for people to read) the canonical request
it answers, images only as hashes; money is exact decimal text, and the answer's text a
list of lines (as notebooks store cell sources). The same answer always gives the same
bytes. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from orjupyter.core.cache_key import canonical_request, json_default
from orjupyter.core.domain import Citation, Reply, ToolCall, Usage, decimal_text

FILE_FORMAT = 1
DAMAGED = (ValueError, KeyError, TypeError, AttributeError, RecursionError, UnicodeDecodeError)
"""What `decode` raises for bytes that are not an entry."""


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


def encode(
    key: str, answer: CachedAnswer, request: Mapping[str, Any] | None, *, indent: int | None = None
) -> bytes:
    """The entry's bytes: compact JSON (`indent=1`: as the folder of files held it)."""
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
    separators = (",", ":") if indent is None else None
    text = json.dumps(
        entry, indent=indent, separators=separators, ensure_ascii=False, default=json_default
    )
    return (text + "\n").encode()


def decode(key: str, data: bytes | str) -> CachedAnswer:
    """The answer in an entry; ValueError, KeyError or TypeError if it is not one."""
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
