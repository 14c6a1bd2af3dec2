"""`--compare`'s view: one live column per model, side by side, each with its own Stop;
replaced by the finished comparison (an ordinary output) when every column is done."""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from orjupyter.core.domain import Reply, Totals
from orjupyter.core.errors import CallFailed, OptionError
from orjupyter.core.formats import OUTPUT_FORMATS, Format
from orjupyter.core.question import Question
from orjupyter.jupyter.panel import Panel, _close_tree, replace_live
from orjupyter.jupyter.views import shows_widgets
from orjupyter.service.call import Stopper
from orjupyter.service.compare import ask_all
from orjupyter.service.session import Settled

if TYPE_CHECKING:
    from orjupyter.core.stream import StreamState
    from orjupyter.jupyter.magic import OrJupyterMagics

MOST_MODELS = 6


async def compare(magics: OrJupyterMagics, question: Question, args: Namespace) -> None:
    """`--compare A,B,C`: the same question (its parts, context included) to each model at
    once; `-o NAME` holds `{model: Reply}`. The cell fails only when no model answered."""
    models = list(dict.fromkeys(args.compare))
    if not 2 <= len(models) <= MOST_MODELS:
        raise OptionError(f"--compare takes 2 to {MOST_MODELS} models: --compare A,B,C")
    for flag, given in (("--bg", args.bg), ("--thread", args.thread), ("-m", args.model)):
        if given:
            raise OptionError(f"--compare cannot be combined with {flag}; drop one of them")
    if OUTPUT_FORMATS[question.fmt].next_cell:
        raise OptionError(f"--compare cannot put code in a new cell; drop -f {question.fmt}")
    questions = [replace(question, options=replace(question.options, model=m)) for m in models]
    if args.dry_run:
        for each in questions:
            await magics.session.dry_run(each)
        return
    settings = magics.settings
    comparison = Comparison(models, settings.updates_per_second, shows_widgets(magics))
    comparison.total_name = magics.notebook().total_name
    comparison.show()

    def settled_into(index: int) -> Settled | None:
        if not args.output:
            return None

        def settled(reply: Reply) -> None:
            held = magics.user_ns.get(args.output)
            if isinstance(held, dict) and getattr(held.get(models[index]), "id", None) == reply.id:
                held[models[index]] = reply

        return settled

    replies = await ask_all(
        magics.session, questions, comparison.views, comparison.stop_all, settled_into
    )
    if args.output:
        magics.user_ns[args.output] = {model: r for model, r in zip(models, replies, strict=True)}
    if all(reply.outcome == "error" for reply in replies):
        raise CallFailed(replies[0].error or "every model failed")


class Column(Panel):
    """One model's live answer inside a comparison (not displayed on its own)."""

    def __init__(self, comparison: Comparison, model: str, updates_per_second: float) -> None:
        super().__init__(model, updates_per_second)
        self.comparison = comparison
        self.reply: Reply | None = None

    def build(self, heading: str = "") -> None:
        super().build(heading or self.model)

    def show(self) -> None:
        if self.comparison.widgets and not hasattr(self, "box"):
            self.build()

    def on_text(self, state: StreamState) -> None:
        if self.comparison.widgets:
            super().on_text(state)

    def on_retry(self, attempt: int, delay: float, why: str) -> None:
        if self.comparison.widgets:
            super().on_retry(attempt, delay, why)

    def start(self, stopper: Stopper) -> None:
        import time

        self.show()
        self.started = time.perf_counter()  # the live first-token time counts from here
        self.comparison.stoppers.append(stopper)
        stopper.on_interrupt = self.comparison.stop_all
        self.stopper = stopper
        if self.stop_requested:
            stopper.stop()

    def finish(self, reply: Reply, totals: Totals, fmt: Format = "markdown") -> None:
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
        self.reply = reply
        self._show_end(reply, totals)
        self.comparison.column_done(totals, fmt)

    def settled(self, reply: Reply, totals: Totals) -> None:
        self.reply = reply
        self._show_end(reply, totals)
        self.comparison.settled(totals)

    def _show_end(self, reply: Reply, totals: Totals) -> None:
        """While other models still stream: this column's end (`stopped`, `error`) and its
        bill in its status line, and its Stop button done."""
        from orjupyter.render.report import usage_line

        if not self.comparison.widgets or getattr(self, "answer", None) is None:
            return
        line = usage_line(reply, totals, self.comparison.total_name)
        self.answer.tell(
            {"status": line, "stop": "Stopped" if reply.outcome == "stopped" else "Done"}
        )


class Comparison:
    """The columns, shown side by side (wrapping onto new rows on a narrow page)."""

    def __init__(self, models: Sequence[str], updates_per_second: float, widgets: bool) -> None:
        self.columns = [Column(self, model, updates_per_second) for model in models]
        self.widgets = widgets
        self.stoppers: list[Stopper] = []
        self.handle: Any = None
        self.fmt: Format = "markdown"
        self.total_name = "notebook total"

    @property
    def views(self) -> list[Column]:
        return self.columns

    def show(self) -> None:
        if not self.widgets:
            return
        import ipywidgets as widgets
        from IPython.display import display

        for column in self.columns:
            column.build()
        self.box = widgets.Box(
            [column.box for column in self.columns],
            layout=widgets.Layout(display="flex", flex_flow="row wrap", align_items="flex-start"),
        )
        self.box.add_class("orj-panel")
        self.box.add_class("orj-compare")
        models = ", ".join(column.model for column in self.columns)
        bundle = {
            **self.box._repr_mimebundle_(),
            "text/plain": f"comparing {models}… (the live columns need widgets; the "
            "comparison follows when every model has answered)",
        }
        self.handle = display(bundle, raw=True, display_id=True)

    def stop_all(self) -> None:
        for column in self.columns:
            column.stop_requested = True
        for stopper in self.stoppers:
            stopper.stop()

    def replies(self) -> list[Reply]:
        return [column.reply for column in self.columns if column.reply is not None]

    def column_done(self, totals: Totals, fmt: Format) -> None:
        self.fmt = fmt
        if len(self.replies()) == len(self.columns):
            self._show_final(totals)

    def settled(self, totals: Totals) -> None:
        if self.handle is not None and len(self.replies()) == len(self.columns):
            self._show_final(totals)

    def _show_final(self, totals: Totals) -> None:
        from orjupyter.render.compare import comparison_bundle

        asked = [column.model for column in self.columns if column.reply is not None]
        bundle = comparison_bundle(self.replies(), totals, self.fmt, self.total_name, asked)
        meta = {"orjupyter": {"compare": asked}}
        if self.handle is None:
            if self.widgets:
                from IPython.display import display

                self.handle = display(bundle, metadata=meta, raw=True, display_id=True)
            else:
                print(bundle["text/plain"], file=sys.stdout)
            return
        box = getattr(self, "box", None)
        if box is None:  # the bill settled: the comparison is shown already
            self.handle.update(bundle, metadata=meta, raw=True)
            return
        self.handle = replace_live(self.handle, bundle, meta)
        self.box = None
        _close_tree(box)
