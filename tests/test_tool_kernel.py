"""`--tools` in a real kernel: approvals by clicking the panel's buttons (the cell awaits on
the kernel's loop, so the click lands while it waits), and a front end that cannot ask
(nbclient: no stdin) denies at once instead of hanging."""

from __future__ import annotations

import time
from typing import Any

from notebook_support import click

SETUP = '''
%load_ext orjupyter
ran = []

def lookup(city: str) -> str:
    """The weather in a city."""
    ran.append(city)
    return f"{city}: 12 C"
'''


def run_quietly(client: Any, code: str, **options: Any) -> dict[str, Any]:
    reply = client.execute_interactive(code, timeout=60, output_hook=lambda msg: None, **options)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply


def value_of(client: Any, expression: str) -> str:
    reply = client.execute_interactive(
        "", timeout=30, output_hook=lambda msg: None, user_expressions={"x": expression}
    )
    return str(reply["content"]["user_expressions"]["x"]["data"]["text/plain"])


def buttons(client: Any, deadline: float, *, draw: bool = True) -> dict[str, str]:
    """Read iopub until the approval's three buttons have been opened: label → comm id.
    `draw`: render them as a browser does (its widget tells the kernel it was shown)."""
    found: dict[str, str] = {}
    while time.monotonic() < deadline and len(found) < 4:
        msg = client.get_iopub_msg(timeout=5)
        if msg["msg_type"] != "comm_open":
            continue
        state = msg["content"]["data"].get("state", {})
        if state.get("_model_name") == "ButtonModel" and state.get("description") in (
            "Approve",
            "Deny",
            "Approve all",
        ):
            found[state["description"]] = msg["content"]["comm_id"]
        elif "shown" in str(state.get("_esm", "")):
            found["shown"] = msg["content"]["comm_id"]
    assert len(found) == 4, f"the approval buttons never appeared: {found}"
    if draw:
        send(client, found["shown"], {"event": "shown"})
    return found


def send(client: Any, comm_id: str, content: dict[str, str]) -> None:
    """A widget's message from the front end, as the browser's widget manager sends it."""
    data = {"comm_id": comm_id, "data": {"method": "custom", "content": content}}
    client.shell_channel.send(client.session.msg("comm_msg", data))


def wait_idle(client: Any, msg_id: str) -> None:
    reply = client.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]


def test_approve_runs_the_call_and_deny_does_not(router, kernel):
    run_quietly(kernel, SETUP)
    cell = "%%gpt4o --tools lookup --approve -o r --no-cache\n[[fake call=lookup,lookup]] Go"
    msg_id = kernel.execute(cell)
    first = buttons(kernel, time.monotonic() + 30)
    click(kernel, first["Approve"])
    second = buttons(kernel, time.monotonic() + 30)
    click(kernel, second["Deny"])
    wait_idle(kernel, msg_id)
    assert value_of(kernel, "ran") == "['sample']"
    assert value_of(kernel, "[s.ok for s in r.steps]") == "[True, False]"
    assert "denied" in value_of(kernel, "r.steps[1].error")


def test_approve_all_approves_the_rest_of_the_cell(router, kernel):
    run_quietly(kernel, SETUP)
    cell = "%%gpt4o --tools lookup --approve -o r --no-cache\n[[fake call=lookup,lookup]] Go"
    msg_id = kernel.execute(cell)
    click(kernel, buttons(kernel, time.monotonic() + 30)["Approve all"])
    wait_idle(kernel, msg_id)
    assert value_of(kernel, "ran") == "['sample', 'sample']"


def test_a_front_end_that_cannot_ask_denies_and_never_hangs(router, kernel):
    run_quietly(kernel, SETUP)
    outputs: list[str] = []

    def keep(msg: dict[str, Any]) -> None:
        content = msg["content"]
        outputs.append(str(content.get("text") or content.get("data", {}).get("text/plain", "")))

    cell = "%%gpt4o --tools lookup --approve -o r\n[[fake call=lookup]] Go"
    reply = kernel.execute_interactive(cell, timeout=60, output_hook=keep, allow_stdin=False)
    assert reply["content"]["status"] == "ok"
    assert value_of(kernel, "ran") == "[]"
    assert "this front end cannot ask" in "".join(outputs)


def test_buttons_no_front_end_draws_are_asked_on_stdin_instead(router, kernel):
    run_quietly(kernel, SETUP)
    cell = "%%gpt4o --tools lookup --approve -o r --no-cache\n[[fake call=lookup]] Go"
    msg_id = kernel.execute(cell, allow_stdin=True)
    buttons(kernel, time.monotonic() + 30, draw=False)  # as jupyter console: never drawn
    request = kernel.get_stdin_msg(timeout=30)
    assert request["content"]["prompt"] == "Run lookup(city='sample')? [y]es, [n]o, [a]ll: "
    kernel.input("y")
    wait_idle(kernel, msg_id)
    assert value_of(kernel, "ran") == "['sample']"


def test_the_panels_status_line_says_which_call_runs_and_what_it_waits_for(router, kernel):
    run_quietly(kernel, SETUP)
    said: list[str] = []

    def keep(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "comm_msg":  # the live panel's refreshes carry its status
            value = msg["content"]["data"].get("content", {}).get("status")
            if isinstance(value, str):
                said.append(value)

    cell = "%%gpt4o --tools lookup --no-cache\n[[fake call=lookup]] Go"
    kernel.execute_interactive(cell, timeout=60, output_hook=keep)
    running = [n for n, v in enumerate(said) if "round 1 · running lookup(city='sample')…" in v]
    waiting = [
        n
        for n, v in enumerate(said)
        if "round 2 · waiting for the model's answer to 1 result…" in v
    ]
    assert running, said
    assert waiting, said
    assert running[0] < waiting[0]
