"""`%gpt4o panel`: the notebook's own live panel of calls, tokens, cost and budget.

One panel per kernel (so per notebook): showing it again moves it to the new cell (the old
place says where it went). It listens to the session's `Activity`, so every call in this
kernel (cell answers, `--bg`, follow-ups, and whatever else reports there) updates it, at
most `REFRESHES_PER_SECOND` times a second; its numbers come from the ledger, so after a
kernel restart it shows the notebook's history. In a terminal it prints the summary once.
"""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from orjupyter.jupyter.views import shows_widgets
from orjupyter.render.notebook_summary import (
    CHART_CALLS,
    SAVED_TEXT,
    Flying,
    NotebookSummary,
    budget_html,
    chart_html,
    flying_line,
    recent_html,
    saved_placeholder_html,
    summary_text,
    totals_html,
)
from orjupyter.service.activity import ActivityEvent, CallInFlight

if TYPE_CHECKING:
    from orjupyter.core.notebook_id import NotebookId
    from orjupyter.jupyter.magic import OrJupyterMagics
    from orjupyter.service.session import Session

REFRESHES_PER_SECOND = 4.0
TICK = 1.0
"""Seconds between refreshes while calls are in flight (their running time moves on)."""
LEDGER_INTERVAL = 1.0
"""Seconds at least between two reads of the ledger (a `--map` records many calls)."""
SIDE_HINT = (
    "jupyterlab-sidecar is not installed (`pip install sidecar`), so the panel is shown "
    "here: right-click it and choose “Create New View for Output” to keep it beside the "
    "notebook."
)


def show_panel(magics: OrJupyterMagics, *, side: bool = False) -> None:
    """`%gpt4o panel [--side]`: show (or move) the live panel; print it in a terminal."""
    notebook = magics.notebook()
    if not shows_widgets(magics):
        print(summary_text(read_summary(magics.session, notebook)))
        return
    panel = magics.notebook_panel
    if panel is None or panel.notebook.key != notebook.key:
        if panel is not None:
            panel.close()
        panel = NotebookPanel(magics.session, notebook)
        magics.notebook_panel = panel
    panel.show(side=side, cell=magics._cell_label())


def read_summary(session: Session, notebook: NotebookId) -> NotebookSummary:
    recent = session.records.recent(notebook.key, CHART_CALLS)
    return NotebookSummary(
        notebook.label, session.totals(notebook.key), recent, _flying(session, notebook.key)
    )


def _flying(session: Session, key: str) -> tuple[Flying, ...]:
    return tuple(
        Flying(call.number, call.cell, call.model, call.seconds(), call.characters)
        for call in session.activity.in_flight(key)
    )


