"""Views of the ledger, as mimebundles: the usage dashboards, the spend plot, exports.

Pure: each view returns ``{"text/html": …, "text/plain": …}`` built with `_tables`. Every
value is escaped (model names, notebook paths and error messages come from outside). The
spend plot is inline SVG: no JavaScript, no external resources, so it survives nbconvert
and static renderers. OpenRouter's model list and key are shown by `_catalog_view`.
"""

from __future__ import annotations

import csv
import importlib
import io
from collections.abc import Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from orjupyter.core.budget import dollars
from orjupyter.core.domain import Totals
from orjupyter.render.tables import Bundle, bundle, escaped, html_table, text_table
from orjupyter.store.columns import COLUMNS as CALL_COLUMNS
from orjupyter.store.columns import CallRecord, call_values
from orjupyter.store.usage import Entries, Entry, SpendStep

ModelCost = tuple[str, int, Decimal]

COLUMNS = ("started_at", *(name for name in CALL_COLUMNS if name != "started_at"))
"""The columns of `calls_csv` and `calls_frame`: when, then every column of the ledger."""

_MAX_POINTS = 2000


# --- the usage dashboard -----------------------------------------------------------------


def _tokens(count: int) -> str:
    return f"{count:,}"


def totals_line(totals: Totals, budget: Decimal | None = None) -> str:
    """`12 calls · 30 answers from the cache · 1,234 prompt + 567 completion tokens ·
    $0.0123 (2 estimated)`: calls are the calls sent; the cache's answers are not calls."""
    calls = f"{totals.calls:,} call{'' if totals.calls == 1 else 's'}"
    if totals.from_cache:
        many = "s" if totals.from_cache != 1 else ""
        calls += f" · {totals.from_cache:,} answer{many} from the cache"
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


def _call_row(entry: Entry) -> list[str]:
    outcome = "ok" if entry.answered else "stopped" if entry.stopped else "error"
    if outcome == "error" and entry.error:
        message = entry.error if len(entry.error) <= 80 else entry.error[:79] + "…"
        outcome = f"error: {message}"
    return [
        _when(entry),
        entry.cell or "—",
        ", ".join(entry.models),
        _prompt(entry),
        _tokens(entry.completion_tokens),
        _cost(entry),
        outcome,
        "✓" if entry.from_cache else "",
    ]


def _entry_row(entry: Entry) -> list[str]:
    """One line of the view: a call, or a run (`[5] --map tickets`) with its counts."""
    if entry.run is None:
        return _call_row(entry)
    calls = f"{entry.calls:,} call{'s' if entry.calls != 1 else ''}"
    counts = [calls]
    if entry.label.startswith("--map"):  # its rows first; its calls (billed) last
        counts = [f"{entry.rows:,} row{'s' if entry.rows != 1 else ''}"]
    counts.append(f"{entry.answered:,} answered")
    if entry.from_cache:
        counts.append(f"{entry.from_cache:,} from the cache")
    counts.append(f"{entry.failed:,} failed")
    if entry.stopped:
        counts.append(f"{entry.stopped:,} stopped")
    if entry.label.startswith("--map"):
        counts.append(calls)
    return [
        _when(entry),
        f"{entry.cell or '—'} {entry.label}",
        ", ".join(entry.models),
        _prompt(entry),
        _tokens(entry.completion_tokens),
        _cost(entry),
        " · ".join(counts),
        "",
    ]


def _when(entry: Entry) -> str:
    return entry.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _prompt(entry: Entry) -> str:
    prompt = _tokens(entry.prompt_tokens)
    if entry.cached_tokens:
        prompt += f" ({_tokens(entry.cached_tokens)} cached)"
    return prompt


def _cost(entry: Entry) -> str:
    return ("~" if entry.estimated else "") + dollars(entry.cost)


def usage_dashboard(
    totals: Totals,
    entries: Entries,
    by_model: Sequence[ModelCost],
    title: str,
    *,
    spend: Sequence[SpendStep] = (),
    budget: Decimal | None = None,
    caching_saved: Decimal | None = None,
) -> Bundle:
    """Totals, the spend over time, cost per model and the newest lines of the ledger
    (`LedgerStore.entries`: a run is one line), every figure summed by the database."""
    if not entries.shown:
        return bundle(title, totals_line(totals, budget) + " · no calls recorded yet", [])
    svg = spend_steps_svg(spend, budget=budget)
    plot_text = f"spent $0 → {dollars(totals.cost)}"
    model_headers = ["model", "calls", "cost", "share"]
    model_rows = [
        [model, f"{count:,}", dollars(cost), _share(cost, totals.cost)]
        for model, count, cost in by_model
    ]
    call_headers = ["time", "cell", "model", "prompt", "completion", "cost", "outcome", "cached"]
    call_rows = [_entry_row(entry) for entry in entries.shown]
    shown, total = len(entries.shown), entries.total
    heading = (
        "Calls and runs" if shown == total else f"The last {shown:,} of {total:,} calls and runs"
    )
    numeric = {3, 4, 5}
    return bundle(
        title,
        totals_line(totals, budget) + _caching_line(totals.cached_tokens, caching_saved),
        [
            ("Spend over time", svg, plot_text),
            ("Cost per model", html_table(model_headers, model_rows, {1, 2, 3}),
             text_table(model_headers, model_rows, {1, 2, 3})),
            (heading, html_table(call_headers, call_rows, numeric),
             text_table(call_headers, call_rows, numeric)),
        ],
    )  # fmt: skip


