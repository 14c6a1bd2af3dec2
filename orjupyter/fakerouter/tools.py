"""The fake's function calling: which functions a "model" calls, round by round. Pure.

Rules (deterministic, documented in docs/local-server.md):

- A request that offers function tools (`tools: [{"type": "function", "function": {name,
  description, parameters}}]`) and scripts nothing (no directive for its calls or its
  text) calls every offered function once, in one round (parallel calls), each with its
  schema's values: a parameter's `default`, else its first `examples` entry, else (a
  required one) a sample value; then it answers with what they returned.
- `call=NAME[,NAME…]` calls those functions in one round (parallel calls), with the
  arguments `args_b64=` gives (base64 of a JSON object) or, without it, a sample value for
  each required parameter (an enum's first value, `"sample"`, 1, 1.5, true, [], {}).
  `calls_b64=` scripts several rounds exactly: base64 of a JSON list of rounds, each a
  list of `{"name": …, "arguments": {…}}`.
- A round is counted by the assistant messages with `tool_calls` after the question; once
  the scripted rounds are spent the model answers in text (by default it lists the `tool`
  results it received, and the images the tools returned, as it does any image).
- `loop_forever`: the model never stops calling (the first offered function, every round).
- `call_unoffered=NAME`: the first round calls NAME although it was not offered.
- Calls stream as OpenAI does: per call, one chunk with its index, id, type and name (the
  arguments empty), then the arguments in pieces; the last chunk has `finish_reason:
  "tool_calls"`. Each chunk is one completion token.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
ARGUMENT_PIECES = 3
"""Pieces each call's arguments stream in."""
RESULT_PREVIEW = 400
"""Characters of each tool result the default text answer quotes."""


class ToolScriptError(ValueError):
    """A malformed `calls_b64` or `args_b64`: the server answers 400."""


@dataclass(frozen=True)
class PlannedCall:
    id: str
    name: str
    arguments: str


def offered_functions(body: JSON) -> dict[str, JSON]:
    """Function name → its parameters' JSON schema, for each function tool offered."""
    offered: dict[str, JSON] = {}
    for tool in body.get("tools") or ():
        if not (isinstance(tool, dict) and tool.get("type") == "function"):
            continue
        function = tool.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            offered[function["name"]] = parameters if isinstance(parameters, dict) else {}
    return offered


def rounds_done(messages: list[JSON]) -> int:
    """Assistant messages with tool calls after the question (the rounds so far)."""
    start = question_index(messages)
    after = messages[(start or 0) + 1 :] if start is not None else messages
    return sum(1 for m in after if m.get("role") == "assistant" and m.get("tool_calls"))


