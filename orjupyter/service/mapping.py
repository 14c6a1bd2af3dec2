"""A `--map` run: one question per row, at most `concurrency` in flight, each through the
session (cache, budget, retries, ledger) exactly like a single cell.

Stop (the panel's button) and the kernel interrupt stop dispatching, stop every call in
flight (their streams are closed, what they cost is recorded) and keep every finished
row. `--budget` holds each row in flight at its worst case and stops dispatching when
the billed total plus what is held could cross it (`core.mapping.may_send`); with no
known price it sends nothing the cache cannot answer. A 429 or 5xx is retried by the call
itself, and the run waits out its `Retry-After` before sending more rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from orjupyter.core.budget import BudgetExceeded
from orjupyter.core.domain import Reply, Totals
from orjupyter.core.errors import NotSent, OrJupyterError
from orjupyter.core.formats import Format
from orjupyter.core.mapping import (
    RunProgress,
    cap_note,
    may_send,
    overbilled_note,
    unpriced_note,
)
from orjupyter.core.pricing import OFFLINE_MODELS, info_for, price_for, prompt_tokens
from orjupyter.core.question import Question
from orjupyter.core.request import CallOptions
from orjupyter.core.stream import StreamState
from orjupyter.core.unanswered import RowError, RowResult, errors_note, kept_text, unusable
from orjupyter.service.call import Stopper
from orjupyter.service.session import Session
from orjupyter.service.structured import reasked, remembering

STOPPED = "stopped before the answer was complete"


class RunView(Protocol):
    """What a person sees of a run (`jupyter.progress`): told at the start (with the
    run's Stop), after each row (it decides how often to redraw) and at the end."""

    def start(self, progress: RunProgress, stop: Callable[[], None]) -> None: ...

    def update(self, progress: RunProgress) -> None: ...

    def finish(self, progress: RunProgress, note: str | None) -> None: ...


class _RowView:
    """The `View` of one row: shows nothing, hands its Stop handle and retries to the run."""

    def __init__(self, run: MapRun) -> None:
        self.run = run
        self.stopper: Stopper | None = None

    def show(self) -> None:
        return None

    def republish(self) -> None:
        return None

    def start(self, stopper: Stopper) -> None:
        self.stopper = stopper
        self.run.active.add(self)
        if self.run.stopping:
            stopper.stop()

    def on_text(self, state: StreamState) -> None:
        return None

    def on_retry(self, attempt: int, delay: float, why: str) -> None:
        self.run.retrying(delay)

    def finish(self, reply: Reply, totals: Totals, fmt: Format = "markdown") -> None:
        self.run.active.discard(self)

    def settled(self, reply: Reply, totals: Totals) -> None:
        return None  # the ledger row is settled by the session; the run's summary is out


RowBuilder = Callable[[dict[str, object]], Question]
"""A row's placeholders → its question (raises `OrJupyterError` when the row cannot be)."""
Converter = Callable[[Reply], object]
"""An `ok` reply → the row's value (text, parsed JSON, a validated schema object)."""


@dataclass
class MapRun:
    session: Session
    rows: Iterator[dict[str, object]]
    labels: Sequence[object]
    """Each row's label, in order (where a row's error says its unusable answer is)."""
    build: RowBuilder
    convert: Converter
    view: RunView
    concurrency: int = 8
    cap: Decimal | None = None
    retries: int = 1
    """`--schema`: how many times a row whose answer missed the schema is asked again."""
    remarks: list[str] = field(default_factory=list)
    """Lines the run's end says after its own (a column that shadows a variable)."""
    errors_in: str | None = None
    """The variable that keeps why rows have no answer (`NAME_errors`), if any."""
    results: list[RowResult | None] = field(init=False)
    progress: RunProgress = field(init=False)
    active: set[_RowView] = field(default_factory=set)
    """Rows whose call has started and not finished: what Stop stops."""
    stopping: bool = False
    note: str | None = None

    def __post_init__(self) -> None:
        self.results = [None] * len(self.labels)
        self.progress = RunProgress(len(self.labels))
        self.tasks: set[asyncio.Task[None]] = set()
        self.pause_until = 0.0
        self.waiting = 0
        """Rows waiting for the notebook's budget to free up (rows in flight to finish)."""
        self.sent = 0
        """Rows sent to the model (not answered by the cache) under a cap."""
        self.first_worst: Decimal | None = None
        """The worst case of the first row the cap held back, if no row was sent."""
        self.unpriced = ""
        """The model whose price is unknown, when the cap could not bound a row."""

    def stop(self) -> None:
        """Send no more rows and stop those in flight (safe from a widget callback)."""
        if not self.stopping:
            self.note = self.note or "stopped"
        self.stopping = True
        for row in list(self.active):
            if row.stopper is not None:
                row.stopper.stop()

    def retrying(self, delay: float) -> None:
        """A row waits to retry (429, 5xx): hold back new rows for as long."""
        self.progress.retries += 1
        loop = asyncio.get_running_loop()
        self.pause_until = max(self.pause_until, loop.time() + delay)

    async def run(self) -> list[RowResult | None]:
        self.slots = asyncio.Semaphore(self.concurrency)
        self.finished = asyncio.Event()
        self.view.start(self.progress, self.stop)
        try:
            await self._dispatch()
            await self._drain()
        except (asyncio.CancelledError, KeyboardInterrupt):  # the kernel's interrupt
            self.stop()
            await self._drain()
            uncancel = getattr(asyncio.current_task(), "uncancel", None)
            if uncancel is not None:  # Python 3.11+: the interrupt was handled here
                uncancel()
        finally:
            self.progress.unsent = sum(result is None for result in self.results)
            self.progress.ended = time.monotonic()
            self.view.finish(self.progress, self.closing_note())
        return self.results

    async def _dispatch(self) -> None:
        for position, fields in enumerate(self.rows):
            await self.slots.acquire()
            if self.stopping:
                self.slots.release()
                return
            try:  # values are read in a worker thread: the loop stays free for Stop
                question = await asyncio.to_thread(self.build, fields)
            except OrJupyterError as exc:
                self._settle(position, RowResult(error=str(exc)), Decimal(0), cached=False)
                self.slots.release()
                continue
            await self._wait_out_retries()
            if self.stopping:
                self.slots.release()
                return
            hold = await self._affordable(question)
            if hold is None:  # over --budget: only cached rows now
                self.slots.release()
                continue
            self.progress.in_flight += 1
            self.progress.held += hold
            task = asyncio.ensure_future(self._row(position, question, hold))
            self.tasks.add(task)
            task.add_done_callback(self._row_done)

    async def _affordable(self, question: Question) -> Decimal | None:
        """`--budget`: what to hold for this row while it is in flight (its worst case;
        nothing for a row the cache answers), waiting for rows in flight while it might
        not fit; None once it does not (then only rows the cache answers go on). A model
        with no known price cannot be capped: none of its rows is sent."""
        if self.cap is None or is_cached(self.session, question):
            return Decimal(0)
        if self.note in ("cap", "unpriced", "overbilled"):
            return None
        worst = self.session.worst_case(question)
        if worst is None:
            self.note, self.unpriced = "unpriced", question.options.model
            return None
        while not may_send(self.cap, self.progress, worst):
            if self.progress.in_flight == 0 or self.note == "overbilled":
                self.note = self.note or "cap"
                self.first_worst = worst if self.sent == 0 else None
                return None
            self.finished.clear()
            await self.finished.wait()
        self.sent += 1
        return worst

    async def _wait_out_retries(self) -> None:
        delay = self.pause_until - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)

    def _row_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.progress.in_flight -= 1
        self.slots.release()
        self.finished.set()

    async def _drain(self) -> None:
        while self.tasks:
            try:
                await asyncio.wait(list(self.tasks))
            except asyncio.CancelledError:  # interrupted again: stop waiting
                self.stop()
                await asyncio.wait(list(self.tasks), timeout=5.0)
                return

    async def _row(self, position: int, question: Question, hold: Decimal) -> None:
        released = Decimal(0)  # of the row's hold, what its end gives back
        try:
            reply = await self._ask_within_budget(question)
            released = self._released(hold, reply, question)
            kept, remember = self._kept(position), remembering(self.session, question)
            reply = await reasked(
                question, reply, self._again, self.retries, kept=kept, remember=remember
            )
        except BudgetExceeded as exc:  # the notebook's budget: send nothing more
            self.stopping, self.note, released = True, f"{exc}", hold
            return
        except OrJupyterError as exc:  # refused before sending: nothing billed
            released = hold
            self._settle(position, RowResult(error=str(exc)), Decimal(0), cached=False)
            return
        except Exception as exc:  # one row's surprise never ends the run (its hold stays)
            result = RowResult(error=f"{type(exc).__name__}: {exc}")
            self._settle(position, result, Decimal(0), cached=False)
            return
        finally:
            self.progress.held -= released
        if reply.unsent:  # stopped before its request left: a row not sent, as if never dispatched
            return
        result = self._result(reply, position, question)
        self._settle(position, result, reply.usage.cost, cached=reply.cached)

    def _released(self, hold: Decimal, reply: Reply, question: Question) -> Decimal:
        """Of a finished row's hold, what is given back: all of it once its bill is known,
        but a row recorded at an estimate keeps the rest of its worst case. A bill above
        the worst case is noted, and stops a capped run (the cap cannot bound rows in
        flight when the server bills past its price list)."""
        usage = reply.usage
        if reply.cached:
            return hold
        if usage.cost_is_estimate:
            return min(usage.cost, hold)
        worst = hold or (self.session.worst_case(question) if usage.cost else None)
        if worst is not None and usage.cost > worst:
            self.progress.overbilled = worst
            if self.cap is not None:
                self.note = "overbilled"
        return hold

    async def _again(self, question: Question) -> Reply | None:
        """A row asked again (its answer missed the schema), held at its worst case while
        in flight; None once the run stops or, under `--budget`, when it no longer fits."""
        worst = self.session.worst_case(question) if self.cap is not None else Decimal(0)
        if self.stopping or worst is None or not may_send(self.cap, self.progress, worst):
            return None
        self.progress.held += worst
        released = worst
        try:
            reply = await self._ask_within_budget(question)
            released = self._released(worst, reply, question)
            return reply
        finally:
            self.progress.held -= released

    async def _ask_within_budget(self, question: Question) -> Reply:
        """Ask; when the notebook's budget refuses the row while other rows are in flight
        (each holds its worst case), wait for one of them to finish and ask again."""
        while True:
            try:
                return await self.session.ask(question, _RowView(self), quiet=True)
            except BudgetExceeded:
                if self.stopping or self.progress.in_flight - self.waiting <= 1:
                    raise
            self.waiting += 1
            try:
                self.finished.clear()
                await self.finished.wait()
            finally:
                self.waiting -= 1

    def _kept(self, position: int) -> str:
        return kept_text(self.errors_in, self.labels[position])  # `NAME_errors[label].text`

    def _result(self, reply: Reply, position: int, question: Question) -> RowResult:
        if reply.outcome == "stopped":
            return RowResult(error=STOPPED)
        if reply.outcome == "error":
            return RowResult(error=reply.error or "the call failed")
        if reply.outcome == "invalid":
            return RowResult(error=RowError(reply.error or "invalid", text=reply.text))
        try:
            return RowResult(value=self.convert(reply))
        except OrJupyterError as exc:
            why = str(exc)
        except Exception as exc:  # sent and billed: the row says why it has no value
            why = f"the answer could not be read ({type(exc).__name__})"
        error = unusable(why, reply.text, self._kept(position))
        return RowResult(error=error, replayed=is_cached(self.session, question))

    def _settle(self, position: int, result: RowResult, cost: Decimal, *, cached: bool) -> None:
        self.results[position] = result
        if result.error == STOPPED:
            self.progress.stopped += 1
            self.progress.billed += cost
        else:
            self.progress.add(cost, ok=result.error is None, cached=cached)
        self.view.update(self.progress)

    def closing_note(self) -> str | None:
        """What the run's end should say beyond the summary (the cap, the budget, a row
        billed above its worst case)."""
        lines = [self._note()]
        if self.progress.overbilled is not None and self.note != "overbilled":
            lines.append(overbilled_note(self.progress, capped=False))
        errors = errors_note(self.progress, self.errors_in, self.results, self.labels)
        lines += [*self.remarks, errors]
        return "\n".join(line for line in lines if line) or None

    def _note(self) -> str | None:
        if self.note == "cap" and self.cap is not None:
            return cap_note(self.cap, self.progress, self.first_worst)
        if self.note == "unpriced" and self.cap is not None:
            return unpriced_note(self.cap, self.unpriced, self.progress)
        if self.note == "overbilled":
            return overbilled_note(self.progress, capped=True)
        if self.note == "stopped":
            left = self.progress.unsent + self.progress.stopped
            if not left:
                return None
            return (
                f"Stopped: re-run the cell to send the {left:,} row{'s' if left != 1 else ''} "
                "without an answer (the answered ones come from the cache)."
            )
        return self.note


def cost_range(session: Session, question: Question) -> tuple[Decimal, Decimal] | None:
    """The cheapest (a one-token answer) and the worst case of a question, if priced."""
    price = price_for(question.options.model, session.catalog)
    worst = session.worst_case(question)
    if price is None or worst is None:
        return None
    estimate = prompt_tokens([*session.system_parts(question.options), list(question.parts)])
    return price.cost(estimate, 1), worst


def is_cached(session: Session, question: Question) -> bool:
    """Whether the cache would answer this question (for $0)."""
    if not question.use_cache:
        return False
    request = session.request(question, session.history(question))
    return session.records.peek(request) is not None


async def prepare(session: Session, options: CallOptions) -> None:
    """Before many calls at once: fetch the model list once (not once per call) and
    refuse a model OpenRouter does not list, before anything is sent."""
    if options.model in OFFLINE_MODELS:
        return
    try:
        spec = session.client_spec()
    except NotSent:
        return  # answered from the cache, or each row says there is no key
    await session.load_catalog(session.clients.get(spec))
    if session.catalog and info_for(options.model, session.catalog) is None:
        raise NotSent(
            f"{options.model!r} is not a valid model ID on OpenRouter; check the "
            "slug at https://openrouter.ai/models (nothing was sent)"
        )
