"""`--schema NAME`: a pydantic model, a dataclass, a `TypedDict` or a JSON Schema dict →
a strict JSON schema for `response_format`, and the answer → a validated value.

Pure. pydantic is never imported: a pydantic class is used through its own
`model_json_schema()` and `model_validate()`. Dataclasses and `TypedDict`s are read with
`typing.get_type_hints`; a JSON Schema dict is taken as it is. The schema is made
strict-compatible (every object lists all its properties as required and
`additionalProperties: false`; a property that was optional may be null instead). The
validator below checks the subset of JSON Schema that strict mode allows.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from orjupyter.core.errors import FormatError, OptionError

SchemaKind = Literal["pydantic", "dataclass", "typeddict", "json"]
JSON = dict[str, Any]
_SCALARS: dict[object, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_PYDANTIC_LINK = re.compile(r"\s*For further information visit \S+")


@dataclass(frozen=True)
class Schema:
    """A strict JSON schema and what a validated answer becomes."""

    name: str
    kind: SchemaKind
    json_schema: JSON
    target: Any = None

    @property
    def fields(self) -> list[str]:
        return list(self.json_schema.get("properties", {}))

    def response_format(self) -> dict[str, Any]:
        schema = {"name": self.name, "strict": True, "schema": self.json_schema}
        return {"type": "json_schema", "json_schema": schema}


def _is_pydantic(value: object) -> bool:
    return isinstance(value, type) and all(
        callable(getattr(value, name, None)) for name in ("model_json_schema", "model_validate")
    )


def _is_typeddict(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, dict) and hasattr(value, "__total__")


def schema_for(value: object, name: str) -> Schema:
    """`--schema NAME`'s value as a strict schema; anything else is one clear line."""
    title = _UNSAFE_NAME.sub("_", getattr(value, "__name__", "") or name)[:64] or "answer"
    if _is_pydantic(value):
        model: Any = value
        raw: JSON = model.model_json_schema()
        check_finite(raw, name)
        # a field with a default must still be answered: pydantic would refuse a null
        return Schema(title, "pydantic", strict_schema(raw, optional_nullable=False), value)
    if isinstance(value, type) and (dataclasses.is_dataclass(value) or _is_typeddict(value)):
        kind: SchemaKind = "dataclass" if dataclasses.is_dataclass(value) else "typeddict"
        return Schema(title, kind, strict_schema(_object_schema(value, name)), value)
    if isinstance(value, Mapping) and value.get("type") == "object":
        title = _UNSAFE_NAME.sub("_", str(value.get("title") or name))[:64]
        check_finite(value, name)
        return Schema(title, "json", strict_schema(dict(value)))
    raise OptionError(
        f"--schema {name}: a {type(value).__name__} is not a schema; pass a pydantic model "
        'class, a dataclass, a TypedDict, or a JSON Schema dict with "type": "object" '
        "(nothing was sent)"
    )


# --- a schema that ends ---------------------------------------------------------------

MAX_SCHEMA_DEPTH = 100
"""Deeper than this, a schema is refused (strict mode allows far fewer levels)."""
MAX_SCHEMA_VALUES = 200_000
"""More values than this (counting a shared one each time it is used): refused."""
_REF_EDGES = ("anyOf", "oneOf", "allOf")


def check_finite(schema: Mapping[str, Any], name: str) -> None:
    """Refuse, before sending, a schema that never ends: a dict or list inside itself, one
    nested over `MAX_SCHEMA_DEPTH` levels, or `$ref`s that lead back to where they started
    without a property or an item between (no answer could ever match it)."""
    stack: list[tuple[object, tuple[int, ...]]] = [(schema, ())]
    for _visit in range(MAX_SCHEMA_VALUES):
        if not stack:
            break
        node, inside = stack.pop()
        if not isinstance(node, Mapping | list):
            continue
        if id(node) in inside:
            raise OptionError(
                f"--schema {name} contains itself (a dict or list inside itself); use "
                '"$ref" for a recursive type (nothing was sent)'
            )
        if len(inside) > MAX_SCHEMA_DEPTH:
            raise OptionError(
                f"--schema {name} is nested over {MAX_SCHEMA_DEPTH} levels deep; flatten it "
                "(nothing was sent)"
            )
        children = node.values() if isinstance(node, Mapping) else node
        stack.extend((child, (*inside, id(node))) for child in children)
    if stack:
        raise OptionError(
            f"--schema {name} holds over {MAX_SCHEMA_VALUES:,} values; send a smaller schema "
            "(nothing was sent)"
        )
    loop = _ref_loop(schema)
    if loop:
        raise OptionError(
            f"--schema {name}: {' → '.join(loop)} refers to itself with nothing in between, "
            "so no answer can match it; give it properties or items (nothing was sent)"
        )


