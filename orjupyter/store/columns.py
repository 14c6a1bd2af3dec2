"""A call as the ledger keeps it, and its row in `calls`, matched field by column name.

The columns of `calls` are the fields of `CallRecord` and of its `Usage`, by name, so a new
field is written and read back with no list to keep in step: add the field (with a default)
and a migration that adds its column. The exports (`%gpt4o usage --csv` and `--frame`) and
the side file of rows the ledger refused read `COLUMNS` too. Values cross by type:
`Decimal` as its exact text, `datetime` as ISO 8601 in UTC, `bool` as 0/1; the rest as
they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from decimal import Decimal
from types import UnionType
from typing import Any, Protocol, Union, get_args, get_origin, get_type_hints

from orjupyter.core.domain import Outcome, Usage, decimal_text

_KEY = re.compile(r"sk-or-[A-Za-z0-9_-]{6,}")


class Row(Protocol):
    """A row read by column name: `sqlite3.Row`, or a server's row as a dict."""

    def __getitem__(self, name: str, /) -> Any: ...


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class CallRecord:
    """One finished, failed or stopped call, as the ledger keeps it."""

    notebook: str
    cell: str | None
    model: str
    generation_id: str
    usage: Usage
    outcome: Outcome
    error: str | None = None
    time_to_first_token: float | None = None
    duration: float = 0.0
    from_cache: bool = False
    prompt: str | None = None
    answer: str | None = None
    run: str | None = None
    """The `--map` run this call was one row of (its calls show as one group)."""
    started_at: datetime = field(default_factory=_now)


def _utc_text(value: datetime) -> str:
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


_TO_SQL: dict[object, Callable[[Any], object]] = {
    Decimal: decimal_text,
    datetime: _utc_text,
    bool: int,
}
_FROM_SQL: dict[object, Callable[[Any], object]] = {
    Decimal: Decimal,
    datetime: datetime.fromisoformat,
    bool: bool,
}


def _columns(cls: type) -> dict[str, object]:
    """Field name → type of a dataclass's columns (`usage` stands for Usage's own)."""
    hints = get_type_hints(cls)
    return {f.name: _unless_none(hints[f.name]) for f in fields(cls) if f.name != "usage"}


def _unless_none(hint: object) -> object:
    """`X | None` → X (None is stored as NULL either way); any other type as it is."""
    if get_origin(hint) not in (Union, UnionType):
        return hint
    kinds = [kind for kind in get_args(hint) if kind is not type(None)]
    return kinds[0] if len(kinds) == 1 else hint


_RECORD = _columns(CallRecord)
_USAGE = _columns(Usage)
COLUMNS: tuple[str, ...] = tuple(
    name for f in fields(CallRecord) for name in (_USAGE if f.name == "usage" else (f.name,))
)
"""A call's columns, in `CallRecord`'s order with `Usage`'s fields in its place: what the
ledger's `calls` table and every export hold."""


def call_values(record: CallRecord) -> dict[str, object]:
    """Column → the record's own value (a `Decimal`, a `datetime`), for exports."""
    return {name: getattr(record.usage if name in _USAGE else record, name) for name in COLUMNS}


def call_row(record: CallRecord) -> dict[str, object]:
    """Column → value to insert; an API key in the error text is masked."""
    row: dict[str, object] = {}
    for source, columns in ((record, _RECORD), (record.usage, _USAGE)):
        for name, kind in columns.items():
            value = getattr(source, name)
            convert = _TO_SQL.get(kind)
            row[name] = value if value is None or convert is None else convert(value)
    if isinstance(row["error"], str):
        row["error"] = _KEY.sub("sk-or-…", row["error"])
    return row


def _values(row: Row, columns: dict[str, object]) -> dict[str, Any]:
    values = {}
    for name, kind in columns.items():
        value, convert = row[name], _FROM_SQL.get(kind)
        values[name] = value if value is None or convert is None else convert(value)
    return values


def call_record(row: Row) -> CallRecord:
    """A `SELECT *` row of `calls` (read by column name) → the record."""
    return CallRecord(usage=Usage(**_values(row, _USAGE)), **_values(row, _RECORD))
