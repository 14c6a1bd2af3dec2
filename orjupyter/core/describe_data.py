"""Data values described for a model: pandas frames and series, numpy arrays. Pure.

pandas and numpy are never imported at module level: a describer runs only on a value
that comes from them. Huge values are read through a bounded, evenly spaced sample
(`SAMPLE_CELLS`), and the description says so; nothing here mutates the value.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

from orjupyter.core.errors import PromptError

CHARS_PER_TOKEN = 4
"""The estimate `pricing.text_tokens` uses: a description's cap in characters."""
SAMPLE_CELLS = 2_000_000
"""Most cells (rows × columns) read for missing values."""
SUMMARY_CELLS = 200_000
"""Most cells read for the numeric summary (its median sorts them)."""
SAMPLE_VALUES = 1_000_000
"""Most array values read for statistics."""
EXAMPLE_ROWS = 5
SUMMARY_COLUMNS = 30
SMALL_ARRAY = 100
"""Arrays of at most this many values are sent whole."""


@dataclass(frozen=True)
class Description:
    """A value as text, and what the answer's status line says about it (may be empty)."""

    text: str
    note: str = ""


def module_of(value: object) -> str:
    return type(value).__module__


def shortened(text: str, limit: int, what: str = "characters") -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    kept = max(0, limit - 80)
    return f"{text[:kept]}\n[… shortened: first {kept:,} of {len(text):,} {what} shown]"


def cells(value: Any) -> int:
    """How many values a frame, series or array holds: the product of its shape."""
    count = 1
    for size in value.shape:
        count *= int(size)
    return count


def full_table(value: Any) -> str:
    """`{df:full}` for a pandas frame or series: every row and column."""
    return str(value.to_string())


def full_array(array: Any) -> str:
    """`{arr:full}` for a numpy array: every value."""
    import numpy as np

    return str(np.array2string(array, threshold=cells(array) + 1, max_line_width=200))


def is_pandas_frame(value: object) -> bool:
    return module_of(value).startswith("pandas") and type(value).__name__ == "DataFrame"


def is_pandas_series(value: object) -> bool:
    return module_of(value).startswith("pandas") and type(value).__name__ == "Series"


def is_lazy_frame(value: object) -> bool:
    module = module_of(value)
    return (module.startswith("polars") and type(value).__name__ == "LazyFrame") or (
        module.startswith(("dask.", "pyspark.")) and hasattr(value, "columns")
    )


def is_numpy_array(value: object) -> bool:
    return (
        module_of(value).startswith("numpy")
        and hasattr(value, "dtype")
        and len(getattr(value, "shape", ())) >= 1
    )


def refuse_lazy(value: Any, name: str, limit: int) -> Description:
    kind = f"{module_of(value).split('.')[0]} {type(value).__name__}"
    raise PromptError(
        f"{{{name}}} is a {kind}: describing it would run its whole query; collect a part "
        f"in a cell first (for example small = {name}.head(1000) then collect) and send that"
    )


# -- pandas -----------------------------------------------------------------------------


