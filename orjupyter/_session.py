"""What one notebook's kernel remembers: settings, clients, the model list, running totals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._call import CallResult, StreamedCall, to_reply
from ._client import ClientCache, ClientSpec
from ._config import OrJupyter
from ._domain import Part, Reply, TextPart, Totals, Usage
from ._errors import NO_KEY, OrJupyterError, describe, retry_delay
from ._panel import View
from ._pricing import (
    OFFLINE_MODELS,
    ModelInfo,
    catalog_from_models,
    estimated_usage,
    info_for,
    price_for,
    prompt_tokens,
)
from ._request import CallOptions, build_request
from ._stream import StreamState


@dataclass
class Session:
    settings: OrJupyter
    clients: ClientCache = field(default_factory=ClientCache)
    totals: Totals = field(default_factory=Totals)
    catalog: dict[str, ModelInfo] | None = None

    def client_spec(self) -> ClientSpec:
        spec = ClientSpec.from_settings(self.settings)
        if not spec.api_key:
            raise OrJupyterError(NO_KEY)
        return spec

    async def ask(self, parts: Sequence[Part], options: CallOptions, view: View) -> Reply:
        """Send one prompt, stream it into the view, account for it."""
        spec = self.client_spec()
        client = self.clients.get(spec)
        await self.check(parts, options, client)
        call = StreamedCall(
            client=client,
            request=build_request(parts, options),
            on_text=view.on_text,
            describe_error=lambda exc, received: describe(
                exc, received, base_url=spec.base_url, timeout=spec.timeout
            ),
            retry_delay=lambda exc, attempt: retry_delay(exc, attempt, spec.max_retries),
            on_retry=view.on_retry,
            idle_timeout=spec.timeout,
        )
        view.start(call.stopper)
        result = await call.run()
        reply = await self._reply(result, options, parts, client)
        self.totals = self.totals.add(reply.usage)
        view.finish(reply, self.totals)
        return reply

    async def check(self, parts: Sequence[Part], options: CallOptions, client: Any) -> None:
        """Refuse, before sending, a model OpenRouter does not list or a prompt too long."""
        if options.model not in OFFLINE_MODELS:
            await self._load_catalog(client)
        info = info_for(options.model, self.catalog)
        if info is None:
            if self.catalog:  # the list was fetched and the model is not on it
                raise OrJupyterError(
                    f"{options.model!r} is not a valid model ID on OpenRouter; check the "
                    "slug at https://openrouter.ai/models (nothing was sent)"
                )
            return
        estimate = prompt_tokens([*self._system_parts(options), list(parts)])
        if info.context_length and estimate > info.context_length:
            raise OrJupyterError(
                f"the prompt is about {estimate:,} tokens, more than {options.model}'s "
                f"context window of {info.context_length:,}; shorten it (nothing was sent)"
            )

    @staticmethod
    def _system_parts(options: CallOptions) -> list[list[Part]]:
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
        await self._load_catalog(client)
        price = price_for(state.model or options.model, self.catalog)
        estimate_prompt = prompt_tokens([*self._system_parts(options), list(parts)])

        def estimate(s: StreamState) -> Usage:
            prompt = s.usage.prompt_tokens if s.usage else estimate_prompt
            completion = s.usage.completion_tokens if s.usage else s.content_chunks
            return estimated_usage(price, prompt, completion)

        return to_reply(result, options.model, estimate)

    async def _load_catalog(self, client: Any) -> None:
        """Fetch `/models` once per session; on failure fall back to built-in prices."""
        if self.catalog is not None:
            return
        try:
            page = await client.models.list()
            entries = [model.model_dump() for model in page.data]
        except Exception:  # prices are a courtesy; the offline table still applies
            entries = []
        self.catalog = catalog_from_models(entries)


def _unreachable(state: StreamState) -> Usage:
    raise AssertionError("billed usage is present; no estimate needed")
