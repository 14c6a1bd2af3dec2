"""One chat call, streamed by awaiting, so a Stop click can land while it runs.

The stream is consumed in its own task. `Stopper.stop()` cancels that task (from any
thread); the task then closes the HTTP response, so the server sees the client go away
and billing ends, and the partial answer is kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orjupyter.core.domain import Outcome, Reply, Usage
from orjupyter.core.redact import redact, redact_answer
from orjupyter.core.stream import StreamState, ended_early, offers_functions
from orjupyter.core.terminal import printable

TextListener = Callable[[StreamState], None]
UsageEstimator = Callable[[StreamState], Usage]
ErrorDescriber = Callable[[BaseException, int | None], str]
"""Failure → one line; the int is how many characters had arrived (None: before the stream)."""
RetryDelay = Callable[[BaseException, int], float | None]
"""Failure before the stream, attempt number → seconds to wait, or None not to retry."""
RetryListener = Callable[[int, float, str], None]
"""(attempt, delay in seconds, what failed) → shown while waiting."""


class IdleTimeout(Exception):
    """No data arrived for the configured time (keepalive comments do not count)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no data for {seconds:g} s")
        self.seconds = seconds


class ResponseTimeout(Exception):
    """The response's headers did not arrive within the timeout (however slowly they
    trickled in): the timeout holds for the whole wait, not for each read."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no response within {seconds:g} s")
        self.seconds = seconds


class UnexpectedResponse(Exception):
    """HTTP 200, but not an event stream of an answer: `what` names what came back."""

    def __init__(self, what: str, redirected_to: str | None = None) -> None:
        super().__init__(what)
        self.what, self.redirected_to = what, redirected_to


class EmptyStream(Exception):
    """An event stream that ended without one event the client could read."""


NON_STREAM_LIMIT = 2 * 2**20
"""Bytes of a response that is not an event stream read to say what it is."""


class _Watchdog:
    """Cancels a task when it has not been `touch`ed for `timeout` seconds. O(1) per touch."""

    def __init__(self, task: asyncio.Task[Any], timeout: float) -> None:
        self.loop = task.get_loop()
        self.task, self.timeout = task, timeout
        self.last = self.loop.time()
        self.fired = False
        self.handle = self.loop.call_later(timeout, self._check)

    def touch(self) -> None:
        self.last = self.loop.time()

    def clock(self) -> Callable[[], float]:
        """What `touch` reads: asyncio's own loop reads `time.monotonic`, called directly."""
        if type(self.loop).time is asyncio.BaseEventLoop.time:
            return time.monotonic
        return self.loop.time

    def _check(self) -> None:
        idle = self.loop.time() - self.last
        if idle >= self.timeout:
            self.fired = True
            self.task.cancel()
        else:
            self.handle = self.loop.call_later(self.timeout - idle, self._check)

    def cancel(self) -> None:
        self.handle.cancel()


def _no_retry(_exc: BaseException, _attempt: int) -> float | None:
    return None


def _ignore_retry(_attempt: int, _delay: float, _why: str) -> None:
    return None


@dataclass
class Stopper:
    """Ends a running call early. Safe to call from a widget callback or another thread."""

    _task: asyncio.Task[Any] | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    requested: bool = False
    on_interrupt: Callable[[], None] | None = None
    """Told when the kernel interrupt (not Stop) ended this call: calls running beside it
    (`--compare`) stop too."""

    def interrupted(self) -> None:
        self.requested = True
        if self.on_interrupt is not None:
            self.on_interrupt()

    def attach(self, task: asyncio.Task[Any]) -> None:
        self._task, self._loop = task, task.get_loop()
        if self.requested:
            task.cancel()

    def stop(self) -> None:
        if self.requested:
            return
        self.requested = True
        if self._task is None or self._loop is None or self._task.done():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._task.cancel()
        else:
            self._loop.call_soon_threadsafe(self._task.cancel)


