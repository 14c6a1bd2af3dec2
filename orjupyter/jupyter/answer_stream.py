"""The live panel's widget: one model per answer, to which the kernel only ever appends.

The model draws the whole panel (`static/answer_stream.js`): the answer, the status line,
Stop and, for a follow-up, the conversation above it. Each refresh is one custom message
(`render.live.Delta`, with the status line when it changes): the open block's new text,
and the HTML of blocks that finished, rendered and sanitised in the kernel. Nothing is
sent twice and no widget is made per block. Where a frontend cannot draw the widget, the
final output (an ordinary HTML output) still shows the answer.

A model carries only a small loader (`static/loader.js`); its module and stylesheet are
sent once per page, when the page's first model of the kind asks for them, and unasked
with the kernel's first model of the kind (`PageWidget`).

A model is closed only once a browser has loaded it (its loader says "loaded"), or
`LINGER` seconds after the answer ended: anywidget gives a model 2 s to load and raises an
uncaught error in the page when the kernel closes a model the browser is still loading,
which a short answer on a busy machine does.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from orjupyter.jupyter.lean import LeanState, no_layout, shipped
from orjupyter.render.live import Delta

_STATIC = Path(__file__).parent.parent / "static"
LINGER = 10.0
"""Seconds an ended answer's model stays open for a browser that has not loaded it yet."""


def loader(module: str, css: str) -> str:
    """The loader a model carries for `module` (and its stylesheet `css`), named by both."""
    key = hashlib.sha256(f"{module}\0{css}".encode()).hexdigest()[:16]
    source = (_STATIC / "loader.js").read_text(encoding="utf-8")
    return shipped(source.replace("__KEY__", key))


_PUSHED: set[str] = set()
"""The modules (with their stylesheets) this kernel sent unasked, with its first model
of each kind of widget (a class per model: anywidget subclasses each instance): a page
asks for them, but a kernel busy in a long computation (a tool the model called, say)
answers only when it is done, and until then the page would draw nothing. The page's
loader ignores a module it has already."""


class PageWidget(LeanState, anywidget.AnyWidget):
    """An anywidget whose module (`_module`) and stylesheet (`_page_css`) cross to each page
    once: a model opens with the loader alone, and the kernel sends them to a browser
    that asks ({"event": "module"}), and unasked with its first model of the kind."""

    _module = ""
    _page_css = ""
    layout = no_layout()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_msg(self._heard)
        if self._module not in _PUSHED:  # see `_PUSHED`
            _PUSHED.add(self._module)
            self.send({"module": self._module, "css": self._page_css})

    def _heard(self, _widget: object, content: object, _buffers: object) -> None:
        if content == {"event": "module"}:  # a browser loaded the model, and needs both
            self.send({"module": self._module, "css": self._page_css})
            self.heard({"event": "loaded"})
        elif isinstance(content, dict):
            self.heard(content)

    def heard(self, content: dict[str, Any]) -> None:
        """A message from the browser's side: {"event": "loaded"} once a browser loaded the
        model, or one of the widget's own."""


def _answer_assets() -> tuple[str, str]:
    from orjupyter.render.stylesheet import panel_css

    return shipped((_STATIC / "answer_stream.js").read_text(encoding="utf-8")), panel_css()


class AnswerStream(PageWidget):
    """The live answer (and its reasoning) of one cell, with its status line and Stop,
    as the browser shows it."""

    _module, _page_css = _answer_assets()
    _module_defaults = ("status", "transcript", "heading")
    _esm = loader(_module, _page_css)
    key = traitlets.Unicode("").tag(sync=True)
    """Which answer the browser's views of this model draw."""
    status = traitlets.Unicode("").tag(sync=True)
    """The status line when the panel opens (later lines come with the refreshes)."""
    transcript = traitlets.Unicode("").tag(sync=True)
    """A follow-up's conversation so far, as sanitised HTML, shown above the answer."""
    heading = traitlets.Unicode("").tag(sync=True)
    """The model's name above a comparison's column ("" for an answer of its own)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(key=uuid.uuid4().hex, **kwargs)
        self.loaded = False
        """A browser has loaded this model: closing it cannot break the page."""
        self.on_stop: Any = None
        """Called when Stop is clicked."""
        self._closing: asyncio.TimerHandle | None = None

    def heard(self, content: dict[str, Any]) -> None:
        if content == {"event": "loaded"}:
            self.loaded = True
            if self._closing is not None:
                self._close_now()
        elif content == {"event": "stop"} and self.on_stop is not None:
            self.on_stop()

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

    def append(self, delta: Delta, status: str | None = None) -> None:
        """Send one refresh, with the status line's new text if given (nothing when
        nothing changed)."""
        message: dict[str, Any] = dict(delta)
        if status is not None:
            message["status"] = status
        if message:
            self.tell(message)

    def tell(self, message: dict[str, Any]) -> None:
        """Send the browser's views a message (see `static/answer_stream.js`), if the
        model is still open."""
        if self.comm is not None:
            self.send(message)
