"""Stream accumulation: what a person reads and what OpenRouter billed."""

from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from orjupyter.core.billed import read_usage
from orjupyter.core.stream import StreamState


def as_object(value: object) -> object:
    """JSON → attribute objects, the way SDK chunks are read."""
    return json.loads(json.dumps(value), object_hook=lambda d: SimpleNamespace(**d))


def chunk(content: str | None, finish: str | None = None, **extra: object) -> object:
    body = {
        "id": "gen-1764031697-vqvW0uz7ouT4gsp3FYqp",
        "provider": "OpenAI",
        "model": "openai/gpt-4o-2024-11-20",
        "object": "chat.completion.chunk",
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
        **extra,
    }
    return as_object(body)


USAGE = {
    "prompt_tokens": 97,
    "completion_tokens": 3,
    "total_tokens": 100,
    "cost": 0.0002725,
    "prompt_tokens_details": {"cached_tokens": 5},
    "completion_tokens_details": {"reasoning_tokens": 0},
}


def test_chunks_accumulate_text_ids_and_billed_usage():
    state = StreamState()
    assert state.handle_chunk(chunk("A red")) == "A red"
    assert state.handle_chunk(chunk(" square.", "stop")) == " square."
    usage_chunk = as_object(
        {"id": "gen-1", "model": "openai/gpt-4o-2024-11-20", "choices": [], "usage": USAGE}
    )
    assert state.handle_chunk(usage_chunk) == ""
    assert state.text == "A red square."
    assert state.id == "gen-1764031697-vqvW0uz7ouT4gsp3FYqp"
    assert state.model == "openai/gpt-4o-2024-11-20"
    assert state.provider == "OpenAI"
    assert state.finish_reason == "stop"
    assert state.content_chunks == 2
    usage = state.usage.to_usage()
    assert usage.cost == Decimal("0.0002725")  # exactly as billed, no float noise
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (97, 3, 5)
    assert not usage.cost_is_estimate


def test_usage_with_one_empty_choice_is_tolerated():
    state = StreamState()
    state.handle_chunk(chunk("hi"))
    state.handle_chunk(chunk("", "stop", usage=USAGE))
    assert state.text == "hi"
    assert state.usage.prompt_tokens == 97


def test_usage_without_cost_is_not_billed():
    billed = read_usage({"prompt_tokens": 10, "completion_tokens": 2})
    assert billed.cost is None
    assert billed.to_usage() is None


@given(st.lists(st.text(min_size=1), max_size=30))
def test_text_is_the_concatenation_of_deltas(deltas: list[str]):
    state = StreamState()
    for index, delta in enumerate(deltas):
        state.handle_chunk(chunk(delta))
        if index % 3 == 0:  # reading the text midway must not change the result
            assert state.text == "".join(deltas[: index + 1])
    assert state.text == "".join(deltas)
    assert state.content_chunks == len(deltas)


def sdk_chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> object:
    """A chunk as the openai SDK hands it over: OpenRouter's additions are its extras."""
    from openai.types.chat import ChatCompletionChunk

    body = {
        "id": "gen-2",
        "model": "openai/o4-mini",
        "object": "chat.completion.chunk",
        "created": 1,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return ChatCompletionChunk.model_validate(body)


def test_an_sdk_stream_gives_its_reasoning_citations_calls_and_answer():
    citation = {"type": "url_citation", "url_citation": {"url": "https://a.example", "title": "A"}}
    detail = {"type": "reasoning.encrypted", "data": "opaque"}
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f"}}
    more = {"index": 0, "function": {"arguments": '{"x": 1}'}}
    state = StreamState()
    for piece in (
        sdk_chunk({"role": "assistant", "reasoning": "Let me think. "}),
        sdk_chunk({"reasoning": "Done.", "reasoning_details": [detail]}),
        sdk_chunk({"content": "The answer", "annotations": [citation]}),
        sdk_chunk({"content": " is 42.", "tool_calls": [call]}),
        sdk_chunk({"tool_calls": [more]}, "tool_calls"),
        sdk_chunk({}, usage=USAGE),
    ):
        state.handle_chunk(piece)
    state.release()
    assert (state.reasoning, state.text) == ("Let me think. Done.", "The answer is 42.")
    assert (state.reasoning_chunks, state.content_chunks, state.chunks) == (2, 2, 6)
    assert state.reasoning_details == [detail]
    assert [(c.url, c.title) for c in state.citations] == [("https://a.example", "A")]
    assert [(c.id, c.name, c.arguments) for c in state.tool_calls] == [("call_1", "f", '{"x": 1}')]
    assert state.finish_reason == "tool_calls"
    assert state.usage is not None
    assert state.usage.prompt_tokens == 97


KEY = "sk-or-v1-" + "9c4e1f7a2b8d3065" * 4


def test_a_key_cut_in_two_chunks_at_any_place_is_never_shown():
    from orjupyter.core.redact import redact_answer

    text = f"Use this: {KEY} and never share it."
    for cut in range(1, len(text)):
        state = StreamState(secrets=(KEY,))
        shown = state.handle_chunk(sdk_chunk({"content": text[:cut]}))
        shown += state.handle_chunk(sdk_chunk({"content": text[cut:]}, "stop"))
        assert KEY[9:17] not in shown  # what a live view has before the stream ends
        state.release()
        assert (
            state.text
            == redact_answer(text, (KEY,))
            == "Use this: <key hidden> and never share it."
        )
        assert state.text_since(0) == state.text


@given(
    st.lists(
        st.sampled_from(["lorem", "ipsum", "0", "9c", "a1f0", " ", "\n", "-", "key"])
        | st.tuples(st.integers(9, len(KEY) - 8), st.integers(8, 40)).map(
            lambda at: KEY[at[0] : at[0] + at[1]]
        ),
        max_size=12,
    )
)
def test_any_piece_of_8_characters_of_the_key_is_hidden_and_nothing_else(words):
    from orjupyter.core.redact import redact_answer

    text = " ".join(words)
    hidden = redact_answer(text, (KEY,))
    distinctive = KEY[9:]  # past the generic `sk-or-v1-`
    assert not any(distinctive[k : k + 8] in hidden for k in range(len(distinctive) - 7))
    if not any(distinctive[k : k + 8] in text for k in range(len(distinctive) - 7)):
        assert hidden == text
