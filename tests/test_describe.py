"""Values described for a model: frames, series, arrays, containers, exceptions, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orjupyter.core.describe import describe, full_text
from orjupyter.core.domain import ImagePart, TextPart
from orjupyter.core.errors import PromptError
from orjupyter.core.image_sources import image_maker
from orjupyter.core.pricing import text_tokens
from orjupyter.core.prompt import build_parts, parse_template


@pytest.fixture
def weather() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "city": ["Paris", "Lyon", None, "Nice"] * 2500,
            "temp": rng.normal(20, 5, 10_000),
            "rain": rng.random(10_000),
            "day": np.arange(10_000),
            "when": pd.date_range("2024-01-01", periods=10_000, freq="h"),
            "dry": [True, False] * 5000,
        }
    )
    frame.loc[::7, "temp"] = np.nan
    return frame


def test_a_frame_gives_shape_dtypes_missing_rows_and_summary(weather):
    described = describe(weather, "df")
    text = described.text
    assert text.startswith("df: pandas DataFrame, 10,000 rows × 6 columns")
    assert "temp: float64, 1,429 missing" in text
    assert "city:" in text
    assert "2,500 missing" in text
    assert "when: datetime64" in text
    assert "first 5 rows:" in text
    assert "Paris" in text
    assert "numeric summary:" in text
    assert "median" in text
    assert described.note == "df: 10,000 × 6 described"
    assert text_tokens(text) <= 1500


def test_describing_never_mutates_the_value(weather):
    before = weather.copy(deep=True)
    describe(weather, "df")
    describe(weather["temp"], "s")
    pd.testing.assert_frame_equal(weather, before)


def test_a_wide_frame_lists_every_column_and_says_what_was_left_out():
    frame = pd.DataFrame(np.zeros((50, 1000)), columns=[f"sensor_{i}" for i in range(1000)])
    frame["label"] = "a"
    text = describe(frame, "wide", max_tokens=1500).text
    assert text_tokens(text) <= 1500
    assert "float64 (1,000 columns): sensor_0, sensor_1" in text
    assert "object (1 columns): label" in text or "str (1 columns): label" in text
    assert "left out:" in text
    assert "example rows show" in text
    assert "of 1,001 columns" in text
    assert "summary of" in text


def test_a_huge_frame_is_read_through_a_sample_and_says_so():
    frame = pd.DataFrame(np.ones((3_000_000, 4)), columns=list("abcd"))
    text = describe(frame, "big").text
    assert "3,000,000 rows × 4 columns" in text
    assert "evenly spaced rows of 3,000,000" in text


def test_a_series(weather):
    described = describe(weather["temp"], "t")
    assert described.text.startswith(
        "t: pandas Series 'temp', 10,000 values, dtype float64, 1,429 missing"
    )
    assert "mean" in described.text
    words = describe(weather["city"], "c").text
    assert "most common values" in words
    assert "Paris" in words


def test_a_data_array_gives_shape_dtype_statistics_and_a_corner():
    rng = np.random.default_rng(1)
    arr = rng.normal(size=(500, 400))
    described = describe(arr, "arr")
    assert described.text.startswith(
        "arr: numpy array, shape (500, 400), dtype float64 (200,000 values)"
    )
    assert "min " in described.text
    assert "std " in described.text
    assert "NaN 0" in described.text
    assert "corner arr[:5, :8]:" in described.text
    assert described.note == "arr: 500 × 400 array described"


def test_a_small_array_is_sent_whole():
    assert "values:\n[0 1 2 3 4]" in describe(np.arange(5), "a").text


def test_containers_short_and_long():
    assert describe([1, 2, 3], "xs").text == "[1, 2, 3]"
    long = describe(list(range(100_000)), "xs")
    assert long.text.startswith("list of 100,000 items (shown in part): [0, 1, 2")
    assert len(long.text) < 1000
    assert describe({"a": 1}, "d").text == "{'a': 1}"


def test_an_exception_gives_type_message_and_traceback():
    def fail() -> None:
        raise ValueError("bad value")

    try:
        fail()
    except ValueError as error:
        caught = error
    text = describe(caught, "err").text
    assert text.startswith("ValueError: bad value\nTraceback")
    assert "in fail" in text


def test_a_long_text_form_is_shortened_with_a_note():
    class Log:
        def __str__(self) -> str:
            return "line\n" * 10_000

    described = describe(Log(), "log", max_tokens=100)
    assert "[… shortened: first" in described.text
    assert len(described.text) <= 400


def test_a_broken_repr_is_one_clear_line():
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("cannot print")

    with pytest.raises(PromptError, match=r"^\{b\}: could not describe this Broken"):
        describe(Broken(), "b")
    with pytest.raises(PromptError, match=r"\(RuntimeError: cannot print\)"):
        describe(Broken(), "b")


def test_full_sends_the_whole_value_and_refuses_the_impossible(weather):
    text = full_text(weather.head(50), "df")
    assert text.count("\n") == 50  # header and 50 rows
    with pytest.raises(PromptError, match=r"\{big:full\} is 4,000,000 values"):
        full_text(np.zeros((2000, 2000)), "big")


def parts(template: str, **namespace: object) -> list:
    notes: list[str] = []
    built = build_parts(
        parse_template(template),
        namespace,
        image_maker("openai/gpt-4o"),
        force_image=image_maker("openai/gpt-4o", forced=True),
        notes=notes,
    )
    return [*built, notes]


def test_measurements_are_described_and_pixels_stay_images():
    rng = np.random.default_rng(2)
    measured = rng.normal(size=(500, 400))
    pixels = np.zeros((40, 60, 3), np.uint8)
    text, image, _tail, notes = parts("What is {arr}? See {img}.", arr=measured, img=pixels)
    assert isinstance(text, TextPart)
    assert "shape (500, 400)" in text.text
    assert isinstance(image, ImagePart)
    assert (image.width, image.height) == (60, 40)
    assert notes == ["arr: 500 × 400 array described"]


def test_format_specs_force_either_reading():
    rng = np.random.default_rng(3)
    [image, _notes] = parts("{arr:image}", arr=rng.random((30, 20)))
    assert isinstance(image, ImagePart)
    assert (image.width, image.height) == (20, 30)
    [text, _notes] = parts("{img:text}", img=np.zeros((4, 6), np.uint8))
    assert isinstance(text, TextPart)
    assert "dtype uint8" in text.text
    with pytest.raises(PromptError, match=r"\{name:image\}: a str cannot be sent as an image"):
        parts("{name:image}", name="hello")


def test_a_users_string_goes_whole_and_python_specs_still_work():
    long = "word " * 5000
    [text, _notes] = parts("{s} {n:.2f} {s2!r}", s=long, n=3.14159, s2="x")
    assert text.text == f"{long} 3.14 'x'"


def test_polars_frames_and_series_are_described_the_same_way():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"city": ["Paris", None, "Nice", "Lyon"] * 25, "temp": range(100)})
    described = describe(frame, "pf")
    assert described.text.startswith("pf: polars DataFrame, 100 rows × 2 columns")
    assert "city: String, 25 missing" in described.text
    assert "Paris" in described.text
    assert "temp: mean 49.5" in described.text
    assert described.note == "pf: 100 × 2 described"
    series = describe(frame["temp"], "s").text
    assert series.startswith("s: polars Series 'temp', 100 values, dtype Int64, 0 missing")
    assert full_text(frame, "pf").count("Paris") == 25
    with pytest.raises(PromptError, match=r"\{lazy\} is a polars LazyFrame: describing it would"):
        describe(frame.lazy(), "lazy")


class Opaque:
    """An object with no text form of its own."""


def test_text_spec_on_plain_values_and_objects_without_a_text_form():
    [text, _notes] = parts("{n:text} {flag:text}", n=3, flag=True)
    assert text.text == "3 True"
    with pytest.raises(PromptError, match=r"\{o\} is a Opaque with no text form"):
        parts("{o:text}", o=Opaque())
