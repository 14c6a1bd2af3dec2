"""The usage view's figures, aggregated by the ledger's database: one line per call or run,
the spend over time in steps, each model's totals.

A run (a `--map`, a `--compare`, a tool loop: its calls share `run`) is one `Entry`; a call
of no run is an entry of its own. The SQL is written once for both ledgers (`Dialect`
says how SQLite and PostgreSQL differ), so a ledger of 150,000 calls is summed where it is
kept and only a screenful of rows reaches Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from orjupyter.core.domain import Totals


@dataclass(frozen=True)
class Entry:
    """One line of the usage view: a call, or a run of many calls."""

    started_at: datetime
    cell: str | None
    run: str | None
    models: tuple[str, ...]
    calls: int
    """Calls sent (billed, or estimated): answers from the cache are not calls."""
    answered: int
    failed: int
    """Questions that ended in an error: an answer that missed the schema and was asked
    again is not one (its attempts are calls)."""
    stopped: int
    from_cache: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: Decimal
    estimated: int
    error: str | None = None
    rows: int = 1
    """The questions in it (a `--map`'s rows): each answered, from the cache, failed or
    stopped, however many attempts each took."""

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
    """For drawing: on SQLite summed in floating point (the exact bill is `totals`)."""


@dataclass(frozen=True)
class ModelUsage:
    """One model's totals in a notebook."""

    model: str
    totals: Totals


@dataclass(frozen=True)
class Dialect:
    """How one database spells what the queries need."""

    param: str
    """`?` or `%s`."""
    cost_sum: str
    """The exact sum of `cost`."""
    drawn_sum: str
    """The sum of `cost` for drawing the spend (SQLite: in floating point, fast)."""
    models: str
    """The distinct models of a group, as one text."""
    entry: str
    """What groups a ledger's rows into entries: the run, or the call's own id."""
    parse_time: Callable[[Any], datetime]


def _as_time(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


SQLITE = Dialect(
    "?",
    "decimal_sum(cost)",
    "TOTAL(CAST(cost AS REAL))",
    "group_concat(DISTINCT model)",
    "COALESCE(run, id)",
    _as_time,
)
POSTGRES = Dialect(
    "%s",
    "SUM(cost)",
    "SUM(cost)",
    "string_agg(DISTINCT model, ',')",
    "COALESCE(run, id::text)",
    _as_time,
)


ASKED_AGAIN = "asked again"
"""How the `error` of an attempt asked again after an answer that missed the schema
begins: its run counts it as a call, not as a row."""


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


_AGAIN = _count(f"substr(error, 1, {len(ASKED_AGAIN)}) = '{ASKED_AGAIN}'")
_OK, _ERROR, _STOPPED = (_count(f"outcome = '{name}'") for name in ("ok", "error", "stopped"))
_TALLY = f"COUNT(*) - {_AGAIN}, {_count('NOT from_cache')}, {_OK}, {_ERROR} - {_AGAIN}, {_STOPPED}"
"""An entry's rows, calls, answered, failed and stopped (`entry` reads them)."""


def entries_sql(dialect: Dialect, where: str) -> str:
    """The newest entries, newest first. Its parameters: `where`'s, the limit, `where`'s
    again. Only the entries shown are summed (the newest are chosen first, unsummed)."""
    p = dialect.param
    key = dialect.entry
    newest = (
        f"SELECT {key} AS entry, MIN(started_at) AS first FROM calls {where} GROUP BY {key} "
        f"ORDER BY MIN(started_at) DESC, MIN(id) DESC LIMIT {p}"
    )
    shown = (  # every row of an entry shown starts at or after the oldest one's first
        f"{'AND' if where else 'WHERE'} started_at >= (SELECT MIN(first) FROM newest) "
        f"AND {key} IN (SELECT entry FROM newest)"
    )
    return (
        f"WITH newest AS ({newest}) "
        f"SELECT MIN(started_at), MIN(cell), MIN(run), {dialect.models}, {_TALLY}, "
        f"{_count('from_cache')}, SUM(prompt_tokens), SUM(completion_tokens), "
        f"SUM(cached_tokens), {dialect.cost_sum}, {_count('cost_is_estimate')}, MAX(error), "
        f"MIN(id) FROM calls {where} {shown} GROUP BY {key} "
        "ORDER BY MIN(started_at) DESC, MIN(id) DESC"
    )


def _and(where: str, condition: str) -> str:
    return f"{where} AND {condition}" if where else f"WHERE {condition}"


def newest_entries_sql(dialect: Dialect, where: str) -> str:
    """`entries_sql` for a ledger indexed by (notebook, run, started_at): the newest runs
    and the newest calls of no run are chosen apart, each from the index without reading
    the rows, and only the entries shown are summed. Its parameters: `where`'s, the limit,
    `where`'s, the limit twice, `where`'s."""
    p = dialect.param
    runs = (
        f"SELECT * FROM (SELECT run AS entry, MIN(started_at) AS first, MIN(id) AS first_id "
        f"FROM calls {_and(where, 'run IS NOT NULL')} GROUP BY run "
        f"ORDER BY first DESC, first_id DESC LIMIT {p})"
    )
    calls = (
        f"SELECT * FROM (SELECT NULL AS entry, started_at AS first, id AS first_id "
        f"FROM calls {_and(where, 'run IS NULL')} ORDER BY started_at DESC, id DESC LIMIT {p})"
    )
    newest = f"{runs} UNION ALL {calls} ORDER BY first DESC, first_id DESC LIMIT {p}"
    sums = (
        f"MIN(started_at), MIN(cell), MIN(run), {dialect.models}, {_TALLY}, "
        f"{_count('from_cache')}, SUM(prompt_tokens), SUM(completion_tokens), "
        f"SUM(cached_tokens), {dialect.cost_sum}, {_count('cost_is_estimate')}, MAX(error), "
        "MIN(id)"
    )
    shown_runs = _and(where, "run IN (SELECT entry FROM newest WHERE entry IS NOT NULL)")
    shown_calls = "WHERE id IN (SELECT first_id FROM newest WHERE entry IS NULL)"
    return (
        f"WITH newest AS ({newest}) "
        f"SELECT {sums} FROM calls {shown_runs} GROUP BY run "
        f"UNION ALL SELECT {sums} FROM calls {shown_calls} GROUP BY id "
        "ORDER BY 1 DESC, 17 DESC"
    )


def entry_count_sql(where: str) -> str:
    """How many entries: the runs, and the calls of no run."""
    return f"SELECT COUNT(DISTINCT run) + COALESCE({_count('run IS NULL')}, 0) FROM calls {where}"


SLICES = ((19, "second", 1), (16, "minute", 60), (13, "hour", 3600), (10, "day", 86400))
"""The spend's slices of time, finest first: (characters of ISO 8601 text, PostgreSQL's
`date_trunc` field, seconds)."""


def slice_for(first: datetime, last: datetime, steps: int) -> tuple[int, str]:
    """The finest slice that cuts `first`..`last` into at most about `steps` pieces."""
    span = (last - first).total_seconds()
    for chars, field, seconds in SLICES:
        if span / seconds <= steps:
            return chars, field
    return SLICES[-1][:2]


def span_sql(where: str) -> str:
    return f"SELECT MIN(started_at), MAX(started_at) FROM calls {where}"


def ends_sql(where: str) -> str:
    """`span_sql` as two lookups at the ends of an index (SQLite reads every row for
    `MIN` and `MAX` in one query). Its parameters: `where`'s, twice."""
    return (
        f"SELECT (SELECT MIN(started_at) FROM calls {where}), "
        f"(SELECT MAX(started_at) FROM calls {where})"
    )


_SLICE_FORMATS = {19: "%Y-%m-%dT%H:%M:%S", 16: "%Y-%m-%dT%H:%M", 13: "%Y-%m-%dT%H", 10: "%Y-%m-%d"}


def slice_bounds(first: str, last: str, chars: int) -> list[tuple[str, str]]:
    """Each slice of time from the one holding `first` to the one holding `last` (ISO 8601
    text in UTC, as the ledger keeps it), as (its start, the next one's), `chars` long."""
    form = _SLICE_FORMATS[chars]
    seconds = next(each for length, _, each in SLICES if length == chars)
    start = datetime.strptime(first[:chars], form)
    end = datetime.strptime(last[:chars], form)
    bounds = []
    while start <= end:
        after = start + timedelta(seconds=seconds)
        bounds.append((start.strftime(form), after.strftime(form)))
        start = after
    return bounds


def sliced_spend_sql(where: str, bounds: Sequence[tuple[str, str]]) -> str:
    """`spend_sql` for SQLite, without sorting every row: each slice (`slice_bounds`) is a
    range of the (notebook, started_at, cost) index, its first and last start read at its
    ends. An empty slice gives a row of NULLs. Its parameters: `where`'s, three times."""
    for bound in bounds:  # written into the SQL: dates and times, nothing else
        if not all(_SLICE_TEXT.fullmatch(text) for text in bound):
            raise ValueError(f"not a slice of time: {bound!r}")
    slices = ", ".join(f"('{lo}', '{hi}')" for lo, hi in bounds)
    inside = f"FROM calls {_and(where, 'started_at >= lo AND started_at < hi')}"
    return (
        f"WITH slices(lo, hi) AS (VALUES {slices}) "
        f"SELECT (SELECT MIN(started_at) {inside}), (SELECT MAX(started_at) {inside}), "
        f"(SELECT {SQLITE.drawn_sum} {inside}) FROM slices"
    )


_SLICE_TEXT = re.compile(r"[0-9T:-]+")


def spend_sql(dialect: Dialect, where: str, chars: int, field: str) -> str:
    """The spend by slice of time (`slice_for`), oldest first, for drawing
    (`Dialect.drawn_sum`)."""
    if dialect is SQLITE:
        slice_ = f"substr(started_at, 1, {chars})"
    else:
        slice_ = f"date_trunc('{field}', started_at)"
    return (
        f"SELECT MIN(started_at), MAX(started_at), {dialect.drawn_sum} FROM calls {where} "
        f"GROUP BY {slice_} ORDER BY 1"
    )


def by_model_sql(dialect: Dialect, where: str) -> str:
    """Each model's totals: one row per model (`model_usage` reads it)."""
    return (
        f"SELECT model, {_count('NOT from_cache')}, SUM(prompt_tokens), "
        f"SUM(completion_tokens), {dialect.cost_sum}, {_count('cost_is_estimate')}, "
        f"SUM(cached_tokens), SUM(reasoning_tokens), {_count('from_cache')} "
        f"FROM calls {where} GROUP BY model"
    )


def model_usage(rows: Sequence[Sequence[Any]]) -> list[ModelUsage]:
    """`by_model_sql`'s rows → each model's totals, dearest first."""
    found = [
        ModelUsage(
            str(model),
            Totals(
                int(calls),
                int(prompt),
                int(completion),
                Decimal(cost or 0),
                int(estimated),
                int(cached),
                int(reasoning),
                from_cache=int(answers),
            ),
        )
        for model, calls, prompt, completion, cost, estimated, cached, reasoning, answers in rows
    ]
    return sorted(found, key=lambda m: (-m.totals.cost, -m.totals.calls, m.model))


def combined(models: Sequence[ModelUsage]) -> Totals:
    """The totals of all the models (a handful of rows the database summed)."""
    total = Totals()
    for each in models:
        t = each.totals
        total = Totals(
            total.calls + t.calls, total.prompt_tokens + t.prompt_tokens,
            total.completion_tokens + t.completion_tokens, total.cost + t.cost,
            total.estimated_calls + t.estimated_calls, total.cached_tokens + t.cached_tokens,
            total.reasoning_tokens + t.reasoning_tokens, from_cache=total.from_cache + t.from_cache,
        )  # fmt: skip
    return total


def entry(dialect: Dialect, row: Sequence[Any]) -> Entry:
    """A row of `entries_sql` → the entry."""
    first, cell, run, models, rows, calls, ok, failed, stopped, cached, *rest = row
    prompt, completion, cached_tokens, cost, estimated, error = rest[:6]
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
        error=error if run is None else None,
        rows=int(rows),
    )


def spend_step(dialect: Dialect, row: Sequence[Any]) -> SpendStep:
    first, last, cost = row
    drawn = Decimal(str(cost)) if cost else Decimal(0)
    return SpendStep(dialect.parse_time(first), dialect.parse_time(last), drawn)
