"""`--map SOURCE`: a notebook value → rows, each row's placeholders, the run's arithmetic.

Pure: no pandas import (a DataFrame or Series is recognised by its type's name and read
through its own methods), no I/O. What a row offers its template:

- a DataFrame row: every column by name (`{title}`, shadowing notebook variables of the
  same name; `{my col}` for a name that is not a Python name; in an expression a column
  never hides a builtin such as `len`), `{row}` the whole row (`name: value` lines;
  `{row[title]}` works too) and `{index}` the row's label;
- a list, tuple, Series or any other iterable: `{item}` and `{index}` (the Series' label,
  else the position);
- a dict: `{item}` the value and `{index}` the key.

A row's values are what they are: a string is text, even one naming a file (row data
never chooses which files leave the machine); `{item:image}` and `{item:file}` ask for the
file it names, and a `Path` value is a file.
"""

from __future__ import annotations

import builtins
import time
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from orjupyter.core.domain import format_cost
from orjupyter.core.errors import OptionError, PromptError
from orjupyter.core.prompt import Placeholder, Segment, names_read

SourceKind = Literal["frame", "series", "list", "dict"]
ROW_FIELDS: dict[SourceKind, tuple[str, ...]] = {
    "frame": ("row", "index"),
    "series": ("item", "index"),
    "list": ("item", "index"),
    "dict": ("item", "index"),
}


def _is_pandas(value: object, name: str) -> bool:
    kind = type(value)
    return kind.__name__ == name and kind.__module__.split(".")[0] == "pandas"


class RowText(dict[str, object]):
    """A DataFrame row as `{row}` shows it: one `name: value` line per column."""

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __str__(self) -> str:
        return "\n".join(f"{name}: {value}" for name, value in self.items())


@dataclass(frozen=True)
class MapSource:
    """What `--map NAME` runs over: its kind, its row labels and its columns (if any)."""

    name: str
    kind: SourceKind
    labels: Sequence[object]
    columns: tuple[str, ...]
    value: Any = field(repr=False)
    _items: Sequence[object] = field(repr=False, default=())

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self) -> Iterator[dict[str, object]]:
        """Each row's own placeholders, in order (made one at a time)."""
        if self.kind == "frame":
            records = self.value.itertuples(index=False, name=None)
            for label, values in zip(self.labels, records, strict=True):
                columns = dict(zip(self.columns, values, strict=True))
                yield {**columns, "row": RowText(columns), "index": label}
            return
        for label, item in zip(self.labels, self._items, strict=True):
            yield {"item": item, "index": label}


def map_source(value: object, name: str) -> MapSource:
    """Classify `value`; bad input (not iterable, a string, empty) is one clear line."""
    if _is_pandas(value, "DataFrame"):
        frame: Any = value
        columns = tuple(str(column) for column in frame.columns)
        source = MapSource(name, "frame", list(frame.index), columns, frame)
    elif _is_pandas(value, "Series"):
        series: Any = value
        source = MapSource(name, "series", list(series.index), (), series, list(series))
    elif isinstance(value, Mapping):
        source = MapSource(name, "dict", list(value), (), value, list(value.values()))
    elif isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise OptionError(
            f"--map {name}: a {type(value).__name__} is not rows to map over; pass a "
            "DataFrame, a Series, a list, a tuple or a dict (nothing was sent)"
        )
    else:
        items = list(value)
        source = MapSource(name, "list", list(range(len(items))), (), value, items)
    if not len(source):
        raise OptionError(f"--map {name} is empty: there is nothing to ask (nothing was sent)")
    return source


def expression_names(
    fields: Mapping[str, object], namespace: Mapping[str, object]
) -> Mapping[str, object]:
    """What a row's expressions see: its fields over the notebook's names, except a field
    named like a builtin (a column `len` leaves `{len(body)}` the builtin; `{len}` alone
    and `{row[len]}` are still the column)."""
    kept = {name: value for name, value in fields.items() if not hasattr(builtins, name)}
    return ChainMap(kept, dict(namespace) if not isinstance(namespace, dict) else namespace)


