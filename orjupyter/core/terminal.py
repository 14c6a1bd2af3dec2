"""Text safe to write to a terminal: no control sequences, only what reads as text.

Pure. A model's answer (or a server's error) can carry clear-screen, window-title, OSC 52
clipboard-write or OSC 8 hyperlink escapes; a terminal would obey them. `printable` removes
whole escape sequences and every other control character, keeping newlines and tabs.
"""

from __future__ import annotations

import re

_SEQUENCES = re.compile(
    r"""
    \x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?     # OSC … (BEL or ST ends it)
    | \x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?        # DCS, SOS, PM, APC … ST
    | \x1b\[[0-?]*[ -/]*[@-~]?                     # CSI
    | \x9b[0-?]*[ -/]*[@-~]?                       # C1 CSI
    | \x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?     # C1 OSC
    | \x1b[ -/]*[0-~]?                             # other ESC sequences (ESC c resets)
    | (?:(?![\n\t])[\x00-\x1f\x7f-\x9f])           # any other control character
    """,
    re.VERBOSE,
)


_ANY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` without terminal control sequences or control characters (newlines and tabs
    stay; a carriage return goes, so nothing overwrites what was printed)."""
    found = _ANY_CONTROL.search(text)
    if found is None:  # the usual case: one quick scan, no copy
        return text
    kept, position = [], 0
    while found is not None:  # only where a control character is: what it starts
        start = found.start()
        if start >= position:
            match = _SEQUENCES.match(text, start)
            end = match.end() if match and match.end() > start else start + 1
            kept.append(text[position:start])
            position = end
        found = _ANY_CONTROL.search(text, max(position, start + 1))
    kept.append(text[position:])
    return "".join(kept)


_INTRODUCERS = ("\x1b", "\x9b", "\x9d")
_HELD_AT_MOST = 4096
"""Characters of one unfinished escape sequence held back; past that only its introducer
is kept (what follows is still its body, and still removed)."""


class PrintableStream:
    """`printable` for text written in pieces: an escape sequence split across pieces (a
    window title's OSC cut in two) is held back until it ends, then removed whole."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> str:
        """What can be written now, without control sequences."""
        if not self._pending and _ANY_CONTROL.search(text) is None:
            return text  # the usual case: one quick scan of the new text, no copy
        window = self._pending + text
        start = max(window.rfind(mark) for mark in _INTRODUCERS)
        if start == -1 or not _unfinished(window, start):
            self._pending = ""
            return printable(window)
        held = window[start:]
        if len(held) > _HELD_AT_MOST:
            held = held[: 1 if held[0] != "\x1b" else 2]
        self._pending = held
        return printable(window[:start])

    def finish(self) -> str:
        """The rest (the stream has ended)."""
        window, self._pending = self._pending, ""
        return printable(window)


def _unfinished(text: str, start: int) -> bool:
    """Whether the escape sequence at `start` runs to the end of `text` and could go on."""
    for probe in ("\x07", "m"):  # a string's terminator, a control sequence's final byte
        match = _SEQUENCES.match(text + probe, start)
        if match is not None and match.end() > len(text):
            return True
    return False
