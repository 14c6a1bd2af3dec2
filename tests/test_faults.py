"""Every way a call can fail, seen as a user sees it in a plain IPython shell.

For each fault: one `UsageError: …` line on stderr and no traceback, the partial answer
kept in stdout and in the reply, the call counted, and the next cell still works.
"""

from __future__ import annotations

import io
import re

import pytest
from conftest import TEST_KEY, sent_images
from PIL import Image

import orjupyter

DEFAULTS = {"max_retries": 2, "timeout": 600.0, "base_url": ""}


def configure(shell, **settings: object) -> None:
    for name, value in settings.items():
        shell.run_line_magic("config", f"OrJupyter.{name} = {value!r}")


@pytest.fixture
def ipy(shell):
    """The shell with no retries and default timeouts; settings restored afterwards."""
    configure(shell, **{**DEFAULTS, "max_retries": 0})
    yield shell
    configure(shell, **DEFAULTS)
    for name in ("obj", "data", "jpeg", "big", "huge"):
        shell.user_ns.pop(name, None)


def run(shell, source: str):
    return shell.run_cell(source, store_history=True)


def chat_requests(router) -> list:
    return [r for r in router.requests if r.path.rstrip("/").endswith("/chat/completions")]


def one_usage_error(err: str) -> str:
    """The single stderr line IPython prints for a UsageError."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("UsageError: "), err
    return lines[0]


def fails_as(shell, capsys, source: str, *phrases: str, words: int | None = None):
    """Run a failing `-o reply` cell; check (a) one line, (b) partial kept, (c) counted."""
    shell.user_ns.pop("reply", None)
    before = orjupyter.usage().calls
    result = run(shell, source)
    captured = capsys.readouterr()
    assert not result.success
    line = one_usage_error(captured.err)
    for phrase in phrases:
        assert phrase in line, line
    assert TEST_KEY not in captured.err + captured.out
    reply = shell.user_ns["reply"]
    assert reply.outcome == "error"
    assert reply.error, reply
    assert "\n" not in reply.error
    assert orjupyter.usage().calls == before + 1
    if words is not None:
        assert len(reply.text.split()) == words, reply.text
        assert reply.text in captured.out
    return line, reply


def still_works(shell, capsys) -> None:
    """(d) the next plain cell succeeds."""
    result = run(shell, "%%gpt4o\nhello")
    captured = capsys.readouterr()
    assert result.success, captured.err
    assert "I received 1 part" in captured.out
    assert "UsageError" not in captured.err


# --- HTTP errors before the stream ----------------------------------------------------

HTTP_FAULTS = [
    (400, "maximum context length"),  # a bad parameter the server refuses
    (401, "User not found"),
    (402, "Insufficient credits"),
    (403, "harassment"),  # the flagged reason the server sends in metadata.reasons
    (404, "No endpoints found"),
    (408, "Operation timed out"),
    (413, "Request entity too large"),
    (429, "Rate limit exceeded"),
    (500, "Internal Server Error"),
    (502, "Provider returned error"),
    (503, "No allowed providers"),
]


@pytest.mark.parametrize(("status", "phrase"), HTTP_FAULTS)
def test_http_error_is_one_line(ipy, router, capsys, status, phrase):
    source = f"%%gpt4o -o reply\n[[fake status={status}]]"
    line, reply = fails_as(ipy, capsys, source, f"HTTP {status}", phrase)
    assert line.startswith(f"UsageError: HTTP {status} from OpenRouter:")
    assert reply.text == ""
    assert len(chat_requests(router)) == 1
    still_works(ipy, capsys)


def test_unknown_model_is_one_line(ipy, router, capsys):
    """OpenRouter's 400 for a bad slug; if the package checked locally, nothing was sent."""
    result = run(ipy, "%%gpt4o -m nobody/nothing -o reply\nhello")
    captured = capsys.readouterr()
    assert not result.success
    line = one_usage_error(captured.err)
    assert "not a valid model ID" in line
    if chat_requests(router):
        assert line.startswith("UsageError: HTTP 400 from OpenRouter:")
        assert ipy.user_ns["reply"].outcome == "error"
    still_works(ipy, capsys)


