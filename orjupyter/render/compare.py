"""`--compare`: the answers side by side (stacked on a narrow page), each with its model,
provider, billed cost, time to first token and speed, and a line naming the cheapest and
the fastest. Pure: mimebundles from replies."""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal

from orjupyter.core.domain import Reply, Totals, format_cost, tokens_per_second
from orjupyter.core.formats import Format
from orjupyter.core.terminal import printable


def compare_line(reply: Reply) -> str:
    """`openai/gpt-4o-mini · OpenAI · $0.0000123 · first token 0.31 s · 84 tokens/s`."""
    usage = reply.usage
    fields = [reply.model, reply.provider or "provider unknown"]
    cost = format_cost(usage.cost, estimate=usage.cost_is_estimate)
    fields.append(cost + (" (estimated)" if usage.cost_is_estimate else ""))
    if reply.cached:
        fields.append("cached")
    elif reply.time_to_first_token is not None:
        fields.append(f"first token {reply.time_to_first_token:.2f} s")
    speed = tokens_per_second(reply)
    if speed is not None:
        fields.append(f"{speed:.0f} tokens/s")
    fields.append(f"{usage.completion_tokens:,} tokens")
    if reply.outcome != "ok":
        fields.insert(0, reply.outcome)
    return " · ".join(fields)


def verdict(replies: Sequence[Reply], totals: Totals, total_name: str = "notebook total") -> str:
    """`cheapest: A ($0.0001) · fastest: B (1.20 s) · notebook total $0.12 (9 calls)`."""
    done = [reply for reply in replies if reply.outcome == "ok"]
    fields = []
    if done:
        cheapest = min(done, key=lambda reply: reply.usage.cost)
        fastest = min(done, key=lambda reply: reply.duration)
        fields.append(f"cheapest: {cheapest.model} ({format_cost(cheapest.usage.cost)})")
        fields.append(f"fastest: {fastest.model} ({fastest.duration:.2f} s)")
    else:
        fields.append("no model answered in full")
    spent = format_cost(sum((r.usage.cost for r in replies), Decimal(0)))
    fields.append(f"these {len(replies)} calls {spent}")
    estimated = totals.estimated_calls > 0
    calls = f"{totals.calls} call{'s' if totals.calls != 1 else ''}"
    fields.append(f"{total_name} {format_cost(totals.cost, estimate=estimated)} ({calls})")
    return " · ".join(fields)


def column_html(reply: Reply, fmt: Format = "markdown") -> str:
    """One model's answer, its sources and error, and its line."""
    from orjupyter.render.report import formatted_html, sources_html, thinking_html

    parts = [f'<div class="orj-model">{html.escape(reply.model)}</div>']
    if reply.reasoning:
        parts.append(thinking_html(reply.reasoning))
    parts.append(formatted_html(fmt, reply.text))
    parts.append(sources_html(reply.citations))
    if reply.error:
        parts.append(f'<div class="orj-error">{html.escape(reply.error)}</div>')
    parts.append(f'<div class="orj-status">{html.escape(compare_line(reply))}</div>')
    return "".join(parts)


def comparison_bundle(
    replies: Sequence[Reply],
    totals: Totals,
    fmt: Format = "markdown",
    total_name: str = "notebook total",
) -> dict[str, str]:
    """The finished comparison as an ordinary output: sanitised HTML and plain text."""
    from orjupyter.render.markdown import output_html

    columns = "".join(f'<div class="orj-column">{column_html(r, fmt)}</div>' for r in replies)
    line = verdict(replies, totals, total_name)
    body = (
        f'<div class="orj-compare">{columns}</div><div class="orj-status">{html.escape(line)}</div>'
    )
    plain = [
        f"== {r.model} ==\n{r.text}{chr(10) * 2 + r.error if r.error else ''}\n\n{compare_line(r)}"
        for r in replies
    ]
    # text/plain is what a terminal shows (and `jupyter console` prints): no control sequences
    return {"text/html": output_html(body), "text/plain": printable("\n\n".join([*plain, line]))}
