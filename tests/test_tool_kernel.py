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


def buttons(client: Any, deadline: float) -> dict[str, str]:
    """Read iopub until the approval's three buttons have been opened: label → comm id."""
    found: dict[str, str] = {}
    while time.monotonic() < deadline and len(found) < 3:
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
    assert len(found) == 3, f"the approval buttons never appeared: {found}"
    return found


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
