"""Where a prompt holds code: fenced and indented blocks and inline spans, kept as text.

Pure. What a person pastes in order to ask about it is code, as Markdown marks it:

- a fenced block, from a line of three or more backticks or tildes (indented at most
  three spaces) to a line of at least as many of the same, or to the end of the cell;
- an indented line: four spaces or a tab, unless it starts a list item (`- `, `* `,
  `+ `, `1. `, `1) `); unlike Markdown, no blank line is needed before it, since a
  pasted line of code often follows the question directly;
- an inline code span: a run of backticks to the next run of as many, on no blank line
  (a backtick inside a `{placeholder}`, as in `{df.query('`a b` > 1')}`, is the
  placeholder's own).

`split_code` cuts the text into prose and code pieces, in order; `lone_field` finds the
one exception, a line of a code block that is nothing but one placeholder naming a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_LIST_ITEM = re.compile(r"[-*+][ \t]|\d{1,9}[.)][ \t]")
_LONE_FIELD = re.compile(
    r"(?P<lead>[ \t]*)\{(?P<field>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[[^\[\]{}]+\])*)"
    r"(?:!(?P<conversion>[rsa]))?(?::(?P<spec>[^{}]*))?\}(?P<trail>[ \t]*\n?)"
)
"""A block's line that is one placeholder naming a value: `{In[3]}`, `{df:full}`."""


@dataclass(frozen=True)
class Piece:
    """A run of the prompt's text; `code` says whether it is code (`block` or `span`)."""

    text: str
    code: str | None = None


def split_code(text: str) -> list[Piece]:
    """The text as prose and code pieces, in order; joined, they are the text."""
    pieces: list[Piece] = []
    prose: list[str] = []
    for line, is_code in _block_lines(text):
        if is_code:
            if prose:
                pieces += _spans("".join(prose))
                prose = []
            _add(pieces, Piece(line, "block"))
        else:
            prose.append(line)
    if prose:
        pieces += _spans("".join(prose))
    return pieces


def lone_field(line: str) -> re.Match[str] | None:
    """The placeholder a code block's line is made of alone, if it is one."""
    return _LONE_FIELD.fullmatch(line)


def _add(pieces: list[Piece], piece: Piece) -> None:
    if pieces and pieces[-1].code == piece.code == "block":
        pieces[-1] = Piece(pieces[-1].text + piece.text, "block")
    else:
        pieces.append(piece)


def _block_lines(text: str) -> list[tuple[str, bool]]:
    """Each line (with its newline) and whether it belongs to a code block."""
    marked: list[tuple[str, bool]] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        if fence is not None:
            marked.append((line, True))
            body = line.strip(" \t\r\n")
            indent = len(line) - len(line.lstrip(" "))
            if indent < 4 and body.startswith(fence) and body == body[0] * len(body):
                fence = None
            continue
        opening = _OPEN_FENCE.match(line.rstrip("\r\n"))
        if opening and not (opening[1][0] == "`" and "`" in opening[2]):
            fence = opening[1]
            marked.append((line, True))
        else:
            marked.append((line, _indented_code(line)))
    return marked


def _indented_code(line: str) -> bool:
    if not (line.startswith(("    ", "\t")) and line.strip()):
        return False
    return not _LIST_ITEM.match(line.lstrip(" \t"))


def _spans(text: str) -> list[Piece]:
    """Prose with its inline code spans cut out."""
    pieces: list[Piece] = []
    start = position = 0
    while position < len(text):
        char = text[position]
        if char == "\\" and text.startswith("\\`", position):
            position += 2
        elif char == "{" and not text.startswith("{{", position):
            position = _field_end(text, position)
        elif char in "{}":
            position += 2 if text.startswith(char * 2, position) else 1
        elif char == "`":
            run = len(text) - position - len(text[position:].lstrip("`"))
            end = _span_end(text, position + run, run)
            if end is None:
                position += run
                continue
            if start < position:
                pieces.append(Piece(text[start:position]))
            pieces.append(Piece(text[position:end], "span"))
            start = position = end
        else:
            position += 1
    if start < len(text):
        pieces.append(Piece(text[start:]))
    return pieces


def _field_end(text: str, position: int) -> int:
    """Just past the `}` that closes the placeholder opened at `position` (or the end)."""
    depth = 0
    for index in range(position, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return index + 1
    return len(text)


def _span_end(text: str, after: int, run: int) -> int | None:
    """Just past the run of exactly `run` backticks that closes a span, if any."""
    closing = re.compile(rf"(?<!`)`{{{run}}}(?!`)")
    found = closing.search(text, after)
    if found is None or re.search(r"\n[ \t]*\n", text[after : found.start()]):
        return None
    return found.end()
