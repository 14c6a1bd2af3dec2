"""Cell text → message parts: `{name}` placeholders become text or images, in place.

The template syntax is Python's format-string syntax (parsed by `string.Formatter`), so
`{{` and `}}` are literal braces, `{In[3]}` and `{obj.attr}` work, and `{x:.2f}` /
`{x!r}` format values as Python would. A placeholder that is not a name with attributes
and indexes is a Python expression, evaluated in the notebook's namespace as a cell would
(`{df.describe()}`, `{len(rows)}`, `{a + b:.2f}`). Four format specs are ours:
`{x:image}` sends the value as an image, `{x:file}` as a PDF file (for both, a string is a path),
`{x:text}` as a description even when it is image-like, and `{x:full}` the whole value
as text. Code the cell holds (a fenced or indented block, an inline span) is text, never
a placeholder (`core/code_regions.py`). Without a spec, images (`image_sources.SOURCES`)
travel as images, strings and numbers as themselves, and data (frames, arrays,
containers, exceptions) as a description within `value_tokens` (`core/describe.py`).
Pure: no IPython.
"""

from __future__ import annotations

import ast
import builtins
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from orjupyter.core.code_regions import lone_field, split_code
from orjupyter.core.domain import Detail, ImagePart, Part, TextPart
from orjupyter.core.errors import PromptError

ImageMaker = Callable[[object, Detail], ImagePart | None]
"""Turns a value into an image part, or returns None when the value is not an image."""


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Placeholder:
    field: str
    conversion: str | None = None
    format_spec: str = ""

    @property
    def source(self) -> str:
        conversion = f"!{self.conversion}" if self.conversion else ""
        spec = f":{self.format_spec}" if self.format_spec else ""
        return "{" + self.field + conversion + spec + "}"


Segment = Literal | Placeholder

_FORMATTER = string.Formatter()


def parse_template(text: str) -> list[Segment]:
    """Split cell text into literal runs and placeholders, in order. Code (a fenced or
    indented block, an inline span: `core/code_regions.py`) is literal, exactly as
    written, except a block's line that is one placeholder naming a value (`{In[3]}`)."""
    segments: list[Segment] = []
    for piece in split_code(text):
        if piece.code is None:
            segments += _prose(piece.text)
        elif piece.code == "span":
            segments.append(Literal(piece.text))
        else:
            segments += _block(piece.text)
    return segments


def _prose(text: str) -> list[Segment]:
    try:
        pieces = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise PromptError(
            f"cannot read the prompt's braces ({exc}); write {{{{ and }}}} for literal braces"
        ) from None
    segments: list[Segment] = []
    for literal, field, spec, conversion in pieces:
        if literal:
            segments.append(Literal(literal))
        if field is None:
            continue
        if not field.strip():
            raise PromptError(
                "empty placeholder {}: put a variable name inside, or write {{}} for literal braces"
            )
        segments.append(Placeholder(field.strip(), conversion, spec or ""))
    return segments


def _block(text: str) -> list[Segment]:
    segments: list[Segment] = []
    for line in text.splitlines(keepends=True):
        alone = lone_field(line)
        if alone is None:
            segments.append(Literal(line))
            continue
        segments.append(Literal(alone["lead"]))
        segments.append(Placeholder(alone["field"], alone["conversion"], alone["spec"] or ""))
        segments.append(Literal(alone["trail"]))
    return [s for s in segments if not (isinstance(s, Literal) and not s.text)]


def placeholder_names(segments: Sequence[Segment]) -> list[str]:
    return [s.field for s in segments if isinstance(s, Placeholder)]


def names_read(placeholder: Placeholder) -> list[str]:
    """The variables a placeholder reads: `df` for `{df.shape[0]}`; for an expression, each
    name it loads that is not a builtin (`{len(body) + n}`: `body`, `n`)."""
    field = placeholder.field
    if _FIELD.fullmatch(field):
        return [re.split(r"[.\[]", field, maxsplit=1)[0]]
    try:
        tree = ast.parse(field, mode="eval")
    except SyntaxError:
        return []
    bound = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.comprehension)
        for target in ast.walk(node.target)
        if isinstance(target, ast.Name)
    }
    found = [
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    ]
    return [
        name for name in dict.fromkeys(found) if name not in bound and not hasattr(builtins, name)
    ]


_FIELD = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[[^\[\]:]+\])*")
"""A format-string field: a name, then attributes and indexes (`In[3]`, `obj.attr`). A
slice (`{text[:5000]}`) is an expression: Python's format strings would read `:5000` as a
key."""


