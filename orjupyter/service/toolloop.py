"""A tool loop (`--tools`): ask, run the functions the model calls, send their results
back, until the model answers in text, a cap is reached or a person stops it.

Each round goes through `Session.ask` exactly like a single cell: the cache (re-running a
loop whose tools return the same results sends nothing), the notebook's budget held per
round, the streamed call with its Stop, one ledger row per round (all rows of a loop
share its `run`). `--budget` holds each round's worst case (its prompt so far plus the
longest answer, at the model's price) against what the loop has left before sending, as
`--map`'s cap does. Only the functions offered are ever run; arguments are JSON data,
checked against the signature, never evaluated.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal, Protocol

from orjupyter.core.budget import BudgetExceeded
from orjupyter.core.domain import (
    Reply,
    ToolCall,
    ToolStep,
    Totals,
    Usage,
    format_cost,
    summed_usage,
)
from orjupyter.core.formats import Format
from orjupyter.core.question import Question
from orjupyter.core.request import Content, Message, assistant_message, image_content, tool_message
from orjupyter.core.stream import StreamState
from orjupyter.core.tool_results import ToolResult, error_result, refusal, result_of
from orjupyter.core.tools import Tool, ToolArgumentError, arguments_for
from orjupyter.service.call import Stopper
from orjupyter.service.session import Session
from orjupyter.service.views import View

DEFAULT_MAX_STEPS = 10
Decision = Literal["yes", "no", "all"]


def said(decision: Decision) -> str:
    """What a person's answer to an approval did, in the log's words."""
    return {"yes": "approved", "no": "denied", "all": "approved (and every call after it)"}[
        decision
    ]


class ToolEvents(Protocol):
    """What a person sees of the loop beside the streamed answer (`jupyter/toolcell.py`)."""

    def calling(self, call: ToolCall) -> None:
        """A call is about to run (`→ lookup(city='Oslo')`)."""

    def called(self, step: ToolStep) -> None:
        """A call ended: its result or why it did not run (`← 'Oslo: 12 C'`)."""

    def status(self, rounds: int, calls: int, usage: Usage) -> None:
        """After each round: rounds so far, tool calls, tokens and billed cost."""

    async def approve(self, call: ToolCall) -> Decision:
        """Ask the person; `no` when no one can be asked."""


@dataclass
class ToolLoop:
    session: Session
    question: Question
    tools: Mapping[str, Tool]
    view: View
    events: ToolEvents
    max_steps: int = DEFAULT_MAX_STEPS
    cap: Decimal | None = None
    approve_every: bool = False
    make_image: Callable[..., Any] | None = None
    steps: list[ToolStep] = field(default_factory=list)
    rounds: list[Reply] = field(default_factory=list)
    combined: StreamState = field(default_factory=StreamState)
    stopper: Stopper | None = None
    approved_all: bool = False

    async def run(self) -> Reply:
        """The loop's reply: every round's text, the summed usage, the steps."""
        exchange: list[Message] = []
        run = f"--tools {','.join(self.tools)} {uuid.uuid4().hex[:12]}"  # one line in usage
        why: str | None = None
        for number in range(1, self.max_steps + 1):
            options = replace(self.question.options, exchange=tuple(exchange))
            question = replace(self.question, options=options, run=run)
            why = self._over_cap(question)
            if why is not None or self._stop_requested():
                why = why or "stopped (Stop): the calls that finished are kept"
                break
            try:
                reply = await self.session.ask(question, _RoundView(self), quiet=True)
            except BudgetExceeded as exc:
                why = f"{exc} (the loop stopped before round {number})"
                break
            self.rounds.append(reply)
            self.events.status(len(self.rounds), len(self.steps), self.usage())
            if reply.outcome != "ok" or not reply.tool_calls:
                break
            results = await self._run_calls(reply, number)
            exchange += self._messages(reply, results)
            self.events.status(len(self.rounds), len(self.steps), self.usage())
            if len(results) < len(reply.tool_calls):
                why = "stopped (Stop): the calls that finished are kept"
                break
        else:
            why = (
                f"stopped after {self.max_steps} rounds (--max-steps {self.max_steps}): the "
                "model was still calling functions; raise --max-steps to let it go on"
            )
        return self._reply(why)

    # --- caps -------------------------------------------------------------------------

    def usage(self) -> Usage:
        """The rounds' usage summed, exactly (a cached round costs nothing)."""
        return summed_usage(reply.usage for reply in self.rounds)

    def _over_cap(self, question: Question) -> str | None:
        """`--budget`: why the next round may not be sent (None: it may)."""
        if self.cap is None:
            return None
        request = self.session.request(question, self.session.history(question))
        if question.use_cache and self.session.records.peek(request) is not None:
            return None  # answered from the cache: free
        worst = self.session.worst_case(question)
        spent = self.usage().cost
        if worst is None:
            return (
                f"--budget {format_cost(self.cap)}: {question.options.model}'s price is not "
                "known, so no round can be held against it (nothing more was sent)"
            )
        if spent + worst <= self.cap:
            return None
        return (
            f"--budget {format_cost(self.cap)} reached: round {len(self.rounds) + 1} could "
            f"cost up to {format_cost(worst)} and {format_cost(spent)} is spent; re-run "
            "with a higher --budget to let the loop go on"
        )

    def _stop_requested(self) -> bool:
        return self.stopper is not None and self.stopper.requested

    # --- the calls --------------------------------------------------------------------

    async def _run_calls(self, reply: Reply, number: int) -> list[ToolResult]:
        """Run the round's calls in order; a Stop or an interrupt ends it early."""
        results: list[ToolResult] = []
        for call in reply.tool_calls:
            if self._stop_requested():
                break
            self.events.calling(call)
            try:
                result = await self._run_one(call)
            except (KeyboardInterrupt, asyncio.CancelledError):
                self._uncancel()
                if self.stopper is not None:
                    self.stopper.requested = True
                step = ToolStep(call, number, error="interrupted", round_cost=reply.usage.cost)
                self.steps.append(step)
                self.events.called(step)
                break
            step = ToolStep(
                call,
                number,
                result="" if result.error else result.text,
                error=result.text if result.error else None,
                round_cost=reply.usage.cost,
            )
            self.steps.append(step)
            self.events.called(step)
            results.append(result)
        return results

    async def _run_one(self, call: ToolCall) -> ToolResult:
        tool = self.tools.get(call.name)
        if tool is None:
            offered = ", ".join(self.tools) or "none"
            return refusal(
                f"There is no function named {call.name!r} to call; it was not run. The "
                f"functions offered are: {offered}."
            )
        try:
            kwargs = arguments_for(tool, call.arguments)
        except ToolArgumentError as exc:
            return refusal(f"{exc}. Call it again with arguments that fit its parameters.")
        if (tool.approve or self.approve_every) and not self.approved_all:
            decision = await self.events.approve(call)
            if decision == "all":
                self.approved_all = True
            elif decision != "yes":
                return refusal(f"The person denied this call of {call.name}; it was not run.")
        try:
            value = tool.function(**kwargs)
            if inspect.isawaitable(value):
                value = await value
        except (KeyboardInterrupt, asyncio.CancelledError):
            raise
        except Exception as exc:  # the model is told, and the loop goes on
            return error_result(exc, tool.function)
        try:
            return result_of(value, tool.name, self.make_image)
        except Exception as exc:  # a result that cannot be described
            return refusal(f"{tool.name} returned a value that could not be read: {exc}")

    def _messages(self, reply: Reply, results: list[ToolResult]) -> list[Message]:
        """The round as the next request carries it: the assistant's calls, one `tool`
        message per call (with its id), then the images the tools returned."""
        messages = [assistant_message(reply.text, reply.tool_calls, reply.reasoning_details)]
        images: list[Content] = []
        for call, result in zip(reply.tool_calls, results, strict=False):
            messages.append(tool_message(call.id, result.text))
            if result.image is not None:
                images.append({"type": "text", "text": f"The image {call.name} returned:"})
                images.append(image_content(result.image))
        if images:
            messages.append({"role": "user", "content": images})
        return messages

    @staticmethod
    def _uncancel() -> None:
        uncancel = getattr(asyncio.current_task(), "uncancel", None)
        if uncancel is not None:  # Python 3.11+: the interrupt is handled here
            uncancel()

    # --- the loop's reply -------------------------------------------------------------

    def _reply(self, why: str | None) -> Reply:
        if not self.rounds:
            last = Reply("", self.question.options.model, "", Usage(), outcome="stopped")
        else:
            last = self.rounds[-1]
        text = "\n\n".join(r.text for r in self.rounds if r.text)
        outcome = last.outcome
        if why is not None and outcome == "ok":
            outcome = "stopped"
        reply = replace(
            last,
            text=text,
            usage=self.usage(),
            outcome=outcome,
            error=why or last.error,
            cached=bool(self.rounds) and all(r.cached for r in self.rounds),
            duration=sum(r.duration for r in self.rounds),
            tool_calls=(),
            steps=tuple(self.steps),
            rounds=len(self.rounds),
            unsent=all(r.unsent for r in self.rounds),  # the loop sent nothing at all
            reasoning="\n\n".join(r.reasoning for r in self.rounds if r.reasoning),
            attached=" · ".join(filter(None, (self._summary(), last.attached))),
        )
        return reply

    def _summary(self) -> str:
        rounds, calls = len(self.rounds), len(self.steps)
        return f"{rounds} round{'s' if rounds != 1 else ''}, {calls} tool call" + (
            "s" if calls != 1 else ""
        )

    def finish(self, reply: Reply, fmt: Format) -> None:
        """Show the loop's end in the view, then the notebook's budget warning, if any."""
        totals = self.session.records.totals(self.question.notebook)
        self.view.finish(reply, totals, fmt)
        warning = self.session.records.budget_warning(self.question.notebook)
        if warning:
            print(warning, file=sys.stderr)


