"""What a person reads about a call: the status line and the persisted answer. Pure."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orjupyter.core.domain import (
    Citation,
    Reply,
    Totals,
    Usage,
    billing_may_continue,
    format_cost,
    tokens_per_second,
)
from orjupyter.core.formats import OUTPUT_FORMATS, Format
from orjupyter.core.terminal import printable


def progress_line(
    model: str, characters: int, chunks: int, ttft: float | None, thoughts: int = 0
) -> str:
    """While streaming: `openai/gpt-4o · streaming · 120 chunks · first token 0.42 s`."""
    first = f" · first token {ttft:.2f} s" if ttft is not None else " · waiting for the first token"
    if thoughts and not chunks:
        return f"{model} · thinking · {thoughts} reasoning chunks{first}"
    return f"{model} · streaming · {chunks} chunks, {characters} characters{first}"


def thinking_html(reasoning: str, *, collapsed: bool = True) -> str:
    """The model's reasoning as a collapsed "Thinking" section (escaped text, not Markdown)."""
    text = f'<div class="orj-thinking-text">{html.escape(reasoning)}</div>'
    if not collapsed:
        return text
    return f'<details class="orj-thinking"><summary>Thinking</summary>{text}</details>'


def sources_html(citations: Sequence[Citation]) -> str:
    """Numbered sources under an answer: http(s) links only, opening in a new tab."""
    if not citations:
        return ""
    items = []
    for citation in citations:
        title = html.escape(citation.title or citation.url)
        if citation.url.lower().startswith(("https://", "http://")):
            url = html.escape(citation.url, quote=True)
            title = f'<a href="{url}" target="_blank" rel="noopener noreferrer">{title}</a>'
        items.append(f"<li>{title}</li>")
    return f'<div class="orj-sources">Sources<ol>{"".join(items)}</ol></div>'


def sources_text(citations: Sequence[Citation]) -> str:
    return "\n".join(
        f"[{n}] {c.title + ' ' if c.title else ''}{c.url}" for n, c in enumerate(citations, 1)
    )


def usage_line(reply: Reply, totals: Totals, total_name: str = "notebook total") -> str:
    """After: model, tokens, this call's cost, the running total (`total_name`: the
    notebook's, or in a terminal the session's or the script's), speed."""
    usage = reply.usage
    cost = format_cost(usage.cost, estimate=usage.cost_is_estimate)
    if usage.cost_is_estimate:
        cost += " (estimated)"
    fields = [
        reply.model,
        tokens_text(usage),
        cost,
        f"{total_name} {format_cost(totals.cost, estimate=totals.estimated_calls > 0)}"
        f" ({totals.calls} call{'s' if totals.calls != 1 else ''})",
    ]
    near = budget_note(totals)
    if near:
        fields.append(near)
    if reply.time_to_first_token is not None and not reply.cached:
        fields.append(f"first token {reply.time_to_first_token:.2f} s")
    speed = tokens_per_second(reply)
    if speed is not None:
        fields.append(f"{speed:.0f} tokens/s")
    if reply.history_turns:
        turns = reply.history_turns
        fields.append(f"{turns} earlier turn{'s' if turns != 1 else ''} included")
    if reply.attached:
        fields.append(reply.attached)
    if reply.cached:
        fields.insert(0, "cached")
    if reply.outcome != "ok":
        fields.insert(0, reply.outcome)
    if billing_may_continue(reply):
        fields.insert(1, f"billing may continue upstream ({reply.provider} does not cancel)")
    return " · ".join(fields)


def budget_note(totals: Totals) -> str | None:
    """`84% of the $0.50 budget spent`, once a notebook has spent 80% of its budget."""
    from orjupyter.core.budget import WARN_AT, dollars

    share = totals.budget_share
    if share is None or share < WARN_AT or totals.budget is None:
        return None
    return f"{int(share * 100)}% of the {dollars(totals.budget)} budget spent"


def tokens_text(usage: Usage) -> str:
    """`1,203 prompt (1,024 cached) + 310 completion tokens (256 reasoning)`."""
    cached = f" ({usage.cached_tokens:,} cached)" if usage.cached_tokens else ""
    reasoning = f" ({usage.reasoning_tokens:,} reasoning)" if usage.reasoning_tokens else ""
    return (
        f"{usage.prompt_tokens:,} prompt{cached} + "
        f"{usage.completion_tokens:,} completion tokens{reasoning}"
    )


