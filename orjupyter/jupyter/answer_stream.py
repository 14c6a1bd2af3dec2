"""The live answer widget: one per answer, to which the kernel only ever appends.

Each refresh is one custom message (`render.live.Delta`): the open block's new text, and
the HTML of blocks that finished, rendered and sanitised in the kernel. Nothing is sent
twice and no widget is made per block. The browser side is `static/answer_stream.js`.
Where a frontend cannot draw the widget, the final output (an ordinary HTML output) still
shows the answer.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from orjupyter.render.live import Delta

_MODULE = Path(__file__).parent.parent / "static" / "answer_stream.js"


class AnswerStream(anywidget.AnyWidget):
    """The live answer (and its reasoning) of one cell, as the browser shows it."""

    _esm = _MODULE
    key = traitlets.Unicode("").tag(sync=True)
    """Which answer the browser's views of this model draw."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(key=uuid.uuid4().hex, **kwargs)

    def append(self, delta: Delta) -> None:
        """Send one refresh (nothing when nothing changed)."""
        if delta:
            self.send(dict(delta))
