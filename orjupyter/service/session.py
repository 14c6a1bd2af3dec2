"""What one kernel remembers and does for a question: history, cache, budget, the call,
and the ledger entry. The magic parses; the views show; this module decides."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from orjupyter.core.billed import usage_warning
from orjupyter.core.budget import overbill_warning
from orjupyter.core.domain import Reply, Totals, format_cost
from orjupyter.core.errlog import ErrorLog
from orjupyter.core.pricing import info_for, price_for, prompt_tokens
from orjupyter.core.question import Question, judged
from orjupyter.core.request import build_request
from orjupyter.core.stream import StreamState
from orjupyter.core.thread import Threads, Turn, history_budget, history_messages, trim_history
from orjupyter.service.activity import CallInFlight
from orjupyter.service.call import StreamedCall
from orjupyter.service.faults import describe, retry_delay
from orjupyter.service.settle import Settled, Settling
from orjupyter.service.views import View

__all__ = ["Session", "Settled"]


@dataclass
class Session(Settling):
    """What one kernel remembers and does for a question; its layers below: the model
    catalog (`service/catalog.py`) and the records and bills (`service/settle.py`)."""

    threads: Threads = field(default_factory=Threads)
    errors: ErrorLog = field(default_factory=ErrorLog)

    def close(self) -> None:
        """End what the session holds open: background answers, connections, the loop,
        the ledger."""
        self.background.cancel_all()
        self.clients.close_all()
        self.background.close()
        self.records.close()

    def totals(self, notebook: str) -> Totals:
        return self.records.totals(notebook)

    def history(self, question: Question) -> list[Turn]:
        if question.thread is None:
            return []
        if question.new_thread:
            self.threads.reset(question.thread)
        info = info_for(question.options.model, self.catalog)
        budget = history_budget(
            info.context_length if info else None,
            prompt_tokens([*self.system_parts(question.options), list(question.parts)]),
            question.options.max_tokens or 0,
        )
        turns = self.threads.history(question.thread)
        return trim_history(turns, max_turns=self.settings.max_history_turns, budget_tokens=budget)

    def request(self, question: Question, turns: Sequence[Turn]) -> dict[str, Any]:
        return build_request(question.parts, question.options, history_messages(turns))

    async def ask(
        self,
        question: Question,
        view: View,
        on_settled: Settled | None = None,
        *,
        reserve: bool = True,
        quiet: bool = False,
    ) -> Reply:
        """Answer from the cache, or send, stream into the view and account for it.

        A stopped or failed call is recorded at an estimate; its exact bill is fetched in
        the background and replaces the estimate in the ledger, the view and (through
        `on_settled`) wherever the reply was stored. `reserve=False`: the caller holds the
        budget for several calls at once (`--compare`). `quiet` (one row of a `--map` run):
        the view gets no notebook totals and no budget warning is printed; the run reports
        for all its rows."""
        turns = self.history(question)
        request = self.request(question, turns)
        cached = self.records.cached(request, question) if question.use_cache else None
        if cached is not None:
            cached = judged(question, replace(cached, history_turns=len(turns)))
            return self._finish(question, cached, view, quiet=quiet)
        spec = self.client_spec()
        client = self.clients.get(spec)
        await self.check(question.parts, question.options, client)
        if await self._drop_unsupported(question, client):
            question = replace(question, options=replace(question.options, reasoning_effort=None))
            request = self.request(question, turns)
        worst = self.worst_case(question)
        reservation = self.records.reserve(question, worst) if reserve else None
        secrets = (spec.api_key,)

        def on_text(state: StreamState) -> None:
            view.on_text(state)
            self.activity.progress(flight, state.length)

        call = StreamedCall(
            client=client,
            request=request,
            on_text=on_text,
            describe_error=lambda exc, received: describe(
                exc, received, base_url=spec.base_url, timeout=spec.timeout, secrets=secrets
            ),
            retry_delay=lambda exc, attempt: retry_delay(exc, attempt, spec.max_retries),
            on_retry=view.on_retry,
            idle_timeout=spec.timeout,
            secrets=secrets,
        )
        flight = self.activity.started(
            question.notebook, question.cell, question.options.model, call.stopper
        )
        try:
            view.start(call.stopper)
            result = await call.run()
            reply = await self._reply(result, question.options, question.parts, client)
            reply = judged(question, replace(reply, history_turns=len(turns)))
            if reply.outcome == "ok" and reply.finish_reason != "length":
                self.records.remember(request, reply)  # only whole answers: never a cut one
        except BaseException:
            self.records.release(reservation)
            self.activity.ended(flight)
            raise
        doubt = usage_warning(result.state.usage)
        if not (quiet or reply.usage.cost_is_estimate):  # a run reports its own rows
            doubt = doubt or overbill_warning(reply.usage.cost, worst)
        reply = self._finish(question, reply, view, reservation, flight, doubt=doubt, quiet=quiet)
        self._settle_later(question, reply, view, on_settled)
        return reply

    def _finish(
        self,
        question: Question,
        reply: Reply,
        view: View,
        reservation: Any = None,
        flight: CallInFlight | None = None,
        *,
        doubt: str | None = None,
        quiet: bool = False,
    ) -> Reply:
        """Record the call (unless it was never sent), show its end, then any warning
        (after the usage line)."""
        if question.note:
            reply = replace(reply, attached=question.note)
        if reply.unsent:  # stopped before its request left: no call, nothing to record
            self.records.release(reservation)
            if flight is not None:
                self.activity.ended(flight)
        else:
            try:
                self.records.record(question, reply, reservation)
            finally:
                self.activity.recorded(flight, reply)
        if question.thread and reply.outcome == "ok" and not reply.tool_calls:
            turn = Turn.from_parts(question.parts, reply.text, question.options.exchange)
            self.threads.append(question.thread, turn)
        if quiet:  # one row of a --map: the run reports for all its rows
            view.finish(reply, Totals(), question.fmt)
            if doubt:
                print(doubt, file=sys.stderr)
            return reply
        totals = self.records.totals(question.notebook)
        view.finish(reply, totals, question.fmt)
        for warning in (doubt, self.records.budget_warning(question.notebook)):
            if warning:
                print(warning, file=sys.stderr)
        return reply

    async def dry_run(self, question: Question) -> str:
        """What would be sent and what it could cost; sends nothing."""
        from orjupyter.core.dryrun import describe_request
        from orjupyter.core.pdf import pdf_parsing_cost

        turns = self.history(question)
        request = self.request(question, turns)
        cached = self.records.peek(request) if question.use_cache else None
        options = question.options
        estimate = prompt_tokens([*self.system_parts(options), list(question.parts)], exact=True)
        price = price_for(options.model, self.catalog)
        extras = self._extras_cost(options, question.parts)
        web = self._extras_cost(options)  # without the parts: the search alone
        text = describe_request(
            request,
            prompt_estimate=estimate,
            cheapest=price.cost(estimate, 1) + extras if price else None,
            worst=self.worst_case(question),
            web_search=web if options.web_search else None,
            pdf_parsing=pdf_parsing_cost(options.pdf_engine, question.parts)
            if options.pdf_engine
            else None,
            cached=cached is not None,
            format_cost=format_cost,
            context=question.context,
            note=question.note,
        )
        print(text)
        return text
