"""`--compare A,B,C` in real kernels against the local server."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from notebook_support import emptied, is_live_panel, press_stop
from test_stop import run_quietly

from orjupyter.fakerouter import FakeRouter

THREE = "openai/gpt-4o-mini,anthropic/claude-3.5-sonnet,meta-llama/llama-3.1-8b-instruct"


def execute(tmp_path: Path, *sources: str) -> nbformat.NotebookNode:
    notebook = new_notebook(
        cells=[new_code_cell(source) for source in sources],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()  # fmt: skip
    return notebook


def text(cell: nbformat.NotebookNode) -> str:
    return "".join(
        o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs
    )


def test_three_models_answer_at_once_side_by_side(router: FakeRouter, tmp_path: Path) -> None:
    notebook = execute(
        tmp_path,
        "%load_ext orjupyter",
        f"%%gpt4o --compare {THREE} -o cmp\nSay hello [[fake words=20 delay=0.05]]",
        "import json, orjupyter\n"
        "print(json.dumps({m: [r.outcome, r.provider, str(r.usage.cost), r.text] "
        "for m, r in cmp.items()}))\n"
        "print(orjupyter.usage().calls, orjupyter.usage().cost)",
    )
    first, second = text(notebook.cells[2]).splitlines()
    replies = json.loads(first)
    assert list(replies) == THREE.split(",")
    assert [r[1] for r in replies.values()] == ["OpenAI", "Anthropic", "DeepInfra"]
    assert {r[0] for r in replies.values()} == {"ok"}
    assert all(len(r[3].split()) == 20 for r in replies.values())
    billed = {r.body["model"]: r.generation_id for r in router.requests}
    assert set(billed) == set(THREE.split(","))
    calls, total = second.split()
    assert int(calls) == 3  # every call is a ledger row
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        runs = {row[0] for row in db.execute("SELECT run FROM calls")}
    db.close()
    (run,) = runs  # one run: `%gpt4o usage` shows the comparison as one line
    assert run.startswith("--compare ")
    assert float(total) == sum(float(u["cost"]) for u in router.billed())
    completed = [e["time"] for e in router.events if e["event"] == "completed"]
    assert max(r.received_at for r in router.requests) < min(completed)  # at the same time
    live, output = [o for o in notebook.cells[1].outputs if "data" in o]
    assert emptied(live["data"])  # the live columns leave nothing behind
    html = output["data"]["text/html"]
    assert html.count('<div class="orj-column">') == 3
    assert '<div class="orj-compare">' in html
    plain = output["data"]["text/plain"]
    cheapest = min(replies, key=lambda m: float(replies[m][2]))
    assert f"cheapest: {cheapest} (" in plain
    assert "fastest: " in plain
    for model, (_, provider, _, _) in replies.items():
        assert f"{model} · {provider} · $" in plain
        assert "first token" in plain
        assert "tokens/s" in plain


def test_the_budget_covers_the_sum(router: FakeRouter, tmp_path: Path) -> None:
    models = "openai/gpt-4o-2024-11-20,openai/gpt-4o-mini,openai/o4-mini"
    notebook = execute(
        tmp_path,
        "%load_ext orjupyter\n%gpt4o budget 0.004",
        "%gpt4o --max-tokens 300 Each alone fits",
        f"%gpt4o --compare {models} --max-tokens 300 -o cmp Together they do not",
        "print('cmp' in globals())",
    )
    refusal = text(notebook.cells[2])
    assert "budget" in refusal
    assert len(router.requests) == 1  # nothing of the comparison was sent
    assert text(notebook.cells[3]).strip() == "False"


def test_bad_compare_lines_are_one_line_each(router: FakeRouter, tmp_path: Path) -> None:
    notebook = execute(
        tmp_path,
        "%load_ext orjupyter",
        "%gpt4o --compare openai/gpt-4o-mini Just one",
        "%gpt4o --compare openai/gpt-4o-mini,anthropic/claude-3.5-sonnet --bg In the background",
        "%gpt4o --compare openai/gpt-4o-mini,nobody/nothing Unknown",
        f"%gpt4o --compare {THREE} --dry-run What would it cost",
    )
    assert "--compare takes 2 to 6 models" in text(notebook.cells[1])
    assert "cannot be combined with --bg" in text(notebook.cells[2])
    assert "not a valid model ID" in text(notebook.cells[3])
    dry = text(notebook.cells[4])
    assert dry.count("Dry run: nothing was sent.") == 3
    assert router.requests == []


def stop_buttons(client, deadline: float, count: int) -> list[str]:
    found: list[str] = []
    while time.monotonic() < deadline and len(found) < count:
        msg = client.get_iopub_msg(timeout=5)
        if msg["msg_type"] != "comm_open":
            continue
        state = msg["content"]["data"].get("state", {})
        if is_live_panel(state):
            found.append(msg["content"]["comm_id"])
    assert len(found) == count, "the comparison's Stop buttons never appeared"
    return found


def test_one_stop_stops_only_its_model(router: FakeRouter, kernel) -> None:
    run_quietly(kernel, "%load_ext orjupyter")
    msg_id = kernel.execute(f"%%gpt4o --compare {THREE} -o cmp\n[[fake words=120 delay=0.03]]")
    buttons = stop_buttons(kernel, time.monotonic() + 30, 3)
    deadline = time.monotonic() + 30
    while len(router.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # every stream has begun
    time.sleep(1.0)
    press_stop(kernel, buttons[1])
    reply = kernel.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kernel.get_shell_msg(timeout=60)
    assert reply["content"]["status"] == "ok", "\n".join(reply["content"].get("traceback", []))
    outputs: list[dict] = []
    kernel.execute_interactive(
        "import json; print(json.dumps({m: [r.outcome, len(r.text.split())]"
        " for m, r in cmp.items()}))",
        timeout=30,
        output_hook=outputs.append,
    )
    got = json.loads(
        "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    )
    mini, sonnet, llama = (got[m] for m in THREE.split(","))
    assert sonnet[0] == "stopped"
    assert 0 < sonnet[1] < 120
    assert mini == ["ok", 120]
    assert llama == ["ok", 120]
    gone = [e for e in router.events if e["event"] == "client_disconnected"]
    assert len(gone) == 1


def test_the_kernel_interrupt_stops_every_model(router: FakeRouter) -> None:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        run_quietly(client, "%load_ext orjupyter")
        msg_id = client.execute(f"%%gpt4o --compare {THREE} -o cmp\n[[fake words=300 delay=0.03]]")
        deadline = time.monotonic() + 30
        while len(router.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # every stream has begun
        time.sleep(0.5)
        manager.interrupt_kernel()
        reply = client.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = client.get_shell_msg(timeout=30)
        outputs: list[dict] = []
        client.execute_interactive(
            "import json; print(json.dumps(sorted(r.outcome for r in cmp.values())))",
            timeout=30,
            output_hook=outputs.append,
        )
        printed = "".join(
            m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream"
        )
        assert json.loads(printed) == ["stopped", "stopped", "stopped"]
        run_quietly(client, "%gpt4o again, briefly")  # the kernel keeps working
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_stopped_column_shows_stopped_and_its_bill_while_the_others_stream(
    router: FakeRouter, kernel
) -> None:
    run_quietly(kernel, "%load_ext orjupyter")
    msg_id = kernel.execute(f"%%gpt4o --compare {THREE} -o cmp\n[[fake words=300 delay=0.03]]")
    buttons = stop_buttons(kernel, time.monotonic() + 30, 3)
    deadline = time.monotonic() + 30
    while len(router.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # every stream has begun
    time.sleep(0.5)
    press_stop(kernel, buttons[0])
    seen: list[str] = []  # in the order the front end receives them
    while True:
        msg = kernel.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_msg" and content["data"].get("method") == "custom":
            told = content["data"]["content"]  # a column's news, as its module reads it
            if "stopped" in str(told.get("status", "")):
                seen.append(f"status: {told['status']}")
            if told.get("stop") == "Stopped":
                seen.append("button: Stopped")
        elif kind in ("display_data", "update_display_data") and "cheapest" in str(
            content["data"].get("text/plain", "")
        ):
            seen.append("the finished comparison")
        elif kind == "status" and content["execution_state"] == "idle":
            break
    status = next(line for line in seen if line.startswith("status: "))
    assert "openai/gpt-4o-mini" in status
    assert re.search(r" · ~?\$\d", status)  # its bill (an estimate until settled)
    assert seen.index(status) < seen.index("the finished comparison")
    assert seen.index("button: Stopped") < seen.index("the finished comparison")
