"""What `%%gpt4o` cells are turned into before IPython runs them: a top-level `await` of
the same call (so a Stop click reaches the kernel while the answer streams), and a one-line
question ending in `?` kept a question. Light: loaded with the extension; the call itself
(`execution.run_cell`) is imported when a cell first runs it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orjupyter.jupyter.magic import OrJupyterMagics

MAGIC_NAME = "gpt4o"


def awaiting_transformer(magics: OrJupyterMagics) -> Callable[[list[str]], list[str]]:
    """Rewrite `%%gpt4o …` (and alias) cells into a top-level await of the same call."""

    def transform(lines: list[str]) -> list[str]:
        if not lines or not lines[0].startswith("%%"):
            return lines
        first = lines[0].rstrip("\r\n")
        name, _, line = first[2:].partition(" ")
        if name not in (MAGIC_NAME, *magics.aliases) or first.rstrip().endswith("?"):
            return lines  # another magic, or help (%%gpt4o?)
        if not getattr(magics.shell, "autoawait", False):
            return lines
        cell = "".join(lines[1:])
        call = f"{_ENTRY}({name!r}, {line.strip()!r}, {cell!r})"
        return [f"await {call}\n"]

    # Not run by `check_complete`: a typed `%%gpt4o` then waits for its body (and a blank
    # line) like any cell magic, in terminal IPython and in `jupyter console`.
    transform.has_side_effects = True  # type: ignore[attr-defined]  # IPython reads it
    return transform


# `%NAME rest-of-line` on a line of its own (indented or not), the line's ending kept apart.
_LINE_MAGIC = re.compile(
    r"(?P<indent>[ \t]*)%(?P<name>\w+)[ \t]+(?P<line>.*?)[ \t]*(?P<end>\r?\n?)"
)


def question_transformer(magics: OrJupyterMagics) -> Callable[[list[str]], list[str]]:
    """Keep a one-line question a question when it ends in `?`: `%gpt4o What is a p-value?`.

    IPython reads a trailing `?` (or `??`) as a help request and would look up `value`
    instead of asking. Among the cleanup transformers, this runs before IPython's help
    syntax and writes such a line as the very call IPython makes for `%gpt4o …` without
    the `?` (aliases too). `%gpt4o?` and `%%gpt4o?` alone still show the help."""

    def transform(lines: list[str]) -> list[str]:
        if not lines or lines[0].startswith("%%"):
            return lines  # a cell magic's body is its own text
        names = (MAGIC_NAME, *magics.aliases)
        asked = list(lines)
        for index, line in enumerate(lines):
            if index and lines[index - 1].rstrip("\r\n").endswith("\\"):
                continue  # the tail of a continued line
            match = _LINE_MAGIC.fullmatch(line)
            if match is None or match["name"] not in names:
                continue
            question = match["line"]
            if question.endswith("?") and question.strip("? \t"):
                call = f"get_ipython().run_line_magic({match['name']!r}, {question!r})"
                asked[index] = f"{match['indent']}{call}{match['end']}"
        return asked

    return transform


_ENTRY = "__import__('orjupyter.jupyter.execution', fromlist=['run_cell']).run_cell"
