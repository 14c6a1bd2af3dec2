"""The exact bill of a stopped or failed call, from OpenRouter's `GET /generation`.

A stream that was stopped or broke off carries no `usage`, so its cost is first recorded
at an estimate. OpenRouter knows the truth a moment later (a cancelled generation is billed
for what was generated before the cancel): `fetch_generation` asks, retrying briefly while
the generation is not yet known (404), and gives up quietly otherwise.

The answer is checked before it is believed: it must be about the generation asked for,
arrive within `GENERATION_TIMEOUT` seconds and `MAX_GENERATION_BYTES` bytes, hold numbers
that can be right, and (`reconcile_calls`) not bill far above the call's worst case.

`Settling` is the session's layer that does this after a cell has ended: it holds the
session's `records` (the ledger and the cache), what is running, and the settlements on
the background loop; `Session` (`session.py`) builds on it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from orjupyter.core.billed import usage_from_generation
from orjupyter.core.budget import unbelievable_bill
from orjupyter.core.domain import Reply, Usage
from orjupyter.core.pricing import ModelInfo, info_for, longest_answer, price_for
from orjupyter.core.question import Question
from orjupyter.service.activity import Activity
from orjupyter.service.background import BackgroundLoop
from orjupyter.service.catalog import ModelCatalog
from orjupyter.service.views import View
from orjupyter.store.columns import CallRecord
from orjupyter.store.records import Records

RETRY_DELAYS = (0.3, 0.6, 1.2, 2.4, 4.8)
"""Seconds between attempts while OpenRouter does not know the generation yet (~9 s)."""
GENERATION_TIMEOUT = 5.0
"""Seconds one `GET /generation` may take, body included (OpenRouter answers in well
under one); past it the estimate stays, and `%gpt4o reconcile` can ask again."""
MAX_GENERATION_BYTES = 64 * 1024
"""A generation's record is about 1 KB; a longer answer is not read on."""
RECONCILE_AT_ONCE = 8
"""`GET /generation` requests in flight at once during `%gpt4o reconcile`."""
_STREAMED = {"X-Stainless-Raw-Response": "stream"}
"""Asks the SDK for the response unread (as its `with_streaming_response` does)."""

Bill = Usage | str | None
Settled = Callable[[Reply], None]
"""Told the reply again once its estimated cost is replaced by OpenRouter's bill."""
"""What `GET /generation` gave: the billed usage, why its answer is not believed (one
line), or None when OpenRouter does not know the generation (or could not be asked)."""


class _Oversized(Exception):
    pass


async def fetch_generation(
    client: Any, generation_id: str, delays: tuple[float, ...] = RETRY_DELAYS
) -> Bill:
    """The billed usage of `generation_id`, why the answer is not believed, or None."""
    for delay in (*delays, None):
        try:
            body = await asyncio.wait_for(_get(client, generation_id), GENERATION_TIMEOUT)
        except _Oversized:
            return f"the answer was longer than {MAX_GENERATION_BYTES // 1024} KB"
        except asyncio.TimeoutError:  # TimeoutError from Python 3.11 on
            return f"no answer within {GENERATION_TIMEOUT:g} s"
        except Exception as exc:  # the bill is a courtesy: any failure keeps the estimate
            if getattr(exc, "status_code", None) != 404 or delay is None:
                return None
            await asyncio.sleep(delay)
            continue
        data = body.get("data") if isinstance(body, dict) else None
        return usage_from_generation(data, generation_id)
    return None


async def _get(client: Any, generation_id: str) -> Any:
    """One `GET /generation`, read up to `MAX_GENERATION_BYTES` (`_Oversized` past it)."""
    response = await client.get(
        "/generation",
        cast_to=object,
        options={
            "params": {"id": generation_id},
            "headers": _STREAMED,
            "timeout": GENERATION_TIMEOUT + 1,  # the whole request's deadline comes first
            "max_retries": 0,
        },
    )
    body = bytearray()
    try:
        async for piece in response.iter_bytes():
            body += piece
            if len(body) > MAX_GENERATION_BYTES:
                raise _Oversized
    finally:
        await response.close()
    return json.loads(body)


def row_worst_case(call: CallRecord, catalog: Mapping[str, ModelInfo] | None) -> Decimal | None:
    """The most a recorded call could have cost at list prices: its prompt tokens and
    the model's longest answer; None when its price is unknown."""
    price = price_for(call.model, catalog)
    if price is None:
        return None
    return price.cost(call.usage.prompt_tokens, longest_answer(info_for(call.model, catalog)))