def check_template(
    segments: Sequence[Segment], source: MapSource, namespace: Mapping[str, object]
) -> None:
    """Every placeholder names a column, a row field or a notebook variable, and at least
    one depends on the row; else one line naming it (and the columns)."""
    own = {*source.columns, *ROW_FIELDS[source.kind]}
    used = [
        name
        for s in segments
        if isinstance(s, Placeholder)
        for name in ([s.field] if s.field in own else names_read(s))
    ]
    for name in used:
        if name in own or name in namespace:
            continue
        if source.kind == "frame":
            columns = ", ".join(source.columns) or "none"
            raise PromptError(
                f"{{{name}}}: {source.name} has no column {name!r} (columns: {columns}) "
                "and no notebook variable has that name (nothing was sent)"
            )
        raise PromptError(
            f"{{{name}}}: no notebook variable named {name!r}; in a --map over a "
            f"{source.kind}, each row is {{item}} and its label {{index}} (nothing was sent)"
        )
    if not any(name in own for name in used):
        fields = "a column such as {" + source.columns[0] + "}" if source.columns else "{item}"
        raise PromptError(
            f"the cell never uses the row, so every row would ask the same question; put "
            f"{fields} in it (nothing was sent)"
        )


# --- the run's arithmetic ----------------------------------------------------------


@dataclass
class RunProgress:
    """Where a map run stands. Counts are rows; money is exact `Decimal` dollars."""

    total: int
    answered: int = 0
    failed: int = 0
    cached: int = 0
    stopped: int = 0
    unsent: int = 0
    in_flight: int = 0
    retries: int = 0
    billed: Decimal = Decimal(0)
    billed_rows: int = 0
    """Rows answered by the model (not the cache): the forecast's average is over these."""
    held: Decimal = Decimal(0)
    """What `--budget` holds beyond the billed total: each row in flight at its worst case,
    and each row recorded at an estimate at the rest of its worst case (its bill is not
    known yet)."""
    overbilled: Decimal | None = None
    """The worst case a row was billed above (its bill is in `billed`), if one was."""
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    sent_clock: float | None = None
    """When the first row answered by the model (not the cache) ended: the rate counts
    the rows sent after it, so a resumed run's cache hits never speed up its forecast."""
    sent_since: int = 0
    """Rows sent (not answered by the cache) that ended after `sent_clock`."""

    @property
    def done(self) -> int:
        return self.answered + self.failed + self.stopped

    @property
    def average(self) -> Decimal | None:
        return self.billed / self.billed_rows if self.billed_rows else None

    def add(self, cost: Decimal, *, ok: bool, cached: bool, now: float | None = None) -> None:
        """A row that ended, answered (`ok`) or failed."""
        if ok:
            self.answered += 1
        else:
            self.failed += 1
        self.cached += cached
        self.billed += cost
        if ok and not cached:
            self.billed_rows += 1
        if not cached:
            self.sent_ended(now)

    def sent_ended(self, now: float | None = None) -> None:
        """A row the model answered (or failed, or was stopped in) ended: the rate's clock."""
        if self.sent_clock is None:
            self.sent_clock = time.monotonic() if now is None else now
        else:
            self.sent_since += 1

    def forecast(self) -> Decimal | None:
        """The whole run's likely cost: billed so far plus the rest at the average."""
        average = self.average
        if average is None:
            return None
        return self.billed + average * (self.total - self.done)

    def elapsed(self, now: float | None = None) -> float:
        end = self.ended if self.ended is not None else now or time.monotonic()
        return max(end - self.started, 0.0)

    def rate(self, now: float | None = None) -> float | None:
        """Rows sent and finished per second, from the first one's end (rows the cache
        answered take no time worth forecasting): None until two have ended."""
        if self.sent_clock is None or not self.sent_since:
            return None
        end = self.ended if self.ended is not None else now or time.monotonic()
        seconds = end - self.sent_clock
        return self.sent_since / seconds if seconds > 0 else None

    def time_left(self, now: float | None = None) -> float | None:
        rate = self.rate(now)
        return (self.total - self.done) / rate if rate else None


def may_send(cap: Decimal | None, progress: RunProgress, worst_case: Decimal) -> bool:
    """`--budget`: send one more row only if the billed total, what rows in flight hold
    (each its worst case) and this row's worst case stay within the cap: the cap holds
    whatever the rows cost, as long as no row is billed above its worst case."""
    return cap is None or progress.billed + progress.held + worst_case <= cap


