"""What a kernel knows of OpenRouter's models: the list and its prices, the checks
before a call is sent (the model exists, the prompt fits), the most a call can cost, and
an estimate when no bill came."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, cast

from orjupyter.core.domain import Part, Reply, TextPart, Usage
from orjupyter.core.errors import NotSent
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
from orjupyter.core.request import WEB_RESULTS, CallOptions
from orjupyter.core.settings import Settings
from orjupyter.core.stream import StreamState
from orjupyter.service.call import CallResult, to_reply
from orjupyter.service.client import ClientCache, ClientSpec
from orjupyter.service.faults import NO_KEY


@dataclass
class ModelCatalog:
    """The session's first layer: how to reach OpenRouter and what its model list says."""

    settings: Settings
    clients: ClientCache = field(default_factory=ClientCache)
    catalog: dict[str, ModelInfo] | None = None
    model_entries: list[dict[str, Any]] | None = None
    models_fetched_at: datetime | None = None

    def client_spec(self) -> ClientSpec:
        spec = ClientSpec.from_settings(self.settings)
        if not spec.api_key:
            raise NotSent(NO_KEY)
        return spec

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
        if options.functions or options.exchange:  # `--tools` only
            from orjupyter.core.tools import loop_parts

            extra += loop_parts(options.functions, options.exchange)
        return [[TextPart(options.system)], *extra] if options.system else extra

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
        cost = Decimal(0)  # without an engine, PDFs are billed as input tokens
        if options.pdf_engine:
            from orjupyter.core.pdf import pdf_parsing_cost

            cost = pdf_parsing_cost(options.pdf_engine, parts)
        if options.web_search:
            cost += web_search_cost(info_for(options.model, self.catalog), WEB_RESULTS)
        return cost

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

    async def _reply(
        self, result: CallResult, options: CallOptions, parts: Sequence[Part], client: Any
    ) -> Reply:
        state = result.state
        if state.usage is not None and state.usage.cost is not None:
            return to_reply(result, options.model, _unreachable)
        if not (state.id or result.response_id or result.sent):
            # never sent, or refused (HTTP error, no connection): nothing billed
            reply = to_reply(result, options.model, lambda _state: Usage())
            return replace(reply, unsent=result.outcome == "stopped")
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
