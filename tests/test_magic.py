"""`%%gpt4o` through a real IPython shell against the local OpenRouter server."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from conftest import TEST_KEY, sent_images
from PIL import Image

import orjupyter
from orjupyter.core.settings import DEFAULT_MODEL


def run(shell, source: str):
    return shell.run_cell(source, store_history=True)


def test_answer_streams_and_reply_matches_what_was_billed(shell, router, capsys):
    shell.user_ns["topic"] = "sunsets"
    result = run(shell, "%%gpt4o -o reply\nTell me about {topic}.")
    assert result.success
    reply = shell.user_ns["reply"]
    assert reply.text.startswith("I received 1 part:")
    billed = router.billed()[-1]
    assert reply.usage.prompt_tokens == billed["prompt_tokens"]
    assert reply.usage.completion_tokens == billed["completion_tokens"]
    assert reply.usage.total_tokens == billed["total_tokens"]
    assert reply.usage.cost == Decimal(str(billed["cost"]))
    assert not reply.usage.cost_is_estimate
    assert reply.model == DEFAULT_MODEL
    assert reply.id.startswith("gen-")
    out = capsys.readouterr().out
    assert reply.text in out
    assert f"{reply.usage.prompt_tokens} prompt + {reply.usage.completion_tokens} completion" in out
    sent = router.requests[-1].body
    assert sent["messages"][-1]["content"] == "Tell me about sunsets."
    assert sent["stream"] is True
    assert sent["usage"] == {"include": True}
    assert sent["stream_options"] == {"include_usage": True}


def test_images_arrive_in_place_and_bounded(shell, router):
    shell.user_ns["fig"] = Image.new("RGB", (4000, 3000), "white")
    shell.user_ns["photo"] = Image.new("RGBA", (300, 200), (255, 0, 0, 128))
    assert run(shell, "%%gpt4o -o reply\nPlot {fig} and photo {photo}. Why?").success
    content = router.requests[-1].body["messages"][-1]["content"]
    assert [part["type"] for part in content] == [
        "text",
        "image_url",
        "text",
        "image_url",
        "text",
    ]
    assert content[0]["text"] == "Plot "
    answer = shell.user_ns["reply"].text
    # the server measured the decoded images: 4000×3000 → fit 2048 → short side 768
    assert "- image: 1024x768 image/" in answer
    assert "- image: 300x200 image/png detail=auto" in answer


def test_options_reach_the_request(shell, router):
    source = (
        '%%gpt4o -m openai/gpt-4o-mini --system "Be terse." --temperature 0.2 '
        "--max-tokens 50 --detail low -o reply\nHi {img}"
    )
    shell.user_ns["img"] = Image.new("L", (1000, 1000), 128)
    assert run(shell, source).success
    body = router.requests[-1].body
    assert body["model"] == "openai/gpt-4o-mini"
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 50
    image = body["messages"][-1]["content"][1]["image_url"]
    assert image["detail"] == "low"
    assert sent_images(body["messages"][-1]["content"]) == [(512, 512, "image/png")]
    assert shell.user_ns["reply"].model == "openai/gpt-4o-mini"


def test_attribution_headers_identify_orjupyter(shell, router):
    assert run(shell, "%%gpt4o\nhello").success
    headers = {k.lower(): v for k, v in router.requests[-1].headers.items()}
    assert headers["x-title"] == "orjupyter"
    assert headers["http-referer"].startswith("https://")
    assert TEST_KEY not in str(headers)


def test_running_total_sums_billed_costs(shell, router):
    before = orjupyter.usage()
    for word in ("one", "two"):
        assert run(shell, f"%%gpt4o\nsay {word}").success
    after = orjupyter.usage()
    billed = router.billed()[-2:]
    assert after.calls - before.calls == 2
    assert after.cost - before.cost == sum(Decimal(str(b["cost"])) for b in billed)
    assert after.prompt_tokens - before.prompt_tokens == sum(b["prompt_tokens"] for b in billed)


def test_unknown_name_sends_nothing(shell, router, capsys):
    result = run(shell, "%%gpt4o\nlook at {nowhere}")
    assert not result.success
    err = capsys.readouterr().err
    assert "UsageError: {nowhere}: no variable named 'nowhere'" in err
    assert "Traceback" not in err
    assert router.requests == []


def test_empty_cell_sends_nothing(shell, router, capsys):
    assert not run(shell, "%%gpt4o\n   \n").success
    assert "the cell is empty" in capsys.readouterr().err
    assert router.requests == []


def test_no_key_says_how_to_set_it(shell, router, monkeypatch, capsys):
    monkeypatch.delenv("OPENROUTER_API_KEY")
    assert not run(shell, "%%gpt4o\nhello").success
    err = capsys.readouterr().err
    assert "OPENROUTER_API_KEY" in err
    assert "nothing was sent" in err
    assert "https://openrouter.ai/keys" in err
    assert router.requests == []


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (402, "Insufficient credits"),
        (429, "Rate limit exceeded"),
        (400, "maximum context length"),
    ],
)
def test_http_errors_are_one_line(shell, router, capsys, status, phrase, monkeypatch):
    shell.run_line_magic("config", "OrJupyter.max_retries = 0")
    source = f"%%gpt4o -o reply\n[[fake status={status}]]"
    assert not run(shell, source).success
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"UsageError: HTTP {status} from OpenRouter:")
    assert phrase in lines[0]
    assert TEST_KEY not in err


def test_mid_stream_error_keeps_the_partial_answer(shell, router, capsys):
    assert not run(shell, "%%gpt4o -o reply\n[[fake words=20 midstream_error_after=5]]").success
    reply = shell.user_ns["reply"]
    assert reply.outcome == "error"
    assert len(reply.text.split()) == 5
    captured = capsys.readouterr()
    assert reply.text in captured.out
    assert "Provider returned error" in captured.err
    assert orjupyter.usage().calls >= 1


def test_missing_cost_is_estimated_from_prices(shell, router):
    assert run(shell, "%%gpt4o -o reply\n[[fake no_cost]] hi").success
    usage = shell.user_ns["reply"].usage
    assert usage.cost_is_estimate
    expected = Decimal("0.0000025") * usage.prompt_tokens + Decimal("0.00001") * (
        usage.completion_tokens
    )
    assert usage.cost == expected


def test_default_model_is_configurable(shell, router):
    shell.run_line_magic("config", 'OrJupyter.default_model = "openai/gpt-4o-mini"')
    try:
        assert run(shell, "%%gpt4o\nhi").success
        assert router.requests[-1].body["model"] == "openai/gpt-4o-mini"
    finally:
        shell.run_line_magic("config", f'OrJupyter.default_model = "{DEFAULT_MODEL}"')


def test_bad_option_values_are_refused(shell, router, capsys):
    for option in ("--temperature 7", "--max-tokens -1", "--detail huge"):
        assert not run(shell, f"%%gpt4o {option}\nhi").success
    assert router.requests == []
    assert "Traceback" not in capsys.readouterr().err


def test_help_documents_every_option(shell, capsys):
    shell.run_line_magic("gpt4o", "help")
    out = capsys.readouterr().out
    for option in ("--output", "--model", "--system", "--temperature", "--max-tokens", "--detail"):
        assert option in out


@pytest.mark.parametrize("source", ["%gpt4o help", "%gpt4o?"])
def test_help_is_said_once_with_every_command_on_a_line_of_its_own(shell, capsys, source):
    from orjupyter.jupyter.commands import COMMANDS

    shell.run_cell(source)
    out = capsys.readouterr().out
    assert out.count("Ask an OpenRouter model") == 1
    assert out.count("usage: %%gpt4o") == 1
    assert "::" not in out
    about = out.partition("usage: %%gpt4o")[0]
    assert not [line for line in about.splitlines() if line.startswith(" ")]  # dedented
    listed = [line.split() for line in out.splitlines() if line.startswith("  %gpt4o ")]
    assert [words[1] for words in listed] == [command.name for command in COMMANDS]
    assert {"budget", "models", "credits", "alias", "reset", "key", "usage"} <= {
        words[1] for words in listed
    }
    assert all(len(words) > 2 for words in listed)  # each with its one-line summary


def test_a_command_is_one_row_with_its_function(shell, router, capsys, monkeypatch):
    """A row added to `COMMANDS` is parsed, listed in the help and run through its own
    function: nothing else (no method on the magic) is needed."""
    from orjupyter.jupyter import commands

    ran: list[tuple[object, str]] = []

    def hello(magics, args):
        ran.append((magics, args.who))
        print(f"hello, {args.who}")

    row = commands.Command(
        "hello", "say hello", hello, lambda p: p.add_argument("who", type=commands.name_word)
    )
    monkeypatch.setattr(commands, "COMMANDS", (*commands.COMMANDS, row))
    assert shell.run_cell("%gpt4o hello world").success
    assert "hello, world" in capsys.readouterr().out
    assert ran == [(shell.magics_manager.registry["OrJupyterMagics"], "world")]
    shell.run_cell("%gpt4o help")
    assert "%gpt4o hello say hello" in " ".join(capsys.readouterr().out.split())
    assert not [r for r in router.requests if r.path.endswith("/chat/completions")]


def test_classic_cell_magic_call_works_too(shell, router):
    shell.run_cell_magic("gpt4o", "-o reply", "plain call")
    assert shell.user_ns["reply"].text.startswith("I received 1 part:")


def test_question_mark_help_does_not_call(shell, router, capsys):
    shell.run_cell("%%gpt4o?\n")
    assert router.requests == []


def test_a_displayed_reply_is_sanitised(shell, router):
    import base64

    hostile = base64.b64encode(b"<img src=x onerror=alert(1)> **ok**").decode()
    assert run(shell, f"%%gpt4o -o reply\n[[fake reply_b64={hostile}]]").success
    bundle, _metadata = shell.display_formatter.format(shell.user_ns["reply"])
    assert "<strong>ok</strong>" in bundle["text/html"]
    assert "<img" not in bundle["text/html"]


def test_a_refused_call_costs_nothing_but_is_counted(shell, router):
    shell.run_line_magic("config", "OrJupyter.max_retries = 0")
    before = orjupyter.usage()
    assert not run(shell, "%%gpt4o -o reply\n[[fake status=402]]").success
    after = orjupyter.usage()
    assert after.calls == before.calls + 1
    assert after.cost == before.cost
    assert shell.user_ns["reply"].outcome == "error"


def test_unknown_model_is_refused_before_sending(shell, router, capsys):
    assert not run(shell, "%%gpt4o -m nobody/nothing\nhello").success
    assert "'nobody/nothing' is not a valid model ID" in capsys.readouterr().err
    assert [r.path for r in router.requests if r.path.endswith("/chat/completions")] == []


def test_retries_before_the_first_token_say_so(shell, router, capsys):
    shell.run_line_magic("config", "OrJupyter.max_retries = 2")
    try:
        source = "%%gpt4o -o reply\n[[fake status=503 fail_times=2 retry_after=0.05]]"
        assert run(shell, source).success
    finally:
        shell.run_line_magic("config", "OrJupyter.max_retries = 0")
    out = capsys.readouterr().out
    assert out.count("[retrying in") == 2
    assert len(router.requests) == 3


def wait_closed(router, seconds: float = 5.0) -> int:
    """The server's open connections, once none are left or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while router.open_connections() and time.monotonic() < deadline:
        time.sleep(0.02)
    return router.open_connections()


