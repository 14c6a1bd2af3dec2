"""A hostile server (orjupyter.fakerouter.hostile) against a real IPython shell: the key
never echoes, no bill breaks a notebook, no wrong answer looks right, and a terminal never
receives a control sequence."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from notebook_support import loaded_shell, point_at

from orjupyter.core.domain import format_cost
from orjupyter.fakerouter.hostile import HostileRouter

HOSTILE_KEY = "weird-Shape_0123456789-ABCDEFGHIJ-zyxwvu"
"""A key of no known shape: only the configured-key rule can hide it."""
FRAGMENTS = (HOSTILE_KEY, HOSTILE_KEY[6:30])
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [fragment for fragment in FRAGMENTS if fragment.encode() in data]


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileRouter]:
    with HostileRouter() as server:
        yield server


@pytest.fixture
def hostile(
    hostile_server: HostileRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> HostileRouter:
    hostile_server.requests.clear()
    point_at(monkeypatch, tmp_path, hostile_server.base_url, HOSTILE_KEY)
    return hostile_server


@pytest.fixture
def ip(hostile: HostileRouter) -> Iterator[object]:
    yield from loaded_shell()


def run(shell, source: str):
    return shell.run_cell(source, store_history=True)


def ledger_rows(tmp_path: Path) -> list[tuple]:
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        return conn.execute("SELECT outcome, error, cost, cost_is_estimate FROM calls").fetchall()


def cached_answers(tmp_path: Path) -> list[str]:
    """The entries of the test's answer cache (none: no file yet)."""
    path = tmp_path / "cache" / "answers.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        found = [row[0] for row in db.execute("SELECT entry FROM answers")]
    db.close()
    return found


def disk_leaks(tmp_path: Path) -> list[str]:
    """The ledger, its WAL and the cache, byte for byte."""
    found = []
    for path in tmp_path.rglob("*"):
        if path.is_file():
            found += [f"{path.name}: {hit}" for hit in leaks(path.read_bytes())]
    return found


# --- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("directive", ["reflect", "reflect bare", "reflect=403"])
def test_a_server_that_reflects_the_key_never_shows_or_stores_it(
    ip, hostile, tmp_path, capsys, directive
):
    result = run(ip, f"%%gpt4o -o reply\n[[hostile {directive}]]")
    message = str(result.error_in_exec)
    assert "Invalid credentials for Authorization" in message  # the server's words stay
    assert "<key hidden>" in message
    reply = ip.user_ns["reply"]
    assert reply.outcome == "error"
    seen = capsys.readouterr()
    assert not leaks(message + repr(reply) + str(reply.error) + seen.out + seen.err)
    assert ledger_rows(tmp_path)[-1][0] == "error"
    assert (tmp_path / "ledger.sqlite-wal").stat().st_size > 0  # the WAL is read too
    assert not disk_leaks(tmp_path)


def test_a_mid_stream_error_reflecting_the_key_keeps_the_text_not_the_key(ip, hostile, tmp_path):
    result = run(ip, "%%gpt4o -o reply\n[[hostile reflect_midstream]]")
    reply = ip.user_ns["reply"]
    assert reply.text == "Partial "
    assert "upstream rejected Bearer <key hidden>" in str(result.error_in_exec)
    assert not leaks(str(result.error_in_exec) + str(reply.error))
    assert not disk_leaks(tmp_path)


