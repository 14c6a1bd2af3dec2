"""What a finished answer offers: a follow-up box, Regenerate, Copy, Copy code and Insert as cell.

The bar is its own output under the answer, shown by the cell (so it lands there) and
revealed when the answer is complete: one widget (`ActionBar`) whose module draws its
controls. Its follow-ups run in the background loop, and their answers replace the cell's
answer output through its display id, so the saved notebook keeps the whole conversation
as ordinary outputs. Insert as cell and Copy code work in the browser (`code`); Copy asks
the kernel for the last answer's text. When the notebook is reopened without a kernel (or
the front end has no anywidget), the answer's stylesheet hides the bar's placeholder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import traitlets

from orjupyter.core.domain import Reply, TextPart, Usage
from orjupyter.core.formats import code_to_insert
from orjupyter.jupyter.answer_stream import _STATIC, PageWidget, loader
from orjupyter.render.report import Exchange

if TYPE_CHECKING:
    from orjupyter.core.question import Question
    from orjupyter.jupyter.panel import Panel
    from orjupyter.service.session import Session

PanelFactory = Callable[..., "Panel"]


def _bar_assets() -> tuple[str, str]:
    from orjupyter.jupyter.lean import shipped
    from orjupyter.render.stylesheet import actions_css

    return shipped((_STATIC / "action_bar.js").read_text(encoding="utf-8")), actions_css()


class ActionBar(PageWidget):
    """The bar's one widget: its controls are drawn by its module (`static/action_bar.js`);
    Ask, Regenerate and Copy come to the kernel as messages."""

    _module, _page_css = _bar_assets()
    _esm = loader(_module, _page_css)
    _module_defaults = ("busy", "code", "anchor")
    busy = traitlets.Bool(True).tag(sync=True)
    """Hidden while an answer streams."""
    code = traitlets.Unicode("").tag(sync=True)
    """What Copy code and Insert as cell take ("": they are hidden)."""
    anchor = traitlets.Unicode("").tag(sync=True)
    """The bar's own model id: Insert as cell finds the cell that shows it."""

    def __init__(self, conversation: Conversation) -> None:
        super().__init__()
        self.conversation = conversation

    def heard(self, content: dict[str, Any]) -> None:
        event, text = content.get("event"), content.get("text")
        if event == "ask" and isinstance(text, str):
            self.conversation.ask_follow_up(text)
        elif event == "regenerate":
            self.conversation.regenerate()
        elif event == "copy" and self.conversation.exchanges:
            self.send({"copy": self.conversation.exchanges[-1].reply.text})


class Conversation:
    """One cell's answer and its follow-ups, with the action bar that extends them."""

    def __init__(self, session: Session, question: Question, make_panel: PanelFactory) -> None:
        self.session, self.question, self.make_panel = session, question, make_panel
        self.exchanges: list[Exchange] = []
        self.handle: Any = None
        self.thread = question.thread or f"cell {question.cell} #{id(self):x}"
        # The bar opens now, before the panel, hidden until the answer is complete: opened
        # only at the end, just after the panel closed, it left JupyterLab drawing the
        # panel and raising an uncaught error in the page (now and then, under load).
        self.bar = ActionBar(self)

    @property
    def busy(self) -> bool:
        return self.bar.busy

    def show(self) -> None:
        """Display the bar under the answer; call in the cell, after the panel. Shown
        before the answer is complete (`--bg`), it stays hidden until then."""
        from IPython.display import display

        from orjupyter.jupyter.lean import shown

        display(shown(self.bar, ""), raw=True)

    def done(self, panel: Panel) -> None:
        """A panel finished: remember the transcript and offer the actions."""
        self.handle = panel.handle
        self.exchanges = list(getattr(panel, "exchanges", self.exchanges))
        with self.bar.hold_sync():  # one message
            self.bar.code = self.last_code()
            self.bar.anchor = self.bar.model_id
            self.bar.busy = False

    def _busy(self) -> bool:
        return self.handle is None or self.busy

    def ask_follow_up(self, text: str) -> None:
        text = text.strip()
        if not text or self._busy():
            return
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
        self.bar.busy = True
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
                self.bar.busy = False

        self.session.background.submit(answer())

    def last_code(self) -> str:
        """The code Copy code and Insert as cell take from the last answer ("" if none)."""
        if not self.exchanges:
            return ""
        return code_to_insert(self.question.fmt, self.exchanges[-1].reply.text)