def _ref_loop(schema: Mapping[str, Any]) -> list[str]:
    """A chain of `$ref`s (through `anyOf`/`oneOf`/`allOf`) back to where it began."""
    definitions = {
        f"#/{key}/{name}": node
        for key in ("$defs", "definitions")
        if isinstance(schema.get(key), Mapping)
        for name, node in schema[key].items()
    }
    for start, node in definitions.items():
        seen: set[str] = set()
        todo: list[tuple[object, list[str]]] = [(node, [start])]
        while todo:
            current, path = todo.pop()
            if not isinstance(current, Mapping):
                continue
            target = current.get("$ref")
            if target == start:
                return [*path, start]
            if isinstance(target, str) and target in definitions and target not in seen:
                seen.add(target)
                todo.append((definitions[target], [*path, target]))
            for key in _REF_EDGES:
                members = current.get(key)
                if isinstance(members, list):
                    todo.extend((member, path) for member in members)
    return []


# --- Python types → JSON Schema ----------------------------------------------------


def _object_schema(kind: type, where: str, seen: frozenset[type] = frozenset()) -> JSON:
    if kind in seen:
        raise OptionError(f"--schema {where}: {kind.__name__} contains itself; flatten it")
    try:
        hints = typing.get_type_hints(kind)
    except Exception as exc:  # a forward reference that cannot be resolved, say
        raise OptionError(f"--schema {where}: cannot read its fields ({exc})") from None
    if dataclasses.is_dataclass(kind):
        names = [f.name for f in dataclasses.fields(kind)]
    else:
        names = list(hints)
    properties = {
        field: _type_schema(hints[field], f"{where}.{field}", seen | {kind}) for field in names
    }
    return {
        "type": "object",
        "title": kind.__name__,
        "properties": properties,
        "required": names,
        "additionalProperties": False,
    }


def _scalar_schema(hint: Any) -> JSON | None:
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if hint is type(None):
        return {"type": "null"}
    return None


def _type_schema(hint: Any, where: str, seen: frozenset[type]) -> JSON:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    scalar = _scalar_schema(hint)
    if scalar is not None:
        return scalar
    if origin is Literal:
        return {"enum": list(args)}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(arg, where, seen) for arg in args]}
    if origin in (list, tuple, set, frozenset, Sequence) and args:
        return {"type": "array", "items": _type_schema(args[0], where, seen)}
    if isinstance(hint, type) and (dataclasses.is_dataclass(hint) or _is_typeddict(hint)):
        return _object_schema(hint, where, seen)
    shown = hint.__name__ if isinstance(hint, type) else repr(hint).replace("typing.", "")
    raise OptionError(
        f"--schema {where}: {shown} has no strict JSON form; use str, int, float, bool, "
        "a Literal, an Enum, list[...], a nested dataclass or TypedDict, or X | None"
    )


# --- strict mode ------------------------------------------------------------------


def strict_schema(schema: JSON, *, optional_nullable: bool = True) -> JSON:
    """A copy where every object requires all its properties and allows no others; a
    property that was optional may be null instead (unless `optional_nullable` is
    False). `default`s are dropped."""
    result: JSON = copy.deepcopy(schema)
    _make_strict(result, optional_nullable)
    return result


def _make_strict(node: object, optional_nullable: bool) -> None:
    if isinstance(node, list):
        for item in node:
            _make_strict(item, optional_nullable)
        return
    if not isinstance(node, dict):
        return
    node.pop("default", None)
    properties = node.get("properties")
    if isinstance(properties, dict):
        required = set(node.get("required", ()))
        for name, prop in properties.items():
            if optional_nullable and name not in required and isinstance(prop, dict):
                properties[name] = _nullable(prop)
        node["required"] = list(properties)
        node["additionalProperties"] = False
        node.setdefault("type", "object")
    for value in node.values():
        _make_strict(value, optional_nullable)