@pytest.mark.parametrize("directive", ["echo_key", "echo_key split", "echo_key envelope"])
def test_a_key_echoed_in_the_answer_is_hidden_before_it_is_shown_or_cached(
    ip, hostile, tmp_path, capsys, directive
):
    assert run(ip, f"%%gpt4o -o reply\n[[hostile {directive}]]").success
    reply = ip.user_ns["reply"]
    assert "Your key is <key hidden>" in reply.text
    assert not leaks(reply.text + capsys.readouterr().out + repr(reply))
    assert not leaks(f"{reply.model} {reply.id} {reply.provider} {reply.finish_reason}")
    assert cached_answers(tmp_path)  # cached, without the key
    assert not disk_leaks(tmp_path)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"Invalid credentials for Authorization: Bearer {HOSTILE_KEY} (401)",
         "Invalid credentials for Authorization: <key hidden> (401)"),
        (f"bad key {HOSTILE_KEY[3:35]} (cut)", "bad key <key hidden> (cut)"),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', '{"authorization": "<key hidden>"}'),
        ("x-api-key=abc123", "x-api-key=<key hidden>"),
        ("sk-or-v1-abcdef123456 rejected", "<key hidden> rejected"),
        ("Model not found", "Model not found"),
    ],
)  # fmt: skip
def test_server_messages_lose_every_credential(text, shown):
    from orjupyter.core.redact import redact

    assert redact(text, (HOSTILE_KEY,)) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('headers = {"Authorization": f"Bearer {api_key}"}',) * 2,
        ('curl -H "Authorization: Bearer $OPENROUTER_API_KEY"',) * 2,
        ("Authorization: Bearer YOUR_API_KEY",) * 2,
        ("Bearer sk-or-v1-0123456789abcdef0123456789", "Bearer <key hidden>"),
        (f"Your key is {HOSTILE_KEY}.", "Your key is <key hidden>."),
    ],
)  # fmt: skip
def test_an_answer_keeps_code_examples_but_not_credentials(text, shown):
    from orjupyter.core.redact import redact_answer

    assert redact_answer(text, (HOSTILE_KEY,)) == shown


def test_cache_files_and_csv_export_are_private(ip, hostile, tmp_path):
    assert run(ip, "%%gpt4o\nAnything").success
    assert len(cached_answers(tmp_path)) == 1
    files = [path for path in (tmp_path / "cache").iterdir()]
    assert "answers.sqlite" in {path.name for path in files}
    for path in files:  # the file, and SQLite's -wal and -shm beside it
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    target = tmp_path / "calls.csv"
    assert run(ip, f"%gpt4o usage --csv {target}").success
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    # a second export never overwrites the first
    result = run(ip, f"%gpt4o usage --csv {target}")
    assert "already exists" in str(result.error_in_exec)
    assert target.read_text().count("\n") == 2


# --- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "numbers",
    ["cost=1e27", "cost=NaN", "cost=Infinity", "cost=-5", "prompt_tokens=-3", "cost=true"],
)
def test_an_impossible_bill_is_not_believed_and_the_notebook_keeps_working(
    ip, hostile, tmp_path, capsys, numbers
):
    assert run(ip, f"%%gpt4o -o reply\n[[hostile {numbers}]]").success
    reply = ip.user_ns["reply"]
    assert reply.text == "A fine answer."
    assert reply.usage.cost_is_estimate
    assert reply.usage.cost.is_finite()
    assert 0 <= reply.usage.cost < 1
    assert reply.usage.prompt_tokens >= 0
    seen = capsys.readouterr()
    assert "impossible usage" in seen.err
    assert "not believed" in seen.err
    # the next call, the dashboard and the budget all still work
    assert run(ip, "%%gpt4o -o reply\nAgain").success
    assert run(ip, "%gpt4o usage").success
    assert run(ip, "%gpt4o budget").success
    assert all(Decimal(row[2]) < 1 for row in ledger_rows(tmp_path))


def test_money_is_formatted_at_any_size():
    assert format_cost(Decimal("1e27")) == "$1.000e+27"
    assert format_cost(Decimal("NaN")) == "$?"
    assert format_cost(Decimal("0.0002725")) == "$0.0002725"


