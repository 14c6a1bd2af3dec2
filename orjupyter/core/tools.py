"""`--tools`: notebook functions → the tools a model may call, and its calls checked. Pure.

`tool_for(function)` reads the signature and type hints (str, int, float, bool, `Literal`,
`Enum`, `list[…]`, `X | None`, nested dataclasses and `TypedDict`s through `--schema`'s
machinery, pydantic models through their own `model_json_schema()`); a parameter with a
default is optional; the docstring's text is the description, and the parameter lines of
a Google (`Args:`) or NumPy (`Parameters` / `----------`) docstring describe the
parameters. A function that cannot be described is refused in one line.

`arguments_for(tool, text)` reads a call's arguments (JSON text, data: never evaluated)
and checks them against the schema: missing, unknown or mistyped arguments become one
`ToolArgumentError` naming them, and the function is not called.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orjupyter.core.domain import ImagePart, Part, TextPart
from orjupyter.core.errors import OptionError
from orjupyter.core.schema import JSON, _build, _is_pydantic, _type_schema, problems

TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What OpenAI (and so OpenRouter) accepts as a function's name."""
_GOOGLE_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters|Params)\s*:\s*$")
_NUMPY_HEADER = re.compile(r"^\s*(Parameters|Params|Arguments)\s*$")
_ANY_SECTION = re.compile(
    r"^\s*(Returns?|Yields?|Raises|Examples?|Notes?|See Also|Attributes|Warns?|"
    r"References|Other Parameters|Keyword Args|Keyword Arguments)\s*:?\s*$"
)
_GOOGLE_PARAM = re.compile(r"^\s*\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_PARAM = re.compile(r"^(\w+)\s*(?::.*)?$")


class ToolArgumentError(ValueError):
    """A call's arguments do not fit the function: what the model is told instead."""


@dataclass(frozen=True)
class Tool:
    """A notebook function offered to a model: its name, description and parameters' JSON
    schema, and whether each call waits for a person's approval."""

    name: str
    function: Callable[..., Any] = field(repr=False, compare=False)
    description: str
    parameters: JSON
    approve: bool = False
    hints: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def wire(self) -> dict[str, Any]:
        """The tool as the request offers it."""
        function = {"name": self.name, "description": self.description}
        return {"type": "function", "function": {**function, "parameters": self.parameters}}


def approval_wanted(function: object) -> bool:
    """Marked by `@orjupyter.tool(approve=True)`."""
    return bool(getattr(function, "__orjupyter_approve__", False))


def tool_for(function: object, label: str | None = None) -> Tool:
    """The tool for a notebook function; `OptionError` (one line) if it cannot be one."""
    name = getattr(function, "__name__", None)
    shown = label or str(name or function)
    if not callable(function) or isinstance(function, type) or not isinstance(name, str):
        raise OptionError(
            f"--tools {shown}: a {type(function).__name__} is not a function; offer "
            "functions defined with def (nothing was sent)"
        )
    if not TOOL_NAME.fullmatch(name):
        raise OptionError(
            f"--tools {shown}: the name {name!r} is not a tool name (letters, digits, _ "
            "and -, at most 64); define it under another name (nothing was sent)"
        )
    try:
        signature = inspect.signature(function)
        hints = typing.get_type_hints(function, include_extras=False)
    except (TypeError, ValueError, NameError) as exc:
        raise OptionError(f"--tools {name}: cannot read its signature ({exc})") from None
    summary, described = parse_docstring(inspect.getdoc(function) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    definitions: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        hint = _parameter_hint(name, parameter, hints)
        schema = _parameter_schema(name, parameter.name, hint, definitions)
        if parameter.name in described:
            schema["description"] = described[parameter.name]
        if parameter.default is inspect.Parameter.empty:
            required.append(parameter.name)
        elif _is_json(default := _plain(parameter.default)):
            schema["default"] = default
        properties[parameter.name] = schema
        kept[parameter.name] = hint
    parameters: JSON = {"type": "object", "properties": properties, "required": required}
    parameters["additionalProperties"] = False
    if definitions:
        parameters["$defs"] = definitions
    return Tool(name, function, summary or name, parameters, approval_wanted(function), kept)


def _parameter_hint(name: str, parameter: inspect.Parameter, hints: Mapping[str, Any]) -> Any:
    where = f"--tools {name}: parameter {parameter.name}"
    if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        star = "*" if parameter.kind is inspect.Parameter.VAR_POSITIONAL else "**"
        raise OptionError(
            f"--tools {name}: {star}{parameter.name} cannot be described to a model; give "
            "it named parameters (nothing was sent)"
        )
    if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
        raise OptionError(f"{where} is positional-only; drop the / (nothing was sent)")
    if parameter.name not in hints:
        raise OptionError(
            f"{where} has no type hint; annotate it (str, int, float, bool, list[str], …) "
            "so the model knows what to send (nothing was sent)"
        )
    return hints[parameter.name]


def _parameter_schema(name: str, parameter: str, hint: Any, definitions: JSON) -> JSON:
    if _is_pydantic(hint):
        schema: JSON = dict(hint.model_json_schema())
        definitions.update(schema.pop("$defs", {}))
        return schema
    if hint in (list, tuple, set, frozenset):
        return {"type": "array"}
    if hint is dict or typing.get_origin(hint) is dict:
        return {"type": "object"}
    optional = _optional_pydantic(hint)
    if optional is not None:
        return {"anyOf": [_parameter_schema(name, parameter, optional, definitions),
                          {"type": "null"}]}  # fmt: skip
    try:
        return _type_schema(hint, f"{name}.{parameter}", frozenset())
    except OptionError:
        shown = hint.__name__ if isinstance(hint, type) else repr(hint).replace("typing.", "")
        raise OptionError(
            f"--tools {name}: parameter {parameter}'s type {shown} has no JSON form; use "
            "str, int, float, bool, a Literal, an Enum, list[...], a dataclass, a TypedDict, "
            "a pydantic model, or X | None (nothing was sent)"
        ) from None


def _optional_pydantic(hint: Any) -> Any:
    """`Model | None` for a pydantic `Model`: the model, else None."""
    if typing.get_origin(hint) not in (typing.Union, _union_type()):
        return None
    others = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return others[0] if len(others) == 1 and _is_pydantic(others[0]) else None


def _union_type() -> Any:
    import types

    return types.UnionType


def _plain(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def _is_json(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(the description, {parameter: its description}) from a Google or NumPy docstring;
    other sections (Returns, Raises, …) are left out of the description."""
    lines = doc.splitlines()
    text: list[str] = []
    described: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        numpy = (
            _NUMPY_HEADER.match(line)
            and index + 1 < len(lines)
            and set(lines[index + 1].strip()) == {"-"}
        )
        if _GOOGLE_HEADER.match(line) or numpy:
            index = _read_parameters(lines, index + (2 if numpy else 1), described, bool(numpy))
            continue
        if _ANY_SECTION.match(line) or (
            index + 1 < len(lines) and line.strip() and set(lines[index + 1].strip()) == {"-"}
        ):
            index = _skip_section(lines, index + 1)
            continue
        text.append(line)
        index += 1
    return "\n".join(text).strip(), described


def _read_parameters(lines: list[str], index: int, described: dict[str, str], numpy: bool) -> int:
    current: str | None = None
    indent: int | None = None
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            if numpy:
                continue
            if index < len(lines) and lines[index].strip() and _depth(lines[index]) == 0:
                return index
            continue
        depth = _depth(line)
        if numpy and depth == 0 and (match := _NUMPY_PARAM.match(line.strip())):
            if index + 1 < len(lines) and set(lines[index + 1].strip()) == {"-"}:
                return index  # the next section
            current = match.group(1)
            described[current] = ""
        elif not numpy and (indent is None or depth <= indent):
            match = _GOOGLE_PARAM.match(line)
            if match is None:
                return index
            indent, current = depth, match.group(1)
            described[current] = match.group(2).strip()
        elif current is not None and (numpy or depth > (indent or 0)):
            described[current] = f"{described[current]} {line.strip()}".strip()
        else:
            return index
        index += 1
    return index


def _skip_section(lines: list[str], index: int) -> int:
    if index < len(lines) and set(lines[index].strip()) == {"-"}:  # NumPy: to the next one
        index += 1
        while index < len(lines) and not (
            index + 1 < len(lines) and lines[index].strip()
            and set(lines[index + 1].strip()) == {"-"}
        ):  # fmt: skip
            index += 1
        return index
    while index < len(lines) and (not lines[index].strip() or _depth(lines[index]) > 0):
        index += 1
    return index


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip())


# --- the model's calls ---------------------------------------------------------------


def arguments_for(tool: Tool, text: str) -> dict[str, Any]:
    """The call's arguments as keyword arguments, checked against the tool's schema (and
    made into the enums, dataclasses and pydantic models the function expects). Raises
    `ToolArgumentError` naming what is wrong; the function must then not be called."""
    try:
        data = json.loads(text or "{}")
    except (ValueError, RecursionError):
        raise ToolArgumentError(
            f"the arguments are not JSON ({text[:80]!r}); send a JSON object"
        ) from None
    if not isinstance(data, dict):
        raise ToolArgumentError(f"the arguments must be a JSON object, not {text[:80]!r}")
    properties = tool.parameters.get("properties", {})
    unknown = [name for name in data if name not in properties]
    missing = [name for name in tool.parameters.get("required", ()) if name not in data]
    found = [f"unknown argument {name!r}" for name in unknown]
    found += [f"missing argument {name!r}" for name in missing]
    for name, value in data.items():
        if name in properties:
            schema = {**properties[name], "$defs": tool.parameters.get("$defs", {})}
            found += problems(schema, value, at=name)
    if found:
        raise ToolArgumentError(f"{tool.name} was not called: {'; '.join(found[:5])}")
    return {name: _converted(tool.hints.get(name), value) for name, value in data.items()}


def _converted(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    target = _optional_pydantic(hint) or hint
    if _is_pydantic(target):
        try:
            return target.model_validate(value)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise ToolArgumentError(" ".join(str(exc).split())[:300]) from None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, _union_type()):
        for arg in typing.get_args(hint):
            if arg is not type(None) and (dataclasses.is_dataclass(arg) or _is_enum(arg)):
                return _converted(arg, value)
        return value
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return _build(hint, value) if hint is not None else value


def _is_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, enum.Enum)


def call_text(name: str, arguments: str, limit: int = 120) -> str:
    """`lookup(city='Oslo')`: a call as a person reads it (the arguments as written if
    they are not a JSON object)."""
    try:
        data = json.loads(arguments or "{}")
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        inner = ", ".join(f"{key}={value!r}" for key, value in data.items())
    else:
        inner = arguments
    text = f"{name}({inner})"
    return text if len(text) <= limit else text[: limit - 1] + "…)"


def loop_parts(
    tools: Sequence[Mapping[str, Any]], exchange: Sequence[Mapping[str, Any]]
) -> list[list[Part]]:
    """What estimates count for a tool loop: the tools' schemas, and each message of its
    rounds so far (an image a tool returned at its worst case, 1,445 tokens)."""
    counted: list[list[Part]] = [[TextPart(json.dumps(list(tools)))]] if tools else []
    for message in exchange:
        content = message.get("content")
        parts: list[Part] = []
        if isinstance(content, str):
            parts.append(TextPart(content))
        for item in content if isinstance(content, list) else ():
            if item.get("type") == "text":
                parts.append(TextPart(str(item.get("text", ""))))
            elif item.get("type") == "image_url":
                parts.append(ImagePart("data:,", 768, 2048, "image/png", "high", 768, 2048))
        if message.get("tool_calls"):
            parts.append(TextPart(json.dumps(message["tool_calls"])))
        counted.append(parts)
    return counted
