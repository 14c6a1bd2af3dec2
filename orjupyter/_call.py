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

from ._domain import Outcome, Reply, Usage
from ._stream import StreamState

TextListener = Callable[[StreamState], None]
UsageEstimator = Callable[[StreamState], Usage]
ErrorDescriber = Callable[[BaseException], str]


@dataclass
class Stopper:
    """Ends a running call early. Safe to call from a widget callback or another thread."""

    _task: asyncio.Task[Any] | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    requested: bool = False

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


@dataclass
class StreamedCall:
    """A prepared request and what to do with what comes back."""

    client: Any
    request: dict[str, Any]
    on_text: TextListener
    describe_error: ErrorDescriber
    stopper: Stopper = field(default_factory=Stopper)

    async def run(self) -> CallResult:
        task = asyncio.ensure_future(self._consume())
        self.stopper.attach(task)
        try:
            return await task
        except asyncio.CancelledError:
            if task.done() and not task.cancelled():
                return task.result()
            raise

    async def _consume(self) -> CallResult:
        result = CallResult(StreamState())
        started = time.perf_counter()
        stream: Any = None
        try:
            stream = await self.client.chat.completions.create(**self.request)
            result.response_id = stream.response.headers.get("x-generation-id", "")
            async for chunk in stream:
                if result.state.handle_chunk(chunk):
                    if result.time_to_first_token is None:
                        result.time_to_first_token = time.perf_counter() - started
                    self.on_text(result.state)
        except (asyncio.CancelledError, KeyboardInterrupt):
            result.outcome = "stopped"
        except Exception as exc:  # every failure becomes one line; the partial text stays
            result.outcome, result.error = "error", self.describe_error(exc)
        finally:
            if stream is not None:
                await _close_quietly(stream)
                # Dropping the stream lets the SDK's inner async generators be finalised
                # now, on this loop, rather than at interpreter exit.
                stream = None
                await asyncio.sleep(0)
            result.duration = time.perf_counter() - started
        return result


async def _close_quietly(stream: Any) -> None:
    try:
        await asyncio.shield(stream.close())
    except (Exception, asyncio.CancelledError):
        return


def to_reply(result: CallResult, model: str, estimate: UsageEstimator) -> Reply:
    """A finished call as a Reply: billed usage when OpenRouter sent a cost, else an estimate."""
    state = result.state
    billed = state.usage.to_usage() if state.usage else None
    return Reply(
        text=state.text,
        model=state.model or model,
        id=state.id or result.response_id,
        usage=billed or estimate(state),
        outcome=result.outcome,
        finish_reason=state.finish_reason,
        error=result.error,
        time_to_first_token=result.time_to_first_token,
        duration=result.duration,
        provider=state.provider,
    )


def tokens_per_second(reply: Reply) -> float | None:
    if reply.time_to_first_token is None:
        return None
    generating = reply.duration - reply.time_to_first_token
    if generating <= 0 or reply.usage.completion_tokens <= 1:
        return None
    return (reply.usage.completion_tokens - 1) / generating
