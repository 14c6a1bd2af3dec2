"""Conversations: turns kept by name, sent oldest first, trimmed without splitting a turn."""

from __future__ import annotations

import threading

from orjupyter.core.domain import ImagePart, TextPart
from orjupyter.core.pricing import MESSAGE_OVERHEAD_TOKENS, prompt_tokens, text_tokens
from orjupyter.core.request import CallOptions, build_request
from orjupyter.core.thread import (
    Threads,
    Turn,
    history_budget,
    history_messages,
    trim_history,
)

IMAGE = ImagePart(
    data_url="data:image/png;base64,iVBORw0KGgo=",
    width=512,
    height=512,
    media_type="image/png",
    detail="auto",
    source_width=512,
    source_height=512,
)


def turn(question: str, answer: str = "ok", tokens: int = 10) -> Turn:
    return Turn({"role": "user", "content": question}, answer, tokens)


def sized(tokens: int, name: str) -> Turn:
    """A turn of exactly `tokens` tokens in all (answer included)."""
    answer = "a" * 4
    return turn(name, answer, tokens - MESSAGE_OVERHEAD_TOKENS - text_tokens(answer))


def test_a_turn_from_parts_keeps_its_image_and_estimates_its_tokens():
    made = Turn.from_parts([TextPart("What is this?"), IMAGE], "A cat.")
    assert made.user["role"] == "user"
    assert made.user["content"][1] == {
        "type": "image_url",
        "image_url": {"url": IMAGE.data_url, "detail": "auto"},
    }
    assert made.prompt_tokens == prompt_tokens([[TextPart("What is this?"), IMAGE]])
    assert made.tokens == made.prompt_tokens + MESSAGE_OVERHEAD_TOKENS + text_tokens("A cat.")


def test_history_alternates_roles_oldest_first_with_images_in_place():
    first = Turn.from_parts([TextPart("Look:"), IMAGE, TextPart("and this")], "Two cats.")
    second = Turn.from_parts([TextPart("Which is bigger?")], "The left one.")
    messages = history_messages([first, second])
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0] is first.user
    assert [part["type"] for part in messages[0]["content"]] == ["text", "image_url", "text"]
    assert messages[1] == {"role": "assistant", "content": "Two cats."}
    assert messages[2] == {"role": "user", "content": "Which is bigger?"}
    assert messages[3]["content"] == "The left one."
    assert history_messages([]) == []


def test_history_goes_after_the_system_message_and_before_the_new_question():
    turns = [turn("Q1", "A1")]
    request = build_request(
        [TextPart("Q2")], CallOptions(system="Be brief."), history_messages(turns)
    )
    assert [(m["role"], m["content"]) for m in request["messages"]] == [
        ("system", "Be brief."),
        ("user", "Q1"),
        ("assistant", "A1"),
        ("user", "Q2"),
    ]


def test_trimming_by_turns_keeps_the_newest():
    turns = [turn(f"Q{i}") for i in range(5)]
    kept = trim_history(turns, max_turns=2, budget_tokens=10**6)
    assert [t.user["content"] for t in kept] == ["Q3", "Q4"]
    assert trim_history(turns, max_turns=0, budget_tokens=10**6) == []
    assert trim_history(turns, max_turns=10, budget_tokens=10**6) == turns


def test_trimming_by_tokens_drops_oldest_first_and_never_splits_a_turn():
    turns = [sized(100, "old"), sized(30, "middle"), sized(50, "new")]
    assert [t.tokens for t in turns] == [100, 30, 50]

    def names(kept):
        return [t.user["content"] for t in kept]

    assert names(trim_history(turns, max_turns=10, budget_tokens=180)) == ["old", "middle", "new"]
    assert names(trim_history(turns, max_turns=10, budget_tokens=179)) == ["middle", "new"]
    assert names(trim_history(turns, max_turns=10, budget_tokens=80)) == ["middle", "new"]
    assert names(trim_history(turns, max_turns=10, budget_tokens=79)) == ["new"]
    assert names(trim_history(turns, max_turns=10, budget_tokens=49)) == []
    assert trim_history(turns, max_turns=10, budget_tokens=-5) == []


def test_a_small_old_turn_is_not_kept_past_a_large_one_that_did_not_fit():
    turns = [sized(10, "tiny and old"), sized(500, "huge"), sized(20, "new")]
    kept = trim_history(turns, max_turns=10, budget_tokens=100)
    assert [t.user["content"] for t in kept] == ["new"]


def test_the_budget_is_the_window_less_the_new_prompt_and_the_reserved_answer():
    assert history_budget(128_000, 1_000, 16_384) == 110_616
    assert history_budget(8_000, 5_000, 4_000) == 0
    assert history_budget(None, 1_000, 1_000) > 0


def test_threads_are_kept_by_name_and_reset_one_or_all():
    threads = Threads()
    assert threads.history("a") == []
    threads.append("a", turn("a1"))
    threads.append("b", turn("b1"))
    threads.append("a", turn("a2"))
    assert [t.user["content"] for t in threads.history("a")] == ["a1", "a2"]
    assert threads.names() == ["a", "b"]
    threads.history("a").clear()  # a copy
    assert len(threads.history("a")) == 2
    threads.reset("a")
    assert threads.history("a") == []
    assert threads.names() == ["b"]
    threads.reset("never started")
    threads.append("c", turn("c1"))
    threads.reset()
    assert threads.names() == []
    assert threads.history("b") == []


def test_threads_take_turns_from_several_threads():
    threads = Threads()
    workers = [
        threading.Thread(target=lambda: [threads.append("x", turn("q")) for _ in range(200)])
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(threads.history("x")) == 800
