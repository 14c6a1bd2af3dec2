"""Where calls leave a trace: the ledger (spend, budgets) and the response cache.

Both are opened on first use. If the ledger cannot be opened (a read-only home, say),
totals fall back to this kernel's memory and a warning says so once: a call never fails
because its bookkeeping could not be written.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orjupyter.core.domain import Reply, Totals

if TYPE_CHECKING:
    from orjupyter.core.budget import Reservation
    from orjupyter.core.question import Question
    from orjupyter.core.settings import Settings
    from orjupyter.store.cache import ResponseCache
    from orjupyter.store.ledger import Ledger


class Records:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._ledger: Ledger | None = None
        self._ledger_failed = False
        self._cache: ResponseCache | None = None
        self.memory = Totals()

    # -- the ledger ------------------------------------------------------------------

    @property
    def ledger(self) -> Ledger | None:
        if self._ledger is None and not self._ledger_failed:
            from orjupyter.store.ledger import Ledger, default_ledger_path

            path = Path(self.settings.ledger_path) if self.settings.ledger_path else None
            try:
                self._ledger = Ledger(path or default_ledger_path())
            except Exception as exc:  # bookkeeping must never break a call
                self._ledger_failed = True
                print(
                    f"orjupyter: cannot open the ledger ({exc}); totals are kept in this "
                    "kernel only. Set ORJUPYTER_LEDGER to a writable file.",
                    file=sys.stderr,
                )
        return self._ledger

    def totals(self, notebook: str) -> Totals:
        ledger = self.ledger
        return ledger.totals(notebook) if ledger else self.memory

    def record(self, question: Question, reply: Reply, reservation: Reservation | None) -> None:
        self.memory = self.memory.add(reply.usage)
        ledger = self.ledger
        if ledger is None:
            return
        from orjupyter.store.ledger import CallRecord

        store = self.settings.store_prompts
        record = CallRecord(
            notebook=question.notebook,
            cell=question.cell,
            model=reply.model,
            generation_id=reply.id,
            usage=reply.usage,
            outcome=reply.outcome,
            error=reply.error,
            time_to_first_token=reply.time_to_first_token,
            duration=reply.duration,
            from_cache=reply.cached,
            prompt=_prompt_text(question) if store else None,
            answer=reply.text if store else None,
        )
        ledger.record(record, release=reservation)

    def reserve(self, question: Question, worst_case: Decimal) -> Reservation | None:
        ledger = self.ledger
        if ledger is None:
            return None
        return ledger.reserve(question.notebook, worst_case)

    def release(self, reservation: Reservation | None) -> None:
        if reservation is not None and self.ledger is not None:
            self.ledger.release(reservation)

    def budget_warning(self, notebook: str) -> str | None:
        ledger = self.ledger
        if ledger is None:
            return None
        from orjupyter.core.budget import budget_warning

        return budget_warning(ledger.totals(notebook).cost, ledger.budget(notebook))

    # -- the cache -------------------------------------------------------------------

    @property
    def cache(self) -> ResponseCache:
        if self._cache is None:
            from orjupyter.store.cache import ResponseCache, default_cache_dir

            folder = Path(self.settings.cache_dir) if self.settings.cache_dir else None
            self._cache = ResponseCache(folder or default_cache_dir())
        return self._cache

    def key(self, request: dict[str, Any]) -> str:
        """The request's cache key, tied to the endpoint: answers recorded from one server
        (a local test server, say) are never served for another."""
        from orjupyter.core.cache_key import request_key

        return request_key({**request, "endpoint": self.settings.resolved_base_url()})

    def peek(self, request: dict[str, Any]) -> Reply | None:
        """The cached answer to this exact request, if any (no replay-mode error)."""
        if not self.settings.cache:
            return None
        answer = self.cache.get(self.key(request))
        return replace(answer.to_reply(), cached=True) if answer else None

    def cached(self, request: dict[str, Any], question: Question) -> Reply | None:
        """Like `peek`; in replay mode a miss is an error naming the cell."""
        reply = self.peek(request)
        if reply is None and self.settings.replaying():
            from orjupyter.store.cache import replay_miss

            raise replay_miss(question.cell, self.cache.directory)
        return reply

    def remember(self, request: dict[str, Any], reply: Reply) -> None:
        if not self.settings.cache:
            return
        from orjupyter.store.cache import CachedAnswer

        try:
            self.cache.put(self.key(request), CachedAnswer.from_reply(reply), request=request)
        except (OSError, ValueError) as exc:
            print(f"orjupyter: answer not cached ({exc})", file=sys.stderr)


def _prompt_text(question: Question) -> str:
    from orjupyter.core.domain import ImagePart

    return "".join(
        part.summary() if isinstance(part, ImagePart) else part.text for part in question.parts
    )
