"""`--map`'s pure planning: sources → rows, the template check, the run's arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from orjupyter.core.errors import OptionError, PromptError
from orjupyter.core.mapping import (
    RunProgress,
    cap_note,
    check_template,
    map_source,
    may_send,
    progress_text,
    summary_text,
)
from orjupyter.core.prompt import parse_template
from orjupyter.core.unanswered import RowResult, errors_by_label


def test_a_dataframe_row_offers_its_columns_the_row_and_its_label():
    frame = pd.DataFrame({"title": ["a", "b"], "n": [1, 2]}, index=["x", "y"])
    source = map_source(frame, "frame")
    assert (source.kind, list(source.labels), source.columns) == (
        "frame",
        ["x", "y"],
        ("title", "n"),
    )
    first, second = source.rows()
    assert (first["title"], first["n"], first["index"]) == ("a", 1, "x")
    assert str(second["row"]) == "title: b\nn: 2"
    assert f"{second['row']}" == "title: b\nn: 2"


@pytest.mark.parametrize(
    ("value", "kind", "labels", "items"),
    [
        (["p", "q"], "list", [0, 1], ["p", "q"]),
        (("p", "q"), "list", [0, 1], ["p", "q"]),
        (range(2), "list", [0, 1], [0, 1]),
        ({"k1": "p", "k2": "q"}, "dict", ["k1", "k2"], ["p", "q"]),
        (pd.Series(["p", "q"], index=[10, 20]), "series", [10, 20], ["p", "q"]),
    ],
)
def test_lists_dicts_and_series_offer_item_and_index(value, kind, labels, items):
    source = map_source(value, "things")
    assert source.kind == kind
    rows = list(source.rows())
    assert [row["index"] for row in rows] == labels
    assert [row["item"] for row in rows] == items


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (5, "a int is not rows to map over"),
        ("text", "a str is not rows to map over"),
        ([], "--map things is empty"),
        (pd.DataFrame(), "--map things is empty"),
    ],
)
def test_what_cannot_be_mapped_is_one_line(value, says):
    with pytest.raises(OptionError, match=says) as caught:
        map_source(value, "things")
    assert "nothing was sent" in str(caught.value)


def test_a_missing_column_is_named_with_the_columns_listed():
    source = map_source(pd.DataFrame({"title": ["a"], "body": ["b"]}), "tickets")
    with pytest.raises(PromptError) as caught:
        check_template(parse_template("Label {titel}: {body}"), source, {})
    assert str(caught.value) == (
        "{titel}: tickets has no column 'titel' (columns: title, body) and no notebook "
        "variable has that name (nothing was sent)"
    )


def test_columns_row_fields_and_notebook_variables_are_all_fine():
    source = map_source(pd.DataFrame({"title": ["a"]}), "tickets")
    segments = parse_template("{title} {row[title]} {index} {labels}")
    check_template(segments, source, {"labels": "x, y"})


def test_expressions_may_use_the_row_and_builtins():
    source = map_source(pd.DataFrame({"title": ["a"], "body": ["b"]}), "tickets")
    check_template(parse_template("{title.upper()} {len(body)} {[w for w in body]}"), source, {})
    with pytest.raises(PromptError, match="no column 'bdy'"):
        check_template(parse_template("{title} {len(bdy)}"), source, {})
    with pytest.raises(PromptError, match="never uses the row"):
        check_template(parse_template("{len(labels)}"), source, {"labels": [1]})


def test_a_template_that_ignores_the_row_is_refused():
    source = map_source(["a", "b"], "items")
    with pytest.raises(PromptError, match=r"never uses the row.*\{item\}"):
        check_template(parse_template("Say {greeting}"), source, {"greeting": "hi"})
    with pytest.raises(PromptError, match="no notebook variable named 'itme'"):
        check_template(parse_template("Say {itme}"), source, {})


def test_progress_forecasts_from_the_answered_rows():
    progress = RunProgress(total=10, started=100.0)
    assert progress.forecast() is None
    progress.add(Decimal("0.01"), ok=True, cached=False, now=100.5)
    progress.add(Decimal("0.03"), ok=True, cached=False, now=101.0)
    progress.add(Decimal(0), ok=True, cached=True, now=101.0)
    progress.add(Decimal(0), ok=False, cached=False, now=101.5)
    assert progress.average == Decimal("0.02")
    assert progress.forecast() == Decimal("0.04") + Decimal("0.02") * 6
    assert progress.rate(now=101.5) == 2.0
    assert progress.time_left(now=101.5) == 3.0
    line = progress_text(progress, now=101.5)
    assert line == (
        "4/10 rows · 1 failed · 1 cached · billed $0.04 · forecast $0.16 · 2.0 rows/s · 3.0 s left"
    )


def test_a_resumed_runs_rate_and_time_left_count_only_the_rows_sent():
    """1,000 rows from the cache in the first second, then rows sent at 2 a second: the
    rate is 2 rows/s and the 1,000 rows left take about 500 s, not 1 s."""
    progress = RunProgress(total=2020, started=0.0)
    for k in range(1000):
        progress.add(Decimal(0), ok=True, cached=True, now=k / 1000)
    for k in range(21):
        progress.add(Decimal("0.001"), ok=True, cached=False, now=1.0 + k / 2)
    now = 11.0
    assert progress.rate(now) == 2.0
    assert progress.time_left(now) == 999 / 2
    assert "2.0 rows/s · 8 min 19 s left" in progress_text(progress, now)


def test_no_rate_is_claimed_before_two_rows_were_sent():
    progress = RunProgress(total=5, started=0.0)
    progress.add(Decimal(0), ok=True, cached=True, now=0.1)
    progress.add(Decimal("0.01"), ok=True, cached=False, now=1.0)
    assert progress.rate(2.0) is None
    assert "rows/s" not in progress_text(progress, 2.0)


def test_the_summary_counts_every_row():
    progress = RunProgress(total=6, started=0.0, ended=2.5)
    progress.add(Decimal("0.01"), ok=True, cached=False)
    progress.add(Decimal(0), ok=True, cached=True)
    progress.add(Decimal(0), ok=False, cached=False)
    progress.stopped, progress.unsent = 1, 2
    assert summary_text(progress) == (
        "6 rows · 2 answered · 1 from the cache · 1 failed · 1 stopped · 2 not sent · "
        "billed $0.01 · 2.5 s"
    )


def test_the_cap_holds_every_row_in_flight_at_its_worst_case_whatever_was_billed():
    cap, worst = Decimal("0.50"), Decimal("0.1639")
    progress = RunProgress(total=500)
    assert may_send(None, progress, Decimal("1000"))  # no cap
    assert may_send(cap, progress, worst)
    progress.in_flight, progress.held = 3, worst * 3  # three rows in flight: 0.4917 held
    assert not may_send(cap, progress, worst)  # a fourth could cross the cap
    # cheap answers come back: they never lower what a row in flight may cost
    for _ in range(3):
        progress.add(Decimal("0.0001"), ok=True, cached=False)
        progress.in_flight, progress.held = progress.in_flight - 1, progress.held - worst
    assert progress.held == 0
    assert may_send(cap, progress, worst)
    progress.in_flight, progress.held = 3, worst * 3
    assert not may_send(cap, progress, worst)  # still three at most, not 32
    assert progress.billed + progress.held <= cap
    # a row recorded at an estimate keeps the rest of its worst case held
    assert not may_send(Decimal("0.10"), RunProgress(10, held=worst - Decimal("0.01")), worst)


def test_a_row_worse_than_the_whole_cap_is_named_in_the_note():
    progress = RunProgress(total=12, unsent=12)
    assert cap_note(Decimal("0.002"), progress, Decimal("0.1639")) == (
        "--budget $0.002 is less than one row's worst case ($0.1639: its prompt and the "
        "longest answer the model may give), so 12 rows not sent; raise --budget, or lower "
        "the worst case with --max-tokens"
    )


def test_the_cap_note_says_what_was_left_out():
    progress = RunProgress(total=10)
    progress.add(Decimal("0.02"), ok=True, cached=False)
    progress.unsent = 7
    assert cap_note(Decimal("0.05"), progress) == (
        "--budget $0.05 reached: 7 rows not sent (about $0.14 at this run's average); "
        "re-run with a higher --budget to send them (answered rows come from the cache)"
    )


def test_errors_are_kept_by_label_and_unsent_rows_say_so():
    source = map_source({"a": 1, "b": 2, "c": 3}, "d")
    results = [RowResult("ok"), RowResult(error="HTTP 500"), None]
    assert errors_by_label(source, results) == {"b": "HTTP 500", "c": "not sent"}


def test_a_rows_unusable_answer_is_named_by_the_code_that_reaches_it():
    import numpy as np

    from orjupyter.core.unanswered import kept_text, text_place, unusable

    assert text_place("labels_errors", np.int64(20)) == "labels_errors[20].text"
    assert text_place("labels_errors", "x") == "labels_errors['x'].text"
    assert text_place(None, 3) is None  # without -o nothing is kept
    why = "the answer is not valid JSON (Expecting value at line 1); the text is kept in the reply"
    error = unusable(why, "oops", kept_text("out_errors", 2))
    assert (error, error.text) == (
        "the answer is not valid JSON (Expecting value at line 1); its text is out_errors[2].text",
        "oops",
    )


def test_the_runs_end_says_which_rows_a_re_run_asks_again():
    from orjupyter.core.unanswered import RowError, errors_note

    progress = RunProgress(total=5, answered=2, failed=3)
    schema_miss = RowResult(error=RowError("the answer does not match Label", text="{}"))
    unreadable = RowResult(error=RowError("not valid JSON", text="oops"), replayed=True)
    results = [RowResult("a"), schema_miss, RowResult("b"), unreadable, RowResult(error="HTTP 500")]
    assert errors_note(progress, "out_errors", results, labels=range(5)) == (
        "3 rows without an answer: why is in out_errors (an answer that could not be used is "
        "its .text: out_errors[1].text); re-running the cell asks 2 of them again and gives "
        "1 of them the same answer from the cache (an answer that could not be read is cached "
        "like any other; --no-cache asks every row again)"
    )
    assert errors_note(progress, None, results, labels=range(5)) == (
        "3 rows without an answer: add -o NAME to keep why, by row, in NAME_errors"
    )