def _nullable(prop: JSON) -> JSON:
    kind = prop.get("type")
    if isinstance(kind, str) and kind != "null":
        return {**prop, "type": [kind, "null"]}
    if isinstance(kind, list):
        return {**prop, "type": [*kind, "null"] if "null" not in kind else kind}
    return {"anyOf": [prop, {"type": "null"}]}


# --- validation ----------------------------------------------------------------------

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}


def problems(schema: JSON, value: object, root: JSON | None = None, at: str = "$") -> list[str]:
    """What in `value` does not match `schema` (the strict subset), as `$.path: why`."""
    top: JSON = root if root is not None else schema
    if "$ref" in schema:
        name = str(schema["$ref"]).rpartition("/")[2]
        definitions: JSON = top.get("$defs") or top.get("definitions") or {}
        target = definitions.get(name)
        return problems(target, value, top, at) if isinstance(target, dict) else []
    return _node_problems(schema, value, top, at)


def _node_problems(schema: JSON, value: object, root: JSON, at: str) -> list[str]:
    if "anyOf" in schema:
        options = [problems(option, value, root, at) for option in schema["anyOf"]]
        return [] if any(not found for found in options) else min(options, key=len)
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} is not one of {schema['enum']!r}"]
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else list(kind or [])
    if kinds and not any(_has_type(value, name) for name in kinds):
        return [f"{at}: expected {' or '.join(kinds)}, got {json.dumps(value)[:60]}"]
    if isinstance(value, dict):
        return _object_problems(schema, value, root, at)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        found: list[str] = []
        for position, item in enumerate(value):
            found += problems(schema["items"], item, root, f"{at}[{position}]")
        return found
    return []


def _has_type(value: object, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES.get(name, (object,)))


def _object_problems(schema: JSON, value: dict[str, Any], root: JSON, at: str) -> list[str]:
    properties: dict[str, Any] = schema.get("properties", {})
    found = [f"{at}: missing {name!r}" for name in schema.get("required", ()) if name not in value]
    if schema.get("additionalProperties") is False:
        found += [f"{at}: unexpected {name!r}" for name in value if name not in properties]
    for name, item in value.items():
        if isinstance(properties.get(name), dict):
            found += problems(properties[name], item, root, f"{at}.{name}")
    return found


def validated(schema: Schema, text: str) -> Any:
    """The answer as the schema's value: a pydantic object, a dataclass, or a dict."""
    from orjupyter.core.formats import parse_json, too_deep

    data = parse_json(text)
    try:
        return _validated(schema, data)
    except RecursionError:
        raise too_deep() from None


def _validated(schema: Schema, data: object) -> Any:
    if schema.kind == "pydantic":
        try:
            return schema.target.model_validate(data)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            why = _PYDANTIC_LINK.sub("", str(exc))
            raise _mismatch(schema, " ".join(why.split())) from None
    found = problems(schema.json_schema, data)
    if found:
        raise _mismatch(schema, "; ".join(found[:3]))
    return _build(schema.target, data) if schema.kind == "dataclass" else data


def _mismatch(schema: Schema, why: str) -> FormatError:
    return FormatError(
        f"the answer does not match {schema.name}: {why[:300]}; the text is kept in the "
        "reply (use -o and .text)"
    )


def _build(kind: Any, data: Any) -> Any:
    """JSON data (already validated) → nested dataclass instances."""
    if isinstance(kind, type) and dataclasses.is_dataclass(kind) and isinstance(data, dict):
        hints = typing.get_type_hints(kind)
        return kind(**{name: _build(hints[name], data[name]) for name in data})
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        objects = [arg for arg in typing.get_args(kind) if dataclasses.is_dataclass(arg)]
        return _build(objects[0], data) if objects and isinstance(data, dict) else data
    if typing.get_origin(kind) in (list, tuple, set, frozenset, Sequence) and isinstance(
        data, list
    ):
        item = typing.get_args(kind)[0]
        return [_build(item, value) for value in data]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(data)
    return data


def as_record(value: Any) -> dict[str, Any]:
    """A validated value's top-level fields (nested values stay objects)."""
    if hasattr(value, "model_dump") and callable(value.model_dump):
        return {name: getattr(value, name) for name in value.model_dump()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return dict(value) if isinstance(value, Mapping) else {"value": value}