def metadata(reply: Reply) -> dict[str, Any]:
    """Machine-readable facts stored beside the persisted answer (never the key)."""
    return {
        "orjupyter": {
            "id": reply.id,
            "model": reply.model,
            "outcome": reply.outcome,
            "prompt_tokens": reply.usage.prompt_tokens,
            "completion_tokens": reply.usage.completion_tokens,
            "cached_tokens": reply.usage.cached_tokens,
            "reasoning_tokens": reply.usage.reasoning_tokens,
            "cost": str(reply.usage.cost),
            "cost_is_estimate": reply.usage.cost_is_estimate,
        }
    }


@dataclass(frozen=True)
class Exchange:
    """One question (None: the cell itself) and its reply, as a transcript shows them."""

    question: str | None
    reply: Reply


def transcript_html(exchanges: Sequence[Exchange], question: str | None) -> str:
    """Earlier exchanges and the question being answered, above a streaming follow-up."""

    parts: list[str] = []
    for exchange in exchanges:
        if exchange.question is not None:
            parts.append(f'<div class="orj-question">{html.escape(exchange.question)}</div>')
        parts.append(formatted_html("markdown", exchange.reply.text))
    if question is not None:
        parts.append(f'<div class="orj-question">{html.escape(question)}</div>')
    return "".join(parts)


def final_bundle(reply: Reply, totals: Totals, fmt: Format = "markdown") -> dict[str, str]:
    """The answer as ordinary outputs: sanitised HTML first, Markdown and plain text after."""
    return transcript_bundle([Exchange(None, reply)], totals, fmt)


def transcript_bundle(
    exchanges: Sequence[Exchange],
    totals: Totals,
    fmt: Format = "markdown",
    total_name: str = "notebook total",
) -> dict[str, str]:
    """A cell's answer and its follow-ups, each with its usage line (whose running total
    is called `total_name`).

    Two representations, each a full copy of the text: sanitised HTML (what notebook
    frontends, nbconvert and GitHub show) and plain text (consoles, terminals, search).
    No text/markdown: the frontends that render it (JupyterLab, Notebook 7, VS Code,
    nbconvert, GitHub) all pick the HTML first, so it would only be a third copy sent
    to the browser and saved in the notebook."""
    from orjupyter.render.markdown import output_html

    html_parts: list[str] = []
    plain: list[str] = []
    for exchange in exchanges:
        reply = exchange.reply
        line = usage_line(reply, totals, total_name)
        error = f"\n\n{reply.error}" if reply.error else ""
        if exchange.question is not None:
            html_parts.append(f'<div class="orj-question">{html.escape(exchange.question)}</div>')
            plain.append(f"> {exchange.question}")
        if reply.reasoning:
            html_parts.append(thinking_html(reply.reasoning))
        html_parts.append(formatted_html(fmt, reply.text))
        html_parts.append(sources_html(reply.citations))
        if reply.citations:
            error = f"\n\nSources:\n{sources_text(reply.citations)}{error}"
        if reply.error:
            html_parts.append(f'<div class="orj-error">{html.escape(reply.error)}</div>')
        html_parts.append(f'<div class="orj-status">{html.escape(line)}</div>')
        plain.append(f"{reply.text}{error}\n\n{line}")
    # text/plain is what a terminal frontend (`jupyter console`) prints: no control sequences
    return {"text/html": output_html(*html_parts), "text/plain": printable("\n\n".join(plain))}


def formatted_html(fmt: Format, text: str) -> str:
    """The answer as safe HTML in its `.orj-answer` container, per `-f` format."""
    from orjupyter.render.markdown import answer_html, sanitize_html

    rendering = OUTPUT_FORMATS[fmt].rendering
    text = printable(text)  # no control characters in a saved page either
    if rendering == "preformatted":
        return f'<div class="orj-answer"><pre class="orj-text">{html.escape(text)}</pre></div>'
    if rendering == "html":
        return f'<div class="orj-answer">{sanitize_html(text)}</div>'
    return answer_html(text)


def reply_bundle(reply: Reply) -> dict[str, str]:
    """How a `Reply` shows in a cell: sanitised HTML first (the text is model output, so it
    is untrusted), and the text without control sequences (a terminal shows this one)."""
    from orjupyter.core.terminal import printable
    from orjupyter.render.markdown import answer_html, output_html

    return {"text/html": output_html(answer_html(reply.text)), "text/plain": printable(reply.text)}
