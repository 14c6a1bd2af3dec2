"""Untrusted Markdown to safe HTML, whole or block by block while it streams.

Model output is untrusted (prompt injection can put anything in it) and the HTML we make
is shown through `innerHTML` and as a trusted notebook output. So the HTML always comes
from a real Markdown parser (markdown-it-py, raw HTML off) and then goes through a
maintained sanitiser (nh3 / Ammonia) with a short allow-list. Images become links: an
`<img>` would load by itself, and its URL can carry secrets out. Both are set up in
`render/parser.py`, imported at an answer's first line end: its first words need neither.

Pure: no IPython, no ipywidgets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from orjupyter.render.cut_points import last_closed_cut
from orjupyter.render.stylesheet import style_tag
from orjupyter.render.tables import NO_MATHS


def render_markdown(text: str) -> str:
    """Untrusted Markdown → safe HTML fragment."""
    from orjupyter.render.parser import cleaner, parser

    return cleaner().clean(parser().render(text))


def sanitize_html(fragment: str) -> str:
    """Untrusted HTML (an answer asked for as HTML) → the same safe subset Markdown gets."""
    from orjupyter.render.parser import cleaner

    return cleaner().clean(fragment)


OUTPUT_CLASSES = f"orj-output jp-RenderedHTMLCommon {NO_MATHS}"
"""The final output's wrapper: JupyterLab's text styles, and no MathJax (a `$` in an answer
or a cost is money, not mathematics)."""


def output_html(*fragments: str) -> str:
    """Our own safe fragments, wrapped once for the final output."""
    return f'{style_tag()}<div class="{OUTPUT_CLASSES}">{"".join(fragments)}</div>'


def answer_html(text: str) -> str:
    """The answer as HTML in its `.orj-answer` container (CSS comes from
    `render.stylesheet`)."""
    return f'<div class="orj-answer">{render_markdown(text)}</div>'


# A line break as markdown-it counts them (its normalize step turns each into "\n").
_NEWLINE = re.compile(r"\r\n?|\n")


@dataclass
class BlockSplitter:
    """Feeds a growing Markdown text; hands out finished top-level blocks once, keeps the tail.

    Each block is Markdown source; rendering the blocks one by one plus the tail looks the same
    as rendering the whole text, except that a reference-style link (`[x][ref]`) only resolves
    against definitions (`[ref]: url`) within its own block.
    """

    _tail: str = field(default="", init=False, repr=False)
    _frozen: int = field(default=0, init=False)
    _reopen: str = field(default="", init=False)
    """The opening fence line of a code block `cap` cut in two: the tail is still inside it."""

    def feed(self, text_so_far: str) -> list[str]:
        """Given the whole answer so far (it only ever grows), return the Markdown source of
        blocks that are now complete and were not returned before (in order)."""
        seen = self._frozen + len(self._tail)
        if len(text_so_far) < seen or not text_so_far.startswith(self._tail, self._frozen):
            raise ValueError("feed() takes the whole answer so far, which only ever grows")
        return self.append(text_so_far[seen:])

    def append(self, added: str) -> list[str]:
        """Given the text that arrived since, return the Markdown source of blocks that are
        now complete (in order). Only the tail is kept and looked at: the work is
        proportional to the new text and the tail, never to the answer."""
        self._tail += added
        if "\n" not in added and "\r" not in added:
            return []  # a block is complete only once a later line is
        source, reopened = self.source, len(self._reopen)
        blocks: list[str] = []
        start = 0
        for cut in _complete_block_ends(source):
            blocks.append(source[start:cut])
            start = cut
        if start:
            self._frozen += start - reopened
            self._tail = source[start:]
            self._reopen = ""
        return blocks

    def cut_paragraph(self, limit: int) -> str | None:
        """While one long paragraph streams, hand out its start up to a sentence end, so
        re-rendering the tail stays bounded. The piece is a paragraph of its own while the
        answer streams; the final output, rendered whole, shows one paragraph again.

        Only a plain paragraph is cut: after `. `, `! ` or `? ` where it can, else between
        words, and only where no inline markup (code, emphasis, link) is open in the piece.
        """
        tail = self.tail
        if len(tail) <= limit or self._reopen or not _one_paragraph(tail):
            return None
        cut = last_closed_cut(tail)
        if cut is None:
            return None
        self._frozen += cut
        self._tail = tail[cut:]
        return tail[:cut]

    def cap(self, limit: int) -> str | None:
        """When the tail has grown past `limit` characters and nothing cut it (one block
        that never ends, markup that never closes), hand out its start anyway, as safe
        HTML: at a line end (as Markdown; a code block stays a code block and the tail goes
        on inside it), else between words (as escaped text: a line that long with markup
        that never closes is costly to parse), so that each refresh re-renders at most
        `limit` characters. The final output, rendered whole, shows the Markdown."""
        tail = self.tail
        if len(tail) <= limit:
            return None
        from orjupyter.render.parser import code_html, escapeHtml

        target = len(tail) - limit // 2
        line_end = tail.rfind("\n", 0, target) + 1
        cut = line_end or tail.rfind(" ", 0, target) + 1 or target
        piece, fence = tail[:cut], self._reopen or _open_fence(tail)
        self._frozen += cut
        self._tail = tail[cut:]
        if not fence:  # whole lines stay Markdown; one endless line is shown as text
            return render_markdown(piece) if line_end else f"<p>{escapeHtml(piece)}</p>"
        code = piece if self._reopen else piece[len(fence) :]
        self._reopen = fence
        return code_html(code, fence.strip(" `~\n").split(" ")[0])

    def tail_html(self, limit: int) -> str:
        """The tail as safe HTML: Markdown, or escaped text when it is one line longer
        than `limit` (markup that never closes: costly to parse on every refresh)."""
        source = self.source
        if len(source) > limit and not self._reopen and "\n" not in source.strip():
            from orjupyter.render.parser import escapeHtml

            return f"<p>{escapeHtml(source)}</p>"
        return render_markdown(source)

    @property
    def source(self) -> str:
        """The tail as Markdown to render: inside the code block it is."""
        return self._reopen + self.tail

    @property
    def in_code(self) -> bool:
        """Whether the tail is inside a fenced code block that has not closed yet."""
        return bool(self._reopen or _open_fence(self._tail))

    @property
    def tail(self) -> str:
        """The source not yet handed out as blocks."""
        return self._tail

    @property
    def frozen_length(self) -> int:
        """Characters of the text already handed out as blocks."""
        return self._frozen


def _one_paragraph(text: str) -> bool:
    from orjupyter.render.parser import block_parser

    tokens = block_parser().parse(text)
    return (
        bool(tokens)
        and tokens[0].type == "paragraph_open"
        and tokens[-1].level == 0
        and (sum(token.level == 0 and token.nesting == 1 for token in tokens) == 1)
    )


_OPEN_FENCE = re.compile(r" {0,3}(?:`{3,}[^`\n]*|~{3,}[^\n]*)\n")


def _open_fence(tail: str) -> str:
    """The opening line of a fenced code block that `tail` starts with and never closes."""
    opening = _OPEN_FENCE.match(tail)
    if opening is None:
        return ""
    marks = opening.group().lstrip(" ")
    run = len(marks) - len(marks.lstrip(marks[0]))
    closing = re.compile(rf"^ {{0,3}}{re.escape(marks[0])}{{{run},}}[ \t]*$", re.MULTILINE)
    return "" if closing.search(tail, opening.end()) else opening.group()


def _complete_block_ends(tail: str) -> list[int]:
    """Offsets in `tail` where everything before is final, however the text goes on.

    That is the start of a top-level block whose first line is complete and comes after a
    blank line: a blank line closes paragraphs and tables (so no setext underline or
    delimiter row can reach back), and a complete line at the top level that starts a new
    block is neither indented nor marked enough to continue a list, quote or code block
    before it (an open fence would have swallowed it). Only the tail is parsed.
    """
    from orjupyter.render.parser import block_parser  # at the first line end of an answer

    line_starts = [0, *(match.end() for match in _NEWLINE.finditer(tail))]
    complete_lines = len(line_starts) - 1
    cuts: list[int] = []
    for token in block_parser().parse(tail):
        if token.level != 0 or token.nesting == -1 or token.map is None:
            continue
        line = token.map[0]
        if 0 < line < complete_lines and _is_blank(tail, line_starts, line - 1):
            cuts.append(line_starts[line])
    return cuts


def _is_blank(text: str, line_starts: Sequence[int], line: int) -> bool:
    return not text[line_starts[line] : line_starts[line + 1]].strip(" \t\r\n")