def _sample(frame: Any, cells: int = SAMPLE_CELLS) -> tuple[Any, str]:
    """The frame itself, or evenly spaced rows of it when it is huge (and saying so)."""
    rows, columns = frame.shape
    most = max(1_000, cells // max(columns, 1))
    if rows <= most:
        return frame, ""
    sample = frame.iloc[:: math.ceil(rows / most)]
    return sample, f"{len(sample):,} evenly spaced rows of {rows:,}"


def column_lines(frame: Any, missing: Any, allowance: int) -> tuple[str, str]:
    """Every column with its dtype and missing values; grouped by dtype when too wide."""
    names = [str(name) for name in frame.columns]
    dtypes = [str(dtype) for dtype in frame.dtypes]
    counts = [int(count) for count in missing]
    lines = [
        f"  {name}: {dtype}" + (f", {count:,} missing" if count else "")
        for name, dtype, count in zip(names, dtypes, counts, strict=True)
    ]
    full = "columns (dtype, missing values):\n" + "\n".join(lines)
    if len(full) <= allowance:
        return full, ""
    groups: dict[str, list[str]] = {}
    for name, dtype in zip(names, dtypes, strict=True):
        groups.setdefault(dtype, []).append(name)
    share = max(60, allowance // (len(groups) + 1))
    grouped = [
        _listed(f"  {dtype} ({len(members):,} columns): ", members, share)
        for dtype, members in groups.items()
    ]
    holes = [f"{n} ({c:,})" for n, c in zip(names, counts, strict=True) if c]
    gaps = _listed("  missing values: ", holes, share) if holes else "  no missing values"
    return "columns by dtype:\n" + "\n".join([*grouped, gaps]), "columns grouped by dtype"


def _listed(prefix: str, items: list[str], limit: int) -> str:
    """`prefix a, b, c … and 9 more`, within `limit` characters."""
    shown: list[str] = []
    used = len(prefix)
    for item in items:
        if used + len(item) + 2 > limit and shown:
            break
        shown.append(item)
        used += len(item) + 2
    rest = len(items) - len(shown)
    return prefix + ", ".join(shown) + (f" … and {rest:,} more" if rest else "")


def fitted_table(render: Any, columns: int, allowance: int) -> tuple[str, int, int]:
    """A table of up to `EXAMPLE_ROWS` rows and `columns` columns that fits `allowance`:
    fewer columns first, then fewer rows. Returns (text, rows, columns)."""
    rows, shown = EXAMPLE_ROWS, min(columns, 12)
    while True:
        text = render(rows, shown)
        if len(text) <= allowance or (rows <= 1 and shown <= 1):
            return text, rows, shown
        if shown > 2:
            shown = max(2, shown * 2 // 3)
        elif rows > 1:
            rows -= 1
        else:
            shown = 1


def _numeric_summary(frame: Any, allowance: int) -> tuple[str, int, int, str]:
    """mean/std/min/median/max of the numeric columns that fit `allowance`, from a sample
    of at most `SUMMARY_CELLS` cells. Returns (text, columns shown, numeric columns, sample)."""
    numeric = frame.select_dtypes("number")
    total = numeric.shape[1]
    if total == 0:
        return "", 0, 0, ""
    chosen, sampled = _sample(numeric.iloc[:, :SUMMARY_COLUMNS], SUMMARY_CELLS)
    table = chosen.describe().T[["mean", "std", "min", "50%", "max"]]
    table = table.rename(columns={"50%": "median"})
    shown = len(table)
    while True:
        text = table.iloc[:shown].to_string(float_format=lambda x: f"{x:.4g}")
        if len(text) <= allowance or shown <= 1:
            return text, shown, total, sampled
        shown = max(1, shown * 2 // 3)


def describe_frame(frame: Any, name: str, limit: int) -> Description:
    """Shape, every column's dtype and missing values, example rows, a numeric summary."""
    rows, columns = frame.shape
    sample, sampled = _sample(frame)
    header = f"{name}: pandas DataFrame, {rows:,} rows × {columns:,} columns"
    left_out: list[str] = []
    columns_text, grouped = column_lines(frame, sample.isna().sum(), int(limit * 0.4))
    if grouped:
        left_out.append(grouped)
    budget = limit - len(header) - len(columns_text) - 200
    head = frame.head(EXAMPLE_ROWS)

    def render(n: int, k: int) -> str:
        return str(head.iloc[:n, :k].to_string(max_colwidth=30, show_dimensions=False))

    rows_text, shown_rows, shown_columns = fitted_table(render, columns, max(200, budget // 2))
    if shown_columns < columns:
        left_out.append(f"example rows show {shown_columns:,} of {columns:,} columns")
    summary, summarised, numeric, summary_sample = _numeric_summary(
        frame, max(200, budget - len(rows_text) - 100)
    )
    if summarised < numeric:
        left_out.append(f"summary of {summarised:,} of {numeric:,} numeric columns")
    sections = [header, columns_text, f"first {min(shown_rows, rows)} rows:\n{rows_text}"]
    if summary:
        source = f" (from {summary_sample})" if summary_sample else ""
        sections.append(f"numeric summary{source}:\n{summary}")
    if sampled:
        left_out.append(f"missing values counted in {sampled}")
    if left_out:
        sections.append("left out: " + "; ".join(left_out))
    note = f"{name}: {rows:,} × {columns:,} described"
    return Description(shortened("\n".join(sections), limit), note)


def describe_series(series: Any, name: str, limit: int) -> Description:
    """Length, dtype, missing values, the first values and a summary."""
    sample, sampled = _sample(series.to_frame())
    column = sample.iloc[:, 0]
    missing = int(column.isna().sum())
    label = "" if series.name is None else f" {str(series.name)!r}"
    header = (
        f"{name}: pandas Series{label}, {len(series):,} values, dtype {series.dtype}, "
        f"{missing:,} missing" + (f" (counted in {sampled})" if sampled else "")
    )
    first = series.head(EXAMPLE_ROWS).to_string(max_rows=EXAMPLE_ROWS)
    if column.dtype.kind in "iuf":
        part, sampled = _sample(series.to_frame(), SUMMARY_CELLS)
        summary = part.iloc[:, 0].describe().to_string(float_format=lambda x: f"{x:.4g}")
        title = "summary"
    else:
        summary = column.value_counts().head(EXAMPLE_ROWS).to_string()
        title = "most common values"
    source = f" (from {sampled})" if sampled else ""
    text = f"{header}\nfirst values:\n{first}\n{title}{source}:\n{summary}"
    return Description(shortened(text, limit), f"{name}: {len(series):,} values described")


# -- numpy ------------------------------------------------------------------------------


def _flat_sample(np: Any, array: Any) -> tuple[Any, str]:
    size = int(array.size)
    if size <= SAMPLE_VALUES:
        return np.asarray(array).reshape(-1), ""
    step = math.ceil(size / SAMPLE_VALUES)
    sample = array.flat[::step]
    return sample, f"{sample.size:,} evenly spaced values of {size:,}"


def _statistics(np: Any, array: Any) -> str:
    kind = array.dtype.kind
    if kind not in "biuf":
        return ""
    values, sampled = _flat_sample(np, array)
    source = f" (from {sampled})" if sampled else ""
    if kind == "b":
        true = int(np.count_nonzero(values))
        return f"True: {true:,} of {values.size:,}{source}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN samples
        numbers = values.astype(np.float64, copy=False)
        nan = int(np.count_nonzero(np.isnan(numbers))) if kind == "f" else 0
        if nan:  # the nan-aware functions copy: only when there is a NaN to skip
            numbers = numbers[~np.isnan(numbers)]
        figures = {
            "min": numbers.min() if numbers.size else math.nan,
            "max": numbers.max() if numbers.size else math.nan,
            "mean": numbers.mean() if numbers.size else math.nan,
            "std": numbers.std() if numbers.size else math.nan,
        }
    shown = ", ".join(f"{key} {float(value):.6g}" for key, value in figures.items())
    return f"{shown}, NaN {nan:,}{source}"


def describe_array(array: Any, name: str, limit: int) -> Description:
    """Shape, dtype, statistics and a corner of the values (small arrays whole)."""
    import numpy as np

    shape = tuple(int(n) for n in array.shape)
    header = f"{name}: numpy array, shape {shape}, dtype {array.dtype} ({array.size:,} values)"
    note = f"{name}: {' × '.join(f'{n:,}' for n in shape)} array described"
    if array.size <= SMALL_ARRAY:
        values = np.array2string(array, precision=6, max_line_width=120)
        return Description(shortened(f"{header}\nvalues:\n{values}", limit), note)
    lines = [header]
    statistics = _statistics(np, array)
    if statistics:
        lines.append(statistics)
    wanted = [slice(0, 10)] if array.ndim == 1 else [slice(0, 5), slice(0, 8)]
    corner = array[(0,) * (array.ndim - len(wanted)) + tuple(wanted)]
    where = "[" + ", ".join(["0"] * (array.ndim - len(wanted)) + [f":{s.stop}" for s in wanted])
    text = np.array2string(corner, precision=4, max_line_width=120, threshold=200)
    lines.append(f"corner {name}{where}]:\n{text}")
    return Description(shortened("\n".join(lines), limit), note)
