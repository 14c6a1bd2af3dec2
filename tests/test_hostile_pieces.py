"""A hostile server streaming the key a few characters at a time, in the answer and in the
reasoning: no view shows a piece of it while it streams, and nothing keeps one afterwards
(the reply, the cache, the ledger, the widget messages, the saved notebook, its HTML).
Also: a comparison in a terminal carries no control sequence, and live rendering re-renders
a bounded tail whatever the answer looks like."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest
from notebook_support import execute, loaded_shell, point_at

from orjupyter.core.domain import Reply, Totals, Usage
from orjupyter.core.settings import DEFAULT_MODEL
from orjupyter.fakerouter.hostile import ESCAPES, HostileRouter
from orjupyter.fakerouter.hostile_text import costly, key_in_pieces, split

KEY = "Zq7-PIECES_k3y9WmT4vR8xN2bL6hJ5wX"
"""A key of no known shape (not `sk-or-…`): only the configured-key rule can hide it."""
PIECES = (1, 3, 5, 13)


def fragments(key: str = KEY) -> list[str]:
    """Every run of 8 of the key's characters."""
    return [key[k : k + 8] for k in range(len(key) - 7)]


def leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [piece for piece in fragments() if piece.encode() in data]


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileRouter]:
    with HostileRouter() as server:
        yield server