def resolve(
    placeholder: Placeholder,
    namespace: Mapping[str, object],
    expressions: Mapping[str, object] | None = None,
) -> object:
    """Look a placeholder's field up in the namespace (`name`, `In[3]`, `obj.attr`, or a
    key the namespace holds as it is, such as a `--map` column `my col`), or evaluate it
    when it is an expression (`df.describe()`), in `expressions` if given."""
    if placeholder.field in namespace and not placeholder.field.isidentifier():
        return namespace[placeholder.field]
    if not _FIELD.fullmatch(placeholder.field):
        return _evaluate(placeholder, namespace if expressions is None else expressions)
    try:
        value, _ = _FORMATTER.get_field(placeholder.field, (), namespace)
    except KeyError as exc:
        missing = exc.args[0] if exc.args else placeholder.field
        raise PromptError(
            f"{placeholder.source}: no variable named {missing!r} in the notebook; "
            "define it in a cell above, or write {{ }} for literal braces"
        ) from None
    except (AttributeError, IndexError, TypeError) as exc:
        raise PromptError(f"{placeholder.source}: {exc}") from None
    return value


def _evaluate(placeholder: Placeholder, namespace: Mapping[str, object]) -> object:
    """The placeholder as a Python expression, run in the notebook's namespace: the
    cell's own code, as a line of the cell would run it."""
    try:
        code = compile(placeholder.field, "<placeholder>", "eval")
    except SyntaxError:
        raise PromptError(
            f"{placeholder.source} is neither a variable nor a Python expression; "
            "write {{ and }} for literal braces"
        ) from None
    scope = namespace if isinstance(namespace, dict) else {}
    try:
        return eval(code, scope, namespace)
    except NameError as exc:
        raise PromptError(
            f"{placeholder.source}: {exc} in the notebook; define it in a cell above"
        ) from None
    except Exception as exc:  # the expression's own failure, as the cell would raise it
        raise PromptError(f"{placeholder.source}: {type(exc).__name__}: {exc}") from None


_DEFAULT_REPR = re.compile(r"^<[^<>]* at 0x[0-9a-fA-F]+>$")
"""`<Foo object at 0x7f…>`: Python's repr of a value that has no text of its own."""


OUR_SPECS = ("image", "file", "text", "full")
"""Format specs that choose how a value travels rather than how Python formats it."""


