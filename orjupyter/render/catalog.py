"""OpenRouter's model list and key, as mimebundles: `%gpt4o models` and `%gpt4o credits`.

Pure: each function takes the JSON OpenRouter returned (`GET /api/v1/models`,
`GET /api/v1/key`) and returns ``{"text/html": …, "text/plain": …}`` built with `_tables`;
nothing here touches the network. Money is exact US dollars, token prices per million
tokens. Every value is escaped (model names and key labels come from outside).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from orjupyter.core.budget import dollars
from orjupyter.render.tables import Bundle, bundle, html_table, text_table


def _decimal(value: object) -> Decimal | None:
    """A JSON number or numeric string as a finite Decimal; None if absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _per_million(value: object) -> str:
    price = _decimal(value)
    if price is None:
        return "—"
    if price < 0:  # OpenRouter's routers (e.g. openrouter/auto) publish -1: it depends
        return "varies"
    return "free" if price == 0 else dollars(price * 1_000_000)


def age_text(fetched_at: datetime, now: datetime | None = None) -> str:
    """`just now`, `1 minute ago`, `25 minutes ago`, `3 hours ago`, `2 days ago`."""
    now = now or datetime.now(timezone.utc)
    minutes = max(0, int((now - fetched_at).total_seconds() // 60))
    for unit, size in (("day", 1440), ("hour", 60), ("minute", 1)):
        if minutes >= size:
            count = minutes // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def _model_row(entry: Mapping[str, Any]) -> list[str]:
    architecture = entry.get("architecture") or {}
    inputs = architecture.get("input_modalities")
    if not isinstance(inputs, list):
        inputs = str(architecture.get("modality", "")).partition("->")[0].split("+")
    pricing = entry.get("pricing") or {}
    image = _decimal(pricing.get("image"))
    context = entry.get("context_length")
    return [
        str(entry.get("id", "")),
        str(entry.get("name", "")),
        f"{context:,}" if isinstance(context, int) else "—",
        ", ".join(str(kind) for kind in inputs if kind),
        _per_million(pricing.get("prompt")),
        _per_million(pricing.get("completion")),
        dollars(image) if image and image > 0 else "—",
    ]


def models_table(
    catalog_entries: Sequence[Mapping[str, Any]],
    filter: str | None,
    fetched_at: datetime,
    *,
    now: datetime | None = None,
) -> Bundle:
    """`GET /api/v1/models` entries as a table; `filter` matches id or name, any case."""
    needle = (filter or "").strip().casefold()
    rows = sorted(
        _model_row(entry)
        for entry in catalog_entries
        if needle in str(entry.get("id", "")).casefold()
        or needle in str(entry.get("name", "")).casefold()
    )
    matching = f" matching {filter.strip()!r}" if needle and filter else ""
    summary = (
        f"{len(rows):,} of {len(catalog_entries):,} models{matching} · "
        f"model list fetched {age_text(fetched_at, now)} · prices in US dollars"
    )
    headers = ["id", "name", "context", "input", "prompt /M", "completion /M", "image"]
    numeric = {2, 4, 5, 6}
    return bundle(
        "OpenRouter models",
        summary,
        [("", html_table(headers, rows, numeric), text_table(headers, rows, numeric))],
    )


def credits_view(key_data: Mapping[str, Any]) -> Bundle:
    """`GET /api/v1/key` (its whole JSON or its `data`): usage, limit and what remains."""
    data = key_data.get("data", key_data)
    data = data if isinstance(data, Mapping) else {}
    usage, limit = _decimal(data.get("usage")), _decimal(data.get("limit"))
    remaining = _decimal(data.get("limit_remaining"))
    if remaining is None and limit is not None and usage is not None:
        remaining = limit - usage

    def money(value: Decimal | None, missing: str = "—") -> str:
        return missing if value is None else dollars(value)

    rows = [
        ["key", str(data.get("label") or "—")],
        ["used", money(usage)],
        ["limit", money(limit, "no limit")],
        ["remaining", money(remaining, "no limit" if limit is None else "—")],
        ["used today", money(_decimal(data.get("usage_daily")))],
        ["used this week", money(_decimal(data.get("usage_weekly")))],
        ["used this month", money(_decimal(data.get("usage_monthly")))],
        ["free tier", "yes" if data.get("is_free_tier") else "no"],
    ]
    if data.get("limit_reset"):
        rows.insert(4, ["limit resets", str(data["limit_reset"])])
    summary = f"{money(usage)} used, " + (
        f"{money(remaining)} of {money(limit)} left" if limit is not None else "no limit"
    )
    headers = ["", ""]
    section = ("", html_table(headers, rows, {1}), text_table(headers, rows, {1}))
    return bundle("OpenRouter key", summary, [section])
