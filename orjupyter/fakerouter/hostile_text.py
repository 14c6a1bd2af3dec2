"""Hostile answers as pieces to stream: a key echoed a few characters at a time (in the
answer and in the reasoning), and answers that are costly to render while they stream.

Pure: `HostileRouter` (`hostile.py`) streams what these return.

- `pieces=N` (with `echo_key`): the answer, and with `think` a reasoning before it, echo
  the key streamed N characters a chunk; both also carry a 10-character piece of the key.
- `costly=KIND size=N`: an answer of N characters that is slow to render if each refresh
  re-renders it whole: `brackets` (`[[[…`, no link ever closes), `json` (one line of
  JSON, its array never closed until the end), `stars` (`*a *b …`), `backticks`.
  `chunk=K` characters a chunk (default 64), `delay=S` seconds between chunks.
"""

from __future__ import annotations

import json

__all__ = ["ESCAPES", "Pieces", "costly", "events", "key_in_pieces", "split"]

ESCAPES = (
    "clear\x1b[2J\x1b[H screen, "
    "\x1b]0;pwned title\x07 title, "
    "\x1b]52;c;cm0gLXJmIH4=\x07 clipboard, "
    "\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\ hyperlink, "
    "bell\x07 and \x9b31m C1 end."
)
"""Text a hostile answer carries: clear screen, window title, OSC 52 clipboard write,
OSC 8 hyperlink, a bell and a C1 CSI."""


Pieces = tuple[list[str], list[str]]
"""(reasoning pieces, answer pieces), streamed in that order."""


def split(text: str, size: int) -> list[str]:
    """`text` in pieces of `size` characters (the last may be shorter)."""
    size = max(size, 1)
    return [text[k : k + size] for k in range(0, len(text), size)]


def key_in_pieces(key: str, values: dict[str, str]) -> Pieces:
    """The key (and a 10-character piece of it) in the answer, and with `think` in the
    reasoning, N characters a chunk; some text follows, so a live view shows it."""
    size = int(values.get("pieces") or 1)
    middle = key[len(key) // 3 : len(key) // 3 + 10]
    more = " Nothing more to add about it." * 4
    answer = f"Your key is {key} indeed; its middle is {middle}, as I said.{more}"
    thought = f"The request carries {key}; I should not repeat {middle}.{more}"
    return split(thought if "think" in values else "", size), split(answer, size)


def costly(values: dict[str, str]) -> Pieces:
    """An answer that is slow to render while it streams, in chunks."""
    kind = values.get("costly") or "brackets"
    size = int(values.get("size") or 40_000)
    if kind == "json":
        rows: list[str] = []
        length = 1
        while length < size:
            row = json.dumps({"id": len(rows), "name": f"row {len(rows)}", "tags": ["a", "b"]})
            rows.append(row)
            length += len(row) + 2
        text = "[" + ", ".join(rows) + "]"
    else:
        unit = {"brackets": "[", "stars": "*a ", "backticks": "`a "}.get(kind, "[")
        text = (unit * (size // len(unit) + 1))[:size]
    return [], split(text, int(values.get("chunk") or 64))


def events(pieces: Pieces, model: str) -> list[str]:
    """The chunks' JSON: each reasoning piece as `delta.reasoning`, then each answer piece."""
    thoughts, answer = pieces
    deltas = [{"content": "", "reasoning": piece} for piece in thoughts]
    deltas += [{"content": piece} for piece in answer]
    return [
        json.dumps({"id": "gen-hostile-1", "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        for delta in deltas
    ]  # fmt: skip