class NotebookPanel:
    """The live widget; `changed` may be called from any thread."""

    def __init__(self, session: Session, notebook: NotebookId) -> None:
        self.session = session
        self.notebook = notebook
        self.interval = 1.0 / REFRESHES_PER_SECOND
        self.handle: Any = None
        self.placeholder: Any = None
        self.sidecar: Any = None
        self.box: Any = None
        self.summary: NotebookSummary | None = None
        self._lock = threading.Lock()  # guards the schedule below
        self._drawing = threading.Lock()  # one refresh at a time
        self._timer: threading.Timer | None = None
        self._last = 0.0
        self._read_at = 0.0
        self._due = 0.0
        self._ledger_stale = True
        self._rows: dict[int, Any] = {}
        self._shown: list[int] = []
        self._stop_listening = session.activity.listen(self.changed)

    # -- where it shows ---------------------------------------------------------------

    def show(self, *, side: bool = False, cell: str = "[?]") -> None:
        from IPython.display import display

        if self.box is None:
            self._build()
        self._stop_listening()  # listen afresh: a listener that failed was dropped
        self._stop_listening = self.session.activity.listen(self.changed)
        self.refresh(reread=True)
        self._leave(cell)
        if side:
            try:
                sidecar = importlib.import_module("sidecar")
            except ImportError:
                print(SIDE_HINT)
            else:
                self.sidecar = sidecar.Sidecar(title="orjupyter")
                with self.sidecar:
                    display(self.box)
                return
        # a frontend without widgets (jupyter console) prints the numbers as of now
        numbers = summary_text(self.summary) if self.summary is not None else SAVED_TEXT
        placeholder = {
            "text/html": saved_placeholder_html(),
            "text/plain": f"{numbers}\n(the live panel needs widgets; %gpt4o panel shows it again)",
        }
        self.placeholder = display(placeholder, raw=True, display_id=True)
        bundle = {**self.box._repr_mimebundle_(), "text/plain": ""}
        self.handle = display(bundle, raw=True, display_id=True)

    def _leave(self, cell: str) -> None:
        """The panel moves: its old place says where it went."""
        if self.handle is not None:
            self.placeholder.update(
                {"text/plain": f"(orjupyter's live panel moved to {cell})"}, raw=True
            )
            self.handle.update({"text/html": ""}, raw=True)
            self.handle = self.placeholder = None
        if self.sidecar is not None:
            self.sidecar.close()
            self.sidecar = None

    def _build(self) -> None:
        import ipywidgets as widgets

        from orjupyter.render.notebook_summary import panel_style

        html = widgets.HTML
        label = self.notebook.label
        name = label.replace("\\", "/").rsplit("/", 1)[-1] or label
        self.title = html(
            f'<span title="{_escaped(label)}"><b>orjupyter</b> · {_escaped(name)}</span>'
        )
        self.totals, self.budget = html(), html()
        self.chart, self.recent = html(), html()
        self.flying = widgets.VBox([])
        self.flying_heading = html('<div class="orj-np-heading">In flight</div>')
        self.flying.add_class("orj-np-flying")
        parts = [self.title, self.totals, self.budget, self.chart, self.flying, self.recent]
        self.box = widgets.VBox([html(panel_style()), *parts])
        self.box.add_class("orj-notebook-panel")

    # -- keeping it current -----------------------------------------------------------

    def changed(self, event: ActivityEvent | None = None) -> None:
        """Something happened: refresh now, or once the interval since the last has passed."""
        if self.box is None:
            return
        with self._lock:
            if event is None or event.kind in {"recorded", "settled"}:
                self._ledger_stale = True
            now = time.monotonic()
            wait = self._last + self.interval - now
            if self._timer is not None:
                if self._due <= now + max(wait, 0):
                    return  # a refresh soon enough is already due
                self._timer.cancel()  # a slow tick: refresh sooner
                self._timer = None
            if wait > 0:
                self._schedule(wait)
                return
            self._last = now
        self.refresh()

    def _schedule(self, wait: float) -> None:
        timer = threading.Timer(wait, self._on_timer)
        timer.daemon = True
        self._timer, self._due = timer, time.monotonic() + wait
        timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            self._last = time.monotonic()
        self.refresh()

    def refresh(self, *, reread: bool = False) -> None:
        """Update the widgets whose text changed. The ledger is read again (with `reread`,
        or) when a call was recorded, at most once every `LEDGER_INTERVAL` seconds."""
        with self._drawing:
            if self.box is None:
                return
            now = time.monotonic()
            due = self._read_at + LEDGER_INTERVAL - now
            if self.summary is None or reread or (self._ledger_stale and due <= 0):
                self._ledger_stale, self._read_at = False, now
                summary = read_summary(self.session, self.notebook)
                _set(self.totals, totals_html(summary.totals))
                _set(self.budget, budget_html(summary.totals))
                _set(self.chart, chart_html(summary))
                _set(self.recent, recent_html(summary.recent))
            else:
                flying = _flying(self.session, self.notebook.key)
                summary = replace(self.summary, in_flight=flying)
            self.summary = summary
            self._draw_flying(self.session.activity.in_flight(self.notebook.key))
            again = max(due, 0.01) if self._ledger_stale else TICK if summary.in_flight else None
        if again is not None:
            with self._lock:
                if self._timer is None:
                    self._schedule(again)

    def _draw_flying(self, calls: list[CallInFlight]) -> None:
        """One row per call in flight: its Stop, its cell, model, time and text so far."""
        for call in calls:
            row = self._rows.get(call.number)
            if row is None:
                row = self._rows[call.number] = _flying_row(call)
            line = flying_line(
                Flying(call.number, call.cell, call.model, call.seconds(), call.characters)
            )
            _set(row.children[1], f'<span class="orj-np-line">{_escaped(line)}</span>')
        numbers = [call.number for call in calls]
        if numbers != self._shown:
            rows = [self._rows[number] for number in numbers]
            self.flying.children = (self.flying_heading, *rows) if rows else ()
            self._shown = numbers
        for number in set(self._rows) - set(numbers):
            _close(self._rows.pop(number))

    def close(self) -> None:
        """Stop listening and close the widgets (the extension is unloaded)."""
        self._stop_listening()
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        with self._drawing:
            box, self.box = self.box, None
            for row in self._rows.values():
                _close(row)
            self._rows.clear()
            if box is not None:
                _close(box)
                self.flying_heading.close()
            if self.sidecar is not None:
                self.sidecar.close()
                self.sidecar = None


def _flying_row(call: CallInFlight) -> Any:
    import ipywidgets as widgets

    button = widgets.Button(
        description="Stop",
        icon="stop",
        tooltip=f"Stop the answer of {call.cell or 'this call'} (keeps what arrived)",
    )
    button.add_class("orj-np-stop")

    def stop(_button: Any) -> None:
        button.disabled = True
        button.description = "Stopping…"
        call.stopper.stop()

    button.on_click(stop)
    return widgets.HBox([button, widgets.HTML()])


def _set(widget: Any, value: str) -> None:
    if widget.value != value:
        widget.value = value


def _escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def _close(widget: Any) -> None:
    for child in getattr(widget, "children", ()):
        _close(child)
    widget.close()