def cap_note(cap: Decimal, progress: RunProgress, worst_case: Decimal | None = None) -> str:
    """What `--budget` left out, and what it would have cost at the run's average; with
    `worst_case` (no row was sent: the first one's worst case is over the cap), says so."""
    rows = progress.unsent
    unsent = f"{rows:,} row{'s' if rows != 1 else ''} not sent"
    if worst_case is not None:
        return (
            f"--budget {format_cost(cap)} is less than one row's worst case "
            f"({format_cost(worst_case)}: its prompt and the longest answer the model may "
            f"give), so {unsent}; raise --budget, or lower the worst case with --max-tokens"
        )
    average = progress.average
    cost = f" (about {format_cost(average * rows)} at this run's average)" if average else ""
    return (
        f"--budget {format_cost(cap)} reached: {unsent}{cost}; re-run with a higher "
        "--budget to send them (answered rows come from the cache)"
    )


def unpriced_note(cap: Decimal, model: str, progress: RunProgress) -> str:
    """Why a capped run over a model with no known price sent nothing uncached."""
    rows = progress.unsent
    return (
        f"--budget {format_cost(cap)} cannot bound this run: {model}'s price is unknown "
        "(OpenRouter lists none, or -1 for a router), so "
        f"{rows:,} row{'s' if rows != 1 else ''} not sent; pick a model with a listed "
        "price (-m), or drop --budget"
    )


def overbilled_note(progress: RunProgress, *, capped: bool) -> str:
    """A row was billed above its worst case; `capped`: the run stopped sending for it."""
    worst = format_cost(progress.overbilled or Decimal(0))
    said = f"a row was billed more than its worst case at list prices ({worst})"
    check = "check the charges at https://openrouter.ai/activity"
    if not capped:
        return f"{said}; {check}"
    rows = progress.unsent
    return (
        f"{said}: the --budget cap cannot bound rows in flight any more, so {rows:,} "
        f"row{'s' if rows != 1 else ''} not sent; the bills count as billed: {check}"
    )


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def progress_text(progress: RunProgress, now: float | None = None) -> str:
    """One line while running: rows, failures, billed, forecast, rate, time left."""
    fields = [f"{progress.done:,}/{progress.total:,} rows"]
    if progress.failed:
        fields.append(f"{progress.failed:,} failed")
    if progress.cached:
        fields.append(f"{progress.cached:,} cached")
    fields.append(f"billed {format_cost(progress.billed)}")
    forecast = progress.forecast()
    if forecast is not None and progress.done < progress.total:
        fields.append(f"forecast {format_cost(forecast)}")
    rate = progress.rate(now)
    if rate is not None:
        fields.append(f"{rate:.1f} rows/s")
        left = progress.time_left(now)
        if left is not None and progress.done < progress.total:
            fields.append(f"{duration_text(left)} left")
    if progress.retries:
        fields.append(f"{progress.retries:,} retried")
    return " · ".join(fields)


def summary_text(progress: RunProgress) -> str:
    """When the run ends: rows, failures, not sent, billed, cached, time."""
    fields = [f"{progress.total:,} rows", f"{progress.answered:,} answered"]
    if progress.cached:
        fields.append(f"{progress.cached:,} from the cache")
    fields.append(f"{progress.failed:,} failed")
    if progress.stopped:
        fields.append(f"{progress.stopped:,} stopped")
    if progress.unsent:
        fields.append(f"{progress.unsent:,} not sent")
    fields.append(f"billed {format_cost(progress.billed)}")
    fields.append(duration_text(progress.elapsed()))
    return " · ".join(fields)


def shadowing(
    segments: Sequence[Segment], source: MapSource, namespace: Mapping[str, object]
) -> str | None:
    """The columns the template uses that are also notebook variables: the column wins,
    said once (None when none does)."""
    used = {
        name
        for s in segments
        if isinstance(s, Placeholder)
        for name in ([s.field] if s.field in source.columns else names_read(s))
    }
    shadowed = [c for c in source.columns if c in used and c in namespace]
    if not shadowed:
        return None
    names = ", ".join("{" + name + "}" for name in shadowed)
    return (
        f"{names}: {source.name}'s column, not the notebook variable of the same name (a "
        "column shadows a variable; rename one to use the variable)"
    )
