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
    """`openai/gpt-4o-mini · OpenAI · $0.0000123 · first token 0.31 s · 84 tokens/s`: the
    model as the server says it served the answer."""
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


def verdict(
    replies: Sequence[Reply],
    totals: Totals,
    total_name: str = "notebook total",
    asked: Sequence[str] | None = None,
) -> str:
    """`cheapest: A ($0.0001) · fastest: B (1.20 s) · notebook total $0.12 (9 calls)`; each
    model named as it was asked for (`asked`), not as the server says it served."""
    names = list(asked) if asked else [reply.model for reply in replies]
    done = [(name, r) for name, r in zip(names, replies, strict=True) if r.outcome == "ok"]
    fields = []
    if done:
        cheapest = min(done, key=lambda pair: pair[1].usage.cost)
        fastest = min(done, key=lambda pair: pair[1].duration)
        fields.append(f"cheapest: {cheapest[0]} ({format_cost(cheapest[1].usage.cost)})")
        fields.append(f"fastest: {fastest[0]} ({fastest[1].duration:.2f} s)")
    else:
        fields.append("no model answered in full")
    spent = format_cost(sum((r.usage.cost for r in replies), Decimal(0)))
    fields.append(f"these {len(replies)} calls {spent}")
    estimated = totals.estimated_calls > 0
    calls = f"{totals.calls} call{'s' if totals.calls != 1 else ''}"
    fields.append(f"{total_name} {format_cost(totals.cost, estimate=estimated)} ({calls})")
    return " · ".join(fields)


def column_html(reply: Reply, fmt: Format = "markdown", asked: str | None = None) -> str:
    """One model's answer, its sources and error, and its line; titled by the model
    asked for (the served name, which the server chooses, is in the line below)."""
    from orjupyter.render.report import formatted_html, sources_html, thinking_html

    parts = [f'<div class="orj-model">{html.escape(asked or reply.model)}</div>']
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
    asked: Sequence[str] | None = None,
) -> dict[str, str]:
    """The finished comparison as an ordinary output: sanitised HTML and plain text, each
    column titled by the model asked for (`asked`, in the replies' order)."""
    from orjupyter.render.markdown import output_html

    titles = list(asked) if asked else [reply.model for reply in replies]
    columns = "".join(
        f'<div class="orj-column">{column_html(r, fmt, t)}</div>'
        for r, t in zip(replies, titles, strict=True)
    )
    line = verdict(replies, totals, total_name, titles)
    body = (
        f'<div class="orj-compare">{columns}</div><div class="orj-status">{html.escape(line)}</div>'
    )
    plain = [
        f"== {t} ==\n{r.text}{chr(10) * 2 + r.error if r.error else ''}\n\n{compare_line(r)}"
        for r, t in zip(replies, titles, strict=True)
    ]
    # text/plain is what a terminal shows (and `jupyter console` prints): no control sequences
    return {"text/html": output_html(body), "text/plain": printable("\n\n".join([*plain, line]))}
