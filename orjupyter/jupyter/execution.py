"""How a `%%gpt4o` cell runs: awaited on the kernel's loop, or to completion when called
the classic way. An input transformer turns the cell into a top-level `await`, so IPython
runs it on the kernel's event loop and a Stop click (a comm message) reaches the kernel
while the answer streams."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from orjupyter.core.errors import OrJupyterError
from orjupyter.jupyter.door import speaking_plainly

if TYPE_CHECKING:
    pass


def run_sync(
    coroutine: Coroutine[Any, Any, Any],
    on_exit: Callable[[], Awaitable[None]] | None = None,
) -> Any:
    """Run a coroutine from synchronous code, whether or not a loop is running here.

    It runs on a private loop; `on_exit` runs on that loop before it closes (to close
    connections made for it)."""

    async def main() -> Any:
        try:
            return await coroutine
        finally:
            if on_exit is not None:
                await on_exit()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(main())
        except BaseException as exc:  # handed back to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="orjupyter-call", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


async def run_cell(name: str, line: str, cell: str) -> None:
    """What a transformed `%%gpt4o` cell awaits."""
    from IPython import get_ipython

    shell = get_ipython()
    magics = shell.magics_manager.registry.get("OrJupyterMagics") if shell else None
    expanded = shell.var_expand(line, depth=1) if shell else line
    waking = asyncio.ensure_future(_wake_often())
    in_terminal = shell is not None and getattr(shell, "kernel", None) is None
    restore = _ctrl_c_cancels_this_task() if in_terminal else None
    try:
        with speaking_plainly():
            if magics is None:
                raise OrJupyterError("orjupyter is not loaded: run %load_ext orjupyter")
            await magics.ask(expanded, cell, default_model=magics.aliases.get(name))
    except (KeyboardInterrupt, asyncio.CancelledError):  # the interrupt, while preparing
        print("Stopped.", file=sys.stderr)
    finally:
        waking.cancel()
        if restore is not None:
            restore()


def _ctrl_c_cancels_this_task() -> Callable[[], None] | None:
    """Terminal IPython: make Ctrl+C cancel the running cell's task, the way Stop does.

    Otherwise SIGINT raises `KeyboardInterrupt` inside the loop's `select`, outside every
    task: the cell dies with a traceback and the partial answer, the finished `--map` rows
    and the `-o` variable are lost. (In a kernel the interrupt already lands in the task.)
    Returns what puts the previous handler back, or None where signals cannot be handled
    on this loop (not the main thread, or no Unix signals)."""
    task = asyncio.current_task()
    if task is None or threading.current_thread() is not threading.main_thread():
        return None
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, task.cancel)
    except (NotImplementedError, RuntimeError, ValueError):
        return None

    def restore() -> None:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)

    return restore


WAKE_INTERVAL = 0.1
"""Seconds between wake-ups of the kernel's loop while a cell awaits."""


async def _wake_often() -> None:
    """Wake the loop every `WAKE_INTERVAL` while a cell awaits. ipykernel turns an interrupt
    into a callback on the loop but does not wake it; a loop asleep (a stalled server, the
    user's slow `__str__` in a worker thread) would only notice when something else
    happened. With this, the interrupt ends the cell within a tenth of a second."""
    while True:
        await asyncio.sleep(WAKE_INTERVAL)
