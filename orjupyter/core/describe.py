"""Notebook values → text a model reads well: described, not dumped. Pure.

`describe(value, name, max_tokens)` first asks the value to describe itself
(`_repr_llm_()` or a `text/llm+plain` mimebundle entry, `core/describe_self.py`), then
picks the first row of `DESCRIBERS` that claims it: pandas and polars DataFrames and
Series, numpy arrays that are data, exceptions, containers. Anything else goes as its
text (`str`), shortened with a note when it is longer than the cap. pandas, polars and
numpy are touched only when the value comes from them (its type's module), never
imported here. `full_text` is what `{name:full}` sends: the whole value, as the row's
`full` writes it, refused when the row's `count` is too many values.

A description never mutates the value and works on a bounded sample of a huge one (it
says so). A describer that raises becomes one `PromptError` naming the value.
"""

from __future__ import annotations

import reprlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orjupyter.core import describe_data as data
from orjupyter.core import describe_polars as polars
from orjupyter.core.describe_data import (
    CHARS_PER_TOKEN,
    Description,
    cells,
    module_of,
    shortened,
)
from orjupyter.core.describe_self import own_description
from orjupyter.core.errlog import CellNamer, is_ipython_frame, with_cell_names
from orjupyter.core.errors import PromptError

__all__ = ["DESCRIBERS", "Describer", "Description", "describe", "exception_text", "full_text"]

FULL_VALUES_LIMIT = 2_000_000
"""`{x:full}` refuses a value of more cells/items than this before rendering it (no model
window holds even the numbers of such a value)."""


@dataclass(frozen=True)
class Describer:
    """One kind of value described its own way."""

    name: str
    claims: Callable[[object], bool]
    """Cheap test on the value's type: must not import pandas or numpy."""
    describe: Callable[[Any, str, int], Description]
    """(value, name, cap in characters) → description."""
    reads: str = ""
    """What the model reads, in a sentence (the user guide's table is made from it)."""
    full: Callable[[Any], str] | None = None
    """`{name:full}`: the whole value as text (None: its `str`)."""
    count: Callable[[Any], int] | None = None
    """How many values `{name:full}` would write (cells, items), checked against
    `FULL_VALUES_LIMIT` before the text is made (None: not counted)."""


