"""`--schema`'s re-ask: an answer that is not the schema (not JSON, or JSON that misses it)
is sent back with the validation error, up to `--retries N` more times, like instructor's
`max_retries`.

Every attempt goes through `Session.ask` like any call: billed, one ledger row each, all
rows of one cell sharing its `run` (a `--map`'s rows share the map's). An `invalid` answer
is never cached (`core.question.judged` decides before the cache is written), so
re-running the cell asks again. The reply an asker gets is the last attempt's, its cost
the exact sum of every attempt's.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace

from orjupyter.core.domain import Reply, format_cost, summed_usage
from orjupyter.core.question import Question
from orjupyter.core.request import Message, assistant_message
from orjupyter.service.session import Session, Settled
from orjupyter.service.views import View

DEFAULT_RETRIES = 1
Again = Callable[[Question], Awaitable[Reply | None]]
"""One more attempt at a question (None: it may not be sent, e.g. over a `--budget`)."""


def correction(question: Question, reply: Reply) -> Question:
    """The question asked again: the answer that missed and why, after the question."""
    name = question.schema.name if question.schema is not None else "the schema"
    told: Message = {
        "role": "user",
        "content": (
            f"Your answer could not be used: {reply.error}. Answer again with only JSON "
            f"that matches the {name} schema."
        ),
    }
    exchange = (*question.options.exchange, assistant_message(reply.text), told)
    options = replace(question.options, exchange=exchange)
    return replace(question, options=options, asked_again=True)


def _gave_up(reply: Reply, attempts: int, how: str) -> str:
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    return f"{reply.error} ({tries}); {how}"


async def reasked(
    question: Question,
    reply: Reply,
    again: Again,
    retries: int = DEFAULT_RETRIES,
    tell: Callable[[str], None] | None = None,
    *,
    kept: str = "the last answer's text is kept in the reply (use -o and .text)",
    remember: Callable[[Reply], None] | None = None,
) -> Reply:
    """After `reply` to `question`: while it is `invalid`, ask again with the error, up to
    `retries` times. An `invalid` answer from a cache written before answers were judged
    is asked afresh (not counted as an attempt). The result is the last attempt with
    every attempt's usage summed; a final failure says how many attempts it took and
    where its text is (`kept`). A valid answer after a re-ask is `remember`ed as the
    answer to the question itself, so re-running it replays that answer for $0."""
    if reply.outcome == "invalid" and reply.cached:
        fresh = await again(replace(question, use_cache=False, asked_again=True))
        reply = fresh if fresh is not None else reply
    replies = [reply]
    while reply.outcome == "invalid" and len(replies) <= retries:
        question = correction(question, reply)
        if tell is not None:
            attempts = f"attempt {len(replies) + 1} of {retries + 1}"
            tell(f"Asking again with the validation error ({attempts}).")
        following = await again(question)
        if following is None:
            break
        reply = following
        replies.append(reply)
    if len(replies) == 1 and reply.outcome != "invalid":
        return reply
    if remember is not None and reply.outcome == "ok" and not reply.cached:
        remember(reply)
    total = summed_usage(r.usage for r in replies)
    error = reply.error
    if reply.outcome == "invalid":
        error = _gave_up(reply, len(replies), f"{kept}; re-run the cell to ask again")
    elif tell is not None and reply.outcome == "ok":
        cost = format_cost(total.cost, estimate=total.cost_is_estimate)
        tell(f"Valid on attempt {len(replies)}; billed {cost} for the {len(replies)} attempts.")
    return replace(
        reply,
        usage=total,
        error=error,
        cached=all(r.cached for r in replies),
        duration=sum(r.duration for r in replies),
    )


async def ask_structured(
    session: Session,
    question: Question,
    view_for: Callable[[str, Question], View],
    on_settled: Settled | None = None,
    retries: int | None = None,
) -> Reply:
    """A cell's question: asked once (`view_for(model, question)`: a new view per attempt),
    then again while its answer
    is not its `--schema`. The attempts share one `run` in the ledger."""
    if question.schema is not None and question.run is None:
        question = replace(question, run=f"--schema {question.schema.name} {uuid.uuid4().hex[:8]}")

    async def again(asked: Question) -> Reply:
        return await session.ask(asked, view_for(asked.options.model, asked), on_settled)

    remember = remembering(session, question)
    reply = await again(question)
    return await reasked(question, reply, again, _retries(retries), _say, remember=remember)


def remembering(session: Session, question: Question) -> Callable[[Reply], None] | None:
    """How a valid answer reached by re-asking becomes the cached answer to the question
    as first asked (its request taken now, before its thread grows)."""
    if question.schema is None or not question.use_cache:
        return None
    request = session.request(question, session.history(replace(question, new_thread=False)))
    return lambda reply: session.records.remember(request, reply)


def _retries(asked: int | None) -> int:
    """`--retries N`, or the default when not given."""
    return DEFAULT_RETRIES if asked is None else asked


def _say(line: str) -> None:
    print(line, file=sys.stdout)
