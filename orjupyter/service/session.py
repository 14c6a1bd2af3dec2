"""What one kernel remembers and does for a question: history, cache, budget, the call,
and the ledger entry. The magic parses; the views show; this module decides."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, cast

from orjupyter.core.domain import Part, Reply, TextPart, Totals, Usage, format_cost
from orjupyter.core.errlog import ErrorLog
from orjupyter.core.errors import NotSent
from orjupyter.core.pricing import (
    OFFLINE_MODELS,
    ModelInfo,
    catalog_from_models,
    estimated_usage,
    info_for,
    price_for,
    prompt_tokens,
    web_search_cost,
)
from orjupyter.core.question import Question
from orjupyter.core.redact import redact_json
from orjupyter.core.request import WEB_RESULTS, CallOptions, build_request
from orjupyter.core.settings import Settings
from orjupyter.core.stream import StreamState, usage_warning
from orjupyter.core.thread import Threads, Turn, history_budget, history_messages, trim_history
from orjupyter.service.activity import Activity, CallInFlight
from orjupyter.service.background import BackgroundLoop
from orjupyter.service.call import CallResult, StreamedCall, to_reply
from orjupyter.service.client import ClientCache, ClientSpec
from orjupyter.service.faults import NO_KEY, describe, retry_delay
from orjupyter.service.settle import fetch_generation
from orjupyter.service.views import View
from orjupyter.store.records import Records

DEFAULT_MAX_COMPLETION = 16_384
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
        """End what the session holds open: background answers, connections, the loop,
        the ledger."""
        self.background.cancel_all()
        self.clients.close_all()
        self.background.close()
        self.book.close()

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
        reservation = self.book.reserve(question, self.worst_case(question)) if reserve else None
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
        reply = self._finish(question, reply, view, reservation, flight, doubt=doubt, quiet=quiet)
        self._settle_later(question, reply, view, on_settled)
        return reply

    def _settle_later(
        self, question: Question, reply: Reply, view: View, on_settled: Settled | None
    ) -> None:
        """Fetch the exact bill of an estimated call on the background loop (never blocking
        the cell) and put it where the estimate was."""
        if reply.outcome == "ok" or not (reply.usage.cost_is_estimate and reply.id):
            return  # a complete answer carries its bill (or its server bills nothing)
        spec = self.client_spec()

        async def settle() -> Reply | None:
            usage = await fetch_generation(self.clients.get(spec), reply.id)
            if usage is None:
                return None
            settled = replace(reply, usage=usage)
            self.book.settle(reply.id, usage)
            self.activity.settled(settled)
            view.settled(settled, self.book.totals(question.notebook))
            if on_settled is not None:
                on_settled(settled)
            return settled

        self.settling[reply.id] = self.background.submit(settle())

    async def reconcile(self, notebook: str) -> tuple[int, int, Decimal]:
        """Re-check this notebook's estimated calls: (settled, still estimated, change)."""
        client = self.clients.get(self.client_spec())
        calls = self.book.estimated(notebook)
        settled, change = 0, Decimal(0)
        for call in calls:
            usage = await fetch_generation(client, call.generation_id, delays=(0.3,))
            if usage is not None and self.book.settle(call.generation_id, usage):
                settled += 1
                change += usage.cost - call.usage.cost
        if settled:
            self.activity.settled()
        return settled, len(calls) - settled, change

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
        if question.thread and reply.outcome == "ok":
            self.threads.append(question.thread, Turn.from_parts(question.parts, reply.text))
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
        info = info_for(options.model, self.catalog)
        longest = options.max_tokens or (
            info.max_completion_tokens if info and info.max_completion_tokens else None
        )
        estimate = prompt_tokens([*self.system_parts(options), list(question.parts)])
        extras = self._extras_cost(options, question.parts)
        return price.cost(estimate, longest or DEFAULT_MAX_COMPLETION) + extras

    def _extras_cost(self, options: CallOptions, parts: Sequence[Part] = ()) -> Decimal:
        """What the call's extras add to the tokens: a web search, PDF parsing."""
        cost = _pdf_parsing(options, parts)
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
            pdf_parsing=_pdf_parsing(options, question.parts) if options.pdf_engine else None,
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
                f"context window of {info.context_length:,}; shorten it (nothing was sent)"
            )

    @staticmethod
    def system_parts(options: CallOptions) -> list[list[Part]]:
        return [[TextPart(options.system)]] if options.system else []

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


def _pdf_parsing(options: CallOptions, parts: Sequence[Part]) -> Decimal:
    """What `--pdf-engine` adds for the PDFs among `parts` (per page)."""
    from orjupyter.core.domain import FilePart
    from orjupyter.core.pdf import OCR_PAGE_PRICE

    price = Decimal(OCR_PAGE_PRICE.get(options.pdf_engine or "native", "0"))
    return price * sum(part.pages for part in parts if isinstance(part, FilePart))


def _unreachable(state: StreamState) -> Usage:
    raise AssertionError("billed usage is present; no estimate needed")
