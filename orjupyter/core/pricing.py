"""Prices and cost estimates. Used only when OpenRouter's billed cost is missing.

Pure: no network. `catalog_from_models` reads the JSON of `GET /api/v1/models`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from orjupyter.core.domain import (
    ImagePart,
    Part,
    Price,
    TextPart,
    Usage,
    wire_decimal,
)
from orjupyter.core.settings import DEFAULT_MODEL

PDF_PAGE_TOKENS = 500
"""Estimated prompt tokens of one PDF page (OpenRouter bills the truth)."""
MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens a chat message costs beyond its content (role and separators)."""


@dataclass(frozen=True)
class ModelInfo:
    id: str
    price: Price | None
    context_length: int | None = None
    max_completion_tokens: int | None = None
    cache_read: Decimal | None = None
    """USD per cached prompt token (`pricing.input_cache_read`)."""
    web_search: Decimal | None = None
    """USD per web search (`pricing.web_search`)."""
    parameters: frozenset[str] | None = None
    """`supported_parameters`; None when unknown."""

    @property
    def reasons(self) -> bool | None:
        """Whether the model takes `reasoning` (None: unknown)."""
        return None if self.parameters is None else "reasoning" in self.parameters

    def caching_saved(self, cached_tokens: int) -> Decimal:
        """What `cached_tokens` cost less than at the full prompt price."""
        if self.price is None or self.cache_read is None:
            return Decimal(0)
        return max(self.price.prompt - self.cache_read, Decimal(0)) * cached_tokens


OFFLINE_MODELS: Mapping[str, ModelInfo] = {
    DEFAULT_MODEL: ModelInfo(
        id=DEFAULT_MODEL,
        price=Price(prompt=Decimal("0.0000025"), completion=Decimal("0.00001")),
        context_length=128_000,
        max_completion_tokens=16_384,
        cache_read=Decimal("0.00000125"),
    ),
}
"""Built in, so the default model needs no model list: prices in USD per token."""


MAX_PRICE = Decimal(1000)
"""US dollars per token (or image, or request): no list price is anywhere near this; above
it, or negative (OpenRouter lists its routers at "-1"), or not a number, the price is unknown."""


PRICE_PLACES = 18
"""Decimals of a list price (per token, a millionth of a millionth of a micro-dollar); a
non-zero price below that, or with more digits than any price has, is unknown."""


def _decimal(value: object) -> Decimal | None:
    return wire_decimal(value, maximum=MAX_PRICE, places=PRICE_PLACES)


def model_info(entry: Mapping[str, object]) -> ModelInfo:
    """One entry of `/models` → what we need of it."""
    pricing = entry.get("pricing")
    price = None
    if isinstance(pricing, Mapping):
        prompt, completion = _decimal(pricing.get("prompt")), _decimal(pricing.get("completion"))
        if prompt is not None and completion is not None:
            request = _decimal(pricing.get("request")) or Decimal(0)
            price = Price(prompt=prompt, completion=completion, request=request)
    top = entry.get("top_provider")
    max_completion = top.get("max_completion_tokens") if isinstance(top, Mapping) else None
    listed = entry.get("supported_parameters")
    prices = pricing if isinstance(pricing, Mapping) else {}
    return ModelInfo(
        id=str(entry.get("id", "")),
        price=price,
        context_length=_tokens(entry.get("context_length")),
        max_completion_tokens=_tokens(max_completion),
        cache_read=_decimal(prices.get("input_cache_read")),
        web_search=_decimal(prices.get("web_search")),
        parameters=frozenset(map(str, listed)) if isinstance(listed, list) else None,
    )


