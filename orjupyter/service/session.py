"""What one kernel remembers and does for a question: history, cache, budget, the call,
and the ledger entry. The magic parses; the views show; this module decides."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, cast

from orjupyter.core.billed import usage_warning
from orjupyter.core.budget import overbill_warning, unbelievable_bill
from orjupyter.core.domain import Part, Reply, TextPart, Totals, Usage, format_cost
from orjupyter.core.errlog import ErrorLog
from orjupyter.core.errors import NotSent
from orjupyter.core.pdf import pdf_parsing_cost
from orjupyter.core.pricing import (
    OFFLINE_MODELS,
    ModelInfo,
    catalog_from_models,
    estimated_usage,
    info_for,
    longest_answer,
    price_for,
    prompt_tokens,
    web_search_cost,
)
from orjupyter.core.prompt import what_to_shorten
from orjupyter.core.question import Question
from orjupyter.core.redact import redact_json
from orjupyter.core.request import WEB_RESULTS, CallOptions, build_request
from orjupyter.core.settings import Settings
from orjupyter.core.stream import StreamState
from orjupyter.core.thread import Threads, Turn, history_budget, history_messages, trim_history
from orjupyter.core.tools import loop_parts
from orjupyter.service.activity import Activity, CallInFlight
from orjupyter.service.background import BackgroundLoop
from orjupyter.service.call import CallResult, StreamedCall, to_reply
from orjupyter.service.client import ClientCache, ClientSpec
from orjupyter.service.faults import NO_KEY, describe, retry_delay
from orjupyter.service.settle import Reconciled, fetch_generation, reconcile_calls, row_worst_case
from orjupyter.service.views import View
from orjupyter.store.records import Records

Settled = Callable[[Reply], None]
"""Told the reply again once its estimated cost is replaced by OpenRouter's bill."""


