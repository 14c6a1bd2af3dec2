"""polars frames and series described for a model, like pandas ones. Pure.

polars is never imported here: these run only on a value whose type comes from it (and
then use the value's own module). Null counts are exact (polars keeps them); the example
rows are the first ones; the summary of a huge frame is read from evenly spaced rows.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from orjupyter.core.describe_data import (
    EXAMPLE_ROWS,
    SUMMARY_CELLS,
    SUMMARY_COLUMNS,
    Description,
    column_lines,
    fitted_table,
    module_of,
    shortened,
)


def is_polars_frame(value: object) -> bool:
    return module_of(value).startswith("polars") and type(value).__name__ == "DataFrame"


def is_polars_series(value: object) -> bool:
    return module_of(value).startswith("polars") and type(value).__name__ == "Series"


def _polars() -> Any:
    return sys.modules["polars"]  # imported already: the value comes from it


def _table(frame: Any) -> str:
    """A small frame as plain text, without polars' shape line and dtype row."""
    with _polars().Config(
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="ASCII_FULL_CONDENSED",
        tbl_cols=-1,
        tbl_rows=EXAMPLE_ROWS,
        tbl_width_chars=10_000,
        fmt_str_lengths=30,
    ):
        return str(frame)


def _summary(frame: Any, allowance: int) -> tuple[str, int, int, str]:
    """mean/std/min/median/max of the numeric columns that fit, from evenly spaced rows."""
    numeric = [name for name, dtype in frame.schema.items() if dtype.is_numeric()]
    if not numeric:
        return "", 0, 0, ""
    chosen = numeric[:SUMMARY_COLUMNS]
    rows = frame.height
    most = max(1_000, SUMMARY_CELLS // len(chosen))
    sample, sampled = frame.select(chosen), ""
    if rows > most:
        sample = sample.gather_every(math.ceil(rows / most))
        sampled = f"{sample.height:,} evenly spaced rows of {rows:,}"
    described = sample.describe()
    statistic = list(described["statistic"])
    lines = []
    for name in chosen:
        values = dict(zip(statistic, described[name], strict=True))
        shown = ", ".join(
            f"{label} {_number(values.get(key))}"
            for label, key in (
                ("mean", "mean"),
                ("std", "std"),
                ("min", "min"),
                ("median", "50%"),
                ("max", "max"),
            )
        )
        lines.append(f"  {name}: {shown}")
    shown_count = len(lines)
    while shown_count > 1 and len("\n".join(lines[:shown_count])) > allowance:
        shown_count = max(1, shown_count * 2 // 3)
    return "\n".join(lines[:shown_count]), shown_count, len(numeric), sampled


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def describe_polars_frame(frame: Any, name: str, limit: int) -> Description:
    """Shape, every column's dtype and nulls, example rows, a numeric summary."""
    rows, columns = frame.shape
    header = f"{name}: polars DataFrame, {rows:,} rows × {columns:,} columns"
    left_out: list[str] = []
    nulls = frame.null_count().row(0) if columns else ()
    columns_text, grouped = column_lines(frame, nulls, int(limit * 0.4))
    if grouped:
        left_out.append(grouped)
    budget = limit - len(header) - len(columns_text) - 200
    head = frame.head(EXAMPLE_ROWS)

    def render(n: int, k: int) -> str:
        return _table(head.select(head.columns[:k]).head(n))

    rows_text, shown_rows, shown_columns = fitted_table(render, columns, max(200, budget // 2))
    if shown_columns < columns:
        left_out.append(f"example rows show {shown_columns:,} of {columns:,} columns")
    summary, summarised, numeric, sampled = _summary(frame, max(200, budget - len(rows_text)))
    if summarised < numeric:
        left_out.append(f"summary of {summarised:,} of {numeric:,} numeric columns")
    sections = [header, columns_text, f"first {min(shown_rows, rows)} rows:\n{rows_text}"]
    if summary:
        source = f" (from {sampled})" if sampled else ""
        sections.append(f"numeric summary{source}:\n{summary}")
    if left_out:
        sections.append("left out: " + "; ".join(left_out))
    note = f"{name}: {rows:,} × {columns:,} described"
    return Description(shortened("\n".join(sections), limit), note)


def describe_polars_series(series: Any, name: str, limit: int) -> Description:
    """Length, dtype, nulls, the first values and a summary."""
    header = (
        f"{name}: polars Series {series.name!r}, {len(series):,} values, dtype {series.dtype}, "
        f"{series.null_count():,} missing"
    )
    first = ", ".join(
        _number(value) if isinstance(value, float) else repr(value)
        for value in series.head(EXAMPLE_ROWS).to_list()
    )
    text = f"{header}\nfirst values: {first}"
    if series.dtype.is_numeric():
        summary, _shown, _numeric, sampled = _summary(series.to_frame(), limit)
        source = f" (from {sampled})" if sampled else ""
        text += f"\nsummary{source}:\n{summary}"
    return Description(shortened(text, limit), f"{name}: {len(series):,} values described")


def full_table(value: Any) -> str:
    """`{df:full}` for a polars frame or series: every row and column."""
    with _polars().Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=65_000, fmt_str_lengths=1000):
        return str(value)
