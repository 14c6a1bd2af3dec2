"""Where calls leave a trace: the ledger (spend, budgets) and the response cache.

Both are opened on first use. If the ledger cannot be opened (a read-only home, say) or
fails later (a corrupt page: "database disk image is malformed"), totals fall back to this
kernel's memory and one warning says how to repair or move the file: a call never fails,
and an answer is never lost, because its bookkeeping could not be written. A call's row
that the ledger refused goes to a side file beside it (`<ledger>.unrecorded.jsonl`), so
the cent is not lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orjupyter.core.domain import Reply, Totals, Usage
from orjupyter.core.redact import redact

if TYPE_CHECKING:
    from orjupyter.core.budget import Reservation
    from orjupyter.core.question import Question
    from orjupyter.core.settings import Settings
    from orjupyter.store.base import LedgerStore
    from orjupyter.store.cache import ResponseCache


class Records:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._ledger: LedgerStore | None = None
        self._ledger_failed = False
        self._chosen: tuple[str, str] | None = None
        self._cache: ResponseCache | None = None
        self._broken_path: Path | None = None
        self.memory = Totals()

    def close(self) -> None:
        """Close the ledger's database connection (reopened if used again)."""
        ledger, self._ledger = self._ledger, None
        if ledger is not None:
            ledger.close()

    # -- the ledger ------------------------------------------------------------------

    @property
    def ledger(self) -> LedgerStore | None:
        """The configured ledger (`store/base.py` says which kind), opened on first use, and
        again when the setting (`%config OrJupyter.ledger`) names another."""
        chosen = (self.settings.configured_ledger(), os.environ.get("ORJUPYTER_LEDGER", ""))
        if chosen != self._chosen:
            self.close()
            self._chosen, self._ledger_failed, self._broken_path = chosen, False, None
        if self._ledger is None and not self._ledger_failed:
            from orjupyter.store.base import FILE, kind_of, ledger_location, open_ledger

            location = ledger_location(chosen[0])
            try:
                self._ledger = open_ledger(location)
            except Exception as exc:  # bookkeeping must never break a call
                self._ledger_failed = True
                with contextlib.suppress(Exception):  # an unknown scheme has no side file
                    if kind_of(location) is FILE:
                        self._broken_path = Path(location).expanduser()
                corrupt = type(exc) is sqlite3.DatabaseError  # "malformed", "not a database"
                advice = (
                    _repair(self._broken_path)
                    if corrupt and self._broken_path is not None
                    else "Set ORJUPYTER_LEDGER to a writable file or a postgresql:// URL."
                )
                print(
                    f"orjupyter: cannot open the ledger ({redact(str(exc), self._secrets())}); "
                    f"totals are kept in this kernel only and budgets are not checked. {advice}",
                    file=sys.stderr,
                )
        return self._ledger

    def _broken(self, exc: BaseException) -> None:
        """The ledger failed after it opened: warn once, and keep totals in memory."""
        ledger, self._ledger, self._ledger_failed = self._ledger, None, True
        path = ledger.path if ledger else "the ledger"
        where = ledger.location if ledger else "the ledger"
        repair = (
            _repair(path)
            if where == str(path)
            else "Restart the kernel once the ledger is repaired."
        )
        print(
            f"orjupyter: the ledger {where} failed ({redact(str(exc), self._secrets())}); "
            "totals are kept in this kernel only, budgets are not checked, and each call's "
            f"row goes to {_side_file(path)}. {repair}",
            file=sys.stderr,
        )
        if ledger is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to do
                ledger.close()
        self._broken_path = ledger.path if ledger else None

    def _secrets(self) -> tuple[str, ...]:
        try:
            return (self.settings.resolved_key(),)
        except Exception:  # no key configured: nothing to hide
            return ()

    def totals(self, notebook: str) -> Totals:
        """The notebook's totals and budget (this kernel's, without a ledger)."""
        ledger = self.ledger
        if ledger is None:
            return self.memory
        try:
            return replace(ledger.totals(notebook), budget=ledger.budget(notebook))
        except Exception as exc:
            self._broken(exc)
            return self.memory

    def record(self, question: Question, reply: Reply, reservation: Reservation | None) -> None:
        """Write the call's row and free its hold. Never raises: a ledger that fails here
        is reported once, and the row goes to the side file."""
        self.memory = self.memory.add(reply.usage, from_cache=reply.cached)
        record = self._record(question, reply)
        ledger = self.ledger
        if ledger is None:
            self._aside(record)
            return
        try:
            ledger.record(record, release=reservation)
        except Exception as exc:
            if reservation is not None and reservation.id is not None:
                with contextlib.suppress(Exception):  # the hold goes even if the row cannot
                    ledger.release(reservation)
            self._broken(exc)
            self._aside(record)

    def _aside(self, record: Any) -> None:
        path = self._broken_path
        if path is None:
            return
        from orjupyter.store.columns import call_row

        row = {k: v for k, v in call_row(record).items() if k not in ("prompt", "answer")}
        try:
            fd = os.open(_side_file(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as side:
                side.write(json.dumps(row) + "\n")
        except OSError as exc:
            if self._broken_path is not None:  # said once: a read-only folder stays one
                print(f"orjupyter: calls' rows cannot be kept ({exc})", file=sys.stderr)
            self._broken_path = None

    def _record(self, question: Question, reply: Reply) -> Any:
        from orjupyter.store.ledger import CallRecord

        store = self.settings.store_prompts
        secrets = self._secrets()
        return CallRecord(
            notebook=question.notebook,
            cell=question.cell,
            model=reply.model,
            generation_id=reply.id,
            usage=reply.usage,
            outcome="error" if reply.outcome in ("incomplete", "invalid") else reply.outcome,
            error=_error(question, reply.error and redact(reply.error, secrets)),
            time_to_first_token=reply.time_to_first_token,
            duration=reply.duration,
            from_cache=reply.cached,
            prompt=_prompt_text(question) if store else None,
            answer=reply.text if store else None,
            run=question.run,
        )

    def recent(self, notebook: str, limit: int) -> list[Any]:
        """The notebook's newest `limit` calls, oldest first ([] without a ledger)."""
        ledger = self.ledger
        if ledger is None:
            return []
        try:
            return ledger.calls(notebook, limit=limit)
        except Exception as exc:
            self._broken(exc)
            return []

    def estimated(self, notebook: str) -> list[Any]:
        ledger = self.ledger
        return ledger.estimated(notebook) if ledger else []

    def settle(self, generation_id: str, usage: Usage, notebook: str) -> bool:
        """Replace one of the notebook's estimated calls' cost with the billed one."""
        ledger = self.ledger
        if ledger is None:
            return False
        return ledger.settle(generation_id, usage, notebook)

    def reserve(self, question: Question, worst_case: Decimal | None) -> Reservation | None:
        """Hold the call's worst case against the notebook's budget (`BudgetExceeded` if it
        would not fit). `worst_case` None (the price is unknown) is refused under a budget."""
        from orjupyter.core.budget import BudgetExceeded, UnboundedCost

        ledger = self.ledger
        if ledger is None:
            return None
        try:
            if worst_case is None:
                if ledger.budgeted(question.notebook):
                    raise UnboundedCost(question.options.model)
                return None
            return ledger.reserve(question.notebook, worst_case)
        except (BudgetExceeded, UnboundedCost):
            raise
        except Exception as exc:  # a broken ledger: the call goes ahead, said once
            self._broken(exc)
            return None

    def release(self, reservation: Reservation | None) -> None:
        if reservation is None or self.ledger is None:
            return
        try:
            self.ledger.release(reservation)
        except Exception as exc:
            self._broken(exc)

    def budget_warning(self, notebook: str) -> str | None:
        ledger = self.ledger
        if ledger is None:
            return None
        from orjupyter.core.budget import budget_warning, shared_budget_warning
        from orjupyter.store.base import TeamLedger

        try:
            warnings = [budget_warning(ledger.totals(notebook).cost, ledger.budget(notebook))]
            if isinstance(ledger, TeamLedger):  # the user's and the team's budgets too
                warnings += [
                    shared_budget_warning(limit.user or None, limit.period, limit.spent,
                                          limit.amount)
                    for limit in ledger.shared_budgets(notebook)
                ]  # fmt: skip
            return "\n".join(filter(None, warnings)) or None
        except Exception as exc:
            self._broken(exc)
            return None

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
        answer = self.cache.get(self.key(request), touch=not self.settings.replaying())
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
        except Exception as exc:  # a cache that fails never costs the answer
            print(f"orjupyter: answer not cached ({exc})", file=sys.stderr)


def _repair(ledger: Path | str) -> str:
    return (
        f"Repair it with `sqlite3 {ledger} .recover | sqlite3 repaired.sqlite`, or move it "
        "aside (a new one is made on the next start), or set ORJUPYTER_LEDGER to another file."
    )


def _side_file(ledger: Path | str) -> Path:
    return Path(f"{ledger}.unrecorded.jsonl")


def _prompt_text(question: Question) -> str:
    from orjupyter.core.domain import TextPart

    return "".join(
        part.text if isinstance(part, TextPart) else part.summary() for part in question.parts
    )


def _error(question: Question, error: str | None) -> str | None:
    """The row's error; an attempt asked again says so first (`usage.ASKED_AGAIN`), so a
    run's rows and failures count the questions, not the attempts."""
    if not question.asked_again:
        return error
    from orjupyter.store.usage import ASKED_AGAIN

    return f"{ASKED_AGAIN}: {error}" if error else ASKED_AGAIN