def _as_text(placeholder: Placeholder, value: object) -> str:
    converted = _FORMATTER.convert_field(value, placeholder.conversion)
    try:
        text = format(converted, placeholder.format_spec)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"{placeholder.source}: {exc}") from None
    except Exception as exc:  # a broken __str__ or __format__
        raise PromptError(
            f"{placeholder.source}: could not turn this {type(value).__name__} into text "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if _DEFAULT_REPR.match(text):
        kind = type(value).__name__
        raise PromptError(
            f"{placeholder.source} is a {kind} with no text form (it would be sent as "
            f"{text}); pass an image, a string, or one of its attributes"
        )
    return text


def build_parts(
    segments: Sequence[Segment],
    namespace: Mapping[str, object],
    make_image: ImageMaker,
    detail: Detail = "auto",
    *,
    force_image: ImageMaker | None = None,
    value_tokens: int = 1500,
    notes: list[str] | None = None,
    text_names_files: bool = True,
    expressions: Mapping[str, object] | None = None,
) -> list[Part]:
    """Fill placeholders: images become image parts in place; everything else text.

    `force_image` makes `{x:image}` (default: `make_image`); data values are described
    within about `value_tokens` tokens each, and what the status line should say about
    them is appended to `notes`. A string is a file's name only when the placeholder asks
    for one (`{x:image}`, `{x:file}`) or, with `text_names_files` (not in `--map`), when
    it names an existing `.pdf` file. Each placeholder is evaluated once, in order;
    expressions in `expressions` when given (`--map`: no row field hides a builtin).
    Adjacent text is merged; leading and trailing whitespace of the whole prompt is
    dropped.
    """
    parts: list[Part] = []
    for segment in segments:
        if isinstance(segment, Literal):
            _append_text(parts, segment.text)
            continue
        value = resolve(segment, namespace, expressions)
        spec = segment.format_spec if not segment.conversion else "(python)"
        if spec == "image":
            value = _as_path(value)
            parts.append(_forced_image(segment, value, force_image or make_image, detail))
            continue
        if spec == "file":
            from orjupyter.core.pdf import file_part

            parts.append(file_part(value, segment.source))
            continue
        part = None
        if spec == "":
            from orjupyter.core.pdf import pdf_part

            part = pdf_part(value, text_names_files=text_names_files) or make_image(value, detail)
        if part is not None:
            parts.append(part)
        elif isinstance(value, str) and spec in ("", *OUR_SPECS):
            _append_text(parts, value, segment)  # the user's own text goes whole
        elif spec == "full":
            from orjupyter.core.describe import full_text

            _append_text(parts, full_text(value, segment.field), segment)
        elif spec in ("", "text"):
            _append_described(parts, segment, value, value_tokens, notes)
        else:
            _append_text(parts, _as_text(segment, value), segment)
    return _strip_ends(parts)


def _as_path(value: object) -> object:
    """`{x:image}` of a string: the string names the file."""
    if isinstance(value, str) and value.strip() and "\n" not in value and len(value) < 4096:
        return PurePath(value.strip())
    return value


def _forced_image(
    segment: Placeholder, value: object, make_image: ImageMaker, detail: Detail
) -> ImagePart:
    image = make_image(value, detail)
    if image is None:
        from orjupyter.core.image_sources import image_kinds

        raise PromptError(
            f"{segment.source}: a {type(value).__name__} cannot be sent as an image; pass "
            f"{image_kinds()}"
        )
    return image


def _append_described(
    parts: list[Part],
    segment: Placeholder,
    value: object,
    value_tokens: int,
    notes: list[str] | None,
) -> None:
    """A value described for a model; a multi-line description stands on its own lines."""
    plain = Placeholder(segment.field)  # `{x:text}` formats like `{x}`
    if _is_plain(value):
        _append_text(parts, _as_text(plain, value), segment)
        return
    from orjupyter.core.describe import describe

    described = describe(value, segment.field, value_tokens)
    text = described.text
    if _DEFAULT_REPR.match(text):
        _as_text(plain, value)  # raises: the value has no text form
    if "\n" in text:
        text = f"\n{text}\n"
    _append_text(parts, text, segment)
    if described.note and notes is not None:
        notes.append(described.note)


def _is_plain(value: object) -> bool:
    """Numbers, booleans and None: their text is all there is to say."""
    return value is None or isinstance(value, (int, float, complex))


def _append_text(parts: list[Part], text: str, value: Placeholder | None = None) -> None:
    """Text joins the text before it; a placeholder's value is noted with its size."""
    if not text:
        return
    values = ((value.source, len(text)),) if value is not None else ()
    if parts and isinstance(parts[-1], TextPart):
        parts[-1] = TextPart(parts[-1].text + text, parts[-1].values + values)
    else:
        parts.append(TextPart(text, values))


def what_to_shorten(parts: Sequence[Part], estimate: int, window: int) -> str:
    """What to do about a prompt of `estimate` tokens over a context `window`: when one
    placeholder's value makes most of it, name it and say how much of it would fit."""
    from orjupyter.core.describe_data import CHARS_PER_TOKEN

    values = [value for part in parts if isinstance(part, TextPart) for value in part.values]
    largest = max(values, key=lambda value: value[1], default=None)
    if largest is None or largest[1] // CHARS_PER_TOKEN < estimate // 2:
        return "shorten it"
    source, characters = largest
    said = f"{source} alone is {characters:,} characters (about {characters // 4:,} tokens)"
    name = source[1:-1].partition(":")[0].partition("!")[0]
    if source.endswith(":full}"):
        return f"{said}: send {{{name}}} (a description) instead"
    room = (characters - (estimate - window) * CHARS_PER_TOKEN) * 9 // 10 // 1_000 * 1_000
    part = f"a part of it ({{{name}[:{room}]}})" if room >= 1_000 else "a part of it"
    return f"{said}: send {part}, or a summary made in a cell"


def _strip_ends(parts: list[Part]) -> list[Part]:
    if parts and isinstance(parts[0], TextPart):
        parts[0] = TextPart(parts[0].text.lstrip(), parts[0].values)
    if parts and isinstance(parts[-1], TextPart):
        parts[-1] = TextPart(parts[-1].text.rstrip(), parts[-1].values)
    return [p for p in parts if not (isinstance(p, TextPart) and not p.text)]


def is_empty(parts: Sequence[Part]) -> bool:
    return not parts
