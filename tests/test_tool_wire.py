"""Function calling on the wire: the local server streams tool calls as OpenRouter does
(the name first, then the arguments in pieces; parallel calls; `finish_reason:
tool_calls`; usage with a cost per round), the real `openai` SDK reads them, and
`StreamState` puts them together. A `tool_calls` finish is never a finished answer."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from orjupyter.core.domain import Reply, ToolCall, Usage
from orjupyter.core.request import assistant_message, tool_message
from orjupyter.core.stream import StreamState, ended_early
from orjupyter.fakerouter import FakeRouter

KEY = "sk-or-v1-0123456789abcdef"
MODEL = "openai/gpt-4o-mini"
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
            "required": ["city", "unit"],
        },
    },
}
CLOCK = {
    "type": "function",
    "function": {"name": "clock", "parameters": {"type": "object", "properties": {}}},
}


def b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


@pytest.fixture(scope="module")
def router() -> Iterator[FakeRouter]:
    with FakeRouter() as server:
        yield server


@pytest.fixture
def client(router: FakeRouter) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=router.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


def stream(client: openai.OpenAI, messages: list[Any], tools: list[Any]) -> list[Any]:
    extra = {"tools": tools} if tools else {}
    return list(
        client.chat.completions.create(
            model=MODEL, messages=messages, stream=True, extra_body=extra
        )
    )


def state_of(chunks: list[Any]) -> StreamState:
    state = StreamState()
    for chunk in chunks:
        state.handle_chunk(chunk)
    return state


def test_a_call_streams_its_name_first_then_its_arguments_in_pieces(
    client: openai.OpenAI,
) -> None:
    question = {"role": "user", "content": "[[fake call=lookup]] Weather in Oslo?"}
    chunks = stream(client, [question], [LOOKUP])
    calls = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices]
    assert calls[0].function.name == "lookup"
    assert calls[0].id.startswith("call_")
    assert calls[0].function.arguments == ""
    pieces = [call.function.arguments for call in calls[1:]]
    assert len(pieces) > 1
    assert all(call.function.name is None for call in calls[1:])
    assert json.loads("".join(pieces)) == {"city": "sample", "unit": "C"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls"
    assert set(finishes[:-1]) == {None}
    usage = chunks[-1].usage
    assert usage.completion_tokens == len(calls)
    assert usage.model_extra["cost"] > 0
    state = state_of(chunks)
    assert state.text == ""
    assert state.finish_reason == "tool_calls"
    assert state.tool_calls == (ToolCall(calls[0].id, "lookup", "".join(pieces)),)
    assert ended_early(state, functions=True) is None


def test_parallel_calls_come_apart_by_index(client: openai.OpenAI) -> None:
    args = b64({"city": "Oslo", "unit": "C"})
    question = {"role": "user", "content": f"[[fake call=lookup,clock args_b64={args}]] Go"}
    state = state_of(stream(client, [question], [LOOKUP, CLOCK]))
    assert [(c.name, json.loads(c.arguments)) for c in state.tool_calls] == [
        ("lookup", {"city": "Oslo", "unit": "C"}),
        ("clock", {"city": "Oslo", "unit": "C"}),
    ]
    assert len({call.id for call in state.tool_calls}) == 2


def test_the_results_go_back_and_the_model_answers_in_text(client: openai.OpenAI) -> None:
    question = {"role": "user", "content": "[[fake call=lookup]] Weather in Oslo?"}
    first = state_of(stream(client, [question], [LOOKUP]))
    call = first.tool_calls[0]
    messages = [
        question,
        assistant_message("", first.tool_calls),
        tool_message(call.id, "Oslo: 12 C"),
    ]
    second = state_of(stream(client, messages, [LOOKUP]))
    assert second.finish_reason == "stop"
    assert not second.tool_calls
    assert second.text == "Tool results:\n- lookup: Oslo: 12 C"
    assert ended_early(second, functions=True) is None


def test_scripted_rounds_run_in_order_then_the_model_answers(client: openai.OpenAI) -> None:
    rounds = [[{"name": "clock", "arguments": {}}], [{"name": "lookup", "arguments": {"x": 1}}]]
    messages: list[Any] = [{"role": "user", "content": f"[[fake calls_b64={b64(rounds)}]] Go"}]
    names = []
    for _round in range(3):
        state = state_of(stream(client, messages, [LOOKUP, CLOCK]))
        if not state.tool_calls:
            break
        names.append([call.name for call in state.tool_calls])
        messages.append(assistant_message("", state.tool_calls))
        messages += [tool_message(call.id, "done") for call in state.tool_calls]
    assert names == [["clock"], ["lookup"]]
    assert state.text.startswith("Tool results:")


def test_a_model_that_never_stops_calls_every_round(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "[[fake loop_forever]] Go"}]
    for _round in range(4):
        state = state_of(stream(client, messages, [CLOCK, LOOKUP]))
        assert [call.name for call in state.tool_calls] == ["clock"]
        messages.append(assistant_message("", state.tool_calls))
        messages.append(tool_message(state.tool_calls[0].id, "12:00"))


def test_a_model_can_call_a_function_it_was_not_offered(client: openai.OpenAI) -> None:
    question = {"role": "user", "content": "[[fake call_unoffered=wipe]] Go"}
    state = state_of(stream(client, [question], [CLOCK]))
    assert [call.name for call in state.tool_calls] == ["wipe"]


def test_tool_calls_without_functions_offered_are_not_an_answer(client: openai.OpenAI) -> None:
    question = {"role": "user", "content": "[[fake call_unoffered=wipe]] Go"}
    state = state_of(stream(client, [question], []))
    early = ended_early(state)
    assert early is not None
    assert early[0] == "incomplete"
    assert "wipe" in early[1]
    assert "not cached" in early[1]


def test_a_tool_calls_finish_without_a_call_is_incomplete() -> None:
    state = StreamState(finish_reason="tool_calls")
    early = ended_early(state, functions=True)
    assert early is not None
    assert early[0] == "incomplete"


def test_without_functions_the_fake_answers_as_before(client: openai.OpenAI) -> None:
    state = state_of(stream(client, [{"role": "user", "content": "[[fake reply=Hi]]"}], []))
    assert state.text == "Hi"
    assert not state.tool_calls
    assert state.finish_reason == "stop"


def test_a_round_with_calls_is_cached_with_its_calls(tmp_path: Any) -> None:
    from orjupyter.store.cache import CachedAnswer, ResponseCache

    call = ToolCall("call_1", "lookup", '{"city": "Oslo"}')
    reply = Reply(
        "", MODEL, "gen-1", Usage(1, 2, Decimal("0.001")), finish_reason="tool_calls",
        tool_calls=(call,), reasoning_details=({"type": "reasoning.text", "text": "hm"},),
    )  # fmt: skip
    cache = ResponseCache(tmp_path)
    key = "a" * 64
    cache.put(key, CachedAnswer.from_reply(reply))
    back = cache.get(key)
    assert back is not None
    again = back.to_reply()
    assert again.tool_calls == (call,)
    assert again.cached
    assert again.reasoning_details == reply.reasoning_details


def test_a_bad_call_script_is_refused_with_a_400(client: openai.OpenAI) -> None:
    question = {"role": "user", "content": "[[fake calls_b64=bm90IGpzb24]] Go"}
    with pytest.raises(openai.BadRequestError, match="calls_b64"):
        stream(client, [question], [CLOCK])
