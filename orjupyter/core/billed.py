"""Usage as the server reports it: token counts and the billed cost, each number checked.

Pure. A count or a cost that cannot be right is not believed (the call is then estimated),
and a warning says what was not believed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from orjupyter.core.domain import WIRE_DIGITS, Usage, wire_decimal

MAX_TOKENS_ON_WIRE = 100_000_000
"""More tokens than any model's context holds: a count above this is not believed."""
MAX_COST_ON_WIRE = Decimal(10_000)
"""US dollars: no single call costs this much; a billed cost above it is not believed."""
MONEY_PLACES = 15
"""Decimals of a billed cost (a femtodollar); a non-zero bill below that is not believed."""


@dataclass(frozen=True)
class BilledUsage:
    """Usage as the server reported it, each number checked once: `cost` is None when it
    sent none or one that cannot be right; a token count that cannot be right is None
    (estimate it). `doubts` says, for a warning, what was not believed."""

    prompt_tokens: int | None
    completion_tokens: int | None
    cost: Decimal | None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    doubts: tuple[str, ...] = ()

    def to_usage(self) -> Usage | None:
        if self.cost is None or self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost,
            cost_is_estimate=False,
            cached_tokens=self.cached_tokens,
            reasoning_tokens=self.reasoning_tokens,
        )


def _count(value: Any, name: str, doubts: list[str], *, default: int | None = 0) -> int | None:
    """A token count from the wire: a whole number from 0 to MAX_TOKENS_ON_WIRE, else
    None (and a doubt). Absent is `default`."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        number = None
    else:
        number = _finite(value)
    if (
        number is None
        or number != number.to_integral_value()
        or not (0 <= number <= MAX_TOKENS_ON_WIRE)
    ):
        doubts.append(f"{name} {str(value)[:40]}")
        return None
    return int(number)


def _finite(value: Any) -> Decimal | None:
    text = str(value)
    if len(text) > WIRE_DIGITS:  # no count has more digits; parsing them costs memory
        return None
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _money(value: Any, doubts: list[str]) -> Decimal | None:
    """A billed cost from JSON (a float or a string) as the decimal it was written as,
    bounded in range and in digits (`wire_decimal`: from 0 to MAX_COST_ON_WIRE, at most
    MONEY_PLACES decimals); anything else is None (and a doubt)."""
    if value is None:
        return None
    number = wire_decimal(value, maximum=MAX_COST_ON_WIRE, places=MONEY_PLACES)
    if number is None:
        doubts.append(f"cost {str(value)[:40]}")
    return number


def usage_from_generation(data: Any, generation_id: str) -> Usage | str:
    """`GET /generation`'s data → the billed usage of `generation_id`, or one line saying
    why it is not believed (the estimate is kept then): not a record, another
    generation's, no cost, or a number that cannot be right."""
    if not isinstance(data, dict):
        return "the answer was not a generation's record"
    if data.get("id") != generation_id:
        return f"the answer was another generation's ({str(data.get('id'))[:40]})"
    doubts: list[str] = []
    cost = _money(data.get("total_cost"), doubts)
    prompt = _count(data.get("tokens_prompt", data.get("native_tokens_prompt")), "prompt", doubts)
    completion = _count(
        data.get("tokens_completion", data.get("native_tokens_completion")), "completion", doubts
    )
    cached = _count(data.get("native_tokens_cached"), "cached", doubts)
    reasoning = _count(data.get("native_tokens_reasoning"), "reasoning", doubts)
    if doubts:
        return f"impossible numbers ({'; '.join(doubts)})"
    if cost is None:
        return "the answer carried no cost"
    return Usage(
        prompt_tokens=prompt or 0,
        completion_tokens=completion or 0,
        cost=cost,
        cost_is_estimate=False,
        cached_tokens=cached or 0,
        reasoning_tokens=reasoning or 0,
    )


def read_usage(usage: Any) -> BilledUsage:
    """Read OpenRouter's usage object (SDK model or dict)."""

    def get(obj: Any, name: str) -> Any:
        if isinstance(obj, dict):
            return obj.get(name)
        return getattr(obj, name, None)

    prompt_details = get(usage, "prompt_tokens_details")
    completion_details = get(usage, "completion_tokens_details")
    doubts: list[str] = []
    prompt = _count(get(usage, "prompt_tokens"), "prompt_tokens", doubts)
    completion = _count(get(usage, "completion_tokens"), "completion_tokens", doubts)
    cost = _money(get(usage, "cost"), doubts)
    cached = _count(get(prompt_details, "cached_tokens"), "cached_tokens", doubts) or 0
    reasoning = _count(get(completion_details, "reasoning_tokens"), "reasoning_tokens", doubts)
    return BilledUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost=None if doubts else cost,
        cached_tokens=cached,
        reasoning_tokens=reasoning or 0,
        doubts=tuple(doubts),
    )


def usage_warning(billed: BilledUsage | None) -> str | None:
    """One line when the server's usage held numbers that cannot be right, else None."""
    if billed is None or not billed.doubts:
        return None
    return (
        f"orjupyter: the server reported impossible usage ({'; '.join(billed.doubts)}); "
        "it was not believed: the tokens and cost shown are estimates"
    )