@pytest.fixture
def hostile(
    hostile_server: HostileRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> HostileRouter:
    point_at(monkeypatch, tmp_path, hostile_server.base_url, KEY)
    return hostile_server


@pytest.fixture
def ip(hostile: HostileRouter) -> Iterator[object]:
    yield from loaded_shell()


def disk_leaks(tmp_path: Path) -> list[str]:
    return [
        f"{path.name}: {hit}"
        for path in tmp_path.rglob("*")
        if path.is_file()
        for hit in leaks(path.read_bytes())
    ]


# --- the redactor itself ---------------------------------------------------------------


def test_a_piece_of_8_or_more_of_the_keys_characters_is_hidden():
    from orjupyter.core.redact import redact, redact_answer

    piece = KEY[11:21]
    assert redact_answer(f"its middle is {piece}.", (KEY,)) == "its middle is <key hidden>."
    assert redact(f"bad key {piece}", (KEY,)) == "bad key <key hidden>"
    # a generic prefix alone is not a piece of the key; past it, 8 characters are
    openrouter = "sk-or-v1-" + "3f9a0c1d" * 8
    assert redact_answer("keys start sk-or-v1-…", (openrouter,)) == "keys start sk-or-v1-…"
    assert redact_answer(f"x {openrouter[:17]} y", (openrouter,)) == "x <key hidden> y"


@pytest.mark.parametrize("size", PIECES)
def test_a_streamed_key_is_hidden_before_any_of_it_is_released(size):
    from orjupyter.core.redact import StreamRedactor, redact_answer

    thought_pieces, answer_pieces = key_in_pieces(KEY, {"pieces": str(size), "think": "1"})
    for pieces in (thought_pieces, answer_pieces):
        redactor = StreamRedactor((KEY,))
        shown = ""
        for piece in pieces:
            shown += redactor.feed(piece)
            assert not leaks(shown), shown  # what a live view has at this moment
        shown += redactor.finish()
        whole = "".join(pieces)
        assert shown == redact_answer(whole, (KEY,))
        assert shown.count("<key hidden>") == 2
        assert not leaks(shown)


def test_a_stream_holds_back_only_a_tail_and_releases_it_at_the_end():
    from orjupyter.core.redact import _BATCH, StreamRedactor

    redactor = StreamRedactor((KEY,))
    text = "lorem ipsum " * 50
    shown = "".join(redactor.feed(piece) for piece in split(text, 5))
    # work per piece: the piece and a bounded tail (looked at again once a batch has come)
    assert redactor.pending <= max(64, len(KEY)) + _BATCH
    assert shown + redactor.finish() == text


# --- as a person sees it ---------------------------------------------------------------


@pytest.mark.parametrize("size", PIECES)
def test_a_terminal_never_shows_a_key_streamed_in_pieces(ip, hostile, tmp_path, capsys, size):
    cell = f"%%gpt4o --think -o reply\n[[hostile echo_key pieces={size} think]]"
    assert ip.run_cell(cell).success
    reply = ip.user_ns["reply"]
    out = capsys.readouterr().out
    assert out.startswith("Thinking: The request carries <key hidden>; I should not repeat")
    assert "Answer: Your key is <key hidden> indeed; its middle is <key hidden>, as I" in out
    assert reply.text.startswith("Your key is <key hidden> indeed; its middle is <key hidden>, as")
    assert reply.reasoning.count("<key hidden>") == 2
    assert not leaks(out + repr(reply) + reply.reasoning + reply.text)
    assert (tmp_path / "cache" / "answers.sqlite").exists()  # cached, without the key
    assert not disk_leaks(tmp_path)


def test_a_comparison_never_shows_a_key_in_pieces_or_writes_escapes(ip, hostile, capsys):
    models = f"{DEFAULT_MODEL},hostile/router"
    assert ip.run_cell(f"%gpt4o --compare {models} -o both [[hostile escapes]]").success
    out = capsys.readouterr().out
    assert "clear screen,  title,  clipboard, link hyperlink, bell and  C1 end." in out
    assert not any(c in out for c in "\x1b\x07\x9b\x9d")
    cell = f"%gpt4o --compare {models} --think -o both [[hostile echo_key pieces=3 think]]"
    assert ip.run_cell(cell).success
    out = capsys.readouterr().out
    assert out.count("Your key is <key hidden> indeed") == 2
    replies = ip.user_ns["both"].values()
    assert not leaks(out + "".join(r.reasoning + r.text for r in replies))


def test_a_comparisons_plain_text_has_no_control_sequences():
    from orjupyter.render.compare import comparison_bundle

    reply = Reply(
        text=ESCAPES, model=DEFAULT_MODEL, id="gen-1",
        usage=Usage(1, 1, Decimal("0.0001"), cost_is_estimate=False),
    )  # fmt: skip
    plain = comparison_bundle([reply, reply], Totals())[
        "text/plain"
    ]  # what `jupyter console` prints
    assert "clear screen,  title,  clipboard" in plain
    assert not any(c in plain for c in "\x1b\x07\x9b\x9d")


KERNEL_CELLS = [
    "%load_ext orjupyter",
    "%%gpt4o --think -o r\n[[hostile echo_key pieces=3 think delay=0.01]]",
    f"%%gpt4o --compare {DEFAULT_MODEL},hostile/router --think -o both\n"
    "[[hostile echo_key pieces=5 think delay=0.01]]",
    "print(r.text, '|', r.reasoning)",
]


def test_the_live_panel_and_its_columns_never_send_a_piece_of_the_key(hostile):
    """Every iopub message of the cells (the widgets' state as it streams included)."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    messages: list[dict] = []
    try:
        for source in KERNEL_CELLS:
            reply = client.execute_interactive(source, timeout=60, output_hook=messages.append)
            assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert not leaks(json.dumps(messages, default=str))
    sent = [m["content"]["data"] for m in messages if "comm" in m["msg_type"]]
    # the live views' text: the appends to each live answer (its reasoning included)
    live = "".join(
        delta.get("text", "") + delta.get("think", "")
        for delta in (data.get("content", {}) for data in sent)
    )
    assert "Your key is <key hidden>" in live  # the live views did show the answer
    assert "The request carries <key hidden>" in live  # and the reasoning


def test_the_saved_notebook_and_its_html_never_hold_a_piece_of_the_key(hostile, tmp_path):
    notebook = execute(tmp_path, *KERNEL_CELLS)
    path = tmp_path / "pieces.ipynb"
    nbformat.write(notebook, path)
    saved = path.read_text()
    assert "Thinking" in saved
    assert "Your key is &lt;key hidden&gt; indeed" in saved
    assert not leaks(saved)
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", str(path)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    page = path.with_suffix(".html").read_text()
    assert "Your key is &lt;key hidden&gt; indeed" in page
    assert not leaks(page)
    assert not disk_leaks(tmp_path)


# --- live rendering is bounded --------------------------------------------------------


@pytest.mark.parametrize("kind", ["brackets", "json", "stars", "backticks", "code"])
def test_each_refresh_re_renders_a_bounded_tail_whatever_the_answer(kind):
    """The panel's steps on each refresh: finished blocks out, a long paragraph cut, the
    rest capped; what is re-rendered never exceeds the cap, and nothing is lost."""
    from orjupyter.render.live import LONG_TAIL, TAIL_CAP
    from orjupyter.render.markdown import BlockSplitter, render_markdown

    if kind == "code":
        text = "```python\n" + "x = [1, 2]  # a comment\n" * 1000 + "```\n\nAfter.\n"
    else:
        text = "".join(costly({"costly": kind, "size": "100000"})[1])
    chunk = 512
    splitter = BlockSplitter()
    capped = []
    for end in range(chunk, len(text) + chunk, chunk):
        splitter.feed(text[:end])
        splitter.cut_paragraph(LONG_TAIL)
        capped.append(splitter.cap(TAIL_CAP) or "")
        assert len(splitter.source) <= TAIL_CAP + chunk + 20  # re-rendered on this refresh
    assert splitter.frozen_length + len(splitter.tail) == len(text)  # nothing lost
    assert any(capped) == (kind in ("brackets", "json", "code"))  # the others are cut cleanly
    if kind == "code":  # a code block cut in pieces stays code: no comment became a heading
        assert all(html.startswith('<pre class="orj-code">') for html in capped if html)
        assert "<h1" not in render_markdown(splitter.source)


def test_a_line_too_long_to_parse_is_shown_as_written():
    """Live, a tail that is one endless line is escaped text; finally, a paragraph over
    MAX_INLINE_CHARS is shown as written (its markup is not parsed: that can take
    seconds), and ordinary paragraphs keep their Markdown."""
    from orjupyter.render.live import LONG_TAIL
    from orjupyter.render.markdown import BlockSplitter, render_markdown
    from orjupyter.render.parser import MAX_INLINE_CHARS

    long = "*word* [link](https://example.org) " * (MAX_INLINE_CHARS // 30)
    shown = render_markdown(f"Short *one*.\n\n{long}")
    assert "<em>one</em>" in shown
    assert "<em>word</em>" not in shown
    assert "*word* [link](https://example.org)" in shown
    splitter = BlockSplitter()
    splitter.feed("[" * 3000)
    assert splitter.cut_paragraph(LONG_TAIL) is None
    assert splitter.tail_html(LONG_TAIL) == "<p>" + "[" * 3000 + "</p>"