@dataclass
class Reconciled:
    """What `%gpt4o reconcile` changed: each settled call with its bill, each call whose
    bill was not booked with why, and how many OpenRouter does not know (yet)."""

    settled: list[tuple[CallRecord, Usage]] = field(default_factory=list)
    refused: list[tuple[CallRecord, str]] = field(default_factory=list)
    unknown: int = 0

    @property
    def change(self) -> Decimal:
        return sum((usage.cost - call.usage.cost for call, usage in self.settled), Decimal(0))

    @property
    def left(self) -> int:
        return len(self.refused) + self.unknown


async def reconcile_calls(
    client: Any,
    calls: Sequence[CallRecord],
    worst_case: Callable[[CallRecord], Decimal | None],
    settle: Callable[[str, Usage], bool],
) -> Reconciled:
    """Ask for each generation's bill once (a few at a time) and settle one call with it:
    calls sharing a generation id get one bill between them, never one each."""
    groups: dict[str, list[CallRecord]] = {}
    for call in calls:
        groups.setdefault(call.generation_id, []).append(call)
    gate = asyncio.Semaphore(RECONCILE_AT_ONCE)

    async def ask(generation_id: str) -> Bill:
        async with gate:
            return await fetch_generation(client, generation_id, delays=(0.3,))

    bills = await asyncio.gather(*(ask(generation_id) for generation_id in groups))
    result = Reconciled()
    for (generation_id, group), bill in zip(groups.items(), bills, strict=True):
        first, *others = group
        if bill is None:
            result.unknown += len(group)
            continue
        why = bill if isinstance(bill, str) else unbelievable_bill(bill.cost, worst_case(first))
        if why is None and isinstance(bill, Usage) and not settle(generation_id, bill):
            why = "its generation's bill is already on another call"
        if why is not None:
            result.refused.append((first, why))
        elif isinstance(bill, Usage):
            result.settled.append((first, bill))
        shared = "shares its generation id with another call: one generation is billed once"
        result.refused += [(call, shared) for call in others]
    return result


@dataclass
class Settling(ModelCatalog):
    """The session's second layer: where its calls leave a trace (`records`: the ledger and
    the cache), what is running (`activity`, `background`), and the bills of stopped or
    failed calls settled after the cell has ended."""

    records: Records = field(init=False)
    activity: Activity = field(default_factory=Activity)
    background: BackgroundLoop = field(default_factory=BackgroundLoop)
    settling: dict[str, Any] = field(default_factory=dict)
    """Generation id → the future of its background settlement."""

    def __post_init__(self) -> None:
        self.records = Records(self.settings)

    def _settle_later(
        self, question: Question, reply: Reply, view: View, on_settled: Settled | None
    ) -> None:
        """Fetch an estimated call's bill on the background loop (never blocking the cell)
        and put it where the estimate was, unless it is not believed (`settle`)."""
        if reply.outcome == "ok" or not (reply.usage.cost_is_estimate and reply.id):
            return  # a complete answer carries its bill (or its server bills nothing)
        spec = self.client_spec()

        async def settle() -> Reply | None:
            usage = await fetch_generation(self.clients.get(spec), reply.id)
            worst = self.worst_case(question)
            if not isinstance(usage, Usage) or unbelievable_bill(usage.cost, worst):
                return None  # not believed: the estimate stays
            kept = self.records.ledger is not None  # else: no ledger to settle, only the view
            if kept and not self.records.settle(reply.id, usage, question.notebook):
                return None  # its generation's bill is on another call already
            settled = replace(reply, usage=usage)
            self.activity.settled(settled)
            view.settled(settled, self.records.totals(question.notebook))
            if on_settled is not None:
                on_settled(settled)
            return settled

        self.settling[reply.id] = self.background.submit(settle())

    async def reconcile(self, notebook: str) -> Reconciled:
        """Settle this notebook's estimated calls (its own only) with OpenRouter's bills."""
        client = self.clients.get(self.client_spec())
        await self.load_catalog(client)
        reconciled = await reconcile_calls(
            client,
            self.records.estimated(notebook),
            lambda call: row_worst_case(call, self.catalog),
            lambda generation_id, usage: self.records.settle(generation_id, usage, notebook),
        )
        if reconciled.settled:
            self.activity.settled()
        return reconciled