@dataclass
class CallResult:
    state: StreamState
    outcome: Outcome = "ok"
    error: str | None = None
    time_to_first_token: float | None = None
    duration: float = 0.0
    response_id: str = ""
    sent: bool = False
    """The request left for the server and was not refused: it may be billed, even if no
    header or chunk came back (a Stop while waiting for the response)."""


@dataclass
class StreamedCall:
    """A prepared request and what to do with what comes back.

    Failures before the stream opens may be retried (`retry_delay` decides); once a
    token has arrived nothing is retried. `idle_timeout` ends a stream that stops sending
    data, even if the server keeps sending keepalive comments.
    """

    client: Any
    request: dict[str, Any]
    on_text: TextListener
    describe_error: ErrorDescriber
    stopper: Stopper = field(default_factory=Stopper)
    retry_delay: RetryDelay = _no_retry
    on_retry: RetryListener = _ignore_retry
    idle_timeout: float = 600.0
    secrets: tuple[str, ...] = ()

    async def run(self) -> CallResult:
        if self.stopper.requested:  # stopped before it began: nothing is sent
            return CallResult(StreamState(), outcome="stopped")
        task = asyncio.ensure_future(self._consume())
        self.stopper.attach(task)
        try:
            return await task
        except asyncio.CancelledError:
            if task.done() and not task.cancelled():
                return task.result()
            if task.cancelled() and self.stopper.requested and not _cancelling():
                return CallResult(StreamState(), outcome="stopped")  # before its first step
            raise

    async def _open(self, result: CallResult) -> Any:
        attempt = 0
        while True:
            try:
                result.sent = True  # until refused: a Stop now leaves a request in flight
                return await self._create()
            except Exception as exc:
                result.sent = False  # refused or never connected: nothing to bill
                delay = self.retry_delay(exc, attempt)
                if delay is None:
                    raise
                attempt += 1
                self.on_retry(attempt, delay, self.describe_error(exc, None))
                await asyncio.sleep(delay)

    async def _create(self) -> Any:
        """The request, until its response headers arrive: at most `idle_timeout` in all."""
        try:
            return await asyncio.wait_for(
                self.client.chat.completions.create(**self.request), self.idle_timeout
            )
        except TimeoutError:
            raise ResponseTimeout(self.idle_timeout) from None

    async def _receive(
        self, stream: Any, result: CallResult, watchdog: _Watchdog, started: float
    ) -> None:
        """Read the response into `result.state`; a clean end that is not a whole answer
        sets the outcome (`incomplete`) and says why."""
        state = result.state
        if _is_page(stream.response):
            await _read_whole(stream.response, state)
            result.time_to_first_token = time.perf_counter() - started
            self.on_text(state)
        else:
            chunks = stream.__aiter__()  # one iterator, read by both loops
            async for chunk in chunks:  # until the first token
                watchdog.touch()
                shown = state.shown
                state.handle_chunk(chunk)
                if state.content_chunks or state.reasoning_chunks:
                    result.time_to_first_token = time.perf_counter() - started
                    if state.shown != shown:
                        self.on_text(state)
                    break
                if state.shown != shown:
                    self.on_text(state)
            on_text, handle, clock = self.on_text, state.handle_chunk, watchdog.clock()
            async for chunk in chunks:  # the rest: the least work per chunk
                watchdog.last = clock()
                shown = state.shown
                handle(chunk)
                if state.shown != shown:
                    on_text(state)
        if not state.chunks:
            raise EmptyStream()
        early = ended_early(state, functions=offers_functions(self.request))
        if early is not None:
            result.outcome, result.error = early

    async def _consume(self) -> CallResult:
        result = CallResult(StreamState(secrets=self.secrets))
        started = time.perf_counter()
        stream: Any = None
        watchdog: _Watchdog | None = None
        try:
            stream = await self._open(result)
            result.response_id = stream.response.headers.get("x-generation-id", "")
            task = asyncio.current_task()
            assert task is not None
            watchdog = _Watchdog(task, self.idle_timeout)
            await self._receive(stream, result, watchdog, started)
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            if isinstance(exc, KeyboardInterrupt):
                self.stopper.interrupted()
            if watchdog is not None and watchdog.fired:
                result.outcome = "error"
                result.error = self.describe_error(
                    IdleTimeout(self.idle_timeout), result.state.length
                )
            else:
                result.outcome = "stopped"
        except Exception as exc:  # every failure becomes one line; the partial text stays
            received = result.state.length if stream is not None else None
            result.outcome, result.error = "error", self.describe_error(exc, received)
        finally:
            result.state.release()  # the stream has ended: the held-back tails too
            if watchdog is not None:
                watchdog.cancel()
            if stream is not None:
                await _close_quietly(stream)
                # Dropping the stream lets the SDK's inner async generators be finalised
                # now, on this loop, rather than at interpreter exit.
                stream = None
                await asyncio.sleep(0)
            result.duration = time.perf_counter() - started
        return result