def test_a_ledger_that_already_holds_an_absurd_cost_still_works(ip, hostile, tmp_path, capsys):
    from orjupyter.core.domain import Usage
    from orjupyter.store.ledger import CallRecord, Ledger

    assert run(ip, "%%gpt4o\nFirst").success
    notebook = ip.magics_manager.registry["OrJupyterMagics"].notebook().key
    with Ledger(tmp_path / "ledger.sqlite") as ledger:  # as an older version stored it
        ledger.record(CallRecord(notebook, "[1]", "m", "g", Usage(1, 2, Decimal("1e27")), "ok"))
    assert run(ip, "%gpt4o usage").success
    assert run(ip, "%gpt4o budget").success
    assert run(ip, "%%gpt4o -o reply\nSecond").success
    assert "$1.000e+27" in capsys.readouterr().out
    result = run(ip, "%gpt4o budget 5")  # set, then refused: it is spent already
    assert result.success
    refused = run(ip, "%%gpt4o\nThird")
    assert str(refused.error_in_exec).startswith("refused (nothing was sent)")


def test_credits_never_show_a_reflected_key(ip, hostile, capsys):
    assert run(ip, "%gpt4o credits").success
    out = capsys.readouterr().out
    assert "key for Bearer <key hidden>" in out
    assert not leaks(out)


def test_a_huge_budget_is_refused_in_one_line(ip, hostile):
    result = run(ip, "%gpt4o budget 1e30")
    assert "is more than the largest budget" in str(result.error_in_exec)
    assert "%gpt4o budget off" in str(result.error_in_exec)


def test_broken_prices_do_not_break_the_model_list(ip, hostile, capsys):
    assert run(ip, "%gpt4o models hostile").success
    out = capsys.readouterr().out
    for slug in ("hostile/nan", "hostile/huge", "hostile/router", "hostile/number-nan"):
        assert slug in out
    assert run(ip, "%%gpt4o -m hostile/huge -o reply\nHi").success  # no budget: it goes


@pytest.mark.parametrize("model", ["hostile/router", "hostile/nan", "hostile/huge"])
def test_under_a_budget_a_call_with_an_unknown_price_is_refused_before_sending(ip, hostile, model):
    assert run(ip, "%gpt4o budget 0.01").success
    before = len(hostile.requests)
    result = run(ip, f"%%gpt4o -m {model}\nHi")
    message = str(result.error_in_exec)
    assert message.startswith("refused (nothing was sent)")
    assert "price is unknown" in message
    assert len(hostile.requests) == before


