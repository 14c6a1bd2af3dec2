"""What a tool's call tells the model: its value, its exception, or why it did not run. Pure.

A string goes as it is; numbers, booleans, None, dicts and lists as JSON; a PIL image or
a matplotlib figure as an image the model can look at; anything else (a DataFrame, an
array, an object) described as `{x}` describes it (`core/describe.py`: token cap,
`_repr_llm_`). A result over the cap is cut, with a note to the model saying so.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from typing import Any

from orjupyter.core.domain import ImagePart

RESULT_TOKENS = 2_000
"""Tokens a tool's result may take in the next request (about 4 characters a token)."""
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class ToolResult:
    """A call's outcome as the model receives it: text (and an image, for a picture)."""

    text: str
    image: ImagePart | None = None
    error: bool = False


def result_of(
    value: object, name: str, make_image: Any = None, max_tokens: int = RESULT_TOKENS
) -> ToolResult:
    """`value`, returned by the tool `name`, as the model reads it. `make_image(value,
    detail)` → an `ImagePart` (or None) for pictures."""
    limit = max(200, max_tokens * CHARS_PER_TOKEN)
    if isinstance(value, str):
        return ToolResult(cut(value, limit))
    if value is None or isinstance(value, (bool, int, float, dict, list, tuple)):
        try:
            return ToolResult(cut(json.dumps(value, ensure_ascii=False, allow_nan=False), limit))
        except (TypeError, ValueError, RecursionError):
            pass  # a dict holding a DataFrame, say: described below
    if make_image is not None and _is_picture(value):
        image = make_image(value, "auto")
        if image is not None:
            return ToolResult(f"{name} returned an image ({image.width}×{image.height}).", image)
    from orjupyter.core.describe import describe

    return ToolResult(cut(describe(value, f"{name}()", max_tokens).text, limit))


def _is_picture(value: object) -> bool:
    module = type(value).__module__
    return module.startswith(("PIL.", "matplotlib"))


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters; a longer one is cut with a note to the model."""
    if len(text) <= limit:
        return text
    return (
        f"{text[:limit]}\n[cut: the result is {len(text):,} characters; only the first "
        f"{limit:,} are shown. Ask for less, for example a filter or a summary.]"
    )


def error_result(exc: BaseException, function: object) -> ToolResult:
    """A tool that raised: the exception's type and message and the tool's last frame."""
    head = f"{type(exc).__name__}: {exc}"
    code = getattr(function, "__code__", None)
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    own = [frame for frame in frames if code is not None and frame.filename == code.co_filename]
    last = (own or frames)[-1:] if frames else []
    where = ""
    if last:
        frame = last[0]
        line = f": {frame.line.strip()}" if frame.line else ""
        where = f"\n  in {frame.name}, line {frame.lineno}{line}"
    return ToolResult(cut(f"The function raised {head}{where}", 2_000), error=True)


def refusal(text: str) -> ToolResult:
    """A call that did not run (not offered, bad arguments, denied): what the model reads."""
    return ToolResult(text, error=True)
