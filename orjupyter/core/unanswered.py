"""`--map` rows without an answer: why each one has none, by its label in `NAME_errors`,
and where an answer that could not be used keeps its text. Pure.

A row whose answer was sent and billed but is no value (not JSON under `-f json`, not the
`--schema` after its re-asks) keeps the model's text as its error's `.text`, and its
error says so by name (`labels_errors[20].text`): in a `--map`, `-o NAME` holds values,
not replies, so the advice a cell gives (`use -o and .text`) would point nowhere.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

from orjupyter.core.formats import without_advice
from orjupyter.core.mapping import MapSource, RunProgress


class RowError(str):
    """Why a row has no answer; `.text` is the model's answer when there was one that
    could not be used (not JSON under `-f json`, or not the `--schema`), else None."""

    text: str | None

    def __new__(cls, why: str, text: str | None = None) -> RowError:
        error = super().__new__(cls, why)
        error.text = text
        return error


@dataclass
class RowResult:
    """One row's end: its value (None when missing) or why it has none."""

    value: object = None
    error: str | None = None
    replayed: bool = False
    """Its answer could not be used and is cached: re-running the cell gives it again."""


def label_code(label: object) -> str:
    """A row label as the Python that reaches it: `3`, `'x'` (a numpy number as a plain
    one, which indexes the same dict entry)."""
    if isinstance(label, numbers.Integral) and not isinstance(label, bool):
        return str(int(label))
    if isinstance(label, numbers.Real) and not isinstance(label, bool):
        return repr(float(label))
    return repr(label)


def text_place(errors_in: str | None, label: object) -> str | None:
    """Where a row's answer that could not be used is kept (`labels_errors[20].text`);
    None without `-o` (nothing is kept)."""
    return f"{errors_in}[{label_code(label)}].text" if errors_in else None


def kept_text(errors_in: str | None, label: object) -> str:
    """The clause a row's error ends with: where its answer's text is."""
    place = text_place(errors_in, label)
    return f"its text is {place}" if place else "its text is this error's .text"


def unusable(why: str, text: str, kept: str) -> RowError:
    """A row whose answer could not be used: why (the advice meant for a cell replaced
    by `kept`, where the text is), with the text kept."""
    return RowError(f"{without_advice(why)}; {kept}", text=text)


def errors_note(
    progress: RunProgress,
    name: str | None,
    results: Sequence[RowResult | None],
    labels: Sequence[object],
) -> str | None:
    """Where the run's end points for rows without an answer (None: every row has one):
    `name` (`NAME_errors`), where the first row's answer that could not be used is kept,
    and what re-running the cell does (an answer `replayed` from the cache comes back)."""
    missing = progress.failed + progress.stopped + progress.unsent
    if not missing:
        return None
    rows = f"{missing:,} row{'s' if missing != 1 else ''} without an answer"
    if name is None:
        return f"{rows}: add -o NAME to keep why, by row, in NAME_errors"
    kept = next(
        (
            f" (an answer that could not be used is its .text: {text_place(name, label)})"
            for label, result in zip(labels, results, strict=True)
            if result is not None and getattr(result.error, "text", None) is not None
        ),
        "",
    )
    replayed = sum(result is not None and result.replayed for result in results)
    return f"{rows}: why is in {name}{kept}; {_rerun(missing, replayed)}"


def _rerun(missing: int, replayed: int) -> str:
    """What re-running the cell does for the rows without an answer."""
    them = "them" if missing != 1 else "it"
    if not replayed:
        return f"re-running the cell asks {them} again (the answered ones come from the cache)"
    asked = missing - replayed
    same = them if not asked else f"{replayed:,} of them"
    asks = f"asks {asked:,} of them again and gives " if asked else "gives "
    return (
        f"re-running the cell {asks}{same} the same answer from the cache (an answer that "
        "could not be read is cached like any other; --no-cache asks every row again)"
    )


def errors_by_label(source: MapSource, results: Sequence[RowResult | None]) -> dict[object, str]:
    """Why each missing row is missing, by its label (unsent rows say so), each a
    `RowError` (a `str` whose `.text` is the answer that could not be used, if any)."""
    errors: dict[object, str] = {}
    for label, result in zip(source.labels, results, strict=True):
        if result is None:
            errors[label] = RowError("not sent")
        elif result.error is not None:
            error = result.error
            errors[label] = error if isinstance(error, RowError) else RowError(error)
    return errors