def _tokens(value: object) -> int | None:
    """A token limit from `/models`: a positive whole number below 100 million, or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value < 100_000_000 else None


def catalog_from_models(entries: Iterable[Mapping[str, object]]) -> dict[str, ModelInfo]:
    infos = (model_info(entry) for entry in entries)
    return {info.id: info for info in infos if info.id}


def info_for(model: str, catalog: Mapping[str, ModelInfo] | None) -> ModelInfo | None:
    """What is known of a model: the fetched list first, the built-in table second."""
    fetched = catalog.get(model) if catalog else None
    return fetched or OFFLINE_MODELS.get(model)


DEFAULT_MAX_COMPLETION = 16_384
"""Answer tokens a call's worst case assumes when its model lists no maximum."""


def longest_answer(info: ModelInfo | None, max_tokens: int | None = None) -> int:
    """The most answer tokens a call can be billed for: its `--max-tokens`, else the
    model's listed maximum, else `DEFAULT_MAX_COMPLETION`."""
    listed = info.max_completion_tokens if info else None
    return max_tokens or listed or DEFAULT_MAX_COMPLETION


def price_for(model: str, catalog: Mapping[str, ModelInfo] | None) -> Price | None:
    fetched = catalog.get(model) if catalog else None
    if fetched is not None and fetched.price is not None:
        return fetched.price
    offline = OFFLINE_MODELS.get(model)
    return offline.price if offline else None


EXACT_LIMIT = 500_000
"""Characters beyond which text is counted approximately: the exact tokenizer is slow on
them (and refuses a million), and no estimate near a context window needs it."""


def text_tokens(text: str, *, exact: bool = False) -> int:
    """Tokens of text. Approximate by default: one per four UTF-8 bytes (OpenAI's rule of
    thumb, which over-counts English prose by about 10%). With `exact`, GPT-4o's own
    tokenizer (o200k_base) when the optional `bpe-openai` package is installed; it
    works offline but takes about half a second to load, so it is used only where an
    estimate matters (dry runs, prompts near the context window)."""
    encoding = _o200k() if exact and len(text) < EXACT_LIMIT else None
    if encoding is not None:
        try:
            return len(encoding.encode(text, disallowed_special=()))
        except ValueError:  # the tokenizer refuses what it cannot encode safely
            pass
    return math.ceil(len(text.encode("utf-8")) / 4)


@cache
def _o200k() -> Any:
    with warnings.catch_warnings():  # it loads its tables with a deprecated importlib call
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import bpe_openai
        except ImportError:
            return None
        return bpe_openai.get_encoding("o200k_base")


def has_tokenizer() -> bool:
    return _o200k() is not None


def prompt_tokens(messages: Sequence[Sequence[Part]], *, exact: bool = False) -> int:
    """Estimated prompt tokens of messages given as part lists (images by GPT-4o's rule)."""
    total = 0
    for parts in messages:
        total += MESSAGE_OVERHEAD_TOKENS
        for part in parts:
            if isinstance(part, TextPart):
                total += text_tokens(part.text, exact=exact)
            elif isinstance(part, ImagePart):
                from orjupyter.core.images import image_tokens

                total += image_tokens(part.width, part.height, part.detail)
            else:
                total += part.pages * PDF_PAGE_TOKENS
    return total


WEB_RESULT_PRICE = Decimal("0.004")
"""OpenRouter's web search: $4 per 1,000 results (its default engine)."""


def web_search_cost(info: ModelInfo | None, results: int) -> Decimal:
    """What one `--web` search adds: the model's own search price when it lists one
    (native search), else `results` results at OpenRouter's price."""
    if info is not None and info.web_search:
        return info.web_search
    return WEB_RESULT_PRICE * results


def estimated_usage(
    price: Price | None, prompt: int, completion: int, *, cached: int = 0, reasoning: int = 0
) -> Usage:
    """A usage record whose cost is computed from list prices (marked as an estimate);
    `completion` includes the `reasoning` tokens."""
    cost = price.cost(prompt, completion) if price else Decimal(0)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost=cost,
        cost_is_estimate=True,
        cached_tokens=cached,
        reasoning_tokens=reasoning,
    )
