"""Views of a streaming answer: the ipywidgets panel, and plain text for terminals.

A view only shows state, and reads only what is new in it. The panel is one widget
(`AnswerStream`: the answer, its status line and Stop) that the kernel appends to, at most
`updates_per_second` (and never more than 25) times a second: each refresh sends the new
text and the HTML of the blocks that finished, once, with the status line once a second,
so the bytes sent to the browser grow with the answer, not faster.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from orjupyter.core.domain import Reply, Totals
from orjupyter.core.formats import Format
from orjupyter.core.stream import StreamState
from orjupyter.core.terminal import PrintableStream, printable
from orjupyter.render.report import Exchange, metadata, progress_line, transcript_bundle, usage_line
from orjupyter.service.call import Stopper


def retry_line(attempt: int, delay: float, why: str) -> str:
    return f"retrying in {delay:.1f} s (attempt {attempt}) after: {why}"


class TextView:
    """Plain text: the answer streams to stdout, then the usage line. Everything written
    passes through `printable` (`PrintableStream` while it streams, so a sequence split
    across chunks is removed whole): a terminal never receives a control sequence from a
    model or a server (newlines and tabs stay)."""

    def __init__(
        self, model: str, out: TextIO | None = None, total_name: str = "notebook total"
    ) -> None:
        self.model = model
        self.out = out or sys.stdout
        self.total_name = total_name
        self.printed = 0
        self.thought = 0
        """Characters of the reasoning printed (`--think`), before the answer."""
        self.answer_out, self.thought_out = PrintableStream(), PrintableStream()

    def show(self) -> None:
        return None

    def start(self, stopper: Stopper) -> None:
        return None

    def republish(self) -> None:
        return None

    def on_text(self, state: StreamState) -> None:
        if state.reasoning_chunks and not self.printed:
            thought = state.reasoning_since(self.thought)
            self._think(thought, state.reasoning_length, answering=state.text_length > 0)
        self.out.write(self.answer_out.feed(state.text_since(self.printed)))
        self.out.flush()
        self.printed = state.text_length

    def _think(self, new: str, length: int, *, answering: bool) -> None:
        """The reasoning as it streams (`new`: what arrived since; `length`: all of it),
        under a "Thinking:" heading; a blank line and "Answer:" once the answer begins."""
        heading = "Thinking: " if not self.thought and new else ""
        self.out.write(heading + self.thought_out.feed(new))
        self.thought = length
        if answering and self.thought:
            self.out.write(self.thought_out.finish() + "\n\nAnswer: ")

    def on_retry(self, attempt: int, delay: float, why: str) -> None:
        self.out.write(printable(f"[{retry_line(attempt, delay, why)}]\n"))
        self.out.flush()

    def settled(self, reply: Reply, totals: Totals) -> None:
        return None  # the line is printed already; `reply` and the ledger hold the bill

    def finish(self, reply: Reply, totals: Totals, fmt: Format = "markdown") -> None:
        if reply.reasoning and not self.printed:  # from the cache, or no answer came
            new = reply.reasoning[self.thought :]
            self._think(new, len(reply.reasoning), answering=bool(reply.text))
        self.out.write(self.thought_out.finish())
        rest = reply.text[self.printed :] if len(reply.text) >= self.printed else ""
        tail = f"\n[{reply.error}]" if reply.error else ""
        if reply.citations:
            from orjupyter.render.report import sources_text

            tail += f"\n\nSources:\n{sources_text(reply.citations)}"
        line = usage_line(reply, totals, self.total_name)
        rest = self.answer_out.feed(rest) + self.answer_out.finish()
        self.out.write(rest + printable(f"{tail}\n\n[{line}]\n"))
        self.out.flush()


GONE: dict[str, str] = {
    "text/html": '<div class="orj-gone"></div><style>.jp-OutputArea-child:has(.orj-gone)'
    "{display:none}</style>",
    "text/plain": "",
}
"""What a live view leaves once its final output is shown below it: nothing to see (in
JupyterLab and Notebook 7 not even its place)."""


def replace_live(live: Any, bundle: dict[str, str], metadata: dict[str, Any] | None = None) -> Any:
    """Show a final output as a new output of the cell, then empty the live view's.

    The final output never depends on a frontend applying a display update (jupyter
    console applies none; VS Code has not always): where updates work, the live view
    disappears and the final output takes its place; where they do not, the final output
    still shows. Returns the final output's handle (for the settled bill)."""
    from IPython.display import display

    final = display(bundle, metadata=metadata or {}, raw=True, display_id=True)
    if live is not None:
        live.update(GONE, raw=True)
    return final


