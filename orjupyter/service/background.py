"""`--bg`: answers that stream in a background thread while other cells run.

The thread has its own event loop, so a background answer keeps streaming even while a
later cell blocks. The panel is shown by the cell itself, before the answer starts; its
widgets update over comms, and the final output replaces it by display id, which
JupyterLab, Notebook 7 and nbclient route to the cell that shows it whatever cell is
running at the time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from orjupyter.core.domain import Reply


class BackgroundLoop:
    """One daemon thread running an event loop, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._unpublished: list[Callable[[], None]] = []

    def finished(self, republish: Callable[[], None]) -> None:
        """A background answer ended; its final output is re-sent from the next cell."""
        with self._lock:
            self._unpublished.append(republish)

    def flush(self) -> None:
        """Re-send finished answers' final outputs from the cell running now: headless
        runners (nbclient, papermill) record only what arrives for the running cell."""
        with self._lock:
            pending, self._unpublished = self._unpublished, []
        for republish in pending:
            republish()

    def on_cell(self, *_info: object) -> None:
        """IPython's pre_run_cell event."""
        self.flush()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="orjupyter-background", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def cancel_all(self, timeout: float = 5.0) -> None:
        """Cancel every answer still running here, and wait for them to wind down."""
        loop = self._loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and close its loop (after `cancel_all`)."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()

    def submit(self, coroutine: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class PendingReply:
    """The `-o` value of a `--bg` cell while its answer streams.

    Using it waits for the answer: `r.text`, `r.usage`, `r.wait()`, or `await r` in an
    async cell. When the answer is complete, the variable is replaced by the `Reply`.
    """

    def __init__(
        self,
        future: concurrent.futures.Future[Any],
        name: str,
        on_first_wait: Callable[[], None] | None = None,
    ) -> None:
        self._future = future
        self._name = name
        self._on_first_wait = on_first_wait

    def done(self) -> bool:
        return self._future.done()

    def wait(self, timeout: float | None = None) -> Reply:
        """The reply, once complete; raises what the call raised (one line, as a cell would)."""
        try:
            reply: Reply = self._future.result(timeout)
        finally:
            if self._future.done() and self._on_first_wait is not None:
                callback, self._on_first_wait = self._on_first_wait, None
                callback()
        return reply

    def __await__(self) -> Any:
        return asyncio.wrap_future(self._future).__await__()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.wait(), name)

    def __repr__(self) -> str:
        if not self._future.done():
            return f"<{self._name}: answer still streaming; {self._name}.wait() waits for it>"
        return (
            repr(self._future.result())
            if self._future.exception() is None
            else (f"<{self._name}: failed: {self._future.exception()}>")
        )