@dataclass
class Session:
    settings: Settings
    clients: ClientCache = field(default_factory=ClientCache)
    catalog: dict[str, ModelInfo] | None = None
    threads: Threads = field(default_factory=Threads)
    errors: ErrorLog = field(default_factory=ErrorLog)
    records: Records | None = None
    background: BackgroundLoop = field(default_factory=BackgroundLoop)
    model_entries: list[dict[str, Any]] | None = None
    models_fetched_at: datetime | None = None
    activity: Activity = field(default_factory=Activity)
    settling: dict[str, Any] = field(default_factory=dict)
    """Generation id → the future of its background settlement."""

    def __post_init__(self) -> None:
        if self.records is None:
            self.records = Records(self.settings)

    def close(self) -> None:
        """End what the session holds open: background answers, connections, the loop."""
        self.background.cancel_all()
        self.clients.close_all()
        self.background.close()

    @property
    def book(self) -> Records:
        assert self.records is not None
        return self.records

    def client_spec(self) -> ClientSpec:
        spec = ClientSpec.from_settings(self.settings)
        if not spec.api_key:
            raise NotSent(NO_KEY)
        return spec

    def totals(self, notebook: str) -> Totals:
        return self.book.totals(notebook)

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
        cached = self.book.cached(request, question) if question.use_cache else None
        if cached is not None:
            cached = replace(cached, history_turns=len(turns))
            return self._finish(question, cached, view, quiet=quiet)
        spec = self.client_spec()
        client = self.clients.get(spec)
        await self.check(question.parts, question.options, client)
        if await self._drop_unsupported(question, client):
            question = replace(question, options=replace(question.options, reasoning_effort=None))
            request = self.request(question, turns)
        worst = self.worst_case(question)
        reservation = self.book.reserve(question, worst) if reserve else None
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
            reply = replace(reply, history_turns=len(turns))
            if reply.outcome == "ok" and reply.finish_reason != "length":
                self.book.remember(request, reply)  # only whole answers: never a cut one
        except BaseException:
            self.book.release(reservation)
            self.activity.ended(flight)
            raise
        doubt = usage_warning(result.state.usage)
        if not (quiet or reply.usage.cost_is_estimate):  # a run reports its own rows
            doubt = doubt or overbill_warning(reply.usage.cost, worst)
        reply = self._finish(question, reply, view, reservation, flight, doubt=doubt, quiet=quiet)
        self._settle_later(question, reply, view, on_settled)
        return reply

    def _settle_later(
        self, question: Question, reply: Reply, view: View, on_settled: Settled | None
    ) -> None:
        """Fetch an estimated call's bill on the background loop (never blocking the cell)
        and put it where the estimate was, unless it is not believed (`settle`)."""
        if reply.outcome == "ok" or not (reply.usage.cost_is_estimate and reply.id):
            return  # a complete answer carries its bill (or its server bills nothing)
        spec = self.client_spec()

        async def settle() -> Reply | None:
            usage = await fetch_generation(self.clients.get(spec), reply.id)
            worst = self.worst_case(question)
            if not isinstance(usage, Usage) or unbelievable_bill(usage.cost, worst):
                return None  # not believed: the estimate stays
            kept = self.book.ledger is not None  # else: no ledger to settle, only the view
            if kept and not self.book.settle(reply.id, usage, question.notebook):
                return None  # its generation's bill is on another call already
            settled = replace(reply, usage=usage)
            self.activity.settled(settled)
            view.settled(settled, self.book.totals(question.notebook))
            if on_settled is not None:
                on_settled(settled)
            return settled

        self.settling[reply.id] = self.background.submit(settle())

    async def reconcile(self, notebook: str) -> Reconciled:
        """Settle this notebook's estimated calls (its own only) with OpenRouter's bills."""
        client = self.clients.get(self.client_spec())
        await self.load_catalog(client)
        reconciled = await reconcile_calls(
            client,
            self.book.estimated(notebook),
            lambda call: row_worst_case(call, self.catalog),
            lambda generation_id, usage: self.book.settle(generation_id, usage, notebook),
        )
        if reconciled.settled:
            self.activity.settled()
        return reconciled

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
        """Record the call, show its end, then any warning (after the usage line)."""
        if question.note:
            reply = replace(reply, attached=question.note)
        try:
            self.book.record(question, reply, reservation)
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
        totals = self.book.totals(question.notebook)
        view.finish(reply, totals, question.fmt)
        for warning in (doubt, self.book.budget_warning(question.notebook)):
            if warning:
                print(warning, file=sys.stderr)
        return reply

    async def _drop_unsupported(self, question: Question, client: Any) -> bool:
        """True (having said so in one line) when `--think` asks a model that does not
        reason, as OpenRouter's model list tells (`supported_parameters`)."""
        options = question.options
        if not options.reasoning_effort:
            return False
        await self.load_catalog(client)
        info = info_for(options.model, self.catalog)
        if info is None or info.reasons is not False:
            return False
        print(
            f"{options.model} does not reason (OpenRouter lists no `reasoning` parameter "
            "for it): --think is ignored; try a reasoning model such as openai/o4-mini",
            file=sys.stderr,
        )
        return True

    def worst_case(self, question: Question) -> Decimal | None:
        """The most this call can cost: its estimated prompt plus the longest answer; None
        when the model's price is unknown (no budget can bound it)."""
        options = question.options
        price = price_for(options.model, self.catalog)
        if price is None:
            return None
        longest = longest_answer(info_for(options.model, self.catalog), options.max_tokens)
        estimate = prompt_tokens([*self.system_parts(options), list(question.parts)])
        return price.cost(estimate, longest) + self._extras_cost(options, question.parts)

    def _extras_cost(self, options: CallOptions, parts: Sequence[Part] = ()) -> Decimal:
        """What the call's extras add to the tokens: a web search, PDF parsing."""
        cost = pdf_parsing_cost(options.pdf_engine, parts)
        if options.web_search:
            cost += web_search_cost(info_for(options.model, self.catalog), WEB_RESULTS)
        return cost

    async def dry_run(self, question: Question) -> str:
        """What would be sent and what it could cost; sends nothing."""
        from orjupyter.core.dryrun import describe_request

        turns = self.history(question)
        request = self.request(question, turns)
        cached = self.book.peek(request) if question.use_cache else None
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

    async def check(self, parts: Sequence[Part], options: CallOptions, client: Any) -> None:
        """Refuse, before sending, a model OpenRouter does not list or a prompt too long."""
        if options.model not in OFFLINE_MODELS:
            await self.load_catalog(client)
        info = info_for(options.model, self.catalog)
        if info is None:
            if self.catalog:  # the list was fetched and the model is not on it
                raise NotSent(
                    f"{options.model!r} is not a valid model ID on OpenRouter; check the "
                    "slug at https://openrouter.ai/models (nothing was sent)"
                )
            return
        messages = [*self.system_parts(options), list(parts)]
        estimate = prompt_tokens(messages)
        far_over = info.context_length and estimate > info.context_length * 1.5
        if info.context_length and not far_over and estimate > info.context_length * 0.8:
            estimate = prompt_tokens(messages, exact=True)  # near the limit: count precisely
        if info.context_length and estimate > info.context_length:
            raise NotSent(
                f"the prompt is about {estimate:,} tokens, more than {options.model}'s "
                f"context window of {info.context_length:,}; "
                f"{what_to_shorten(parts, estimate, info.context_length)} (nothing was sent)"
            )

    @staticmethod
    def system_parts(options: CallOptions) -> list[list[Part]]:
        """What estimates count besides the question: the system prompt, a `--schema`,
        the tools offered and a tool loop's rounds so far."""
        schema = (options.response_format or {}).get("json_schema")
        extra: list[list[Part]] = [[TextPart(json.dumps(schema))]] if schema else []
        extra += loop_parts(options.functions, options.exchange)
        return [[TextPart(options.system)], *extra] if options.system else extra

    async def _reply(
        self, result: CallResult, options: CallOptions, parts: Sequence[Part], client: Any
    ) -> Reply:
        state = result.state
        if state.usage is not None and state.usage.cost is not None:
            return to_reply(result, options.model, _unreachable)
        if not (state.id or result.response_id):
            # refused before a stream was opened (HTTP error, no connection): nothing billed
            return to_reply(result, options.model, lambda _state: Usage())
        await self.load_catalog(client)
        price = price_for(state.model or options.model, self.catalog)
        estimate_prompt = prompt_tokens([*self.system_parts(options), list(parts)])

        def estimate(s: StreamState) -> Usage:
            billed = s.usage
            prompt = billed.prompt_tokens if billed else None
            completion = billed.completion_tokens if billed else None
            if prompt is None:
                prompt = estimate_prompt
            if completion is None:
                completion = s.content_chunks + s.reasoning_chunks
            reasoning = billed.reasoning_tokens if billed else s.reasoning_chunks
            return estimated_usage(price, prompt, completion, reasoning=reasoning or 0)

        return to_reply(result, options.model, estimate)

    async def load_catalog(self, client: Any) -> None:
        """Fetch `/models` once per session; on failure fall back to built-in prices."""
        if self.catalog is not None:
            return
        try:
            await self.models(client, refresh=True)
        except Exception:  # prices are a courtesy; the offline table still applies
            self.catalog = {}

    async def models(self, client: Any, *, refresh: bool = False) -> list[dict[str, Any]]:
        """OpenRouter's model list (`GET /models`), fetched once and kept with its time."""
        if refresh or self.model_entries is None:
            page = await client.models.list()
            secrets = (client.api_key,) if isinstance(client.api_key, str) else ()
            self.model_entries = [
                cast(dict[str, Any], redact_json(model.model_dump(), secrets))
                for model in page.data
            ]
            self.models_fetched_at = datetime.now(timezone.utc)
            self.catalog = catalog_from_models(self.model_entries)
        return self.model_entries

    async def credits(self, client: Any) -> dict[str, Any]:
        """The key's usage, limit and remaining credit (`GET /key`)."""
        body = await client.get("/key", cast_to=object)
        secrets = (client.api_key,) if isinstance(client.api_key, str) else ()
        return cast(dict[str, Any], redact_json(body, secrets))


def _unreachable(state: StreamState) -> Usage:
    raise AssertionError("billed usage is present; no estimate needed")
