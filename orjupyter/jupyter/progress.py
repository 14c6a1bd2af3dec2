"""Views of a `--map` run: one live widget (a bar, the run's line, Stop), or a text line in
terminals. Both redraw at most `updates_per_second` times a second however fast rows
finish, and leave a summary (rows, failures, billed, cached) when the run ends."""

from __future__ import annotations

import asyncio
import html
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from orjupyter.core.mapping import RunProgress, progress_text, summary_text


class _Throttle:
    """Calls `draw` at most once per `interval`; the latest state is drawn last."""

    def __init__(self, draw: Callable[[], None], updates_per_second: float) -> None:
        self.draw = draw
        self.interval = 1.0 / max(updates_per_second, 0.1)
        self.last = 0.0
        self.pending: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        if self.pending is not None:
            return  # a redraw is already due
        now = time.monotonic()
        if now - self.last >= self.interval:
            self._draw()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.pending = loop.call_later(self.interval - (now - self.last), self._draw)

    def _draw(self) -> None:
        self.pending = None
        self.last = time.monotonic()
        self.draw()

    def cancel(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None


def _bar_html(progress: RunProgress, line: str) -> str:
    return (
        f'<div class="orj-map"><progress max="{progress.total}" value="{progress.done}">'
        f"</progress> <span class='orj-status'>{html.escape(line)}</span></div>"
    )


def _summary_bundle(progress: RunProgress, note: str | None) -> dict[str, str]:
    lines = [summary_text(progress), *([note] if note else [])]
    shown = "<br>".join(html.escape(line) for line in lines)
    return {
        "text/html": f'<div class="orj-map-summary">{shown}</div>',
        "text/plain": "\n".join(lines),
    }


class ProgressPanel:
    """The live widget: a bar and the run's line in one HTML widget, and a Stop button."""

    def __init__(self, model: str, updates_per_second: float = 10.0) -> None:
        self.model = model
        self.progress: RunProgress | None = None
        self.throttle = _Throttle(self._draw, updates_per_second)
        self.stop: Callable[[], None] | None = None

    def start(self, progress: RunProgress, stop: Callable[[], None]) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        self.progress, self.stop = progress, stop
        self.line = widgets.HTML(_bar_html(progress, self._text(progress)))
        self.button = widgets.Button(
            description="Stop", icon="stop", tooltip="Stop the run (keeps the finished rows)"
        )
        self.button.on_click(lambda _button: self._stop())
        self.box = widgets.HBox([self.button, self.line])
        self.box.add_class("orj-map-panel")
        bundle = {
            **self.box._repr_mimebundle_(),
            "text/plain": f"{self.model}: {progress.total:,} rows running… (the live bar "
            "needs widgets; the summary follows when the run ends)",
        }
        self.handle = display(bundle, raw=True, display_id=True)

    def _text(self, progress: RunProgress) -> str:
        return f"{self.model} · {progress_text(progress)}"

    def _stop(self) -> None:
        self.button.disabled = True
        self.button.description = "Stopping…"
        if self.stop is not None:
            self.stop()

    def update(self, progress: RunProgress) -> None:
        self.progress = progress
        self.throttle()

    def _draw(self) -> None:
        if self.progress is not None:
            self.line.value = _bar_html(self.progress, self._text(self.progress))

    def finish(self, progress: RunProgress, note: str | None) -> None:
        from orjupyter.jupyter.panel import replace_live

        self.throttle.cancel()
        self.handle = replace_live(self.handle, _summary_bundle(progress, note))
        for widget in (self.button, self.line, self.box):
            for part in ("layout", "style"):
                model = getattr(widget, part, None)
                if model is not None and getattr(model, "comm", None) is not None:
                    model.close()
            widget.close()


class ProgressLine:
    """Terminals: the run's line rewritten in place (`\\r`), then the summary."""

    def __init__(
        self, model: str, updates_per_second: float = 2.0, out: TextIO | None = None
    ) -> None:
        self.model = model
        self.out = out or sys.stdout
        self.progress: RunProgress | None = None
        self.throttle = _Throttle(self._draw, min(updates_per_second, 2.0))
        self.width = 0

    def start(self, progress: RunProgress, stop: Callable[[], None]) -> None:
        self.progress = progress
        self._draw()

    def update(self, progress: RunProgress) -> None:
        self.progress = progress
        self.throttle()

    def _draw(self) -> None:
        if self.progress is None:
            return
        line = f"{self.model} · {progress_text(self.progress)}"
        self.out.write("\r" + line.ljust(self.width))
        self.out.flush()
        self.width = len(line)

    def finish(self, progress: RunProgress, note: str | None) -> None:
        self.throttle.cancel()
        lines = [summary_text(progress), *([note] if note else [])]
        self.out.write("\r" + " " * self.width + "\r" + "\n".join(lines) + "\n")
        self.out.flush()


def run_view(widgets: bool, model: str, updates_per_second: float) -> Any:
    """The panel in a kernel with widgets, else the text line."""
    if widgets:
        return ProgressPanel(model, updates_per_second)
    return ProgressLine(model)