def describe(value: object, name: str, max_tokens: int = 1500) -> Description:
    """`value` described for a model within about `max_tokens` tokens.

    Raises `PromptError` naming `name` when the value cannot be described."""
    limit = max(200, max_tokens * CHARS_PER_TOKEN)
    own, problem = own_description(value, name, limit)
    if own is not None:
        return own
    try:
        described = _built_in(value, name, limit)
        return Description(described.text, " · ".join(n for n in (problem, described.note) if n))
    except (PromptError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a broken __str__; a Rust panic in polars
        raise PromptError(
            f"{{{name}}}: could not describe this {type(value).__name__} "
            f"({type(exc).__name__}: {_first_line(exc)}); send one of its attributes or a "
            "slice instead"
        ) from None


def _built_in(value: object, name: str, limit: int) -> Description:
    describer = _describer_for(value)
    if describer is not None:
        return describer.describe(value, name, limit)
    return _as_str(value, name, limit)


def _describer_for(value: object) -> Describer | None:
    return next((d for d in DESCRIBERS if d.claims(value)), None)


def full_text(value: object, name: str) -> str:
    """`{name:full}`: the whole value as text. Refuses one far too large for any model."""
    try:
        describer = _describer_for(value)
        count = describer.count(value) if describer and describer.count else 0
        if count > FULL_VALUES_LIMIT:
            raise PromptError(
                f"{{{name}:full}} is {count:,} values, far more than a model's context holds; "
                f"send {{{name}}} for a description, or a slice made in a cell"
            )
        return describer.full(value) if describer and describer.full else str(value)
    except (PromptError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # also a Rust panic in polars (not an Exception)
        raise PromptError(
            f"{{{name}:full}}: could not turn this {type(value).__name__} into text "
            f"({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no message"


def _as_str(value: object, name: str, limit: int) -> Description:
    """Any other object: its text, shortened with a note when it is long."""
    text = format(value, "")
    if len(text) <= limit:
        return Description(text)
    return Description(shortened(text, limit), f"{name}: shortened")


# -- containers -----------------------------------------------------------------------

_CONTAINERS = (list, tuple, dict, set, frozenset)


def _bounded_repr(limit: int) -> reprlib.Repr:
    shown = reprlib.Repr()
    shown.maxlevel = 4
    shown.maxlist = shown.maxtuple = shown.maxset = shown.maxfrozenset = 60
    shown.maxdict = 40
    shown.maxstring = shown.maxother = min(400, limit // 4)
    shown.maxlong = 200
    return shown


def _describe_container(value: Any, name: str, limit: int) -> Description:
    """Its length and a repr bounded in items and characters (never the whole of a huge one)."""
    text = _bounded_repr(limit).repr(value)
    kind = type(value).__name__
    whole = len(value) <= 60 and "..." not in text and len(text) <= limit
    if whole and text == repr(value):
        return Description(text)
    text = shortened(text, limit)
    return Description(
        f"{kind} of {len(value):,} items (shown in part): {text}", f"{name}: {len(value):,} items"
    )


# -- exceptions -------------------------------------------------------------------------

TRACEBACK_FRAMES = 6


def exception_text(error: BaseException, limit: int, cell_name: CellNamer | None = None) -> str:
    """Type, message and the last few frames of its traceback, within `limit` characters;
    a cell's frames say which cell (`Cell In[7]`) when `cell_name` knows it."""
    head = f"{type(error).__name__}: {error}"
    if error.__traceback__ is None:
        return shortened(head, limit)
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not is_ipython_frame(frame.filename)
    ][-TRACEBACK_FRAMES:]
    stack = "".join(traceback.format_list(frames)).rstrip()
    stack = with_cell_names(stack, [frame.filename for frame in frames], cell_name)
    text = f"{head}\nTraceback (most recent call last, last {len(frames)} frames):\n{stack}"
    return shortened(text, limit)


def _describe_exception(error: BaseException, name: str, limit: int) -> Description:
    return Description(exception_text(error, limit))


# -- images asked for as text -----------------------------------------------------------


def _is_pil(value: object) -> bool:
    return module_of(value).startswith("PIL.") and hasattr(value, "mode") and hasattr(value, "size")


def _describe_pil(image: Any, name: str, limit: int) -> Description:
    width, height = image.size
    return Description(f"PIL image, {width}×{height} pixels, mode {image.mode}")


DESCRIBERS: tuple[Describer, ...] = (
    Describer(
        "pandas DataFrame",
        data.is_pandas_frame,
        data.describe_frame,
        "rows × columns; every column with its dtype and missing values; the first rows as a "
        "small table; mean, std, min, median and max of the numeric columns",
        full=data.full_table,
        count=cells,
    ),
    Describer(
        "pandas Series",
        data.is_pandas_series,
        data.describe_series,
        "length, dtype, missing values, the first values, a summary (or the most common values)",
        full=data.full_table,
        count=cells,
    ),
    Describer(
        "polars DataFrame",
        polars.is_polars_frame,
        polars.describe_polars_frame,
        "as a pandas DataFrame: shape, every column's dtype and nulls, example rows, a summary",
        full=polars.full_table,
        count=cells,
    ),
    Describer(
        "polars Series",
        polars.is_polars_series,
        polars.describe_polars_series,
        "length, dtype, nulls, the first values and a summary",
        full=polars.full_table,
        count=cells,
    ),
    Describer(
        "lazy frame (polars LazyFrame, dask)",
        data.is_lazy_frame,
        data.refuse_lazy,
        "nothing: refused with a hint, since describing it would run its query",
    ),
    Describer(
        "NumPy array (data)",
        data.is_numpy_array,
        data.describe_array,
        "shape, dtype, min, max, mean, std, NaNs, and a corner (`arr[:5, :8]`); arrays of up "
        "to 100 values whole",
        full=data.full_array,
        count=cells,
    ),
    Describer(
        "an exception",
        lambda v: isinstance(v, BaseException),
        _describe_exception,
        "type, message and the last frames of its traceback",
    ),
    Describer(
        "list, tuple, dict, set",
        lambda v: isinstance(v, _CONTAINERS),
        _describe_container,
        "the repr when it is short; otherwise its length and the first items",
        full=repr,
        count=len,
    ),
    Describer(
        "PIL image (with `{img:text}`)",
        _is_pil,
        _describe_pil,
        "its size in pixels and its mode",
    ),
)
"""Every kind of value described its own way, in the order they are tried. Strings,
numbers and other objects match no row: they go as their text."""