def _is_page(response: Any) -> bool:
    """A JSON or HTML page rather than an event stream. Anything else (an event stream, or
    a server that labels its stream oddly) is read as events."""
    kind = str(response.headers.get("content-type", "")).split(";")[0].strip().lower()
    return kind.endswith(("/json", "+json", "/html", "+xml"))


async def _read_whole(response: Any, state: StreamState) -> None:
    """A 200 that is not an event stream: a JSON chat completion (a server that ignores
    `stream: true`) is taken as the answer; anything else raises `UnexpectedResponse`."""
    import json

    kind = str(response.headers.get("content-type", "")).split(";")[0].strip().lower()
    body = bytearray()
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) > NON_STREAM_LIMIT:
            break
    moved = str(response.url) if response.history else None
    try:
        parsed = json.loads(bytes(body))
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict) and state.take_completion(parsed):
        return
    raise UnexpectedResponse(_what_came_back(kind, bytes(body), parsed), moved)


def _what_came_back(kind: str, body: bytes, parsed: object) -> str:
    import re

    if "html" in kind or body.lstrip()[:1] == b"<":
        title = re.search(rb"<title[^>]*>([^<]{1,80})", body, re.IGNORECASE)
        named = f" titled {title.group(1).decode(errors='replace').strip()!r}" if title else ""
        return f"an HTML page{named}"
    if parsed is not None:
        return f"a JSON page ({kind or 'no content type'}) that is not a chat completion"
    return f"{len(body):,} bytes of {kind or 'unlabelled data'}"


def _cancelling() -> bool:
    """True when the task running this was itself cancelled (not only the call's task)."""
    cancelling = getattr(asyncio.current_task(), "cancelling", None)  # Python 3.11+
    return bool(cancelling()) if cancelling is not None else False


async def _close_quietly(stream: Any) -> None:
    try:
        await asyncio.shield(stream.close())
    except (Exception, asyncio.CancelledError):
        return


def to_reply(result: CallResult, model: str, estimate: UsageEstimator) -> Reply:
    """A finished call as a Reply: billed usage when OpenRouter sent a cost, else an estimate."""
    state = result.state
    state.release()
    billed = state.usage.to_usage() if state.usage else None

    def label(value: str | None) -> str | None:  # the server's words: short, no secrets
        return None if value is None else printable(redact(str(value)[:200], state.secrets))

    def model_text(value: str) -> str:  # redacted as it streamed; checked once more, whole
        return redact_answer(value, state.secrets) if state.secrets else value

    return Reply(
        text=model_text(state.text),
        model=label(state.model) or model,
        id=label(state.id or result.response_id) or "",
        usage=billed or estimate(state),
        outcome=result.outcome,
        finish_reason=label(state.finish_reason),
        error=result.error,
        time_to_first_token=result.time_to_first_token,
        duration=result.duration,
        provider=label(state.provider),
        reasoning=model_text(state.reasoning),
        citations=tuple(state.citations),
        tool_calls=state.tool_calls,
        reasoning_details=tuple(state.reasoning_details),
    )
