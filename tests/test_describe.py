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
    with pytest.raises(PromptError, match=r"\{name:image\}: a dict cannot be sent as an image"):
        parts("{name:image}", name={"a": 1})
    with pytest.raises(PromptError, match=r"no image file at hello; check the path"):
        parts("{name:image}", name="hello")  # a string names the image file


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


# --- one table of describers ------------------------------------------------------------


class Grid:
    """A small frame type of its own: rows × columns of numbers."""

    def __init__(self, rows: int, columns: int) -> None:
        self.shape = (rows, columns)

    def __str__(self) -> str:
        return f"<Grid {self.shape}>"


def test_a_describer_row_gives_the_description_the_full_text_and_the_count(monkeypatch):
    import orjupyter.core.describe as describe_module
    from orjupyter.core.describe import DESCRIBERS, FULL_VALUES_LIMIT, Describer

    row = Describer(
        "grid",
        lambda v: isinstance(v, Grid),
        lambda grid, name, _limit: describe_module.Description(f"{name}: a grid {grid.shape}"),
        full=lambda grid: "\n".join(" ".join("0" * grid.shape[1]) for _ in range(grid.shape[0])),
        count=lambda grid: grid.shape[0] * grid.shape[1],
    )
    monkeypatch.setattr(describe_module, "DESCRIBERS", (row, *DESCRIBERS))
    [text, _notes] = parts("Look at {g} and {g:full}", g=Grid(2, 3))
    assert text.text == "Look at g: a grid (2, 3) and 0 0 0\n0 0 0"
    with pytest.raises(PromptError, match=r"\{huge:full\} is 2,000,001 values"):
        full_text(Grid(FULL_VALUES_LIMIT + 1, 1), "huge")
    assert "<Grid" not in describe(Grid(2, 3), "g").text


def test_every_built_in_row_writes_and_counts_its_full_text():
    from orjupyter.core.describe import DESCRIBERS

    samples = {
        "pandas DataFrame": pd.DataFrame({"a": range(3)}),
        "pandas Series": pd.Series(range(3)),
        "numpy array": np.arange(6).reshape(2, 3),
        "container": [1, 2, 3],
    }
    for row in DESCRIBERS:
        if row.name in samples:
            value = samples[row.name]
            assert row.claims(value)
            assert row.count is not None
            assert row.full is not None
            assert row.count(value) in (3, 6)
            assert "2" in full_text(value, "x")


# --- objects that describe themselves ----------------------------------------------------


class Book(list):
    """A list (the container row would claim it) that describes itself."""

    def _repr_llm_(self) -> str:
        return "A book of 3 chapters: Begin, Middle, End."


class Bundled:
    def __init__(self, bundle: object) -> None:
        self.bundle = bundle

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> object:
        return self.bundle


class Answering:
    def __init__(self, answer: object) -> None:
        self.answer = answer

    def _repr_llm_(self) -> object:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    def __str__(self) -> str:
        return "Answering, as str says"


def test_a_value_with_repr_llm_is_described_by_it_ahead_of_the_built_in_rows():
    described = describe(Book(["Begin", "Middle", "End"]), "book")
    assert described.text == "A book of 3 chapters: Begin, Middle, End."
    assert described.note == ""
    [text, notes] = parts("Summarise {book}.", book=Book())
    assert text.text == "Summarise A book of 3 chapters: Begin, Middle, End.."
    assert notes == []


def test_a_text_llm_plain_entry_of_the_mimebundle_is_used_in_either_shape():
    bundle = {"text/plain": "Bundled()", "text/llm+plain": "a model's view"}
    assert describe(Bundled(bundle), "b").text == "a model's view"
    assert describe(Bundled((bundle, {})), "b").text == "a model's view"
    # a bundle without the entry: described as any other value
    assert describe(Bundled({"text/html": "<b>x</b>"}), "b").text.startswith("<")


def test_an_own_description_over_the_cap_is_cut_with_a_note():
    described = describe(Answering("word " * 10_000), "long", max_tokens=100)
    assert len(described.text) <= 400
    assert "[… shortened: first" in described.text
    assert described.note == "long: its own description, shortened"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (ValueError("no"), "raised ValueError"),
        (42, "returned int, not str"),
        (b"bytes", "returned bytes, not str"),
    ],
)
def test_a_repr_llm_that_fails_falls_back_to_the_built_in_description_with_a_note(answer, why):
    described = describe(Answering(answer), "obj")
    assert described.text == "Answering, as str says"
    assert described.note == f"obj: its _repr_llm_() {why}; described by orjupyter instead"


def test_a_repr_llm_that_returns_none_declines_without_a_note():
    described = describe(Answering(None), "obj")
    assert (described.text, described.note) == ("Answering, as str says", "")


def test_a_proxy_that_answers_every_attribute_is_not_taken_for_a_self_describer():
    class Proxy:
        def __getattr__(self, name: str) -> object:
            return lambda *args, **kwargs: "from the proxy"

        def __str__(self) -> str:
            return "the proxy's text"

    assert describe(Proxy(), "p").text == "the proxy's text"


def test_a_self_described_value_reaches_the_local_server(shell, router, capsys):
    shell.user_ns["book"] = Book(["Begin", "Middle", "End"])
    shell.user_ns["odd"] = Answering(ValueError("no"))
    assert shell.run_cell("%%gpt4o -o reply\nWhat is {book}? And {odd}?").success
    sent = router.requests[-1].body["messages"][-1]["content"]
    assert sent == (
        "What is A book of 3 chapters: Begin, Middle, End.? And Answering, as str says?"
    )
    out = capsys.readouterr().out
    assert "odd: its _repr_llm_() raised ValueError; described by orjupyter instead" in out
