"""The live answer widget: one per answer, to which the kernel only ever appends.

Each refresh is one custom message (`render.live.Delta`): the open block's new text, and
the HTML of blocks that finished, rendered and sanitised in the kernel. Nothing is sent
twice and no widget is made per block. The browser side is `static/answer_stream.js`.
Where a frontend cannot draw the widget, the final output (an ordinary HTML output) still
shows the answer.

A model is closed only once a browser has loaded it (its module says "loaded"), or
`LINGER` seconds after the answer ended: anywidget gives a model 2 s to load and raises an
uncaught error in the page when the kernel closes a model the browser is still loading,
which a short answer on a busy machine does.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from orjupyter.jupyter.lean import LeanState, no_layout, shipped
from orjupyter.render.live import Delta

_MODULE = Path(__file__).parent.parent / "static" / "answer_stream.js"
LINGER = 10.0
"""Seconds an ended answer's model stays open for a browser that has not loaded it yet."""


class AnswerStream(LeanState, anywidget.AnyWidget):
    """The live answer (and its reasoning) of one cell, as the browser shows it."""

    _esm = shipped(_MODULE.read_text(encoding="utf-8"))
    layout = no_layout()
    key = traitlets.Unicode("").tag(sync=True)
    """Which answer the browser's views of this model draw."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(key=uuid.uuid4().hex, **kwargs)
        self.loaded = False
        """A browser has loaded this model: closing it cannot break the page."""
        self._closing: asyncio.TimerHandle | None = None
        self.on_msg(self._heard)

    def _heard(self, _widget: object, content: object, _buffers: object) -> None:
        if content == {"event": "loaded"}:
            self.loaded = True
            if self._closing is not None:
                self._close_now()

    def close(self) -> None:
        """Close now if a browser has loaded the model (or none is running the kernel's
        loop), else once one has, or `LINGER` seconds from now."""
        if self.loaded:
            self._close_now()
            return
        if self._closing is not None:  # closing already, when the browser loads it
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            super().close()
            return
        self._closing = loop.call_later(LINGER, self._close_now)

    def _close_now(self) -> None:
        if self._closing is not None:
            self._closing.cancel()
            self._closing = None
        super().close()

    def append(self, delta: Delta) -> None:
        """Send one refresh (nothing when nothing changed)."""
        if delta:
            self.send(dict(delta))
