"""`--bg` in jupyter console: the answer arrives after its cell has ended, and a console
applies no display update and draws no widget, so the answer is printed as a new output
of the cell that asked (once); a notebook front end gets it in place of the live panel
only. jupyter console reads the kernel's messages while one of its cells runs (or on
Enter), and prints the outputs of its own cells: new outputs' and results' text/plain,
and what was printed."""

from __future__ import annotations

import base64
import io
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import pexpect

from orjupyter.fakerouter import FakeRouter

ANSWER = "The answer from the background, in plain words."
ASKED = f"[[fake reply_b64={base64.b64encode(ANSWER.encode()).decode()}]] Tell me in the background"
USAGE_LINE = re.compile(r"\d+ prompt \+ \d+ completion tokens · \$[\d.]+ · folder total")


def read_until(client: Any, done: Callable[[dict], bool], seen: list[dict]) -> None:
    """Read the kernel's outputs into `seen` until one makes `done` true."""
    while True:
        message = client.get_iopub_msg(timeout=60)
        seen.append(message)
        if done(message):
            return


def idle_after(msg_id: str) -> Callable[[dict], bool]:
    def idle(message: dict) -> bool:
        return (
            message["msg_type"] == "status"
            and message["content"]["execution_state"] == "idle"
            and message["parent_header"].get("msg_id") == msg_id
        )

    return idle


def the_answer_updated(message: dict) -> bool:
    """The live panel replaced by the final answer (what a notebook applies)."""
    data = message["content"].get("data", {})
    return message["msg_type"] == "update_display_data" and ANSWER in data.get("text/plain", "")


def printed(client: Any, seen: list[dict]) -> str:
    """What jupyter console prints of these messages: those of its own session's cells."""
    own = [m for m in seen if m["parent_header"].get("session") == client.session.session]
    shown = []
    for message in own:
        if message["msg_type"] in {"display_data", "execute_result"}:
            shown.append(message["content"]["data"].get("text/plain", ""))
        elif message["msg_type"] == "stream":
            shown.append(message["content"]["text"])
    return "\n".join(shown)


def run_bg_cell(client: Any, metadata: dict[str, str]) -> list[dict]:
    """Run a `--bg` cell as a front end sending `metadata` does (stdin allowed), wait for
    its answer to end, then run the next cell: every message the kernel sent meanwhile."""
    client.execute_interactive("%load_ext orjupyter", timeout=60)
    content = {"code": f"%%gpt4o --bg\n{ASKED}", "silent": False, "store_history": True,
               "user_expressions": {}, "allow_stdin": True, "stop_on_error": True}  # fmt: skip
    request = client.session.msg("execute_request", content, metadata=metadata)
    client.shell_channel.send(request)
    seen: list[dict] = []
    read_until(client, idle_after(request["header"]["msg_id"]), seen)  # the cell returned
    read_until(client, the_answer_updated, seen)  # …and the answer has ended since
    read_until(client, idle_after(client.execute("x = 1")), seen)
    return seen


def test_a_console_prints_a_background_answer_once_it_has_ended(
    router: FakeRouter, kernel: Any
) -> None:
    seen = run_bg_cell(kernel, metadata={})  # jupyter console names no cell
    shown = printed(kernel, seen)
    assert shown.count(ANSWER) == 1, shown
    assert len(USAGE_LINE.findall(shown)) == 1, shown
    assert "answering in the background; the answer is printed once it has ended" in shown


def test_a_notebook_gets_a_background_answer_in_place_of_its_panel_only(
    router: FakeRouter, kernel: Any
) -> None:
    # JupyterLab, Notebook 7 and VS Code name the cell; a browser that has not drawn the
    # live answer yet (a quick answer, or a JupyterLab without anywidget) still shows the
    # answer by the update, so a new output would be a second copy
    seen = run_bg_cell(kernel, metadata={"cellId": "a1b2c3"})
    answers = [m for m in seen if ANSWER in m["content"].get("data", {}).get("text/plain", "")]
    assert answers, "the answer never came"
    assert {m["msg_type"] for m in answers} == {"update_display_data"}  # in place, each time


# --- a person typing into jupyter console, in a terminal ----------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def prompt(number: int) -> str:
    """jupyter console's `In [n]:` prompt, coloured or not."""
    return rf"In \[(\x1b\[[0-9;]*m)*{number}(\x1b\[[0-9;]*m)*\]"


def test_jupyter_console_in_a_terminal_prints_the_background_answer_once(
    router: FakeRouter,
) -> None:
    screen = io.StringIO()
    console = pexpect.spawn(
        sys.executable, ["-m", "jupyter_console", "--kernel=python3"],
        encoding="utf-8", timeout=120, dimensions=(50, 300),
    )  # fmt: skip
    console.logfile_read = screen
    try:
        console.expect(prompt(1))
        console.sendline("%load_ext orjupyter")
        console.expect(prompt(2))
        console.sendline(f"%gpt4o --bg {ASKED}")
        console.expect(prompt(3))
        deadline = time.monotonic() + 60
        while ANSWER not in ANSI.sub("", screen.getvalue()):  # Enter until it is printed
            assert time.monotonic() < deadline, "the background answer was never printed"
            console.sendline("")
            console.expect(prompt(3))
        console.sendline("6 * 7")
        console.expect(prompt(4))
        console.sendline("exit")
        console.expect(pexpect.EOF)
    finally:
        console.close(force=True)
    seen = ANSI.sub("", screen.getvalue())
    assert seen.count(ANSWER) == 1, seen
    assert len(USAGE_LINE.findall(seen)) == 1, seen
    assert "the answer is printed once it has ended (press Enter or run a cell" in seen
    assert "42" in seen
