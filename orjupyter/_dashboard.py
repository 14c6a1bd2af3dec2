"""Views of the ledger and of OpenRouter's account data, as mimebundles.

Pure: each function returns ``{"text/html": …, "text/plain": …}``. Every value is escaped
(model names, notebook paths and error messages come from outside). The spend plot is
inline SVG: no JavaScript, no external resources, so it survives nbconvert and static
renderers.
"""

from __future__ import annotations

import csv
import importlib
import io
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from ._domain import Totals
from ._ledger import CallRecord, dollars

Bundle = dict[str, str]
ModelCost = tuple[str, int, Decimal]

COLUMNS = (
    "started_at", "notebook", "cell", "model", "generation_id", "prompt_tokens",
    "completion_tokens", "cached_tokens", "reasoning_tokens", "cost", "cost_is_estimate",
    "from_cache", "outcome", "error", "time_to_first_token", "duration", "prompt", "answer",
)  # fmt: skip
"""The columns of `calls_csv` and `calls_frame`, in order."""

_BOX = 'style="font-size:13px;line-height:1.4;max-width:100%;overflow-x:auto"'
_NUM = 'style="text-align:right;font-variant-numeric:tabular-nums"'
_MAX_POINTS = 2000


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _tokens(count: int) -> str:
    return f"{count:,}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """An HTML table of plain strings (escaped here); `numeric` columns align right."""

    def cell(tag: str, index: int, text: str) -> str:
        align = f" {_NUM}" if index in numeric else ' style="text-align:left"'
        return f"<{tag}{align}>{_e(text)}</{tag}>"

    head = "".join(cell("th", i, text) for i, text in enumerate(headers))
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    body = "".join(
        "<tr>" + "".join(cell("td", i, text) for i, text in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        cells = (
            text.rjust(width) if i in numeric else text.ljust(width)
            for i, (text, width) in enumerate(zip(row, widths, strict=True))
        )
        return "  ".join(cells).rstrip()

    head = [line(headers), line(["-" * width for width in widths])] if any(headers) else []
    return "\n".join([*head, *map(line, rows)])


def _bundle(title: str, summary: str, sections: Sequence[tuple[str, str, str]]) -> Bundle:
    """Title, one summary line and (heading, html, text) sections → a mimebundle."""
    html = [f"<div {_BOX}><strong>{_e(title)}</strong><div>{_e(summary)}</div>"]
    text = [title, summary]
    for heading, section_html, section_text in sections:
        if heading:
            html.append(f"<div style='margin-top:.6em'><strong>{_e(heading)}</strong></div>")
            text.extend(["", heading])
        html.append(section_html)
        text.append(section_text)
    html.append("</div>")
    return {"text/html": "".join(html), "text/plain": "\n".join(text)}


# --- the usage dashboard -----------------------------------------------------------------


def totals_line(totals: Totals, budget: Decimal | None = None) -> str:
    """`12 calls · 1,234 prompt + 567 completion tokens · $0.0123 (2 estimated)`."""
    calls = f"{totals.calls:,} call{'' if totals.calls == 1 else 's'}"
    tokens = (
        f"{_tokens(totals.prompt_tokens)} prompt + "
        f"{_tokens(totals.completion_tokens)} completion tokens"
    )
    cost = dollars(totals.cost)
    if totals.estimated_calls:
        cost += f" ({totals.estimated_calls:,} estimated)"
    if budget is not None:
        share = f" ({int(totals.cost * 100 / budget)}%)" if budget > 0 else ""
        cost += f" of a {dollars(budget)} budget{share}"
    return f"{calls} · {tokens} · {cost}"


def _outcome(call: CallRecord) -> str:
    if call.outcome != "error" or not call.error:
        return call.outcome
    message = call.error if len(call.error) <= 80 else call.error[:79] + "…"
    return f"error: {message}"


def _call_row(call: CallRecord) -> list[str]:
    usage = call.usage
    prompt = _tokens(usage.prompt_tokens)
    if usage.cached_tokens:
        prompt += f" ({_tokens(usage.cached_tokens)} cached)"
    return [
        call.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
        call.cell or "—",
        call.model,
        prompt,
        _tokens(usage.completion_tokens),
        ("~" if usage.cost_is_estimate else "") + dollars(usage.cost),
        _outcome(call),
        "✓" if call.from_cache else "",
    ]


def usage_dashboard(
    totals: Totals,
    calls: Sequence[CallRecord],
    by_model: Sequence[ModelCost],
    title: str,
    *,
    budget: Decimal | None = None,
    max_rows: int = 200,
) -> Bundle:
    """Totals, the spend over time, cost per model and the last `max_rows` calls.

    `calls` oldest first (as `Ledger.calls` returns them); if it holds only the newest calls,
    the plot starts from what the older ones cost (`totals.cost` minus these).
    """
    if not calls:
        return _bundle(title, totals_line(totals, budget) + " · no calls recorded yet", [])
    baseline = max(totals.cost - sum((call.usage.cost for call in calls), Decimal(0)), Decimal(0))
    svg = spend_svg(calls, baseline=baseline, budget=budget)
    plot_text = f"spent {dollars(baseline)} → {dollars(_cumulative(calls, baseline)[-1])}"
    model_headers = ["model", "calls", "cost", "share"]
    model_rows = [
        [model, f"{count:,}", dollars(cost), _share(cost, totals.cost)]
        for model, count, cost in by_model
    ]
    shown = list(calls)[-max_rows:] if max_rows > 0 else []
    call_headers = ["time", "cell", "model", "prompt", "completion", "cost", "outcome", "cached"]
    call_rows = [_call_row(call) for call in shown]
    heading = "Calls" if len(shown) == totals.calls else f"The last {len(shown):,} calls"
    numeric = {3, 4, 5}
    return _bundle(
        title,
        totals_line(totals, budget),
        [
            ("Spend over time", svg, plot_text),
            ("Cost per model", _table(model_headers, model_rows, {1, 2, 3}),
             _text_table(model_headers, model_rows, {1, 2, 3})),
            (heading, _table(call_headers, call_rows, numeric),
             _text_table(call_headers, call_rows, numeric)),
        ],
    )  # fmt: skip


def _share(part: Decimal, whole: Decimal) -> str:
    return f"{part * 100 / whole:.0f}%" if whole > 0 else "—"


def notebooks_dashboard(
    rows: Sequence[ModelCost], *, title: str = "orjupyter usage: every notebook"
) -> Bundle:
    """`(notebook, calls, cost)` rows (`Ledger.notebooks()`) as one table with a total."""
    total_calls = sum(count for _, count, _ in rows)
    total_cost = sum((cost for _, _, cost in rows), Decimal(0))
    summary = f"{len(rows):,} notebooks · {total_calls:,} calls · {dollars(total_cost)}"
    headers = ["notebook", "calls", "cost", "share"]
    table = [[nb, f"{n:,}", dollars(cost), _share(cost, total_cost)] for nb, n, cost in rows]
    section = ("", _table(headers, table, {1, 2, 3}), _text_table(headers, table, {1, 2, 3}))
    return _bundle(title, summary, [section])


# --- the spend plot ----------------------------------------------------------------------


def _cumulative(calls: Sequence[CallRecord], baseline: Decimal) -> list[Decimal]:
    totals, running = [], baseline
    for call in calls:
        running += call.usage.cost
        totals.append(running)
    return totals


def _minute(call: CallRecord) -> str:
    return call.started_at.astimezone().strftime("%Y-%m-%d %H:%M")


def spend_svg(
    calls: Sequence[CallRecord],
    *,
    baseline: Decimal = Decimal(0),
    budget: Decimal | None = None,
    width: int = 560,
    height: int = 170,
) -> str:
    """Cumulative spend against time as a standalone, well-formed SVG element."""
    if not calls:
        return ""
    left, right, top, bottom = 70, 12, 10, 24
    times = [call.started_at.timestamp() for call in calls]
    spent = [baseline, *_cumulative(calls, baseline)]
    if times[-1] - times[0] <= 0:  # one call, or all in the same instant: evenly spaced
        times = [float(i) for i in range(len(calls))]
    times = [times[0], *times]
    top_value = max(spent[-1], budget or Decimal(0)) or Decimal(1)
    span = (times[-1] - times[0]) or 1.0

    def x(t: float) -> float:
        return round(left + (width - left - right) * (t - times[0]) / span, 1)

    def y(value: Decimal) -> float:
        return round(height - bottom - (height - top - bottom) * float(value / top_value), 1)

    step = max(1, len(times) // _MAX_POINTS)
    keep = [*range(0, len(times) - 1, step), len(times) - 1]
    points = " ".join(f"{x(times[i])},{y(spent[i])}" for i in keep)
    first, last = (_minute(call) for call in (calls[0], calls[-1]))
    base_y = height - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="11">',
        f"<title>{_e(f'Cumulative spend: {dollars(spent[-1])}')}</title>",
        f'<line x1="{left}" y1="{base_y}" x2="{width - right}" y2="{base_y}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base_y}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{base_y}" text-anchor="end" fill="currentColor">$0</text>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" fill="currentColor">'
        f"{_e(dollars(top_value))}</text>",
        f'<text x="{left}" y="{height - 6}" fill="currentColor">{_e(first)}</text>',
        f'<text x="{width - right}" y="{height - 6}" text-anchor="end" fill="currentColor">'
        f"{_e(last)}</text>",
    ]
    if budget is not None and budget > 0:
        parts.append(
            f'<line x1="{left}" y1="{y(budget)}" x2="{width - right}" y2="{y(budget)}" '
            f'stroke="#d62728" stroke-dasharray="4 3"><title>{_e(f"budget {dollars(budget)}")}'
            "</title></line>"
        )
    parts.append(f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


# --- export ------------------------------------------------------------------------------


def _row(call: CallRecord) -> list[object]:
    usage = call.usage
    return [
        call.started_at, call.notebook, call.cell, call.model, call.generation_id,
        usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.reasoning_tokens,
        usage.cost, usage.cost_is_estimate, call.from_cache, call.outcome, call.error,
        call.time_to_first_token, call.duration, call.prompt, call.answer,
    ]  # fmt: skip


def calls_frame(calls: Sequence[CallRecord]) -> Any:
    """A pandas DataFrame of the calls (`cost` holds exact `Decimal`s; `.astype(float)` to plot)."""
    try:
        pandas = importlib.import_module("pandas")
    except ImportError as err:
        raise ImportError(
            "a DataFrame needs pandas, which is not installed: `pip install pandas`, "
            "or export CSV instead (`%gpt4o usage --csv FILE`)"
        ) from err
    return pandas.DataFrame([_row(call) for call in calls], columns=list(COLUMNS))


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def calls_csv(calls: Sequence[CallRecord]) -> str:
    """The calls as CSV (a header row, then `COLUMNS`; exact costs, ISO 8601 UTC times)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([_csv_value(value) for value in _row(call)] for call in calls)
    return out.getvalue()


# --- OpenRouter's model list and key ------------------------------------------------------


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
    return _bundle(
        "OpenRouter models",
        summary,
        [("", _table(headers, rows, numeric), _text_table(headers, rows, numeric))],
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
    section = ("", _table(headers, rows, {1}), _text_table(headers, rows, {1}))
    return _bundle("OpenRouter key", summary, [section])