class _RoundView:
    """One round's `View`: its text streams into the loop's view after the earlier rounds'
    text; its end is the loop's to show."""

    def __init__(self, loop: ToolLoop) -> None:
        self.loop = loop
        self.seen = 0
        self.thought = 0

    def show(self) -> None:
        return None

    def republish(self) -> None:
        return None

    def start(self, stopper: Stopper) -> None:
        previous = self.loop.stopper
        self.loop.stopper = stopper
        if previous is not None and previous.requested:
            stopper.stop()
        self.loop.view.start(stopper)

    def on_text(self, state: StreamState) -> None:
        combined = self.loop.combined
        new = state.text_since(self.seen)
        if new:
            if not self.seen and combined.length:
                new = "\n\n" + new
            combined.add_text(new)
            combined.length += len(new)
            combined.content_chunks += 1
            self.seen = state.text_length
        thought = state.reasoning_since(self.thought)
        if thought:
            combined.add_thought(thought)
            combined.reasoning_chunks += 1
            self.thought = state.reasoning_length
        self.loop.view.on_text(combined)

    def on_retry(self, attempt: int, delay: float, why: str) -> None:
        self.loop.view.on_retry(attempt, delay, why)

    def finish(self, reply: Reply, totals: Totals, fmt: Format = "markdown") -> None:
        return None

    def settled(self, reply: Reply, totals: Totals) -> None:
        return None
