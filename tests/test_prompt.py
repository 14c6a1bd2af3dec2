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


def is_prose(text: str) -> bool:
    """Text holding no code: no backtick or tilde (fences, spans), no indented line."""
    lines = text.replace("\r", "\n").splitlines()
    return not any(line.startswith(("    ", "\t")) for line in lines)


# Any prose without braces is itself; any prose with braces doubled round-trips exactly.
prose = st.text(alphabet=st.characters(blacklist_characters="`~")).filter(is_prose)
plain_text = st.text(alphabet=st.characters(blacklist_characters="{}`~"), min_size=1).filter(
    is_prose
)


@given(prose.filter(bool))
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


# --- code a person pastes stays text ---------------------------------------------------


class Calls:
    """A notebook function that counts its calls: did the prompt run any code?"""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args: object) -> str:
        self.count += 1
        return "RAN"


def text_of(template: str, **namespace: object) -> str:
    parts = parts_of(template, **namespace)
    assert all(isinstance(part, TextPart) for part in parts)
    return "".join(part.text for part in parts)


@pytest.mark.parametrize(
    "template",
    [
        "What does this print?\n\n    print(f\"{run('x')}\")\n",
        "What does this print?\n    print(f\"{run('x')}\")",  # no blank line before it
        "What does this print?\n\tprint(f\"{run('x')}\")",
        "What does this print?\n```python\nprint(f\"{run('x')}\")\n```",
        "What does this print?\n~~~\nprint(f\"{run('x')}\")\n~~~",
        "What does this print?\n  ```\nprint(f\"{run('x')}\")",  # a fence never closed
        "What does `f\"{run('x')}\"` print?",
        "What does ``f\"{run('x')}`\"`` print?",
    ],
)
def test_pasted_code_is_sent_as_written_and_never_runs(template: str):
    run = Calls()
    assert text_of(template, run=run) == template.strip()
    assert run.count == 0


def test_braces_in_code_are_literal_as_written_while_prose_around_them_is_filled():
    template = (
        "Why does {name} fail?\n```python\nd = {{'a': {n}}}\nprint(f'{{x}}')\n```\n"
        "and `{n}` is {n}."
    )
    assert text_of(template, name="this", n=3) == (
        "Why does this fail?\n```python\nd = {{'a': {n}}}\nprint(f'{{x}}')\n```\nand `{n}` is 3."
    )


def test_a_code_line_that_is_one_placeholder_naming_a_value_is_filled():
    run = Calls()
    template = "Why does this fail?\n```\n  {In[3]}\n{run()}\n{err!r}\n```"
    assert text_of(template, In=["", "", "", "1 / 0"], run=run, err="E") == (
        "Why does this fail?\n```\n  1 / 0\n{run()}\n'E'\n```"
    )
    assert run.count == 0  # an expression is code, even alone on its line


def test_list_items_indented_four_spaces_are_prose_and_a_backtick_in_an_expression_is_its_own():
    assert text_of("- a {x}\n    - b {y}\n    1. c {x}", x=1, y=2) == "- a 1\n    - b 2\n    1. c 1"

    class Frame:
        def query(self, text: str) -> str:
            return f"<{text}>"

    assert text_of("Rows: {df.query('`my col` > 1')}", df=Frame()) == "Rows: <`my col` > 1>"


def test_each_placeholder_is_evaluated_once_in_order():
    seen: list[str] = []

    def note(name: str) -> str:
        seen.append(name)
        return name

    assert text_of("{note('a')} {note('b')} {note('a')}", note=note) == "a b a"
    assert seen == ["a", "b", "a"]


code_line = st.text(alphabet=st.characters(blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85"))


@given(st.lists(code_line.filter(lambda line: "`" not in line), max_size=8))
def test_any_fenced_code_round_trips_exactly(lines: list[str]):
    from orjupyter.core.code_regions import lone_field

    lines = [line for line in lines if not lone_field(line) and "\u2028" not in line]
    lines = [line for line in lines if "\u2029" not in line]
    block = "```\n" + "".join(f"{line}\n" for line in lines) + "```"
    assert text_of("Look:\n" + block) == ("Look:\n" + block).strip()
