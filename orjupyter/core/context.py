"""`--context N`: the cells run before the question, chosen and trimmed to a budget. Pure.

The Jupyter room records each execution as a `RanCell` (its source and its outputs, as
they were produced); `select_context` turns the newest of them into message parts that
go before the question: source and text outputs as text, images a cell displayed as
image parts (made by the same image maker as `{img}`), the oldest cells dropped first
to stay within `budget_tokens`, and long outputs shortened with a note.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from orjupyter.core.domain import Detail, ImagePart, Part, TextPart
from orjupyter.core.errors import ImageError, OptionError
from orjupyter.core.pricing import prompt_tokens

__all__ = ["CellOutput", "Context", "OutputText", "RanCell", "select_context", "with_context"]

OutputKind = Literal["printed", "stderr", "result", "display", "error"]
HEAD_CHARS = 2_400
TAIL_CHARS = 600
"""A long output keeps its start and its end, with a note of what was left out between."""
SOURCE_CHARS = 4_000
IMAGES_PER_CELL = 3

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class OutputText:
    """Text as it is produced, kept bounded: the first `head` and last `tail` characters."""

    def __init__(self, head: int = 20_000, tail: int = 5_000) -> None:
        self._head: list[str] = []
        self._tail: list[str] = []
        self._head_room, self._tail_limit = head, tail
        self._tail_size = 0
        self.total = 0

    def write(self, text: str) -> None:
        self.total += len(text)
        if self._head_room > 0:
            kept = text[: self._head_room]
            self._head.append(kept)
            self._head_room -= len(kept)
            text = text[len(kept) :]
        if text:
            self._tail.append(text)
            self._tail_size += len(text)
            while self._tail_size - len(self._tail[0]) >= self._tail_limit:
                self._tail_size -= len(self._tail.pop(0))

    def value(self) -> str:
        """The text, or its head and tail with a marker saying how much is missing."""
        head = "".join(self._head)
        tail = "".join(self._tail)[-self._tail_limit :] if self._tail else ""
        missing = self.total - len(head) - len(tail)
        if missing <= 0:
            return head + tail
        return f"{head}\n[… {missing:,} characters left out …]\n{tail}"


@dataclass(frozen=True)
class CellOutput:
    """One output of a cell: text, or an image (base64 PNG/JPEG as Jupyter carries it)."""

    kind: OutputKind
    text: str = ""
    image_base64: str = ""


@dataclass(frozen=True)
class RanCell:
    """One execution, as the kernel ran it (in the order it ran)."""

    number: int
    source: str
    outputs: tuple[CellOutput, ...] = ()


@dataclass(frozen=True)
class Context:
    """What goes before the question, and what the status line says about it."""

    parts: tuple[Part, ...] = ()
    cells: int = 0
    images: int = 0
    dropped: int = 0
    tokens: int = 0

    @property
    def note(self) -> str:
        """`context: 2 cells (1 image)`, or "" when no cell goes."""
        if not self.cells:
            return ""
        images = f" ({self.images} image{'s' if self.images != 1 else ''})" if self.images else ""
        left = f", {self.dropped} older left out" if self.dropped else ""
        return f"context: {self.cells} cell{'s' if self.cells != 1 else ''}{images}{left}"


ImageMaker = Callable[[object, Detail], ImagePart | None]


def shortened_output(text: str, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> str:
    """Terminal text as a person saw it (no colour codes, `\\r` overwrites) and bounded."""
    text = _ANSI.sub("", text)
    if "\r" in text:
        text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
    if len(text) <= head + tail + 100:
        return text
    missing = len(text) - head - tail
    return f"{text[:head]}\n[… {missing:,} characters left out …]\n{text[-tail:]}"


_LABELS: dict[OutputKind, str] = {
    "printed": "printed",
    "stderr": "printed to stderr",
    "result": "result",
    "display": "displayed",
    "error": "error",
}


def _cell_parts(
    cell: RanCell, make_image: ImageMaker, detail: Detail, limit: int, images: bool
) -> list[Part]:
    """One cell as parts: its source, then each output in the order it came."""
    source = shortened_output(cell.source.strip("\n"), min(limit, SOURCE_CHARS), 400)
    parts: list[Part] = [TextPart(f"In [{cell.number}]:\n```python\n{source}\n```\n")]
    pictures = [o for o in cell.outputs if o.image_base64][-IMAGES_PER_CELL:] if images else []
    for output in cell.outputs:
        if output.image_base64:
            image = _image(output, make_image, detail) if output in pictures else None
            if image is not None:
                parts.append(image)
            elif output.text:
                parts.append(TextPart(f"{_LABELS[output.kind]}: {output.text.strip()}\n"))
            continue
        text = shortened_output(output.text.strip("\n"), limit // 2, limit // 8)
        if text.strip():
            parts.append(TextPart(f"{_LABELS[output.kind]}:\n```\n{text}\n```\n"))
    return _merged(parts)


def _image(output: CellOutput, make_image: ImageMaker, detail: Detail) -> ImagePart | None:
    try:
        return make_image(base64.b64decode(output.image_base64), detail)
    except (ImageError, ValueError):
        return None  # an image that will not decode goes as its text instead


def _merged(parts: Sequence[Part]) -> list[Part]:
    merged: list[Part] = []
    for part in parts:
        if merged and isinstance(part, TextPart) and isinstance(merged[-1], TextPart):
            merged[-1] = TextPart(merged[-1].text + part.text, merged[-1].values + part.values)
        else:
            merged.append(part)
    return merged


def select_context(
    cells: Sequence[RanCell],
    count: int | None,
    *,
    budget_tokens: int,
    make_image: ImageMaker,
    detail: Detail = "auto",
    explicit: bool = True,
) -> Context:
    """The newest `count` cells (None: as many as fit), oldest first, within the budget.

    `explicit` (the user wrote `--context`): asking for cells when none has run is an
    error; a default from the settings sends nothing instead."""
    if count is not None and count < 0:
        raise OptionError("--context takes a number of cells (0 or more) or all")
    if count == 0:
        return Context()
    if not cells:
        if not explicit:
            return Context()
        raise OptionError(
            "--context: no cell has run since orjupyter was loaded; run one first, or drop "
            "--context (nothing was sent)"
        )
    wanted = list(cells if count is None else cells[-count:])
    chosen: list[list[Part]] = []
    used = 0
    limit = HEAD_CHARS + TAIL_CHARS
    for cell in reversed(wanted):
        parts = _cell_parts(cell, make_image, detail, limit, images=True)
        tokens = prompt_tokens([parts]) - prompt_tokens([[]])
        if used + tokens > budget_tokens and not chosen:  # the newest cell, made to fit
            room = max(200, (budget_tokens - 60) * 4)
            parts = _cell_parts(cell, make_image, detail, room, images=False)
            tokens = prompt_tokens([parts]) - prompt_tokens([[]])
        if used + tokens > budget_tokens:
            break
        chosen.append(parts)
        used += tokens
    chosen.reverse()
    dropped = len(wanted) - len(chosen)
    return _context(chosen, dropped, used)


def _context(chosen: list[list[Part]], dropped: int, used: int) -> Context:
    if not chosen:
        return Context(dropped=dropped)
    n = len(chosen)
    left = f" ({dropped} older left out to fit OrJupyter.context_tokens)" if dropped else ""
    intro = (
        f"Context: the last {n} cell{'s' if n != 1 else ''} this notebook ran before the "
        f"question, oldest first, with their outputs{left}.\n\n"
    )
    flat: list[Part] = [TextPart(intro)]
    for parts in chosen:
        flat.extend(parts)
        flat.append(TextPart("\n"))
    flat.append(TextPart("The question:\n"))
    merged = tuple(_merged(flat))
    images = sum(isinstance(part, ImagePart) for part in merged)
    return Context(merged, n, images, dropped, prompt_tokens([merged]))


def with_context(context: Context, question: Sequence[Part]) -> list[Part]:
    """The context's parts, then the question's (adjacent text merged)."""
    return _merged([*context.parts, *question])
