"""The live answer as appends: what arrived since the last refresh, as one delta.

While an answer streams, the browser holds it in two parts: finished blocks, as HTML that
was rendered and sanitised here, and the open block, as text (shown as text, never parsed
as HTML). Each refresh sends one `Delta`: the new characters of the open block, and, when
blocks finished, how many characters of the open block they took (`cut`) with their HTML.
A finished block that is one plain paragraph (the HTML would only repeat its text) is
`seal`ed instead: the browser shows the text it already has as a paragraph (its ends
trimmed of spaces and line ends, as `shows_as_text` checks). So every
character crosses to the browser about once, and nothing is sent again.

Pure: no IPython, no widgets (`jupyter/answer_stream.py` carries the deltas).
"""

from __future__ import annotations

import html
import re
from typing import TypedDict

from orjupyter.render.markdown import BlockSplitter, render_markdown

LONG_TAIL = 2000
"""Characters of one streaming paragraph kept open at most, before its start is frozen."""
TAIL_CAP = 2 * LONG_TAIL
"""Characters of any open block kept at most (a block that never ends, markup that never
closes): past this its start is frozen anyway, so a refresh's work is bounded."""


_TRIMMED = " \n"
"""What the browser trims from a sealed paragraph's ends (`trim` in answer_stream.js)."""


class Delta(TypedDict, total=False):
    """One refresh of the live answer, as the browser applies it (all keys optional)."""

    text: str
    """Characters appended to the open block."""
    cut: int
    """Characters (code points) at the start of the open block that are now finished."""
    html: str
    """The finished characters as sanitised HTML, appended after the finished blocks."""
    seal: bool
    """Instead of `html`: the finished characters are one plain paragraph of that text."""
    joined: bool
    """The finished part ends inside a paragraph that goes on in the open block."""
    code: bool
    """Whether the open block is now inside a fenced code block (sent when it changes)."""
    think: str
    """Characters appended to the reasoning (shown as text)."""
    title: str
    """The reasoning section's new heading."""


class LiveAnswer:
    """A growing answer (and its reasoning) → the `Delta` of each refresh."""

    def __init__(self) -> None:
        self.splitter = BlockSplitter()
        self.title = ""
        self.code = False

    def delta(self, added: str, thought: str = "", title: str = "") -> Delta:
        """What changed since the last refresh: `added` answer text, `thought` reasoning
        text, and the reasoning section's `title` ('' while there is none)."""
        change = Delta()
        if thought:
            change["think"] = thought
        if title and title != self.title:
            change["title"] = self.title = title
        if added:
            change["text"] = added
        opened = self.splitter.tail + added  # the open block as the browser will hold it
        before = self.splitter.frozen_length
        finished = "".join(self.splitter.append(added))
        piece = self.splitter.cut_paragraph(LONG_TAIL)
        capped = self.splitter.cap(TAIL_CAP)
        cut = self.splitter.frozen_length - before
        if added and self.splitter.in_code != self.code:
            change["code"] = self.code = not self.code
        if not cut:
            return change
        change["cut"] = cut
        source = finished + (piece or "")
        markup = (render_markdown(source) if source else "") + (capped or "")
        if shows_as_text(markup, opened[:cut]):
            change["seal"] = True
        else:
            change["html"] = markup
        if piece or capped:
            change["joined"] = True
        return change


_PARAGRAPH = re.compile(r"<p>([^<]*)</p>\n?")


def shows_as_text(markup: str, text: str) -> bool:
    """Whether `markup` is one paragraph showing exactly `text` (its ends trimmed), so the
    browser can show the text it holds instead."""
    paragraph = _PARAGRAPH.fullmatch(markup)
    return paragraph is not None and html.unescape(paragraph.group(1)).strip(
        _TRIMMED
    ) == text.strip(_TRIMMED)