def test_a_corrupt_ledger_never_loses_the_answer(ip, hostile, tmp_path, capsys):
    from orjupyter.core.domain import Usage
    from orjupyter.store.ledger import CallRecord, Ledger

    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        for _ in range(300):
            usage = Usage(1, 2, Decimal("0.01"))
            ledger.record(CallRecord("nb", "[1]", "m", "g", usage, "ok", prompt="p" * 300))
    size = path.stat().st_size
    with path.open("r+b") as file:  # keep page 1 (the header opens), break every other
        for page in range(2, size // 4096):
            file.seek(page * 4096)
            file.write(b"\xde\xad\xbe\xef" * 1024)
    assert run(ip, "%%gpt4o -o reply\nFirst").success
    assert run(ip, "%%gpt4o -o second\nSecond").success
    assert ip.user_ns["reply"].text == "A fine answer."
    assert ip.user_ns["second"].text == "A fine answer."
    err = capsys.readouterr().err
    assert err.count("malformed") == 1  # one warning, saying how to repair or move it
    assert ".recover" in err
    assert "ORJUPYTER_LEDGER" in err
    side = Path(f"{path}.unrecorded.jsonl")
    assert len(side.read_text().splitlines()) == 2
    assert stat.S_IMODE(side.stat().st_mode) == 0o600


# --- wrong responses that look right ---------------------------------------------------


@pytest.mark.parametrize(
    ("directive", "named"),
    [
        ("html200", "an HTML page titled 'Hotel WiFi login'"),
        ("redirect", "a JSON page (application/json) that is not a chat completion after a "
         "redirect to http://127.0.0.1"),
        ("noblank", "ended without one event that could be read"),
        ("bad_utf8", "not valid UTF-8"),
        ("huge=5", "more text than any model answers with"),
    ],
)  # fmt: skip
def test_a_wrong_response_is_an_error_naming_what_came_back(
    ip, hostile, tmp_path, directive, named
):
    result = run(ip, f"%%gpt4o -o reply\n[[hostile {directive}]]")
    assert named in str(result.error_in_exec)
    assert ip.user_ns["reply"].outcome == "error"
    assert ledger_rows(tmp_path)[-1][0] == "error"
    assert not cached_answers(tmp_path)


def test_a_non_streamed_json_completion_is_shown_as_it_is(ip, hostile):
    assert run(ip, "%%gpt4o -o reply\n[[hostile json200]]").success
    reply = ip.user_ns["reply"]
    assert (reply.text, reply.outcome, reply.usage.cost) == (
        "Answered all at once.",
        "ok",
        Decimal("0.0001"),
    )


def test_a_stream_that_ends_early_says_so_keeps_the_text_and_is_never_cached(
    ip, hostile, tmp_path, capsys
):
    assert run(ip, "%%gpt4o -o reply\n[[hostile truncated]]").success  # the text is kept
    reply = ip.user_ns["reply"]
    assert reply.text == "The first half of an answer, and then"
    assert reply.outcome == "incomplete"
    out = capsys.readouterr().out
    assert "incomplete answer: the stream ended before the model finished" in out
    assert ledger_rows(tmp_path)[-1][0] != "ok"
    asked = len(hostile.requests)
    assert run(ip, "%%gpt4o -o reply\n[[hostile truncated]]").success
    assert len(hostile.requests) == asked + 1  # asked again: nothing was cached
    assert not ip.user_ns["reply"].cached


def test_an_answer_cut_at_max_tokens_says_so_and_is_not_cached(ip, hostile, tmp_path, capsys):
    assert run(ip, "%%gpt4o -o reply --max-tokens 5\n[[hostile length]]").success
    reply = ip.user_ns["reply"]
    assert reply.finish_reason == "length"
    assert "hit max_tokens" in capsys.readouterr().out
    assert not cached_answers(tmp_path)


def test_the_timeout_holds_for_headers_that_trickle_in(ip, hostile):
    run(ip, "%config OrJupyter.timeout = 1.5")
    try:
        result = run(ip, "%%gpt4o -o reply\n[[hostile slow_headers=0.3]]")
    finally:
        run(ip, "%config OrJupyter.timeout = 600.0")
    assert "no complete response from" in str(result.error_in_exec)
    assert "within 1.5 s" in str(result.error_in_exec)


# --- terminals and the user's namespace -------------------------------------------------


def test_printable_text_keeps_newlines_tabs_and_every_script():
    from orjupyter.core.terminal import printable
    from orjupyter.fakerouter.hostile import ESCAPES

    assert printable("a\tb\r\nc é 中 🙂") == "a\tb\nc é 中 🙂"
    assert printable(ESCAPES) == (
        "clear screen,  title,  clipboard, link hyperlink, bell and  C1 end."
    )


def test_a_terminal_never_receives_control_sequences(hostile, tmp_path):
    """Terminal IPython, typed at its prompt: the streamed answer, the usage line and the
    displayed reply reach the terminal without one control sequence."""
    typed = "%gpt4o -o reply [[hostile escapes]] Say it\nreply\nexit\n"
    result = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", "--simple-prompt",
         "--ext=orjupyter"],
        input=typed.encode(), capture_output=True, timeout=60, check=False, env=os.environ.copy(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    cleaned = b"clear screen,  title,  clipboard, link hyperlink, bell and  C1 end."
    assert out.count(cleaned) == 2  # streamed, then displayed as `reply`
    assert b"completion tokens" in out  # the usage line
    for control in (b"\x1b", b"\x07", b"\xc2\x9b", b"\r"):
        assert control not in out


def test_an_alias_never_shadows_a_magic_unless_forced(ip, hostile):
    result = run(ip, "%gpt4o alias time openai/gpt-4o-mini")
    assert "%time is already a magic" in str(result.error_in_exec)
    assert "--force" in str(result.error_in_exec)
    assert run(ip, "%time 1 + 1").success
    assert "%gpt4o is already a magic" in str(run(ip, "%gpt4o alias gpt4o x/y").error_in_exec)
    assert run(ip, "%gpt4o alias mini openai/gpt-4o-mini").success
    assert run(ip, "%gpt4o alias mini openai/gpt-4o").success  # our own alias: re-pointed
    assert run(ip, "%gpt4o alias time openai/gpt-4o-mini --force").success
    ip.magics_manager.magics["line"].pop("time", None)  # the shell is shared by the tests
    ip.magics_manager.magics["cell"].pop("time", None)
    ip.register_magics(__import__("IPython").core.magics.ExecutionMagics)


@pytest.mark.parametrize("name", ["__builtins__", "_", "In", "_i3", "get_ipython"])
def test_output_names_ipython_relies_on_are_refused(ip, hostile, name):
    before = ip.user_ns.get(name)
    result = run(ip, f"%%gpt4o -o {name}\nHi")
    assert "a name IPython relies on" in str(result.error_in_exec)
    assert ip.user_ns.get(name) is before
    assert not hostile.requests


def test_a_fifo_or_a_huge_file_placeholder_is_refused_at_once(ip, hostile, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    ip.user_ns["fifo"] = fifo
    result = run(ip, "%%gpt4o\nLook at {fifo}")
    assert "is not a regular file" in str(result.error_in_exec)
    huge = tmp_path / "huge.png"
    with huge.open("wb") as sparse:  # 300 MB of nothing, on no disk
        sparse.truncate(300 * 2**20)
    ip.user_ns["huge"] = huge
    result = run(ip, "%%gpt4o\nLook at {huge}")
    assert "too large for an image file" in str(result.error_in_exec)
    assert not hostile.requests


def test_a_deeply_nested_cache_entry_is_a_miss(ip, hostile, tmp_path):
    assert run(ip, "%%gpt4o -o reply\nNested").success
    with sqlite3.connect(tmp_path / "cache" / "answers.sqlite") as db:
        db.execute("UPDATE answers SET entry = ?", ("[" * 100_000 + "]" * 100_000,))
    db.close()
    assert run(ip, "%%gpt4o -o reply\nNested").success
    assert not ip.user_ns["reply"].cached
    assert len(hostile.requests) == 2


# --- a real kernel, a saved notebook -------------------------------------------------------


def dumped(obj: object) -> str:
    import json

    return json.dumps(obj, default=str)


def test_the_live_status_line_never_holds_a_reflected_key(hostile):
    import json

    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    messages: list[dict] = []
    try:
        for code in (
            "%load_ext orjupyter",
            "%config OrJupyter.max_retries = 2",
            "%%gpt4o -o reply\n[[hostile reflect=429]]",
        ):
            client.execute_interactive(code, timeout=120, output_hook=messages.append)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    statuses = [
        m["content"]["data"]["content"]["status"]
        for m in messages
        if m["msg_type"] == "comm_msg" and "status" in m["content"]["data"].get("content", {})
    ]
    assert any("retrying in" in status for status in statuses), statuses
    assert leaks(json.dumps(messages, default=str)) == []


def test_a_saved_notebook_never_holds_a_reflected_key(hostile, tmp_path):
    import json

    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    csv = tmp_path / "calls.csv"
    sources = [
        "%load_ext orjupyter",
        "%config OrJupyter.max_retries = 2",
        "%%gpt4o -o reply\n[[hostile reflect=429]]",  # retried: the "retrying…" line
        "%%gpt4o -o reply\n[[hostile reflect]]",
        "%%gpt4o -o reply\n[[hostile reflect bare]]",
        "%%gpt4o -o reply\n[[hostile reflect_midstream]]",
        "%%gpt4o -o reply\n[[hostile echo_key split]]",
        "reply",
        "repr(reply)",
        "%%gpt4o --bg -o pending\n[[hostile reflect]]",
        "try:\n    pending.wait()\nexcept Exception as exc:\n    print(exc)\nrepr(pending)",
        "%%gpt4o -o cut\n[[hostile truncated]]",
        "%%gpt4o\n[[hostile escapes]]",  # text/plain is what `jupyter console` prints
        "print(cut.outcome, repr(cut.error))",
        "%gpt4o usage",
        f"%gpt4o usage --csv {csv}",
    ]
    notebook = new_notebook(
        cells=[new_code_cell(source) for source in sources],
        metadata={"kernelspec": KERNELSPEC},
    )  # fmt: skip
    log = tmp_path / "kernel.log"
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )  # fmt: skip
    with log.open("wb") as sink:
        client.execute(stdout=sink, stderr=sink)
    path = tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)
    saved = path.read_text()
    # it really ran against the hostile server, which really reflected the key
    assert len(hostile.requests) >= 8
    assert saved.count("<key hidden>") >= 5
    retried = [r for r in hostile.requests if "reflect=429" in json.dumps(r)]
    assert len(retried) == 3  # asked, then retried twice (the live status line said so)
    assert "incomplete answer" in saved
    assert "Your key is <key hidden>" in saved
    # …and the key is nowhere: notebook (outputs and widget state), log, ledger, WAL, CSV
    assert leaks(saved) == []
    assert leaks(json.dumps(notebook.metadata)) == []
    escapes = notebook.cells[sources.index("%%gpt4o\n[[hostile escapes]]")].outputs
    assert "clipboard, link hyperlink" in dumped(escapes)
    assert "\\u001b" not in dumped(escapes)
    assert "\\u0007" not in dumped(escapes)
    assert leaks(log.read_bytes()) == []
    assert csv.exists()
    assert leaks(csv.read_bytes()) == []
    assert disk_leaks(tmp_path) == []


