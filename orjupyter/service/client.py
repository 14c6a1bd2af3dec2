"""The one place an OpenRouter client is made. Everything else receives it."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from orjupyter.core.request import attribution_headers
from orjupyter.core.settings import Settings


@dataclass(frozen=True)
class ClientSpec:
    base_url: str
    api_key: str
    timeout: float
    connect_timeout: float
    max_retries: int
    app_url: str
    app_title: str

    def __repr__(self) -> str:  # the key never appears in a repr
        return f"ClientSpec(base_url={self.base_url!r}, api_key='<hidden>')"

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientSpec:
        return cls(
            base_url=settings.resolved_base_url(),
            api_key=settings.resolved_key(),
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
            max_retries=settings.max_retries,
            app_url=settings.app_url,
            app_title=settings.app_title,
        )


def make_client(spec: ClientSpec) -> Any:
    """An `openai.AsyncOpenAI` pointed at OpenRouter, with app attribution headers."""
    import openai

    return openai.AsyncOpenAI(
        base_url=spec.base_url,
        api_key=spec.api_key,
        timeout=openai.Timeout(spec.timeout, connect=spec.connect_timeout),
        max_retries=0,  # orjupyter retries itself, so the status line can say so
        default_headers=attribution_headers(spec.app_url, spec.app_title),
    )


class ClientCache:
    """Reuses a client (and its connections) per event loop and settings."""

    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[ClientSpec, Any]]
        self._clients = weakref.WeakKeyDictionary()

    def get(self, spec: ClientSpec) -> Any:
        loop = asyncio.get_running_loop()
        per_loop = self._clients.setdefault(loop, {})
        client = per_loop.get(spec)
        if client is None:
            client = per_loop[spec] = make_client(spec)
        return client

    def close_all(self, timeout: float = 5.0) -> None:
        """Close every client on every loop still open (the extension is unloaded)."""
        for loop, clients in list(self._clients.items()):
            self._clients.pop(loop, None)
            if not loop.is_closed():
                _run_on(loop, _close(list(clients.values())), timeout)

    async def close_current(self) -> None:
        """Close this loop's clients and their connections (before a private loop ends)."""
        await _close(list(self._clients.pop(asyncio.get_running_loop(), {}).values()))


async def _close(clients: list[Any]) -> None:
    for client in clients:
        await client.close()


_closing: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks


def _run_on(
    loop: asyncio.AbstractEventLoop, job: Coroutine[Any, Any, None], timeout: float
) -> None:
    """Run `job` on `loop` from whichever thread this is, as far as the loop allows."""
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:  # this very thread is inside the loop: as soon as it can
        task = loop.create_task(job)
        _closing.add(task)
        task.add_done_callback(_closing.discard)
    elif loop.is_running():  # another thread runs it
        asyncio.run_coroutine_threadsafe(job, loop).result(timeout)
    else:
        loop.run_until_complete(job)
