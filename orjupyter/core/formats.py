"""`-f/--format`: what the model is asked for and how its answer is shown. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from orjupyter.core.errors import FormatError

Format = str
"""The name of an output format: a key of `OUTPUT_FORMATS` (the grammar's choices)."""
Rendering = Literal["markdown", "preformatted", "html"]

_FENCE = re.compile(r"^(```+|~~~+)([^\n]*)\n(.*?)^\1[ \t]*$", re.DOTALL | re.MULTILINE)
_PYTHON = frozenset({"python", "py", "python3", "ipython", "ipython3"})


def extract_code(text: str) -> str:
    """The first fenced block's content, or the whole answer when it has no fence."""
    match = _FENCE.search(text)
    return (match.group(3) if match else text).strip("\n")


KEPT_IN_REPLY = (
    "; the text is kept in the reply: use -o and .text, or re-run the cell with --no-cache "
    "to ask again"
)
"""A cell's advice when its answer could not be read (a `--map` row says its own)."""
_ADVICE = re.compile(r"; the text is kept in the reply.*\Z", re.DOTALL)


def without_advice(why: str) -> str:
    """Why an answer could not be used, without the advice meant for a cell (where its
    text is kept), for a caller that keeps the text elsewhere and says where."""
    return _ADVICE.sub("", why)


def parse_json(text: str) -> Any:
    """The answer as a Python value; a fenced ```json block is accepted too."""
    candidate = extract_code(text).strip()
    try:
        return json.loads(candidate)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"the answer is not valid JSON ({exc.msg} at line {exc.lineno}){KEPT_IN_REPLY}"
        ) from None
    except RecursionError:
        raise too_deep() from None


@dataclass(frozen=True)
class OutputFormat:
    """One `-f NAME`: what the model is asked for, and what happens to its answer."""

    help: str
    """What `-f NAME` does, for the help and `%gpt4o help`."""
    instruction: str | None = None
    """Added to the system prompt so the model answers in this format."""
    response_format: dict[str, str] | None = None
    """Sent as the request's `response_format`."""
    rendering: Rendering = "markdown"
    """How the answer is shown: Markdown, preformatted text, or sanitised HTML."""
    parse: Callable[[str], Any] | None = None
    """The answer's text → the value `-o NAME` holds (None: `-o` holds the reply); raises
    `FormatError` saying what to do when the text is not in the format."""
    next_cell: bool = False
    """The answer's code goes into a new cell below."""

    @property
    def answers_json(self) -> bool:
        """The model is held to JSON (so `--schema`, which asks for strict JSON, fits)."""
        return (self.response_format or {}).get("type") in ("json_object", "json_schema")


OUTPUT_FORMATS: dict[Format, OutputFormat] = {
    "markdown": OutputFormat("the default"),
    "text": OutputFormat(
        "plain text",
        "Answer in plain text, without Markdown formatting.",
        rendering="preformatted",
    ),
    "code": OutputFormat(
        "the code goes into a new cell below, not run",
        "Answer with a single fenced code block containing only code, no explanation "
        "outside it. Put any necessary explanation in code comments.",
        next_cell=True,
    ),
    "json": OutputFormat(
        "asks for JSON; -o stores the parsed value",
        "Answer with a single JSON value and nothing else.",
        response_format={"type": "json_object"},
        parse=parse_json,
    ),
    "html": OutputFormat(
        "a fragment, sanitised",
        "Answer with an HTML fragment (no <html>, <head> or <body>), and nothing else.",
        rendering="html",
    ),
}
"""Every output format; a new one is one row here (the grammar and its help, the request,
the panel, the magic and `--map` all read this table)."""
FORMATS = OUTPUT_FORMATS.keys()
"""The format names, as a live view of the table (the grammar's `-f` choices)."""


def instruction(fmt: Format) -> str | None:
    """Text added to the system prompt so the model answers in that format."""
    return OUTPUT_FORMATS[fmt].instruction


def response_format(fmt: Format) -> dict[str, str] | None:
    return OUTPUT_FORMATS[fmt].response_format


def system_prompt(system: str | None, fmt: Format) -> str | None:
    extra = instruction(fmt)
    if not extra:
        return system
    return f"{system}\n\n{extra}" if system else extra


def code_to_insert(fmt: Format, text: str) -> str:
    """What "Copy code" and "Insert as cell" take: a `-f code` answer whole (unfenced),
    otherwise the first Python block (else the first fenced block); "" without code."""
    if OUTPUT_FORMATS[fmt].next_cell:
        return extract_code(text)
    blocks = [(m.group(2).strip().lower(), m.group(3)) for m in _FENCE.finditer(text)]
    python = [code for language, code in blocks if language.split(" ")[0] in _PYTHON]
    chosen = python or [code for _language, code in blocks]
    return chosen[0].strip("\n") if chosen else ""


def too_deep() -> FormatError:
    """An answer nested deeper than Python can read (`[[[…]]]` thousands deep)."""
    return FormatError(f"the answer's JSON is nested too deeply to read{KEPT_IN_REPLY}")


def formats_help() -> str:
    """`-f`'s help: every format and what it does, from the table."""
    described = [f"{name} ({fmt.help})" for name, fmt in OUTPUT_FORMATS.items()]
    return ", ".join(described[:-1]) + " or " + described[-1]
