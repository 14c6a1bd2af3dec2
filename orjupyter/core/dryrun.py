"""`--dry-run`: exactly what would be sent, images summarised, with a cost range. Pure."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from orjupyter.core.domain import Part, TextPart
from orjupyter.core.pricing import prompt_tokens
from orjupyter.core.request import sent_options

PREVIEW = 200


def _part_line(part: Mapping[str, Any]) -> str:
    if part.get("type") == "file":
        file = part.get("file", {})
        payload = str(file.get("file_data", "")).partition(",")[2]
        size = len(payload) * 3 // 4
        return f"    file: {file.get('filename')}, PDF, {size / 1024:.0f} KiB"
    if part.get("type") == "image_url":
        image = part.get("image_url", {})
        url = str(image.get("url", ""))
        header, _, payload = url.partition(",")
        size = len(payload) * 3 // 4
        kind = header[5:].split(";")[0] if header.startswith("data:") else url[:80]
        return f"    image: {kind}, {size / 1024:.0f} KiB, detail={image.get('detail', 'auto')}"
    text = str(part.get("text", ""))
    shown = text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"
    return f"    text ({len(text):,} characters): {json.dumps(shown, ensure_ascii=False)}"


def _message_lines(message: Mapping[str, Any]) -> list[str]:
    content = message.get("content")
    lines = [f"  {message.get('role')}:"]
    if isinstance(content, str):
        lines.append(_part_line({"type": "text", "text": content}))
    else:
        lines.extend(_part_line(part) for part in content or [])
    return lines


def describe_request(
    request: Mapping[str, Any],
    *,
    prompt_estimate: int,
    cheapest: Decimal | None,
    worst: Decimal | None,
    cached: bool,
    format_cost: Callable[[Decimal], str],
    context: Sequence[Part] = (),
    note: str = "",
    web_search: Decimal | None = None,
    pdf_parsing: Decimal | None = None,
) -> str:
    """A readable summary; never contains base64 image data or the key. The `--context`
    cells (the start of the last message) are shown whole, as they would be sent."""
    lines = [f"Dry run: nothing was sent. Model {request.get('model')}."]
    if note:
        lines.append(f"With the question: {note}.")
    if context:
        lines.extend(context_lines(context))
    for message in request.get("messages", []):
        lines.extend(_message_lines(message))
    options = sent_options(request)
    if options:
        lines.append(f"  parameters: {json.dumps(options)}")
    lines.append(f"Estimated prompt: about {prompt_estimate:,} tokens.")
    if web_search is not None:
        lines.append(f"Web search: about {format_cost(web_search)} a call, included below.")
    if pdf_parsing is not None:
        lines.append(f"PDF parsing: {format_cost(pdf_parsing)}, included below.")
    if cached:
        lines.append("Cached: re-running this cell would answer from the cache for $0.")
    elif cheapest is not None and worst is not None:
        lines.append(
            f"Estimated cost: {format_cost(cheapest)} (one-token answer) "
            f"to {format_cost(worst)} (longest answer)."
        )
    else:
        lines.append("Estimated cost: unknown (no price for this model).")
    return "\n".join(lines)


def context_lines(context: Sequence[Part]) -> list[str]:
    """The context exactly as it goes (images summarised), with its token estimate."""
    tokens = prompt_tokens([context]) - prompt_tokens([[]])
    lines = [f"  context, sent at the start of the question (about {tokens:,} tokens):"]
    for part in context:
        if not isinstance(part, TextPart):
            lines.append(f"    | [{part.summary()}]")
        else:
            lines.extend(f"    | {line}" for line in part.text.rstrip("\n").split("\n"))
    return lines
