"""The fake's structured output: a `json_schema` request is answered with JSON that fits the
schema, a `json_object` one with a JSON object; `[[fake not_json=N]]` and
`[[fake off_schema=N]]` make the first N attempts fail, to try the re-ask. Pure.

Rules (deterministic, so tests can rely on them):

- A value made from the schema: an object has every property (`$ref`s to `$defs` or
  `definitions` followed), a string is `"sample"`, an integer `1` and a number `1.5`
  (raised to a `minimum`, lowered to a `maximum`), a boolean `true`, an enum or a `const`
  its first value, an array one item (or `minItems`), `anyOf`/`oneOf` and a type list
  their first choice that is not null (null once nested over 8 levels, where a recursive
  schema allows it).
- `json_object` without a schema: `{"answer": TEXT}`, TEXT being the usual answer.
- A scripted answer (`reply=`, `reply_b64=`, `words=`, `chunks=`) is answered as scripted.
- `not_json=N`: the first N attempts answer the JSON cut short (not valid JSON);
  `off_schema=N`: the first N attempts answer JSON without the schema's first required
  property (or an array where an object is due). An attempt is the question (the last
  user message with a `[[fake …]]` block) plus each assistant answer after it: a re-ask
  sends the failed answer back and asks again after it, so attempt N+1 is valid.
"""

from __future__ import annotations

import json
from typing import Any

JSON = dict[str, Any]
MAX_DEPTH = 8
_SCALARS: dict[str, Any] = {"string": "sample", "boolean": True, "null": None}


def schema_of(body: JSON) -> tuple[str, JSON | None] | None:
    """(`json_schema` or `json_object`, the schema) when the request asks for JSON."""
    wanted = body.get("response_format")
    if not isinstance(wanted, dict):
        return None
    kind = wanted.get("type")
    if kind == "json_object":
        return "json_object", None
    if kind != "json_schema":
        return None
    described = wanted.get("json_schema")
    schema = described.get("schema") if isinstance(described, dict) else None
    return "json_schema", schema if isinstance(schema, dict) else {}


def sample(schema: object, root: JSON | None = None, depth: int = 0) -> Any:
    """A value that fits `schema` (see the rules above)."""
    if not isinstance(schema, dict):
        return None
    top = root if root is not None else schema
    if isinstance(schema.get("$ref"), str):
        return sample(_target(top, schema["$ref"]), top, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        choices = schema.get(key)
        if isinstance(choices, list) and choices:
            return sample(_choose(choices, depth), top, depth + 1)
    return _typed(schema, top, depth)


def _typed(schema: JSON, top: JSON, depth: int) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = "null" if depth > MAX_DEPTH and "null" in kind else (kinds or ["null"])[0]
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {name: sample(prop, top, depth + 1) for name, prop in properties.items()}
    if kind == "array":
        count = 0 if depth > MAX_DEPTH else max(1, int(schema.get("minItems") or 0))
        return [sample(schema.get("items"), top, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, 1 if kind == "integer" else 1.5)
    return _SCALARS.get(str(kind), "sample")


def _target(root: JSON, ref: str) -> object:
    node: object = root
    for key in ref.removeprefix("#/").split("/"):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _choose(choices: list[Any], depth: int) -> object:
    nulls = [c for c in choices if isinstance(c, dict) and c.get("type") == "null"]
    others = [c for c in choices if not (isinstance(c, dict) and c.get("type") == "null")]
    if depth > MAX_DEPTH and nulls:
        return nulls[0]
    return (others or choices)[0]


def _number(schema: JSON, value: float) -> float:
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(low, int | float) and value < low:
        value = low
    if isinstance(high, int | float) and value > high:
        value = high
    return value


def off_schema(schema: JSON) -> Any:
    """JSON that misses the schema: its first required property left out."""
    value = sample(schema)
    required = schema.get("required")
    if isinstance(value, dict) and isinstance(required, list) and required:
        value.pop(required[0], None)
        return value
    return [value]


def attempt(messages: list[JSON]) -> int:
    """1 for the question (the last user message with a `[[fake …]]` block), plus one for
    each assistant answer after it."""
    asked = [k for k, m in enumerate(messages) if m.get("role") == "user" and "[[fake" in _text(m)]
    start = asked[-1] if asked else len(messages)
    return 1 + sum(1 for m in messages[start + 1 :] if m.get("role") == "assistant")


def question_text(messages: list[JSON]) -> str:
    """The text of the question whose switches apply to this attempt."""
    asked = [m for m in messages if m.get("role") == "user" and "[[fake" in _text(m)]
    return _text(asked[-1]) if asked else ""


def _text(message: JSON) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def structured_answer(
    body: JSON, text: str, *, scripted: bool, not_json: int | None, off: int | None
) -> str:
    """The answer to a request that asks for JSON (`text` itself otherwise, or when
    `scripted`), failing as `not_json`/`off_schema` say for this attempt."""
    wanted = schema_of(body)
    if wanted is None:
        return text
    _kind, schema = wanted
    messages = body.get("messages")
    number = attempt(messages) if isinstance(messages, list) else 1
    valid = sample(schema) if schema is not None else {"answer": text}
    if not_json is not None and number <= not_json:
        return json.dumps(valid)[:-1]
    if off is not None and number <= off:
        return json.dumps(off_schema(schema) if schema is not None else [text])
    return text if scripted else json.dumps(valid)
