"""`--compare A,B,C`: one question to several models at the same time.

Every call streams into its own view with its own Stop, and is its own ledger row; the
budget is checked for the sum before any is sent (one hold for all of them). The calls
await on the caller's loop, so Stop clicks and the kernel interrupt reach them; an
interrupt stops them all.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal

from orjupyter.core.domain import Reply
from orjupyter.core.question import Question
from orjupyter.service.session import Session, Settled
from orjupyter.service.views import View


async def ask_all(
    session: Session,
    questions: Sequence[Question],
    views: Sequence[View],
    stop_all: Callable[[], None],
    on_settled: Callable[[int], Settled | None] = lambda _index: None,
) -> list[Reply]:
    """Each question answered in its view, all at once; the replies in the same order.
    Their ledger rows share one run (`%gpt4o usage` shows the comparison as one line)."""
    run = f"--compare {uuid.uuid4().hex[:8]}"
    questions = [replace(question, run=question.run or run) for question in questions]
    client = session.clients.get(session.client_spec())
    for question in questions:  # an unknown model or a prompt too long: nothing is sent
        await session.check(question.parts, question.options, client)
    cases = [session.worst_case(question) for question in questions]
    worst = None if None in cases else sum((c for c in cases if c is not None), Decimal(0))
    hold = session.records.reserve(questions[0], worst)  # the sum, or refused under a budget
    tasks = [
        asyncio.ensure_future(session.ask(question, view, on_settled(k), reserve=False))
        for k, (question, view) in enumerate(zip(questions, views, strict=True))
    ]
    try:
        return list(await asyncio.gather(*tasks))
    except (KeyboardInterrupt, asyncio.CancelledError):
        stop_all()  # the interrupt landed outside the streams: end them, keep what arrived
        return list(await asyncio.gather(*tasks))
    finally:
        session.records.release(hold)
