"""The notebook's live panel as a person reads it: totals, budget, spend, calls. Pure.

`NotebookSummary` holds what the panel shows at one moment (read from the ledger, plus the
calls in flight); the functions below turn it into the panel's HTML pieces and into the
plain-text summary a terminal prints. Every value from outside (model names, cells,
errors) is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from orjupyter.core.budget import WARN_AT, dollars, suggested_budget
from orjupyter.core.domain import Totals
from orjupyter.render.dashboard import spend_svg
from orjupyter.render.tables import escaped, html_table, text_table
from orjupyter.store.columns import CallRecord

RECENT_CALLS = 5
"""How many of the newest calls the panel lists."""
CHART_CALLS = 500
"""How many of the newest calls the spend chart draws (older ones are its baseline)."""


@dataclass(frozen=True)
class Flying:
    """A call in flight, as the panel lists it."""

    number: int
    cell: str | None
    model: str
    seconds: float
    characters: int


@dataclass(frozen=True)
class NotebookSummary:
    label: str
    totals: Totals
    recent: Sequence[CallRecord] = ()
    """The newest calls, oldest first (`LedgerStore.calls(notebook, limit=CHART_CALLS)`)."""
    in_flight: Sequence[Flying] = field(default_factory=tuple)


def billed(totals: Totals) -> str:
    """`$0.0123`, or `~$0.0123 (2 of 5 estimated)` when some costs are estimates."""
    if not totals.estimated_calls:
        return dollars(totals.cost)
    return f"~{dollars(totals.cost)} ({totals.estimated_calls:,} of {totals.calls:,} estimated)"


def totals_fields(totals: Totals) -> list[tuple[str, str, str]]:
    """(key, label, value) for each number the panel shows."""
    return [
        ("calls", "calls", f"{totals.calls:,}"),
        ("from_cache", "answers from the cache", f"{totals.from_cache:,}"),
        ("prompt_tokens", "prompt tokens", f"{totals.prompt_tokens:,}"),
        ("completion_tokens", "completion tokens", f"{totals.completion_tokens:,}"),
        ("cached_tokens", "cached tokens", f"{totals.cached_tokens:,}"),
        ("reasoning_tokens", "reasoning tokens", f"{totals.reasoning_tokens:,}"),
        ("cost", "billed", billed(totals)),
    ]


def totals_html(totals: Totals) -> str:
    cells = "".join(
        f'<div class="orj-np-field" data-orj-field="{key}"><span class="orj-np-label">'
        f'{label}</span> <b class="orj-np-value">{escaped(value)}</b></div>'
        for key, label, value in totals_fields(totals)
    )
    return f'<div class="orj-np-totals">{cells}</div>'


def budget_warning_text(totals: Totals) -> str | None:
    """What the panel says once 80% of the budget is spent."""
    share = totals.budget_share
    if share is None or share < WARN_AT or totals.budget is None:
        return None
    suggested = suggested_budget(max(totals.budget * 2, totals.cost))
    if share >= 1:
        return f"budget spent: new calls are refused; raise it with %gpt4o budget {suggested}"
    return (
        f"{int(share * 100)}% of the budget spent: calls that could cross it will be "
        f"refused; raise it with %gpt4o budget {suggested}"
    )


def budget_line(totals: Totals) -> str | None:
    share = totals.budget_share
    if share is None or totals.budget is None:
        return None
    return f"{dollars(totals.cost)} of the {dollars(totals.budget)} budget ({int(share * 100)}%)"


def budget_html(totals: Totals) -> str:
    """The budget as a bar (red from 80%), or nothing without a budget."""
    line, share = budget_line(totals), totals.budget_share
    if line is None or share is None:
        return ""
    width = min(share, Decimal(1)) * 100
    near = share >= WARN_AT
    warning = budget_warning_text(totals)
    note = f'<div class="orj-np-warning">{escaped(warning)}</div>' if warning else ""
    return (
        f'<div class="orj-np-budget{" orj-np-near" if near else ""}">'
        f'<div class="orj-np-bar" title="{escaped(line)}">'
        f'<div class="orj-np-fill" style="width:{width:.1f}%"></div></div>'
        f'<div class="orj-np-budget-line">{escaped(line)}</div>{note}</div>'
    )


def chart_html(summary: NotebookSummary) -> str:
    """Cumulative spend of the newest calls as a small inline SVG."""
    calls = summary.recent
    if not calls:
        return '<div class="orj-np-chart orj-np-empty">no calls recorded yet</div>'
    baseline = max(
        summary.totals.cost - sum((call.usage.cost for call in calls), Decimal(0)), Decimal(0)
    )
    budget = summary.totals.budget
    if budget is not None and summary.totals.cost < budget / 2:
        budget = None  # far below it: the bar says so, and the curve keeps its shape
    svg = spend_svg(calls, baseline=baseline, budget=budget, width=360, height=110)
    return f'<div class="orj-np-chart">{svg}</div>'


def _outcome(call: CallRecord) -> str:
    if call.from_cache:
        return f"{call.outcome} (cached)"
    if call.outcome == "error" and call.error:
        return f"error: {call.error[:60]}{'…' if len(call.error) > 60 else ''}"
    return call.outcome


_RECENT_HEADERS = ["cell", "model", "cost", "outcome"]


def _recent_rows(calls: Sequence[CallRecord]) -> list[list[str]]:
    newest = list(calls)[-RECENT_CALLS:][::-1]
    return [
        [
            call.cell or "—",
            call.model,
            ("~" if call.usage.cost_is_estimate else "") + dollars(call.usage.cost),
            _outcome(call),
        ]
        for call in newest
    ]


def recent_html(calls: Sequence[CallRecord]) -> str:
    if not calls:
        return ""
    return (
        '<div class="orj-np-recent"><div class="orj-np-heading">Last calls</div>'
        f"{html_table(_RECENT_HEADERS, _recent_rows(calls), {2})}</div>"
    )


def flying_line(call: Flying) -> str:
    """`[4] openai/gpt-4o · 3 s · 1,234 characters`."""
    received = f"{call.characters:,} characters" if call.characters else "waiting"
    return f"{call.cell or '[?]'} {call.model} · {call.seconds:.0f} s · {received}"


def summary_text(summary: NotebookSummary) -> str:
    """The panel as plain text, for terminals and the widget's text fallback."""
    totals = summary.totals
    numbers = " · ".join(f"{label} {value}" for _key, label, value in totals_fields(totals))
    lines = [f"orjupyter: {summary.label}", numbers]
    line = budget_line(totals)
    if line:
        lines.append(f"budget: {line}")
    warning = budget_warning_text(totals)
    if warning:
        lines.append(f"warning: {warning}")
    if summary.in_flight:
        lines.append("in flight: " + "; ".join(flying_line(call) for call in summary.in_flight))
    if summary.recent:
        lines += ["", "last calls:", text_table(_RECENT_HEADERS, _recent_rows(summary.recent), {2})]
    return "\n".join(lines)


def panel_style() -> str:
    """The panel's stylesheet (`orjupyter/static/notebook_panel.css`) as a style tag."""
    css = (Path(__file__).parent.parent / "static" / "notebook_panel.css").read_text("utf-8")
    return f"<style>{css}</style>"


SAVED_TEXT = (
    "orjupyter's notebook panel: live here while the kernel runs (%gpt4o panel shows it again)"
)
_SAVED_CSS = (
    ".jp-OutputArea:has(.orj-notebook-panel) .orj-np-saved{display:none}"
    ".jp-OutputArea:has(.orj-np-saved) .jp-OutputArea-output:is(.jupyter-widgets,"
    '[data-mime-type="application/vnd.jupyter.widget-view+json"])'
    ":not(:has(.orj-notebook-panel)){display:none}"
)


def saved_placeholder_html() -> str:
    """Shown above the live panel's widget, hidden while the panel is there: in a notebook
    reopened without its kernel it says what was there, and hides the dead widget."""
    return (
        f'<div class="orj-np-saved" style="color:#57606a;font-size:0.85em">{escaped(SAVED_TEXT)}'
        f"</div><style>{_SAVED_CSS}</style>"
    )
