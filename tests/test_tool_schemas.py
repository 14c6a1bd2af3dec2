"""`--tools`: a notebook function's signature and docstring → the tool a model is offered,
and the model's arguments checked before the function is ever called."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import pytest

import orjupyter
from orjupyter.core.errors import OptionError
from orjupyter.core.tool_results import error_result, result_of
from orjupyter.core.tools import ToolArgumentError, arguments_for, call_text, tool_for


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


@dataclass
class Point:
    x: float
    y: float


class Window(TypedDict):
    start: str
    end: str


def lookup(city: str, unit: Unit = Unit.C, days: int = 1, exact: bool = False) -> str:
    """The weather in a city.

    Args:
        city: The city's name, in English.
        unit: Celsius or Fahrenheit.
        days (int): How many days ahead,
            counting today.

    Returns:
        A line of text.
    """
    return f"{city}: 12 C"


def plot(points: list[Point], kind: Literal["line", "bar"], window: Window | None = None):
    """Plot points.

    Parameters
    ----------
    points : list of Point
        The points to draw.
    kind : str
        Line or bar.

    Returns
    -------
    Figure
    """


def test_a_signature_becomes_a_schema_with_defaults_optional() -> None:
    tool = tool_for(lookup)
    assert tool.description == "The weather in a city."
    params = tool.parameters
    assert params["required"] == ["city"]
    assert params["properties"]["city"] == {
        "type": "string",
        "description": "The city's name, in English.",
    }
    assert params["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert params["properties"]["unit"]["default"] == "celsius"
    assert params["properties"]["days"]["description"] == "How many days ahead, counting today."
    assert params["properties"]["days"]["type"] == "integer"
    assert params["properties"]["exact"] == {"type": "boolean", "default": False}
    wire = tool.wire()
    assert wire["type"] == "function"
    assert wire["function"]["name"] == "lookup"
    json.dumps(wire)  # what is sent is JSON


def test_numpy_docstrings_nested_types_and_optional() -> None:
    tool = tool_for(plot)
    props = tool.parameters["properties"]
    assert tool.description == "Plot points."
    assert props["points"]["description"] == "The points to draw."
    assert props["points"]["items"]["properties"]["x"] == {"type": "number"}
    assert props["kind"]["enum"] == ["line", "bar"]
    assert props["kind"]["description"] == "Line or bar."
    assert {"type": "null"} in props["window"]["anyOf"]
    assert tool.parameters["required"] == ["points", "kind"]


def test_pydantic_models_are_described_by_pydantic() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Query(pydantic.BaseModel):
        column: str
        limit: int = 5

    def query(q):
        """Query the table."""
        return q.column

    query.__annotations__ = {"q": Query}  # as a notebook cell defines it

    tool = tool_for(query)
    assert tool.parameters["properties"]["q"]["properties"]["limit"]["type"] == "integer"
    kwargs = arguments_for(tool, '{"q": {"column": "price"}}')
    assert isinstance(kwargs["q"], Query)
    assert kwargs["q"].limit == 5


def rows(*rows: str) -> None:
    """Rows."""


def options(**options: str) -> None:
    """Options."""


def untyped(x) -> None:
    """Untyped."""


@pytest.mark.parametrize(
    ("function", "says"),
    [
        (rows, "*rows cannot be described"),
        (options, "**options cannot be described"),
        (untyped, "x has no type hint"),
        (print, "*args cannot be described"),
        (int, "not a function"),
        ("lookup", "not a function"),
        (lambda x: x, "'<lambda>' is not a tool name"),
    ],
)
def test_what_cannot_be_described_is_refused_in_one_line(function: Any, says: str) -> None:
    with pytest.raises(OptionError, match=r"\(nothing was sent\)|cannot read") as caught:
        tool_for(function, "f")
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unsupported_hint_is_refused_naming_the_parameter() -> None:
    def draw(when: complex) -> None:
        """Draw."""

    with pytest.raises(OptionError, match="parameter when's type complex has no JSON form"):
        tool_for(draw)


def test_arguments_are_checked_before_the_call() -> None:
    tool = tool_for(lookup)
    kwargs = arguments_for(tool, '{"city": "Oslo", "unit": "fahrenheit"}')
    assert kwargs == {"city": "Oslo", "unit": Unit.F}
    assert lookup(**kwargs) == "Oslo: 12 C"
    with pytest.raises(ToolArgumentError, match="missing argument 'city'"):
        arguments_for(tool, "{}")
    with pytest.raises(ToolArgumentError, match="unknown argument 'country'"):
        arguments_for(tool, '{"city": "Oslo", "country": "NO"}')
    with pytest.raises(ToolArgumentError, match="days: expected integer"):
        arguments_for(tool, '{"city": "Oslo", "days": "two"}')
    with pytest.raises(ToolArgumentError, match="not JSON"):
        arguments_for(tool, '{"city": __import__("os")}')


def test_nested_arguments_become_the_types_the_function_expects() -> None:
    tool = tool_for(plot)
    kwargs = arguments_for(tool, '{"points": [{"x": 1, "y": 2.5}], "kind": "bar"}')
    assert kwargs["points"] == [Point(1, 2.5)]
    with pytest.raises(ToolArgumentError, match=r"points\[0\]: missing 'y'"):
        arguments_for(tool, '{"points": [{"x": 1}], "kind": "bar"}')


def test_approval_is_marked_by_the_decorator() -> None:
    @orjupyter.tool(approve=True)
    def wipe(folder: str) -> None:
        """Delete a folder."""

    assert tool_for(wipe).approve
    assert not tool_for(lookup).approve


def test_results_reach_the_model_as_text_json_images_or_descriptions() -> None:
    assert result_of("Oslo: 12 C", "lookup").text == "Oslo: 12 C"
    assert result_of({"a": [1, 2.5]}, "f").text == '{"a": [1, 2.5]}'
    assert result_of(None, "f").text == "null"
    cut = result_of("x" * 50_000, "f", max_tokens=100)
    assert cut.text.startswith("x" * 400)
    assert "[cut: the result is 50,000 characters" in cut.text
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"price": [1.5, 2.5]})
    described = result_of(frame, "query").text
    assert "price" in described
    assert "DataFrame" in described or "2 rows" in described


def test_a_picture_goes_as_an_image() -> None:
    from PIL import Image

    from orjupyter.core.image_sources import image_maker

    result = result_of(Image.new("RGB", (64, 32), "red"), "plot", image_maker("openai/gpt-4o"))
    assert result.image is not None
    assert (result.image.width, result.image.height) == (64, 32)
    assert "image" in result.text


def test_an_exception_is_told_with_its_type_message_and_last_frame() -> None:
    def divide(a: int) -> float:
        """Divide."""
        return 1 / a

    try:
        divide(0)
    except ZeroDivisionError as exc:
        told = error_result(exc, divide)
    assert told.error
    assert told.text.startswith("The function raised ZeroDivisionError: division by zero")
    assert "in divide, line" in told.text
    assert "return 1 / a" in told.text


def test_a_call_reads_as_python() -> None:
    assert call_text("lookup", '{"city": "Oslo"}') == "lookup(city='Oslo')"
    assert call_text("f", "not json") == "f(not json)"
