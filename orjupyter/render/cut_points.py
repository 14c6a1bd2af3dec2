"""Where a paragraph that is still streaming may be cut in two for the live view: after
its last sentence (else its last space) before which no inline markup is open.

Pure: plain string scanning, no Markdown parser.
"""

from __future__ import annotations

import re

_CUT_BACKWARDS = re.compile(r"[ \t]+(?P<sentence>[\"')\]]?[.!?])?")
"""A cut point, read in the reversed text: a run of spaces or tabs, and whether a sentence
ends just before it (`.`, `!` or `?`, maybe closed by a quote or a bracket)."""
_SENTENCE_BACKWARDS = re.compile(r"(?<![ \t])[ \t]+(?P<sentence>[\"')\]]?[.!?])")
"""Only the cut points where a sentence ends, read in the reversed text."""
_SENTENCE_MARK = re.compile(r"[.!?]")
_UNDERSCORE = re.compile(r"(?<!\w)_|_(?!\w)")


def _delimiters(text: str) -> tuple[int, ...]:
    """How many of each inline delimiter `text` holds: ` * ~~ [-] (-) _ (opening minus
    closing for brackets and parentheses)."""
    return (
        text.count("`"),
        text.count("*"),
        text.count("~~"),
        text.count("[") - text.count("]"),
        text.count("(") - text.count(")"),
        len(_UNDERSCORE.findall(text)) if "_" in text else 0,
    )


def _closed(counts: tuple[int, ...]) -> bool:
    code, stars, tildes, brackets, parentheses, underscores = counts
    return not (code % 2 or stars % 2 or tildes % 2 or brackets or parentheses or underscores % 2)


def last_closed_cut(tail: str) -> int | None:
    """Where `tail` can be cut: the end of its last sentence (else its last space) before
    which no code span, emphasis or link is open (counted conservatively). A cut point is
    where a run of spaces or tabs ends, before the last character.

    Read from the end: the delimiters before a cut point are those of the whole text less
    those after it. Every cut point is looked at only until the last closed one is found;
    then only sentence ends, each segment counted once: a refresh's work is a few scans
    of the tail at C speed, not a step per word."""
    text = tail[:-1]
    end = len(text)
    backwards = text[::-1]
    before, last = _delimiters(text), end
    found: int | None = None
    pattern, position = _CUT_BACKWARDS, 0
    while (match := pattern.search(backwards, position)) is not None:
        cut, position = end - match.start(), match.end()
        after = _delimiters(text[cut:last])
        before, last = tuple(total - part for total, part in zip(before, after, strict=True)), cut
        if _closed(before):
            if match.group("sentence") is not None:
                return cut
            if found is None:  # the last cut point of all; a sentence end before it wins
                if _SENTENCE_MARK.search(text, 0, cut) is None:
                    return cut
                found, pattern = cut, _SENTENCE_BACKWARDS
    return found
