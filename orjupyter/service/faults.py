"""SDK exceptions → one line a person can act on. Never includes the API key.

This is where a server's own words (error bodies, mid-stream error objects) enter the
package: `describe` passes everything it returns through `redact`, with the configured key,
so a server that reflects the request's headers cannot put the key on screen, in a saved
notebook, in the ledger or in a log.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orjupyter.core.redact import redact
from orjupyter.core.terminal import printable

NO_KEY = (
    "no OpenRouter API key (nothing was sent): create one at https://openrouter.ai/keys, then "
    "set OPENROUTER_API_KEY in the environment, or run `%gpt4o key` to enter it for this session"
)

_HINTS: Mapping[int, str] = {
    400: "check the model slug and the cell's options",
    401: "check OPENROUTER_API_KEY (or run `%gpt4o key`); keys are at https://openrouter.ai/keys",
    402: "add credits at https://openrouter.ai/settings/credits or lower --max-tokens",
    403: "the request was refused by moderation; no credits were charged",
    404: "check OPENROUTER_BASE_URL and the model slug",
    408: "the provider timed out; re-run the cell",
    413: "the request is too large; use fewer or smaller images, or less text",
    429: "rate limited; wait a moment and re-run the cell",
    502: "the model's provider failed; re-run, or pick another model with -m",
    503: "no provider is available for this model right now; re-run later or use -m",
}


def _error_object(body: Any) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        return inner if isinstance(inner, Mapping) else {}
    return {}


def _openrouter_message(body: Any) -> str | None:
    error = _error_object(body)
    message = error.get("message")
    if not isinstance(message, str) or not message:
        return None
    message = message[:4000]
    metadata = error.get("metadata")
    if isinstance(metadata, Mapping):
        reasons = metadata.get("reasons")
        if isinstance(reasons, list) and reasons:
            message += f" (reasons: {', '.join(map(str, reasons))})"
        provider = metadata.get("provider_name")
        if isinstance(provider, str) and provider:
            message += f" (provider: {provider})"
    return message


def one_line(text: str, limit: int = 300) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_message(status: int, body: Any, retry_after: str | None = None) -> str:
    """`HTTP 402 from OpenRouter: Insufficient credits… — add credits at …`."""
    message = _openrouter_message(body)
    if message is None:
        kind = "an HTML error page" if isinstance(body, str) and "<" in body else "no message"
        message = f"{kind}, not OpenRouter's JSON (a proxy or gateway in between failed?)"
    hint = _HINTS.get(status) or ("re-run the cell later" if status >= 500 else "")
    if status == 429 and retry_after:
        hint = f"rate limited; retry after {retry_after} s"
    return f"HTTP {status} from OpenRouter: {message}" + (f" — {hint}" if hint else "")


def describe(
    exc: BaseException,
    received: int | None,
    *,
    base_url: str,
    timeout: float,
    secrets: tuple[str, ...] = (),
) -> str:
    """Any failure of a call as one line, with the key (`secrets`) and anything shaped like
    a credential hidden. `received`: characters that had arrived, or None when the stream
    never opened."""
    line = redact(_explain(exc, _Context(received, base_url, timeout)), secrets)
    return one_line(printable(line), 600)


def _explain(exc: BaseException, context: _Context) -> str:
    for kind, explain in _explainers():
        if isinstance(exc, kind):
            return explain(exc, context)
    return f"{type(exc).__name__}: {str(exc)[:2000]}"


@dataclass(frozen=True)
class _Context:
    received: int | None
    base_url: str
    timeout: float


def _status(exc: Any, _context: _Context) -> str:
    return status_message(exc.status_code, exc.body, exc.response.headers.get("retry-after"))


def _idle(exc: Any, context: _Context) -> str:
    return (
        f"no data from {context.base_url} for {exc.seconds:g} s (read timeout) after "
        f"{context.received or 0:,} characters; re-run the cell, or allow longer with "
        "`%config OrJupyter.timeout = 1200`"
    )


def _timeout(_exc: Any, context: _Context) -> str:
    return (
        f"no data from {context.base_url} for {context.timeout:g} s (read timeout); re-run "
        "the cell, or allow longer with `%config OrJupyter.timeout = 1200`"
    )


def _connection(exc: Any, context: _Context) -> str:
    if context.received is not None:
        return f"the connection dropped after {context.received:,} characters; re-run the cell"
    cause = exc.__cause__ or exc.__context__
    why = f" ({str(cause)[:500]})" if cause else ""
    return f"cannot reach {context.base_url}{why}; check your network and OPENROUTER_BASE_URL"


def _response_timeout(exc: Any, context: _Context) -> str:
    return (
        f"no complete response from {context.base_url} within {exc.seconds:g} s; re-run the "
        "cell, or allow longer with `%config OrJupyter.timeout = 1200`"
    )


def _unexpected(exc: Any, context: _Context) -> str:
    where = f" after a redirect to {exc.redirected_to}" if exc.redirected_to else ""
    return (
        f"the server answered HTTP 200 with {exc.what}{where}, not a streamed answer: a "
        f"captive portal, proxy login or wrong address? Check {context.base_url} "
        "(OPENROUTER_BASE_URL) in a browser; nothing was answered"
    )


def _empty_stream(_exc: Any, context: _Context) -> str:
    return (
        f"the event stream from {context.base_url} ended without one event that could be "
        "read (events not separated by blank lines?); nothing was answered — check "
        "OPENROUTER_BASE_URL"
    )


def _oversized(exc: Any, _context: _Context) -> str:
    return (
        f"the server sent more text than any model answers with ({exc.characters:,} "
        "characters); the call was ended and nothing was cached"
    )


def _not_utf8(_exc: Any, context: _Context) -> str:
    return (
        f"the server sent text that is not valid UTF-8 after {context.received or 0:,} "
        "characters; the partial text is kept; re-run the cell"
    )


def _malformed(_exc: Any, context: _Context) -> str:
    return (
        f"the server sent a malformed chunk (not JSON) after {context.received or 0:,} "
        "characters; re-run the cell"
    )


def _broken_stream(exc: Any, _context: _Context) -> str:
    message = _openrouter_message(exc.body) or exc.message
    code = _error_object(exc.body).get("code")
    label = f"error {code}" if code else "error"
    return f"the stream broke off with {label}: {message}; re-run the cell"


Explainer = Callable[[Any, _Context], str]


def _explainers() -> list[tuple[type[BaseException], Explainer]]:
    """Most specific first: the SDK's timeout is a connection error, both are API errors."""
    import json

    import openai

    from orjupyter.core.stream import OversizedAnswer
    from orjupyter.service.call import EmptyStream, IdleTimeout, ResponseTimeout, UnexpectedResponse

    return [
        (openai.APIStatusError, _status),
        (IdleTimeout, _idle),
        (ResponseTimeout, _response_timeout),
        (UnexpectedResponse, _unexpected),
        (EmptyStream, _empty_stream),
        (OversizedAnswer, _oversized),
        (UnicodeDecodeError, _not_utf8),
        (openai.APITimeoutError, _timeout),
        (openai.APIConnectionError, _connection),
        (json.JSONDecodeError, _malformed),
        (openai.APIError, _broken_stream),
    ]


RETRIED_STATUSES = frozenset({408, 409, 429})
MAX_RETRY_AFTER = 60.0


def retry_delay(exc: BaseException, attempt: int, max_retries: int) -> float | None:
    """Seconds to wait before retrying a request that failed before streaming, or None.

    Retried: 408, 409, 429, 5xx and connection failures, with exponential backoff
    (0.5 s × 2ⁿ, at most 8 s, with jitter) or the server's `Retry-After` (up to 60 s).
    Never retried: 400, 401, 402, 403, 404, 413, 422 — they would fail again.
    """
    import openai

    if attempt >= max_retries:
        return None
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status not in RETRIED_STATUSES and status < 500:
            return None
        after = _retry_after(exc.response.headers.get("retry-after"))
        if after is not None:
            return after
    elif not isinstance(exc, openai.APIConnectionError):
        return None
    backoff: float = min(0.5 * 2.0**attempt, 8.0)
    return backoff * (1 - 0.25 * random.random())


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            import email.utils  # only a Retry-After date needs it

            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
