"""The usage view's figures, aggregated by the ledger's database: one line per call or run,
the spend over time in steps, the cached prompt tokens per model.

A run (a `--map`, a `--compare`, a tool loop: its calls share `run`) is one `Entry`; a call
of no run is an entry of its own. The SQL is written once for both ledgers (`Dialect`
says how SQLite and PostgreSQL differ), so a ledger of 150,000 calls is summed where it is
kept and only a screenful of rows reaches Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

ENTRY_KEY = "COALESCE(run, '#' || id)"
"""What groups a ledger's rows into entries: the run, or the call's own id."""


@dataclass(frozen=True)
class Entry:
    """One line of the usage view: a call, or a run of many calls."""

    started_at: datetime
    cell: str | None
    run: str | None
    models: tuple[str, ...]
    calls: int
    """The ledger's rows in it: billed calls and answers from the cache."""
    answered: int
    failed: int
    stopped: int
    from_cache: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: Decimal
    estimated: int
    error: str | None = None

    @property
    def label(self) -> str:
        """`--map tickets` of a run labelled `--map tickets 1a2b3c4d` (its id dropped)."""
        return (self.run or "").rsplit(" ", 1)[0]


@dataclass(frozen=True)
class Entries:
    """The newest entries (oldest first) and how many there are in all."""

    shown: list[Entry]
    total: int


@dataclass(frozen=True)
class SpendStep:
    """The calls of one slice of time: when the first and the last started, their cost."""

    first: datetime
    last: datetime
    cost: Decimal


@dataclass(frozen=True)
class Dialect:
    """How one database spells what the queries need."""

    param: str
    """`?` or `%s`."""
    cost_sum: str
    """The exact sum of `cost`."""
    models: str
    """The distinct models of a group, as one text."""
    seconds: str
    """`started_at` as seconds (any origin)."""
    whole: str
    """`{}` (a number, never negative) rounded down to an integer."""
    parse_time: Callable[[Any], datetime]


def _as_time(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


SQLITE = Dialect(
    "?",
    "decimal_sum(cost)",
    "group_concat(DISTINCT model)",
    "julianday(started_at) * 86400.0",
    "CAST({} AS INTEGER)",
    _as_time,
)
POSTGRES = Dialect(
    "%s",
    "SUM(cost)",
    "string_agg(DISTINCT model, ',')",
    "extract(epoch FROM started_at)",
    "FLOOR({})",
    _as_time,
)


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def entries_sql(dialect: Dialect, where: str) -> str:
    """The newest entries, newest first; its one parameter after `where`'s is the limit."""
    ok, failed, stopped = (_count(f"outcome = '{name}'") for name in ("ok", "error", "stopped"))
    return (
        "SELECT MIN(started_at), MIN(cell), MIN(run), "
        f"{dialect.models}, COUNT(*), {ok}, {failed}, {stopped}, "
        f"{_count('from_cache')}, SUM(prompt_tokens), SUM(completion_tokens), "
        f"SUM(cached_tokens), {dialect.cost_sum}, {_count('cost_is_estimate')}, MAX(error) "
        f"FROM calls {where} GROUP BY {ENTRY_KEY} "
        f"ORDER BY MIN(started_at) DESC, MIN(id) DESC LIMIT {dialect.param}"
    )


def entry_count_sql(where: str) -> str:
    return f"SELECT COUNT(DISTINCT {ENTRY_KEY}) FROM calls {where}"


def spend_sql(dialect: Dialect, where: str) -> str:
    """The spend in at most N slices of time (N: the parameter after `where`'s)."""
    slice_ = dialect.whole.format(
        f"(t - lo) * {dialect.param} / (CASE WHEN span > 0 THEN span ELSE 1 END)"
    )
    return (
        f"WITH mine AS (SELECT {dialect.seconds} AS t, started_at, cost FROM calls {where}), "
        "bounds AS (SELECT MIN(t) AS lo, MAX(t) - MIN(t) AS span FROM mine) "
        f"SELECT MIN(started_at), MAX(started_at), {dialect.cost_sum} FROM mine, bounds "
        f"GROUP BY {slice_} ORDER BY 1"
    )


def cached_tokens_sql(where: str) -> str:
    return (
        f"SELECT model, SUM(cached_tokens) FROM calls {where} "
        "GROUP BY model HAVING SUM(cached_tokens) > 0 ORDER BY model"
    )


def entry(dialect: Dialect, row: Sequence[Any]) -> Entry:
    """A row of `entries_sql` → the entry."""
    first, cell, run, models, calls, ok, failed, stopped, cached, *rest = row
    prompt, completion, cached_tokens, cost, estimated, error = rest
    return Entry(
        started_at=dialect.parse_time(first),
        cell=cell,
        run=run,
        models=tuple(sorted(set(str(models or "").split(",")) - {""})),
        calls=int(calls),
        answered=int(ok),
        failed=int(failed),
        stopped=int(stopped),
        from_cache=int(cached),
        prompt_tokens=int(prompt),
        completion_tokens=int(completion),
        cached_tokens=int(cached_tokens),
        cost=Decimal(cost or 0),
        estimated=int(estimated),
        error=error if int(calls) == 1 else None,
    )


def spend_step(dialect: Dialect, row: Sequence[Any]) -> SpendStep:
    first, last, cost = row
    return SpendStep(dialect.parse_time(first), dialect.parse_time(last), Decimal(cost or 0))