def question_index(messages: list[JSON]) -> int | None:
    """The index of the question: the last user message that is not part of a tool
    exchange (a user message right after a `tool` message carries the tools' images)."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.get("role") == "user" and not (
            index > 0 and messages[index - 1].get("role") == "tool"
        ):
            return index
    return None


def tool_results(messages: list[JSON]) -> list[tuple[str, str]]:
    """(function name, result text) for each `tool` message after the question."""
    start = question_index(messages)
    names: dict[str, str] = {}
    results: list[tuple[str, str]] = []
    for message in messages[(start or 0) + 1 :]:
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                names[str(call.get("id"))] = str(call["function"].get("name"))
        if message.get("role") == "tool":
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content)[:RESULT_PREVIEW]
            results.append((names.get(str(message.get("tool_call_id")), "?"), text))
    return results


def plan(
    body: JSON,
    *,
    call: str | None,
    args_b64: str | None,
    calls_b64: str | None,
    loop_forever: bool,
    call_unoffered: str | None,
    unscripted: bool = False,
) -> list[PlannedCall]:
    """The calls this round makes (empty: answer in text). `unscripted`: the question
    scripts neither calls nor text, so every offered function is called once."""
    messages = body.get("messages") or []
    offered = offered_functions(body)
    done = rounds_done(messages)
    if loop_forever and offered:
        name = next(iter(offered))
        return [_planned(name, _sample_arguments(offered[name]))]
    rounds: list[list[tuple[str, JSON]]] = []
    if call_unoffered:
        rounds.append([(call_unoffered, {})])
    if calls_b64 is not None:
        rounds += _scripted_rounds(calls_b64)
    elif call and (offered or call_unoffered):
        given = _decoded(args_b64, "args_b64") if args_b64 is not None else None
        if given is not None and not isinstance(given, dict):
            raise ToolScriptError("Fake directive args_b64 must be base64 of a JSON object")
        names = [name for name in call.split(",") if name]
        rounds.append(
            [(name, given if given is not None else _sample_arguments(offered.get(name, {})))
             for name in names]
        )  # fmt: skip
    elif unscripted and offered and not rounds:
        rounds.append([(name, _default_arguments(schema)) for name, schema in offered.items()])
    if done >= len(rounds):
        return []
    return [_planned(name, arguments) for name, arguments in rounds[done]]


def _planned(name: str, arguments: JSON) -> PlannedCall:
    alphabet = string.ascii_letters + string.digits
    call_id = "call_" + "".join(secrets.choice(alphabet) for _ in range(24))
    return PlannedCall(call_id, name, json.dumps(arguments, ensure_ascii=False))


def _decoded(encoded: str, name: str) -> Any:
    try:
        return json.loads(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError) as err:
        raise ToolScriptError(f"Fake directive {name} is not base64 of JSON") from err


def _scripted_rounds(encoded: str) -> list[list[tuple[str, JSON]]]:
    rounds = _decoded(encoded, "calls_b64")
    problem = ToolScriptError(
        'Fake directive calls_b64 must be a list of rounds, each a list of {"name", "arguments"}'
    )
    if not isinstance(rounds, list):
        raise problem
    scripted: list[list[tuple[str, JSON]]] = []
    for round_calls in rounds:
        if not isinstance(round_calls, list):
            raise problem
        calls = []
        for item in round_calls:
            if not (isinstance(item, dict) and isinstance(item.get("name"), str)):
                raise problem
            arguments = item.get("arguments", {})
            calls.append((item["name"], arguments if isinstance(arguments, dict) else {}))
        scripted.append(calls)
    return scripted


_SAMPLES: dict[str, Any] = {
    "string": "sample",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}


def _sample(schema: object) -> Any:
    if not isinstance(schema, dict):
        return "sample"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return _sample(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return _SAMPLES.get(str(kind), "sample")


def _sample_arguments(parameters: JSON) -> JSON:
    properties = parameters.get("properties") or {}
    required = parameters.get("required") or []
    return {name: _sample(properties.get(name)) for name in required if isinstance(name, str)}


def _default_arguments(parameters: JSON) -> JSON:
    """Each parameter's `default` or first `examples` entry; a sample for a required one
    that has neither; an optional one without either is left out."""
    properties = parameters.get("properties") or {}
    required = parameters.get("required") or []
    arguments: JSON = {}
    for name, given in properties.items():
        schema = given if isinstance(given, dict) else {}
        examples = schema.get("examples")
        if "default" in schema:
            arguments[name] = schema["default"]
        elif isinstance(examples, list) and examples:
            arguments[name] = examples[0]
        elif name in required:
            arguments[name] = _sample(schema)
    return arguments


def text_after_tools(
    messages: list[JSON], describe_part: Callable[[JSON], str] | None = None
) -> str | None:
    """The default answer once tools have answered: what each one returned, then each
    image a tool returned, as `describe_part` describes a content part."""
    results = tool_results(messages)
    if not results:
        return None
    lines = ["Tool results:"]
    for name, text in results:
        shown = text[:RESULT_PREVIEW]
        many = "\n" in shown  # a table, say: kept as written, in a code block
        lines.append(f"- {name}:\n\n```\n{shown}\n```\n" if many else f"- {name}: {shown}")
    if describe_part is not None:
        lines += [f"- {line}" for line in _images_seen(messages, describe_part)]
    return "\n".join(lines)


def _images_seen(messages: list[JSON], describe_part: Callable[[JSON], str]) -> list[str]:
    """`The image plot returned: 640x480 image/png …` for each image part of a user
    message that follows a `tool` message (the images the tools returned)."""
    start = question_index(messages)
    seen: list[str] = []
    for index in range((start or 0) + 1, len(messages)):
        message = messages[index]
        if not (message.get("role") == "user" and messages[index - 1].get("role") == "tool"):
            continue
        content = message.get("content")
        label = "An image"
        for part in content if isinstance(content, list) else ():
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                label = str(part.get("text", "")).rstrip(": ") or label
            elif part.get("type") == "image_url":
                seen.append(f"{label}: {describe_part(part)}")
    return seen


def call_deltas(calls: list[PlannedCall]) -> list[JSON]:
    """The `delta.tool_calls` pieces of a round, in streaming order."""
    deltas: list[JSON] = []
    for index, call in enumerate(calls):
        head = {"name": call.name, "arguments": ""}
        deltas.append({"index": index, "id": call.id, "type": "function", "function": head})
        n = min(ARGUMENT_PIECES, max(1, len(call.arguments)))
        text = call.arguments
        for k in range(n):
            piece = text[k * len(text) // n : (k + 1) * len(text) // n]
            deltas.append({"index": index, "function": {"arguments": piece}})
    return deltas


def whole_calls(calls: list[PlannedCall]) -> list[JSON]:
    """The calls as a non-streamed message's `tool_calls`."""
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in calls
    ]
