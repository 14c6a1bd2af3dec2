"""`--bg`: the cell returns at once, the answer streams on, `-o` can be waited on."""

from __future__ import annotations

import json
import time

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from notebook_support import is_live_panel, press_stop


def execute(client, code: str) -> tuple[dict, str]:
    outputs: list[dict] = []
    reply = client.execute_interactive(code, timeout=60, output_hook=outputs.append)
    printed = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    return reply["content"], printed


def test_bg_returns_at_once_and_other_cells_run_meanwhile(router, kernel):
    execute(kernel, "%load_ext orjupyter")
    reply, _ = execute(kernel, "%%gpt4o --bg -o r\n[[fake words=60 delay=0.05]]")
    assert reply["status"] == "ok"
    reply, printed = execute(kernel, "print(r.done(), 6 * 7)")
    assert printed.split() == ["False", "42"]  # another cell ran while it streamed
    reply, printed = execute(
        kernel, "print(r.wait().outcome, len(r.text.split()), type(r).__name__)"
    )
    assert printed.split()[:2] == ["ok", "60"]
    _, printed = execute(kernel, "print(type(r).__name__, r.usage.cost > 0)")
    assert printed.split() == ["Reply", "True"]


def test_bg_can_be_stopped(router, kernel):
    execute(kernel, "%load_ext orjupyter")
    msg_id = kernel.execute("%%gpt4o --bg -o r\n[[fake words=400 delay=0.05]]")
    comm_id = None
    while comm_id is None:
        msg = kernel.get_iopub_msg(timeout=10)
        state = msg["content"].get("data", {}).get("state", {})
        if msg["msg_type"] == "comm_open" and is_live_panel(state):
            comm_id = msg["content"]["comm_id"]
    while kernel.get_shell_msg(timeout=10)["parent_header"].get("msg_id") != msg_id:
        pass
    deadline = time.monotonic() + 60  # the first call imports the SDK: wait for the stream
    while not router.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    press_stop(kernel, comm_id)
    _, printed = execute(kernel, "print(r.wait().outcome, len(r.text.split()))")
    outcome, words = printed.split()
    assert outcome == "stopped"
    assert 0 < int(words) < 400
    time.sleep(0.3)
    assert [e["event"] for e in router.events].count("client_disconnected") == 1


def test_top_to_bottom_runs_wait_for_bg_results(router, tmp_path):
    notebook = new_notebook(
        cells=[
            new_code_cell("%load_ext orjupyter"),
            new_code_cell("%%gpt4o --bg -o first\n[[fake words=40 delay=0.02]]"),
            new_code_cell("%%gpt4o --bg -o second\nanother question"),
            new_code_cell(
                "import json\nprint(json.dumps({'first': len(first.text.split()),"
                " 'second': second.text.splitlines()[0]}))"
            ),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    facts = json.loads(notebook.cells[3].outputs[0]["text"])
    assert facts == {"first": 40, "second": "I received 1 part:"}
    path = tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)
    # the background answers were persisted in the cells that asked
    first_outputs = nbformat.read(path, as_version=4).cells[1].outputs
    texts = [o.get("data", {}).get("text/plain", "") for o in first_outputs]
    assert any("lorem" in text and "completion tokens" in text for text in texts)


def test_a_finished_bg_answer_is_saved_by_the_next_cell(router, tmp_path):
    notebook = new_notebook(
        cells=[
            new_code_cell("%load_ext orjupyter"),
            new_code_cell("%%gpt4o --bg -o quick\nshort question"),
            new_code_cell("import time\nwhile not quick.done():\n    time.sleep(0.05)"),  # it ends
            new_code_cell("print(type(quick).__name__)"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    assert notebook.cells[3].outputs[0]["text"] == "Reply\n"
    # one copy of the answer in the whole notebook, in the cell that asked, with its usage
    copies = [
        (index, output.get("data", {}).get("text/plain", ""))
        for index, cell in enumerate(notebook.cells)
        for output in cell.outputs
        if "I received 1 part" in str(output)
    ]
    assert [index for index, _ in copies] == [1], copies
    assert "completion tokens" in copies[0][1]


def test_bg_failures_surface_when_waited_for(router, kernel):
    execute(kernel, "%load_ext orjupyter")
    execute(kernel, "%config OrJupyter.max_retries = 0")
    reply, _ = execute(kernel, "%%gpt4o --bg -o r\n[[fake status=402]]")
    assert reply["status"] == "ok"
    reply, _ = execute(kernel, "r.wait()")
    assert reply["status"] == "error"
    assert reply["ename"] == "UsageError"
    assert "Insufficient credits" in reply["evalue"]


def test_a_finished_reply_answers_the_waiting_api_too(shell, router):
    assert shell.run_cell("%%gpt4o -o r\nhello").success
    reply = shell.user_ns["r"]
    assert reply.done()
    assert reply.wait() is reply
    assert shell.run_cell("import asyncio\nsame = await r").success
    assert shell.user_ns["same"] is reply