MOST_UPDATES_PER_SECOND = 25.0
"""The panel never refreshes more often than this, whatever `updates_per_second` says."""
STATUS_INTERVAL = 1.0
"""Seconds between refreshes of the status line while streaming."""
SCREENFUL = 2_000
"""Characters of an answer (with its reasoning) that fill about a screen."""
LONG_ANSWER_INTERVAL = 0.25
"""Seconds between refreshes at least, once an answer is longer than a screen: its new end
is below what the reader is reading, and each refresh is a message to the browser with
its own envelope (about 600 bytes), so a long answer costs fewer bytes and less time."""


class Panel:
    """The live widget panel under a cell. Replaced by ordinary outputs when done."""

    def __init__(
        self,
        model: str,
        updates_per_second: float = 10.0,
        *,
        handle: Any = None,
        earlier: Sequence[Exchange] = (),
        question: str | None = None,
        on_done: Callable[[Panel], None] | None = None,
        after_show: Callable[[], None] | None = None,
        total_name: str = "notebook total",
        background: bool = False,
        console: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`handle`: an output to stream into instead of a new one (a follow-up replaces the
        cell's answer with a panel that shows the `earlier` exchanges above `question`);
        `on_done` runs once the final output is shown; `after_show` shows what goes under
        the answer (the action bar); `total_name` is what the usage line calls the running
        total. In a cell, the final output is a new output below the live panel, which is
        then emptied; a follow-up's (`handle`) and a `background` answer's (`--bg`) arrive
        after their cell has ended, so they replace the panel by its display id; `console`:
        the cell came from a console (`views.from_a_console`), which applies no display
        update, so a background answer that no front end drew live is printed there as a
        new output too. `clock` paces the refreshes (seconds)."""
        from orjupyter.render.live import LiveAnswer

        self.reuse = handle
        self.earlier = list(earlier)
        self.question = question
        self.on_done = on_done
        self.after_show = after_show
        self.model = model
        self.total_name = total_name
        self.interval = 1.0 / min(max(updates_per_second, 0.1), MOST_UPDATES_PER_SECOND)
        self.clock = clock
        self.live = LiveAnswer()
        self.fed = self.thought = 0
        """Characters of the answer and of the reasoning sent to the browser."""
        self.last_flush = 0.0
        self.last_status = 0.0
        self.pending: asyncio.TimerHandle | None = None
        self.state: StreamState | None = None
        self.started = time.perf_counter()
        self.first_token: float | None = None
        self.handle: Any = None
        self.stopper: Stopper | None = None
        self.stop_requested = False
        self.final: tuple[dict[str, str], dict[str, Any]] | None = None
        self.background = background
        self.console = console

    def start(self, stopper: Stopper) -> None:
        """Show the panel (unless `show` did already) and connect its Stop button."""
        if self.handle is None:
            self.show()
        self.stopper = stopper
        if self.stop_requested:
            stopper.stop()

    def show(self) -> None:
        """Build the widgets and display them (a cached answer never needs them)."""
        from IPython.display import display

        self.build()
        if self.background and self.console:
            plain = (
                f"{self.model}: answering in the background; the answer is printed once it "
                "has ended (press Enter or run a cell to see it)"
            )
        elif self.background:
            plain = f"{self.model}: answering in the background… (the live panel needs widgets)"
        else:
            plain = f"{self.model}: answering… (the live panel needs widgets; the answer follows)"
        from orjupyter.jupyter.lean import shown

        bundle = shown(self.answer, plain)
        if self.reuse is not None:
            self.handle = self.reuse
            self.handle.update(bundle, raw=True)
        else:
            self.handle = display(bundle, raw=True, display_id=True)
            if self.background:  # the bar must land in this cell, which ends now
                self._shown()

    def build(self, heading: str = "") -> None:
        """The panel's widget (`self.answer`, also `self.box`), not displayed yet: one
        model, which draws the answer, the status line, Stop and a follow-up's
        conversation (`heading`: a comparison column's model name)."""
        from orjupyter.jupyter.answer_stream import AnswerStream

        transcript = ""
        if self.earlier or self.question:
            from orjupyter.render.report import transcript_html

            transcript = transcript_html(self.earlier, self.question)
        line = progress_line(self.model, 0, 0, None)
        self.answer = AnswerStream(status=line, transcript=transcript, heading=heading)
        self.answer.on_stop = self._stop
        self.box = self.answer
        self.started = time.perf_counter()

    def _shown(self) -> None:
        if self.after_show is not None:
            self.after_show()

    def _stop(self) -> None:
        self.stop_requested = True
        if self.stopper is not None:
            self.stopper.stop()

    def on_text(self, state: StreamState) -> None:
        self.state = state
        if self.first_token is None:
            self.first_token = time.perf_counter() - self.started
        now = self.clock()
        interval = self.interval
        if state.text_length + state.reasoning_length > SCREENFUL:
            interval = max(interval, LONG_ANSWER_INTERVAL)
        if now - self.last_flush >= interval:
            if self.pending is not None:
                self.pending.cancel()
            self._flush()
        elif self.pending is None:  # a refresh when the interval is up, if no chunk comes
            delay = interval - (now - self.last_flush)
            self.pending = asyncio.get_running_loop().call_later(delay, self._flush)

    def on_retry(self, attempt: int, delay: float, why: str) -> None:
        self.answer.tell({"status": f"{self.model} · {retry_line(attempt, delay, why)}"})

    def say(self, text: str) -> None:
        """The status line says `text` (a tool running, say) until the stream's own news."""
        if self.handle is not None:
            self.answer.tell({"status": f"{self.model} · {text}"})

    def _flush(self) -> None:
        self.pending = None
        self.last_flush = self.clock()
        state = self.state
        if state is None:
            return
        added, self.fed = state.text_since(self.fed), state.text_length
        thought, self.thought = state.reasoning_since(self.thought), state.reasoning_length
        title = ("Thinking…" if not state.content_chunks else "Thinking") if self.thought else ""
        line = None
        if self.last_flush - self.last_status >= STATUS_INTERVAL:
            self.last_status = self.last_flush
            line = progress_line(
                self.model, state.text_length, state.content_chunks, self.first_token,
                state.reasoning_chunks,
            )  # fmt: skip
        self.answer.append(self.live.delta(added, thought, title), status=line)

    def finish(self, reply: Reply, totals: Totals, fmt: Format = "markdown") -> None:
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
        self.fmt = fmt
        self.exchanges = [*self.earlier, Exchange(self.question, reply)]
        bundle = transcript_bundle(self.exchanges, totals, fmt, self.total_name)
        self.final = (bundle, metadata(reply))
        if self.handle is not None and (self.reuse is not None or self.background):
            if self.on_done is not None:  # ready for the next action before it can be seen
                self.on_done(self)
            self.handle.update(bundle, metadata=metadata(reply), raw=True)
            if self.background and self.console and not self.answer.loaded:
                from IPython.display import display

                # a new output of the cell that asked (the loop runs in its context): the
                # console prints it when it next reads outputs (Enter, or the next cell)
                display(bundle, metadata=metadata(reply), raw=True)
            _close_tree(self.box)
            return
        live = self.handle  # None: answered from the cache, no panel was needed
        self.handle = replace_live(live, bundle, metadata(reply))
        if live is not None:
            _close_tree(self.box)
        if self.on_done is not None:
            self.on_done(self)
        self._shown()

    def settled(self, reply: Reply, totals: Totals) -> None:
        """Show the billed cost in place of the estimate, if the answer is still shown."""
        exchanges = getattr(self, "exchanges", None)
        if self.handle is None or not exchanges or exchanges[-1].reply.id != reply.id:
            return
        self.exchanges = [*exchanges[:-1], Exchange(exchanges[-1].question, reply)]
        bundle = transcript_bundle(self.exchanges, totals, self.fmt, self.total_name)
        self.final = (bundle, metadata(reply))
        self.handle.update(bundle, metadata=metadata(reply), raw=True)

    def republish(self) -> None:
        """Send the final output again (see `BackgroundLoop.flush`)."""
        if self.handle is not None and self.final is not None:
            bundle, meta = self.final
            self.handle.update(bundle, metadata=meta, raw=True)


def _close_tree(widget: Any) -> None:
    """Close a widget, its descendants and their layout and style models, so no comm
    lingers in the kernel or the browser."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    for part in ("layout", "style"):
        model = getattr(widget, part, None)
        if model is not None and getattr(model, "comm", None) is not None:
            model.close()
    widget.close()
