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