def _caching_line(cached: int, saved: Decimal | None) -> str:
    """` · 12,288 prompt tokens cached, which saved $0.0154` (nothing when none were)."""
    if not cached:
        return ""
    line = f" · {_tokens(cached)} prompt tokens cached"
    return line + (f", which saved {dollars(saved)}" if saved else "")


def _share(part: Decimal, whole: Decimal) -> str:
    return f"{part * 100 / whole:.0f}%" if whole > 0 else "—"


def notebooks_dashboard(
    rows: Sequence[ModelCost], *, title: str = "orjupyter usage: every notebook"
) -> Bundle:
    """`(notebook, calls, cost)` rows (`LedgerStore.notebooks()`) as one table with a total."""
    total_calls = sum(count for _, count, _ in rows)
    total_cost = sum((cost for _, _, cost in rows), Decimal(0))
    summary = f"{len(rows):,} notebooks · {total_calls:,} calls · {dollars(total_cost)}"
    headers = ["notebook", "calls", "cost", "share"]
    table = [[nb, f"{n:,}", dollars(cost), _share(cost, total_cost)] for nb, n, cost in rows]
    section = ("", html_table(headers, table, {1, 2, 3}), text_table(headers, table, {1, 2, 3}))
    return bundle(title, summary, [section])


# --- the spend plot ----------------------------------------------------------------------


def _minute(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


BUDGET_IN_VIEW = 3
"""The plot's scale reaches the budget when the budget is at most this many times the spend;
further away, it would flatten the spend into the axis, so the budget is named instead."""


def axis_top(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 × a power of ten that reaches `value` (> 0)."""
    step = Decimal(1).scaleb(value.adjusted())
    return next(
        step * m
        for m in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
        if step * m >= value
    )


def spend_svg(
    calls: Sequence[CallRecord],
    *,
    baseline: Decimal = Decimal(0),
    budget: Decimal | None = None,
    width: int = 560,
    height: int = 170,
) -> str:
    """Cumulative spend against time, a point per call (`spend_steps_svg` draws it)."""
    steps = [SpendStep(call.started_at, call.started_at, call.usage.cost) for call in calls]
    return spend_steps_svg(steps, baseline=baseline, budget=budget, width=width, height=height)


def spend_steps_svg(
    steps: Sequence[SpendStep],
    *,
    baseline: Decimal = Decimal(0),
    budget: Decimal | None = None,
    width: int = 560,
    height: int = 170,
) -> str:
    """Cumulative spend against time as a standalone, well-formed SVG element: a point
    at the end of each step of the ledger's spend (`LedgerStore.spend`).

    Scaled to the spend; the budget is a dashed reference line when it is in view (at most
    `BUDGET_IN_VIEW` times the spend), else named in the corner."""
    if not steps:
        return ""
    left, right, top, bottom = 70, 12, 16, 24
    spent = [baseline]
    for each in steps:
        spent.append(spent[-1] + each.cost)
    start, ends = steps[0].first.timestamp(), [step.last.timestamp() for step in steps]
    # the spend starts at the first call; one call, or all in the same instant: evenly
    # spaced after the start
    times = [start, *ends] if ends[-1] > start else [float(i) for i in range(len(spent))]
    in_view = budget is not None and 0 < budget <= max(spent[-1], Decimal(0)) * BUDGET_IN_VIEW
    reach = max(spent[-1], budget if in_view and budget is not None else Decimal(0))
    top_value = axis_top(reach) if reach > 0 else Decimal("0.01")
    span = (times[-1] - times[0]) or 1.0

    def x(t: float) -> float:
        return round(left + (width - left - right) * (t - times[0]) / span, 1)

    def y(value: Decimal) -> float:
        return round(height - bottom - (height - top - bottom) * float(value / top_value), 1)

    every = max(1, len(times) // _MAX_POINTS)
    keep = [*range(0, len(times) - 1, every), len(times) - 1]
    points = " ".join(f"{x(times[i])},{y(spent[i])}" for i in keep)
    first, last = (_minute(moment) for moment in (steps[0].first, steps[-1].last))
    base_y, end_x = height - bottom, width - right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="11">',
        f"<title>{escaped(f'Cumulative spend: {dollars(spent[-1])}')}</title>",
        f'<line x1="{left}" y1="{base_y}" x2="{end_x}" y2="{base_y}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base_y}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{end_x}" y2="{top}" stroke="#999" '
        f'stroke-opacity="0.3"/>',
        _text(left - 4, base_y, "$0", "end"),
        _text(left - 4, top + 4, dollars(top_value), "end"),
        _text(left, height - 6, first),
        _text(end_x, height - 6, last, "end"),
    ]
    if in_view and budget is not None:
        parts.append(
            f'<line x1="{left}" y1="{y(budget)}" x2="{end_x}" y2="{y(budget)}" '
            f'stroke="#d62728" stroke-dasharray="4 3">'
            f"<title>{escaped(f'budget {dollars(budget)}')}</title></line>"
        )
        parts.append(_text(end_x, y(budget) - 3, f"budget {dollars(budget)}", "end", "#d62728"))
    elif budget is not None and budget > 0:
        percent = spent[-1] * 100 / budget
        share = "under 1%" if 0 < percent < 1 else f"{percent:.0f}%"
        label = f"budget {dollars(budget)}, above this scale ({share} spent)"
        parts.append(_text(end_x, top - 4, label, "end", "#d62728"))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def _text(x: float, y: float, text: str, anchor: str = "start", fill: str = "currentColor") -> str:
    return f'<text x="{x}" y="{y}" text-anchor="{anchor}" fill="{fill}">{escaped(text)}</text>'


# --- export ------------------------------------------------------------------------------


def _row(call: CallRecord) -> list[object]:
    values = call_values(call)
    return [values[name] for name in COLUMNS]


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