def test_an_interrupt_ends_a_slow_placeholder_or_a_silent_server_at_once(router):
    """A placeholder whose `__str__` takes two minutes, and a server that sends nothing for
    a minute: the kernel interrupt ends each cell (the reply arrives well within the 30 s
    wait below) and the kernel answers the next cell."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        setup = (
            "%load_ext orjupyter\nimport time\nclass Slow:\n    def __str__(self):\n"
            "        time.sleep(120)\n        return 'slow'\nslow = Slow()"
        )
        assert client.execute_interactive(setup, timeout=60)["content"]["status"] == "ok"
        for cell in ("%%gpt4o\nWhat is {slow}?", "%%gpt4o\n[[fake first_delay=60]]"):
            msg_id = client.execute(cell)
            while client.get_iopub_msg(timeout=30)["content"].get("execution_state") != "busy":
                pass
            time.sleep(1.0)  # the cell is under way
            manager.interrupt_kernel()
            reply = client.get_shell_msg(timeout=30)  # raises if the interrupt did not land
            assert reply["parent_header"]["msg_id"] == msg_id
            after = client.execute_interactive("6 * 7", timeout=30)
            assert after["content"]["status"] == "ok"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_ten_megabyte_cell_is_refused_in_one_line(ip, hostile):
    ip.user_ns["huge"] = "word " * 2_000_000
    result = run(ip, "%%gpt4o\n{huge}")
    message = str(result.error_in_exec)
    assert "more than openai/gpt-4o-2024-11-20's context window" in message
    assert "nothing was sent" in message
    assert not hostile.requests


def test_a_ledger_that_cannot_be_opened_warns_once_and_answers(ip, hostile, monkeypatch, capsys):
    monkeypatch.setenv("ORJUPYTER_LEDGER", "/proc/no-such-dir/ledger.sqlite")
    ip.run_line_magic("unload_ext", "orjupyter")
    ip.run_line_magic("load_ext", "orjupyter")
    for question in ("One", "Two", "Three"):
        assert run(ip, f"%%gpt4o -o reply\n{question}").success
        assert ip.user_ns["reply"].text == "A fine answer."
    err = capsys.readouterr().err
    assert err.count("cannot open the ledger") == 1
    assert err.count("orjupyter:") <= 2  # and at most one line about the rows