def test_a_blocking_call_closes_its_connections(shell, router):
    shell.run_cell_magic("gpt4o", "", "Hello, blocking?")  # no loop here: a private one
    assert len(router.requests) == 1
    assert wait_closed(router) == 0


def test_unloading_closes_the_connections_the_session_kept(shell, router):
    assert run(shell, "%%gpt4o\nHello, kept?").success  # IPython's loop, kept for reuse
    assert run(shell, "%%gpt4o\nHello again, same connection?").success
    assert router.open_connections() == 1  # both calls reused one connection
    shell.run_line_magic("unload_ext", "orjupyter")
    assert wait_closed(router) == 0
    shell.run_line_magic("load_ext", "orjupyter")  # as the fixture expects to find it


def test_unloading_in_a_kernel_closes_its_connections(kernel, router):
    kernel.execute_interactive("%load_ext orjupyter", timeout=60)
    reply = kernel.execute_interactive("%%gpt4o\nHello from a kernel?", timeout=60)
    assert reply["content"]["status"] == "ok"
    assert router.open_connections() == 1  # kept for the next call
    kernel.execute_interactive("%unload_ext orjupyter", timeout=60)
    assert wait_closed(router) == 0


def test_unloading_closes_the_ledger(shell, router, tmp_path):
    assert run(shell, "%%gpt4o\nHello, recorded?").success
    ledger = tmp_path / "ledger.sqlite"
    assert ledger.exists()
    shell.run_line_magic("unload_ext", "orjupyter")
    # SQLite removes the write-ahead log when the last connection to the file closes
    assert not ledger.with_name("ledger.sqlite-wal").exists()
    shell.run_line_magic("load_ext", "orjupyter")  # as the fixture expects to find it


def test_a_setting_changed_in_one_test_does_not_reach_the_next(router):
    """The in-process shell is one object for the whole run: a `%config` made in one test
    (no retries, a short timeout) must not change what a later test's calls do."""
    from notebook_support import loaded_shell

    first = loaded_shell()
    shell = next(first)
    shell.run_line_magic("config", "OrJupyter.max_retries = 0")
    first.close()
    second = loaded_shell()
    shell = next(second)
    try:
        settings = shell.magics_manager.registry["OrJupyterMagics"].settings
        assert settings.max_retries == 2
    finally:
        second.close()
