"""Placeholders: text in place, images in place, braces, and clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orjupyter.core.domain import Detail, ImagePart, TextPart
from orjupyter.core.prompt import PromptError, build_parts, parse_template


class Picture:
    """Stands in for an image value: the image maker recognises it."""

    def __init__(self, name: str) -> None:
        self.name = name


def fake_image(value: object, detail: Detail) -> ImagePart | None:
    if not isinstance(value, Picture):
        return None
    return ImagePart(
        data_url="data:image/png;base64,AAAA",
        width=10,
        height=10,
        media_type="image/png",
        detail=detail,
        source_width=10,
        source_height=10,
    )


def parts_of(text: str, **namespace: object) -> list:
    return build_parts(parse_template(text), namespace, fake_image)


def test_images_travel_in_place_between_text():
    parts = parts_of("Plot {fig} and photo {photo}. Why?", fig=Picture("f"), photo=Picture("p"))
    kinds = [type(p).__name__ for p in parts]
    assert kinds == ["TextPart", "ImagePart", "TextPart", "ImagePart", "TextPart"]
    assert parts[0] == TextPart("Plot ")
    assert parts[2] == TextPart(" and photo ")
    assert parts[4] == TextPart(". Why?")


def test_other_values_are_interpolated_as_text_and_merged():
    parts = parts_of("n={n}, name={name!r}, pi={pi:.2f}", n=3, name="x", pi=3.14159)
    assert parts == [TextPart("n=3, name='x', pi=3.14")]


def test_double_braces_are_literal():
    assert parts_of('JSON like {{"a": {n}}}', n=1) == [TextPart('JSON like {"a": 1}')]


def test_indexing_and_attributes_resolve():
    class Obj:
        title = "T"

    parts = parts_of("{In[1]} / {obj.title}", In=["", "df.plot()"], obj=Obj())
    assert parts == [TextPart("df.plot() / T")]


def test_an_expression_is_evaluated_in_the_notebook_namespace():
    class Frame:
        def describe(self) -> str:
            return "count 3"

    parts = parts_of(
        "Explain {df.describe()} of {len(rows)} rows, {a / b:.1%}; {sum(r * a for r in rows)}",
        df=Frame(), rows=[1, 2, 3], a=1, b=4,
    )  # fmt: skip
    assert parts == [TextPart("Explain count 3 of 3 rows, 25.0%; 6")]
    assert parts_of("{pic if n else None}", pic=Picture("p"), n=1)[0].width == 10


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{nope()}", "{nope()}: name 'nope' is not defined in the notebook"),
        ("{1 / n}", "{1 / n}: ZeroDivisionError: division by zero"),
        ("{n +}", "{n +} is neither a variable nor a Python expression; write {{ and }}"),
    ],
)
def test_a_failing_expression_says_why_in_one_line(text, said):
    with pytest.raises(PromptError) as raised:
        parts_of(text, n=0)
    assert said in str(raised.value)
    assert "\n" not in str(raised.value)


def test_detail_is_passed_to_images():
    parts = build_parts(parse_template("{p}"), {"p": Picture("p")}, fake_image, "low")
    assert isinstance(parts[0], ImagePart)
    assert parts[0].detail == "low"


def test_unknown_name_is_a_clear_error():
    with pytest.raises(PromptError, match=r"\{missing\}: no variable named 'missing'"):
        parts_of("look at {missing}")


def test_unbalanced_brace_says_how_to_escape():
    with pytest.raises(PromptError, match=r"write \{\{ and \}\} for literal braces"):
        parse_template("a dict {")


def test_empty_placeholder_is_an_error():
    with pytest.raises(PromptError, match="empty placeholder"):
        parse_template("a {} b")


def test_surrounding_whitespace_is_dropped():
    assert parts_of("\n\n  hello  \n") == [TextPart("hello")]
    assert parts_of("   \n") == []


# Any text without braces is itself; any text with braces doubled round-trips exactly.
plain_text = st.text(alphabet=st.characters(blacklist_characters="{}"), min_size=1)


@given(st.text(min_size=1))
def test_any_escaped_text_round_trips(text: str):
    escaped = text.replace("{", "{{").replace("}", "}}")
    parts = parts_of(escaped)
    expected = text.strip()
    assert ("".join(p.text for p in parts) if parts else "") == expected


@given(st.lists(st.tuples(plain_text, st.booleans()), min_size=1, max_size=6))
def test_placeholders_keep_their_order(pieces: list[tuple[str, bool]]):
    template, namespace, expected = "", {}, []
    for index, (text, is_image) in enumerate(pieces):
        name = f"v{index}"
        template += text.replace("{", "{{") + "{" + name + "}"
        namespace[name] = Picture(name) if is_image else f"<{name}>"
        expected.append("image" if is_image else f"<{name}>")
    parts = parts_of(template, **namespace)
    seen = []
    for part in parts:
        if isinstance(part, ImagePart):
            seen.append("image")
        else:
            seen.extend(f"<v{i}>" for i in range(len(pieces)) if f"<v{i}>" in part.text)
    assert seen == expected
