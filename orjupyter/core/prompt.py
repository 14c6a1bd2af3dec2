"""Cell text → message parts: `{name}` placeholders become text or images, in place.

The template syntax is Python's format-string syntax (parsed by `string.Formatter`), so
`{{` and `}}` are literal braces, `{In[3]}` and `{obj.attr}` work, and `{x:.2f}` /
`{x!r}` format values as Python would. Pure: no IPython.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

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
    """Split cell text into literal runs and placeholders, in order."""
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


def placeholder_names(segments: Sequence[Segment]) -> list[str]:
    return [s.field for s in segments if isinstance(s, Placeholder)]


def resolve(placeholder: Placeholder, namespace: Mapping[str, object]) -> object:
    """Look a placeholder's field up in the namespace (`name`, `In[3]`, `obj.attr`)."""
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


_DEFAULT_REPR = re.compile(r"^<[^<>]* at 0x[0-9a-fA-F]+>$")
"""`<Foo object at 0x7f…>`: Python's repr of a value that has no text of its own."""


def _as_text(placeholder: Placeholder, value: object) -> str:
    converted = _FORMATTER.convert_field(value, placeholder.conversion)
    try:
        text = format(converted, placeholder.format_spec)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"{placeholder.source}: {exc}") from None
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
) -> list[Part]:
    """Fill placeholders: images become image parts in place; everything else text.

    Adjacent text is merged; leading and trailing whitespace of the whole prompt is dropped.
    """
    parts: list[Part] = []
    for segment in segments:
        if isinstance(segment, Literal):
            _append_text(parts, segment.text)
            continue
        value = resolve(segment, namespace)
        image = None if segment.conversion or segment.format_spec else make_image(value, detail)
        if image is None:
            _append_text(parts, _as_text(segment, value))
        else:
            parts.append(image)
    return _strip_ends(parts)


def _append_text(parts: list[Part], text: str) -> None:
    if not text:
        return
    if parts and isinstance(parts[-1], TextPart):
        parts[-1] = TextPart(parts[-1].text + text)
    else:
        parts.append(TextPart(text))


def _strip_ends(parts: list[Part]) -> list[Part]:
    if parts and isinstance(parts[0], TextPart):
        parts[0] = TextPart(parts[0].text.lstrip())
    if parts and isinstance(parts[-1], TextPart):
        parts[-1] = TextPart(parts[-1].text.rstrip())
    return [p for p in parts if not (isinstance(p, TextPart) and not p.text)]


def is_empty(parts: Sequence[Part]) -> bool:
    return not parts