# --- faults after the stream started --------------------------------------------------


def test_mid_stream_error_keeps_five_words(ipy, router, capsys):
    source = "%%gpt4o -o reply\n[[fake words=20 midstream_error_after=5]]"
    fails_as(ipy, capsys, source, "Provider returned error", words=5)
    still_works(ipy, capsys)


def test_dropped_connection_keeps_the_partial_answer(ipy, router, capsys):
    source = "%%gpt4o -o reply\n[[fake words=20 drop_after=5]]"
    fails_as(ipy, capsys, source, "dropped", words=5)
    still_works(ipy, capsys)


@pytest.mark.timeout(60)
def test_stall_behind_keepalives_times_out(ipy, router, capsys):
    configure(ipy, timeout=1.5)
    source = "%%gpt4o -o reply\n[[fake words=20 stall_after=3]]"
    fails_as(ipy, capsys, source, "read timeout", "1.5 s", words=3)
    configure(ipy, timeout=600.0)
    still_works(ipy, capsys)


def test_malformed_chunk_is_one_line(ipy, router, capsys):
    source = "%%gpt4o -o reply\n[[fake words=20 malformed_after=3]]"
    fails_as(ipy, capsys, source, "malformed", words=3)
    still_works(ipy, capsys)


def test_html_error_page_from_a_proxy(ipy, router, capsys):
    fails_as(ipy, capsys, "%%gpt4o -o reply\n[[fake html_error=502]]", "HTML error page")
    still_works(ipy, capsys)


# --- no server ------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:9/api/v1", "http://no-such-host.invalid/api/v1"],
    ids=["refused", "dns"],
)
def test_unreachable_server(ipy, router, capsys, base_url):
    configure(ipy, base_url=base_url)
    fails_as(ipy, capsys, "%%gpt4o -o reply\nhello", "cannot reach")
    configure(ipy, base_url="")
    still_works(ipy, capsys)


# --- retries --------------------------------------------------------------------------


def test_503_is_retried_until_it_succeeds(ipy, router, capsys):
    configure(ipy, max_retries=2)
    result = run(ipy, "%%gpt4o -o reply\n[[fake status=503 fail_times=2 retry_after=0.05]]")
    captured = capsys.readouterr()
    assert result.success, captured.err
    retrying = [line for line in captured.out.splitlines() if "retrying" in line]
    assert len(retrying) == 2, captured.out
    assert len(chat_requests(router)) == 3
    assert ipy.user_ns["reply"].outcome == "ok"
    assert ipy.user_ns["reply"].text.startswith("I received 1 part")


def test_429_gives_up_after_max_retries(ipy, router, capsys):
    configure(ipy, max_retries=2)
    source = "%%gpt4o -o reply\n[[fake status=429 fail_times=5 retry_after=0.05]]"
    fails_as(ipy, capsys, source, "HTTP 429")
    assert len(chat_requests(router)) == 3
    still_works(ipy, capsys)


def test_402_is_never_retried(ipy, router, capsys):
    configure(ipy, max_retries=2)
    fails_as(ipy, capsys, "%%gpt4o -o reply\n[[fake status=402]]", "Insufficient credits")
    assert len(chat_requests(router)) == 1


def test_mid_stream_error_is_never_retried(ipy, router, capsys):
    configure(ipy, max_retries=2)
    source = "%%gpt4o -o reply\n[[fake words=20 midstream_error_after=5]]"
    fails_as(ipy, capsys, source, "Provider returned error", words=5)
    assert len(chat_requests(router)) == 1


# --- bad input: nothing is sent -------------------------------------------------------


class Opaque:
    """No text form: the default repr is only an address."""


