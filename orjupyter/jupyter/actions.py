"""What a finished answer offers: a follow-up box, Regenerate, Copy, Copy code and Insert as cell.

The bar is its own output under the answer, shown by the cell (so it lands there) and
revealed when the answer is complete. Its buttons run in the background loop, and their
answers replace the cell's answer output through its display id, so the saved notebook
keeps the whole conversation as ordinary outputs. When the notebook is reopened without
a kernel, the answer's stylesheet hides the bar's dead widget placeholder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from orjupyter.core.domain import Reply, TextPart, Usage
from orjupyter.core.formats import code_to_insert
from orjupyter.render.report import Exchange

if TYPE_CHECKING:
    from orjupyter.core.question import Question
    from orjupyter.jupyter.panel import Panel
    from orjupyter.service.session import Session

PanelFactory = Callable[..., "Panel"]

_COPY_JS = "navigator.clipboard.writeText(%s);"
HIDDEN = "orj-hidden"
"""The class that hides a part of the bar (answer.css), or the bar while an answer streams."""


def _hide(widget: Any, hidden: bool) -> None:
    if hidden:
        widget.add_class(HIDDEN)
    else:
        widget.remove_class(HIDDEN)


class Conversation:
    """One cell's answer and its follow-ups, with the action bar that extends them."""

    def __init__(self, session: Session, question: Question, make_panel: PanelFactory) -> None:
        self.session, self.question, self.make_panel = session, question, make_panel
        self.exchanges: list[Exchange] = []
        self.handle: Any = None
        self.busy = True  # until the cell's own answer is complete
        self.thread = question.thread or f"cell {question.cell} #{id(self):x}"
        # Only the empty bar exists while the first answer streams: its controls are made
        # when there is something to act on, off the path to the first token. The bar
        # itself opens now, before the panel: opened only at the end, just after the
        # panel's widgets closed, it left JupyterLab drawing them and raising an uncaught
        # error in the page (its box view, now and then, under load).
        from orjupyter.jupyter import lean

        self.bar: Any = lean.HBox(_dom_classes=("orj-actions",))
        self.copy_code_button: Any = None
        self.insert_cell: Any = None

    def _controls(self, code: str) -> tuple[Any, ...]:
        """The bar's controls. Every widget is a model the browser is sent: they have no
        layout or style models (`lean`), and Copy code only comes with code."""
        from orjupyter.jupyter import lean

        self.follow_up = lean.Text(placeholder="Ask a follow-up…", continuous_update=False)
        self.follow_up.observe(lambda _change: self.ask_follow_up(), names="value")
        self.js = lean.Output(_dom_classes=(HIDDEN,))
        return (
            self.follow_up,
            self._button("Ask", "Ask the follow-up in this conversation", self.ask_follow_up),
            self._button("Regenerate", "Ask the last question again", self.regenerate),
            self._button("Copy", "Copy the last answer's Markdown", self.copy),
            self.js,
        )

    def _offer_code(self, code: str) -> None:
        """Copy code and Insert as cell, for an answer with code (made the first time an
        answer has code); hidden otherwise."""
        if code and self.copy_code_button is None:
            from orjupyter.jupyter.insert_cell import InsertCellButton

            self.copy_code_button = self._button(
                "Copy code", "Copy the last answer's (first Python) code block", self.copy_code
            )
            self.insert_cell = InsertCellButton(anchor=self.bar.model_id, code=code)
            self.bar.children = (*self.bar.children, self.copy_code_button, self.insert_cell)
        for control in (self.copy_code_button, self.insert_cell):
            if control is not None:
                _hide(control, not code)
        if self.insert_cell is not None:
            self.insert_cell.code = code

    def _button(self, label: str, tooltip: str, action: Callable[[], None]) -> Any:
        from orjupyter.jupyter import lean

        button = lean.Button(description=label, tooltip=tooltip)
        button.on_click(lambda _button: action())
        return button

    def show(self) -> None:
        """Display the bar under the answer; call in the cell, after the panel. Shown
        before the answer is complete (`--bg`), it stays hidden until then."""
        from IPython.display import display

        if self.busy:
            _hide(self.bar, True)
        display({**self.bar._repr_mimebundle_(), "text/plain": ""}, raw=True)

    def done(self, panel: Panel) -> None:
        """A panel finished: remember the transcript and offer the actions."""
        self.handle = panel.handle
        self.exchanges = list(getattr(panel, "exchanges", self.exchanges))
        self.busy = False
        if not self.bar.children:
            self.bar.children = self._controls(self.last_code())
        self._offer_code(self.last_code())
        _hide(self.bar, False)

    def _busy(self) -> bool:
        return self.handle is None or self.busy

    def ask_follow_up(self) -> None:
        text = self.follow_up.value.strip()
        if not text or self._busy():
            return
        self.follow_up.value = ""
        self._seed_thread()
        question = replace(
            self.question,
            parts=[TextPart(text)],
            thread=self.thread,
            new_thread=False,
            context=(),
            note="",  # the first question's context is in the thread already
        )
        self._run(question, self.exchanges, text)

    def regenerate(self) -> None:
        if self._busy() or not self.exchanges:
            return
        last = self.exchanges[-1]
        if last.question is None:
            question = replace(self.question, use_cache=False)
        else:
            question = replace(
                self.question,
                parts=[TextPart(last.question)],
                thread=self.thread,
                use_cache=False,
                context=(),
                note="",
            )
            self.session.threads.drop_last(self.thread)
        self._run(question, self.exchanges[:-1], last.question)

    def _seed_thread(self) -> None:
        """A cell without --thread starts its conversation with its own question."""
        from orjupyter.core.thread import Turn

        if self.question.thread or self.session.threads.history(self.thread):
            return
        first = self.exchanges[0].reply.text if self.exchanges else ""
        self.session.threads.append(self.thread, Turn.from_parts(self.question.parts, first))

    def _run(self, question: Question, earlier: Sequence[Exchange], text: str | None) -> None:
        self.busy = True
        _hide(self.bar, True)
        panel = self.make_panel(
            handle=self.handle, earlier=earlier, question=text, on_done=self.done
        )
        panel.show()

        async def answer() -> None:
            try:
                await self.session.ask(question, panel)
            except Exception as exc:  # refused before sending (budget, no key): say so in place
                failed = Reply(
                    text="",
                    model=question.options.model,
                    id="",
                    usage=Usage(),
                    outcome="error",
                    error=str(exc),
                )
                panel.finish(failed, self.session.totals(question.notebook), question.fmt)
            finally:
                self.busy = False
                _hide(self.bar, False)

        self.session.background.submit(answer())

    def _run_js(self, script: str) -> None:
        from IPython.display import Javascript, display

        self.js.clear_output()
        with self.js:
            display(Javascript(script))

    def copy(self) -> None:
        if self.exchanges:
            self._run_js(_COPY_JS % json.dumps(self.exchanges[-1].reply.text))

    def last_code(self) -> str:
        """The code Copy code and Insert as cell take from the last answer ("" if none)."""
        if not self.exchanges:
            return ""
        return code_to_insert(self.question.fmt, self.exchanges[-1].reply.text)

    def copy_code(self) -> None:
        if code := self.last_code():
            self._run_js(_COPY_JS % json.dumps(code))
