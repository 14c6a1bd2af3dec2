"""The magic's language: cache, threads, references, formats, aliases, one-liners."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import sent_images
from PIL import Image

import orjupyter


def run(shell, source: str):
    return shell.run_cell(source, store_history=True)


def chat_requests(router) -> list:
    return [r for r in router.requests if r.path.endswith("/chat/completions")]


def scripted(text: str) -> str:
    return f"[[fake reply_b64={base64.b64encode(text.encode()).decode()}]]"


# -- the cache ---------------------------------------------------------------------


def test_a_rerun_is_answered_from_the_cache_for_free(shell, router, capsys):
    assert run(shell, "%%gpt4o -o first\nWhat is a p-value?").success
    before = orjupyter.usage()
    assert run(shell, "%%gpt4o -o second\nWhat is a p-value?").success
    after = orjupyter.usage()
    first, second = shell.user_ns["first"], shell.user_ns["second"]
    assert len(chat_requests(router)) == 1
    assert second.text == first.text
    assert second.cached
    assert second.usage.cost == 0
    assert after.calls == before.calls  # an answer from the cache is not a call
    assert after.from_cache == before.from_cache + 1
    assert after.cost == before.cost
    assert "cached" in capsys.readouterr().out


def test_no_cache_forces_a_call(shell, router):
    assert run(shell, "%%gpt4o\nsame question").success
    assert run(shell, "%%gpt4o --no-cache\nsame question").success
    assert len(chat_requests(router)) == 2


def test_different_images_are_different_requests(shell, router):
    shell.user_ns["img"] = Image.new("RGB", (64, 64), "red")
    assert run(shell, "%%gpt4o\nDescribe {img}").success
    shell.user_ns["img"] = Image.new("RGB", (64, 64), "blue")
    assert run(shell, "%%gpt4o\nDescribe {img}").success
    assert len(chat_requests(router)) == 2


def test_replay_mode_needs_no_key_and_names_the_missing_cell(shell, router, monkeypatch, capsys):
    assert run(shell, "%%gpt4o -o recorded\nrecord me").success
    monkeypatch.setenv("ORJUPYTER_REPLAY", "1")
    monkeypatch.delenv("OPENROUTER_API_KEY")
    assert run(shell, "%%gpt4o -o replayed\nrecord me").success
    assert shell.user_ns["replayed"].text == shell.user_ns["recorded"].text
    result = run(shell, "%%gpt4o\nnever recorded")
    assert not result.success
    err = capsys.readouterr().err
    assert "replay" in err
    assert f"[{result.execution_count}]" in err
    assert len(chat_requests(router)) == 1


# -- conversations -----------------------------------------------------------------


def test_threads_send_earlier_turns_and_new_starts_afresh(shell, router, capsys):
    shell.user_ns["img"] = Image.new("RGB", (100, 80), "green")
    assert run(shell, "%%gpt4o --thread t\nFirst question about {img}").success
    assert run(shell, "%%gpt4o --thread t -o reply\nSecond question").success
    messages = chat_requests(router)[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert sent_images(messages[0]["content"]) == [(100, 80, "image/png")]
    assert shell.user_ns["reply"].history_turns == 1
    assert "1 earlier turn included" in capsys.readouterr().out
    assert run(shell, "%%gpt4o --thread t --new\nThird question").success
    assert [m["role"] for m in chat_requests(router)[-1].body["messages"]] == ["user"]


def test_a_cell_without_thread_stands_alone(shell, router):
    assert run(shell, "%%gpt4o\none").success
    assert run(shell, "%%gpt4o\ntwo").success
    assert len(chat_requests(router)[-1].body["messages"]) == 1


def test_reset_clears_a_thread(shell, router):
    assert run(shell, "%%gpt4o --thread a\none").success
    shell.run_line_magic("gpt4o", "reset a")
    assert run(shell, "%%gpt4o --thread a\ntwo").success
    assert len(chat_requests(router)[-1].body["messages"]) == 1


# -- references --------------------------------------------------------------------


def test_err_carries_the_traceback_of_a_failed_cell(shell, router):
    failed = run(shell, "def f():\n    return 1 / 0\nf()")
    assert not failed.success
    count = failed.execution_count
    assert run(shell, f"%%gpt4o\nWhy did this fail? {{Err[{count}]}}").success
    text = chat_requests(router)[-1].body["messages"][-1]["content"]
    assert "ZeroDivisionError: division by zero" in text
    assert "return 1 / 0" in text


def test_in_and_out_references(shell, router):
    made = run(shell, "from PIL import Image\nImage.new('RGB', (300, 200), 'white')")
    count = made.execution_count
    source = f"%%gpt4o\nThe code {{In[{count}]}} made {{Out[{count}]}}"
    assert run(shell, source).success
    content = chat_requests(router)[-1].body["messages"][-1]["content"]
    assert "Image.new('RGB', (300, 200), 'white')" in content[0]["text"]
    assert sent_images(content)[0][:2] == (300, 200)


def test_figures_arrays_paths_and_bytes_travel_as_images(shell, router, tmp_path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    ax.plot([1, 2, 3])
    path = tmp_path / "photo.png"
    Image.new("RGB", (120, 90), "blue").save(path)
    buffer = path.read_bytes()
    shell.user_ns.update(fig=fig, arr=np.zeros((50, 70, 3), dtype=np.uint8), path=path, raw=buffer)
    assert run(shell, "%%gpt4o\n{fig} {arr} {path} {raw}").success
    plt.close(fig)
    sizes = [
        size[:2] for size in sent_images(chat_requests(router)[-1].body["messages"][-1]["content"])
    ]
    assert sizes[1:] == [(70, 50), (120, 90), (120, 90)]
    assert 200 < sizes[0][0] <= 400


# -- formats -----------------------------------------------------------------------


def test_code_format_puts_the_code_in_a_new_cell(shell, router):
    answer = "Here:\n\n```python\nprint('hi')\n```\n"
    assert run(shell, f"%%gpt4o -f code\n{scripted(answer)}").success
    assert shell.rl_next_input == "print('hi')"
    system = chat_requests(router)[-1].body["messages"][0]
    assert system["role"] == "system"
    assert "code block" in system["content"]


def test_json_format_asks_for_json_and_stores_the_value(shell, router):
    assert run(shell, f"%%gpt4o -f json -o data\n{scripted(json.dumps({'a': [1, 2]}))}").success
    assert shell.user_ns["data"] == {"a": [1, 2]}
    assert chat_requests(router)[-1].body["response_format"] == {"type": "json_object"}


def test_json_format_with_a_non_json_answer_is_a_clear_error(shell, router, capsys):
    """The line says where the text is and how to ask again, and both are so: the answer
    is cached like any other, so only --no-cache asks again."""
    cell = f"%%gpt4o -f json -o data\n{scripted('not json')}"
    assert not run(shell, cell).success
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "the answer is not valid JSON (Expecting value at line 1); the text is kept in the "
            "reply: use -o and .text, or re-run the cell with --no-cache to ask again"
        )
    )
    assert shell.user_ns["data"].text == "not json"
    assert not run(shell, cell).success
    assert len(chat_requests(router)) == 1
    assert not run(shell, cell.replace("-o data", "-o data --no-cache")).success
    assert len(chat_requests(router)) == 2


# -- aliases, one-liners, OpenRouter routing ---------------------------------------


def test_alias_registers_a_magic_for_another_model(shell, router):
    shell.run_line_magic("gpt4o", "alias mini openai/gpt-4o-mini")
    assert run(shell, "%%mini -o reply\nhello").success
    assert chat_requests(router)[-1].body["model"] == "openai/gpt-4o-mini"
    assert shell.user_ns["reply"].model == "openai/gpt-4o-mini"


def test_line_magic_asks_a_one_line_question(shell, router):
    shell.user_ns["x"] = 42
    shell.run_line_magic("gpt4o", "-m openai/gpt-4o-mini What is {x} squared?")
    body = chat_requests(router)[-1].body
    assert body["model"] == "openai/gpt-4o-mini"
    assert body["messages"][-1]["content"] == "What is 42 squared?"


def test_fallback_models_and_provider_preferences_are_passed(shell, router):
    source = (
        "%%gpt4o --models openai/gpt-4o-mini,anthropic/claude-3.5-sonnet "
        '--provider \'{"order": ["OpenAI"], "allow_fallbacks": false}\'\nhello'
    )
    assert run(shell, source).success
    body = chat_requests(router)[-1].body
    assert body["models"] == ["openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet"]
    assert body["provider"] == {"order": ["OpenAI"], "allow_fallbacks": False}


@pytest.mark.parametrize("bad", ["--provider '[1]'", "--models ,", "--provider '{'"])
def test_bad_routing_options_are_refused(shell, router, bad):
    assert not run(shell, f"%%gpt4o {bad}\nhello").success
    assert chat_requests(router) == []


def test_dry_run_shows_what_would_be_sent_and_sends_nothing(shell, router, capsys):
    shell.user_ns["img"] = Image.new("RGB", (2000, 1000), "white")
    assert run(shell, "%%gpt4o --dry-run --max-tokens 100\nLook at {img}").success
    out = capsys.readouterr().out
    assert "nothing was sent" in out
    assert "image: image/png" in out
    assert "Estimated cost:" in out
    assert "base64" not in out
    assert len(out) < 2000
    assert chat_requests(router) == []


def test_dry_run_shows_the_question_whole(shell, router, capsys):
    shell.user_ns["img"] = Image.new("RGB", (200, 100), "white")
    question = " ".join(f"Point {n}: is the axis labelled and the scale honest?" for n in range(12))
    assert run(shell, f"%%gpt4o --dry-run\n{question}\nLook at {{img}} and end here.").success
    out = capsys.readouterr().out
    assert question in out  # the person's own text, never cut with "…"
    assert "and end here." in out
    assert "image: image/png" in out
    assert chat_requests(router) == []


def test_answers_are_not_shared_between_endpoints(shell, router, monkeypatch):
    assert run(shell, "%%gpt4o\nsame question").success
    monkeypatch.setenv("OPENROUTER_BASE_URL", router.base_url.replace("127.0.0.1", "localhost"))
    assert run(shell, "%%gpt4o\nsame question").success
    assert len(chat_requests(router)) == 2