def truncated_jpeg() -> bytes:
    image = Image.effect_noise((640, 480), 64).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    return data[: len(data) // 2]


def refused_locally(shell, router, capsys, source: str, *phrases: str) -> str:
    result = run(shell, source)
    captured = capsys.readouterr()
    assert not result.success
    line = one_usage_error(captured.err)
    for phrase in phrases:
        assert phrase in line, line
    assert router.requests == []
    return line


@pytest.mark.parametrize(
    ("source", "namespace", "phrase"),
    [
        ("%%gpt4o -o reply\n   \n", {}, "empty"),
        ("%%gpt4o -o reply\nlook at {nowhere}", {}, "no variable named"),
        ("%%gpt4o -o reply\nwhat is {obj}?", {"obj": Opaque()}, "no text form"),
        (
            "%%gpt4o -o reply\nlook at {data}",
            {"data": b"\x89PNG\r\n\x1a\n" + b"garbage"},
            "corrupt",
        ),
        ("%%gpt4o -o reply\nlook at {jpeg}", {"jpeg": truncated_jpeg()}, "corrupt or truncated"),
        ("%%gpt4o --temperature 7\nhi", {}, "--temperature"),
        ("%%gpt4o --max-tokens -1\nhi", {}, "--max-tokens"),
        ("%%gpt4o --detail huge\nhi", {}, "--detail"),
    ],
    ids=[
        "empty",
        "unknown-name",
        "no-text-form",
        "corrupt-png",
        "truncated-jpeg",
        "temperature",
        "max-tokens",
        "detail",
    ],
)
def test_bad_input_sends_nothing(ipy, router, capsys, source, namespace, phrase):
    ipy.user_ns.update(namespace)
    refused_locally(ipy, router, capsys, source, phrase)


def test_prompt_beyond_the_context_window_sends_nothing(ipy, router, capsys):
    ipy.user_ns["big"] = "The quick brown fox jumps over the lazy dog. " * 14_000
    line = refused_locally(ipy, router, capsys, "%%gpt4o -o reply\n{big}", "context window")
    # 630,000 characters of prose: about 140,000 GPT-4o tokens (157,500 by the byte rule);
    # the estimate is in the message
    numbers = [
        int(re.sub(r"[,_\u202f\u2009]", "", n))
        for n in re.findall(r"\d{1,3}(?:[,_\u202f\u2009]\d{3})+|\d+", line)
    ]
    assert any(130_000 <= n <= 160_000 for n in numbers), line


def test_a_huge_placeholder_is_named_with_what_to_do(ipy, router, capsys):
    ipy.user_ns["transcript"] = "word " * 120_000  # 600 kB: more than GPT-4o's window
    ipy.user_ns["who"] = "the board"
    line = refused_locally(
        ipy,
        router,
        capsys,
        "%%gpt4o\nSummarise {transcript} for {who}, in one line.",
        "context window",
        "{transcript} alone is 600,000 characters",
    )
    suggested = re.search(r"\{transcript\[:(\d+)\]\}", line)
    assert suggested, line
    # the advice works: the slice it suggests is sent and answered
    assert run(ipy, f"%%gpt4o\nSummarise {suggested[0]} for {{who}}, in one line.").success
    assert len(chat_requests(router)) == 1


def test_unknown_model_slug_sends_no_chat_request(ipy, router, capsys):
    result = run(ipy, "%%gpt4o -m nobody/nothing -o reply\nhello")
    captured = capsys.readouterr()
    assert not result.success
    line = one_usage_error(captured.err)
    assert "not a valid model" in line
    assert chat_requests(router) == []  # asking `/models` is fine


def test_a_100_megapixel_image_is_sent_bounded(ipy, router, capsys):
    ipy.user_ns["huge"] = Image.new("RGB", (12_500, 8_000), (200, 30, 30))
    result = run(ipy, "%%gpt4o -o reply\nWhat colour is {huge}?")
    captured = capsys.readouterr()
    assert result.success, captured.err
    [(width, height, _)] = sent_images(chat_requests(router)[-1].body["messages"][-1]["content"])
    assert max(width, height) <= 2048
    assert ipy.user_ns["reply"].outcome == "ok"
