"""Conversations: named threads of earlier turns, and which of them fit into a request.

Pure: no IPython, no widgets, no SDK. A cell without `--thread` sends no history; with
one, its earlier turns (images included) go before the new question, trimmed by
`trim_history` to a number of turns and to what the model's context window leaves:

    budget = history_budget(context_length, new_prompt_tokens, max_tokens_reserved)
    turns = trim_history(threads.history(name), max_turns=max_turns, budget_tokens=budget)
    request = build_request(parts, options, history=history_messages(turns))
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from orjupyter.core.domain import Part
from orjupyter.core.pricing import MESSAGE_OVERHEAD_TOKENS, prompt_tokens, text_tokens
from orjupyter.core.request import Message, user_message

__all__ = [
    "Threads",
    "Turn",
    "history_budget",
    "history_messages",
    "trim_history",
]

UNKNOWN_CONTEXT_TOKENS = 128_000
"""Context window assumed for a model whose window is not known."""


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: the user message as sent (images included) and the answer."""

    user: Message
    assistant: str
    prompt_tokens: int
    """Estimated tokens of `user` (text and images, with the message overhead), and of
    the `exchange`."""
    exchange: tuple[Message, ...] = ()
    """A tool loop's calls and results between the question and the answer (`--tools`)."""

    @classmethod
    def from_parts(
        cls, parts: Sequence[Part], assistant: str, exchange: Sequence[Message] = ()
    ) -> Turn:
        """The turn for a question given as parts, its tokens estimated from them."""
        from orjupyter.core.tools import loop_parts

        counted = [parts, *loop_parts((), exchange)]
        return cls(user_message(parts), assistant, prompt_tokens(counted), tuple(exchange))

    @property
    def tokens(self) -> int:
        """Estimated tokens this turn adds to a request: question and answer."""
        return self.prompt_tokens + MESSAGE_OVERHEAD_TOKENS + text_tokens(self.assistant)


class Threads:
    """Named conversations kept in the kernel's memory (safe to use from several threads)."""

    def __init__(self) -> None:
        self._turns: dict[str, list[Turn]] = {}
        self._lock = threading.Lock()

    def history(self, name: str) -> list[Turn]:
        """The thread's turns, oldest first (a copy; empty for a thread not started)."""
        with self._lock:
            return list(self._turns.get(name, ()))

    def append(self, name: str, turn: Turn) -> None:
        with self._lock:
            self._turns.setdefault(name, []).append(turn)

    def drop_last(self, name: str) -> None:
        """Forget a conversation's last turn (its answer is being regenerated)."""
        with self._lock:
            turns = self._turns.get(name)
            if turns:
                turns.pop()

    def reset(self, name: str | None = None) -> None:
        """Forget one thread, or every thread when `name` is None."""
        with self._lock:
            if name is None:
                self._turns.clear()
            else:
                self._turns.pop(name, None)

    def names(self) -> list[str]:
        """Threads that have turns, in the order they were started."""
        with self._lock:
            return list(self._turns)

    def __repr__(self) -> str:
        with self._lock:
            counts = ", ".join(f"{name}: {len(turns)}" for name, turns in self._turns.items())
        return f"Threads({counts})"


def history_budget(
    context_length: int | None, new_prompt_tokens: int, max_tokens_reserved: int
) -> int:
    """Tokens left for history: the context window less the new prompt (system message
    included) and the tokens reserved for the answer. Never negative."""
    window = context_length or UNKNOWN_CONTEXT_TOKENS
    return max(0, window - new_prompt_tokens - max_tokens_reserved)


def trim_history(turns: Sequence[Turn], *, max_turns: int, budget_tokens: int) -> list[Turn]:
    """Keep the most recent turns: at most `max_turns`, and whose tokens (`Turn.tokens`)
    fit `budget_tokens`; drop oldest first; never split a turn.

    The caller computes the budget as `context_length - new_prompt_tokens -
    max_tokens_reserved` (see `history_budget`). The kept turns are always the newest
    ones, contiguous: a small old turn is not kept once a newer one did not fit.
    """
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        if len(kept) >= max_turns or used + turn.tokens > budget_tokens:
            break
        kept.append(turn)
        used += turn.tokens
    kept.reverse()
    return kept


def history_messages(turns: Sequence[Turn]) -> list[Message]:
    """user, assistant, user, assistant, … oldest first; images stay in their user messages;
    a tool loop's calls and results stay between its question and its answer."""
    messages: list[Message] = []
    for turn in turns:
        messages.append(turn.user)
        messages.extend(turn.exchange)
        messages.append({"role": "assistant", "content": turn.assistant})
    return messages
