"""The one place every call in this kernel reports to: started, growing, recorded.

`Session.ask` tells its `Activity` when a call starts (with its Stop handle), each time the
answer grows, and when the call's ledger row has been written (or the call ended without
one: refused, failed before sending, interrupted). Anything that runs calls outside
`Session.ask` (a `--map` over rows, a `--compare` of models) tells it the same three things,
so whoever listens (the notebook's live panel) sees every call without knowing who made it.

Listeners are called on the thread of the call (the kernel's loop, or the `--bg` thread);
they must be quick and never raise into the call: a listener that fails is reported once
on stderr and dropped.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from orjupyter.core.domain import Reply
from orjupyter.service.call import Stopper

PROGRESS_PER_SECOND = 10
"""How often listeners hear that a call's answer grew."""

EventKind = Literal["started", "progress", "recorded", "ended", "settled"]


@dataclass
class CallInFlight:
    """One call between its start and its ledger row."""

    number: int
    notebook: str
    cell: str | None
    model: str
    stopper: Stopper
    since: float = field(default_factory=time.monotonic)
    characters: int = 0
    told: float = 0.0
    """When listeners last heard of its progress (monotonic seconds)."""

    def seconds(self) -> float:
        return time.monotonic() - self.since


@dataclass(frozen=True)
class ActivityEvent:
    """What happened: a call `started`, its answer grew (`progress`), its ledger row was
    written (`recorded`, with the reply; `call` is None for an answer from the cache), it
    `ended` without a row, or an estimated row was `settled` with OpenRouter's bill."""

    kind: EventKind
    call: CallInFlight | None
    reply: Reply | None = None


Listener = Callable[[ActivityEvent], None]


class Activity:
    """Calls in flight in this kernel, and the listeners told of every change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._flying: dict[int, CallInFlight] = {}
        self._numbers = itertools.count(1)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Tell `listener` of every event from now on; returns what stops that."""
        with self._lock:
            self._listeners.append(listener)

        def stop_listening() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop_listening

    def in_flight(self, notebook: str | None = None) -> list[CallInFlight]:
        """The calls running now (of one notebook, or all), oldest first."""
        with self._lock:
            calls = list(self._flying.values())
        return [c for c in calls if notebook is None or c.notebook == notebook]

    def started(
        self, notebook: str, cell: str | None, model: str, stopper: Stopper
    ) -> CallInFlight:
        with self._lock:
            call = CallInFlight(next(self._numbers), notebook, cell, model, stopper)
            self._flying[call.number] = call
        self._tell(ActivityEvent("started", call))
        return call

    def progress(self, call: CallInFlight, characters: int) -> None:
        """The answer has grown to `characters`; listeners hear of it at most
        `1 / PROGRESS_PER_SECOND` apart (this runs for every chunk of the stream)."""
        call.characters = characters
        now = time.monotonic()
        if now - call.told >= 1 / PROGRESS_PER_SECOND:
            call.told = now
            self._tell(ActivityEvent("progress", call))

    def recorded(self, call: CallInFlight | None, reply: Reply) -> None:
        """The call's ledger row is written (`call` None: an answer from the cache)."""
        self._land(call)
        self._tell(ActivityEvent("recorded", call, reply))

    def settled(self, reply: Reply | None = None) -> None:
        """Estimated ledger rows now hold their exact bill (`reply`: the settled one, when
        there is one; None after `%gpt4o reconcile`)."""
        self._tell(ActivityEvent("settled", None, reply))

    def ended(self, call: CallInFlight) -> None:
        """The call is over and left no ledger row."""
        self._land(call)
        self._tell(ActivityEvent("ended", call))

    def _land(self, call: CallInFlight | None) -> None:
        if call is not None:
            with self._lock:
                self._flying.pop(call.number, None)

    def _tell(self, event: ActivityEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception as exc:  # a view's failure must never break a call
                with self._lock:
                    if listener in self._listeners:
                        self._listeners.remove(listener)
                print(
                    f"orjupyter: a live view stopped updating ({exc!r}); calls are still "
                    "recorded: show it again (%gpt4o panel)",
                    file=sys.stderr,
                )
