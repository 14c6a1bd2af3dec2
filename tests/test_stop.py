"""Stop: a click on the panel's Stop button ends a streaming answer in a real kernel.

The click is sent the way the panel's module sends it (a custom comm message on the
shell channel) while the `%%gpt4o` cell is still running.
"""

from __future__ import annotations

import time

from jupyter_client.manager import start_new_kernel
from notebook_support import is_live_panel, press_stop


def run_quietly(client, code: str) -> None:
    reply = client.execute_interactive(code, timeout=60, output_hook=lambda msg: None)
    assert reply["content"]["status"] == "ok", reply["content"]


def find_stop_button(client, deadline: float) -> tuple[str, list[dict]]:
    """Read iopub until the panel's Stop button has been opened."""
    seen: list[dict] = []
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=5)
        seen.append(msg)
        if msg["msg_type"] != "comm_open":
            continue
        state = msg["content"]["data"].get("state", {})
        if is_live_panel(state):
            return msg["content"]["comm_id"], seen
    raise AssertionError("the panel's Stop button never appeared")


def test_stop_click_ends_a_streaming_answer(router, kernel):
    run_quietly(kernel, "%load_ext orjupyter")
    started = time.monotonic()
    msg_id = kernel.execute("%%gpt4o -o reply\n[[fake words=400 delay=0.05]]")
    comm_id, _ = find_stop_button(kernel, started + 30)
    # let some text arrive, then click Stop as the browser would
    time.sleep(1.0)
    press_stop(kernel, comm_id)
    reply = kernel.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kernel.get_shell_msg(timeout=30)
    assert reply["content"]["status"] == "ok"
    # the server saw the client go away: the user stops paying
    time.sleep(0.3)
    gone = [e for e in router.events if e["event"] == "client_disconnected"]
    assert len(gone) == 1
    assert 0 < gone[0]["after_chunks"] < 400
    # the partial answer stays, marked stopped, with its cost (an estimate until the bill
    # arrives a moment later: tests/test_settle.py)
    outputs: list[dict] = []
    check = kernel.execute_interactive(
        "print(reply.outcome, len(reply.text.split()), reply.usage.cost_is_estimate,"
        " reply.usage.cost > 0)",
        timeout=30,
        output_hook=outputs.append,
    )
    assert check["content"]["status"] == "ok"
    printed = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    outcome, words, estimate, paid = printed.split()
    assert outcome == "stopped"
    assert 0 < int(words) < 400
    assert estimate in ("True", "False")
    assert paid == "True"


def streaming(router, seconds: float = 0.5) -> None:
    """Return once the answer has been streaming for about `seconds` (the kernel's first
    call imports the SDK first, which takes a while on a busy machine)."""
    deadline = time.monotonic() + 60
    while not router.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(seconds)


def test_kernel_interrupt_stops_gracefully(router):
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        run_quietly(client, "%load_ext orjupyter")
        msg_id = client.execute("%%gpt4o -o reply\n[[fake words=400 delay=0.05]]")
        streaming(router)
        manager.interrupt_kernel()  # the toolbar's ■, or I,I
        reply = client.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = client.get_shell_msg(timeout=30)
        assert reply["content"]["status"] == "ok"
        outputs: list[dict] = []
        client.execute_interactive(
            "print(reply.outcome, len(reply.text.split()))",
            timeout=30,
            output_hook=outputs.append,
        )
        printed = "".join(m["content"].get("text", "") for m in outputs)
        outcome, words = printed.split()
        assert outcome == "stopped"
        assert 0 < int(words) < 400
        time.sleep(0.3)
        assert [e["event"] for e in router.events].count("client_disconnected") == 1
        # the kernel keeps working: the next call succeeds
        run_quietly(client, "%%gpt4o -o again\nhello")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_call_stopped_before_its_response_is_an_estimate_not_a_free_call(
    monkeypatch, tmp_path
) -> None:
    """Stop lands while the response's headers are still on their way: the request reached
    the server (which may bill its prompt), so the ledger holds an estimate, marked as
    one, never an unmarked $0."""
    import sqlite3
    import threading

    from notebook_support import loaded_shell, point_at

    from orjupyter.fakerouter.hostile import HostileRouter

    with HostileRouter() as server:
        point_at(monkeypatch, tmp_path, server.base_url, "sk-or-v1-stop-test-key-0123456789")
        for shell in loaded_shell():
            magics = shell.magics_manager.registry["OrJupyterMagics"]

            def stop_once_sent(event) -> None:
                if event.kind != "started" or event.call is None:
                    return
                stopper = event.call.stopper

                def stop() -> None:
                    deadline = time.monotonic() + 10
                    while not server.requests and time.monotonic() < deadline:
                        time.sleep(0.02)
                    time.sleep(0.2)
                    stopper.stop()

                threading.Thread(target=stop, daemon=True).start()

            magics.session.activity.listen(stop_once_sent)
            result = shell.run_cell(
                "%%gpt4o -o reply\n[[hostile slow_headers=0.2]] " + "word " * 300
            )
            assert result.success
            reply = shell.user_ns["reply"]
    assert reply.outcome == "stopped"
    assert len(server.requests) == 1
    assert reply.usage.cost_is_estimate
    assert reply.usage.prompt_tokens > 300
    assert reply.usage.cost > 0
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        rows = conn.execute("SELECT outcome, cost, cost_is_estimate FROM calls").fetchall()
    conn.close()
    assert rows == [("stopped", str(reply.usage.cost), 1)]


def test_a_call_stopped_before_its_first_chunk_is_settled_with_the_servers_bill(
    router, tmp_path
) -> None:
    """The response's headers (and its generation id) came, no chunk yet: the estimate is
    replaced by what the server billed, as soon as `GET /generation` knows it."""
    import sqlite3
    import threading

    from notebook_support import loaded_shell

    for shell in loaded_shell():
        magics = shell.magics_manager.registry["OrJupyterMagics"]

        def stop_once_sent(event) -> None:
            if event.kind == "started" and event.call is not None:
                threading.Timer(1.0, event.call.stopper.stop).start()

        magics.session.activity.listen(stop_once_sent)
        result = shell.run_cell("%%gpt4o -o reply\n[[fake first_delay=30]] " + "word " * 300)
        assert result.success
        reply = shell.user_ns["reply"]
        assert reply.outcome == "stopped"
        assert reply.text == ""
        assert reply.usage.cost_is_estimate
        assert reply.id  # the header named the generation
        magics.session.settling[reply.id].result(timeout=30)
    (billed,) = [e for e in router.events if e["event"] == "client_disconnected"]
    assert billed["after_chunks"] == 0
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        rows = conn.execute("SELECT outcome, cost, cost_is_estimate FROM calls").fetchall()
    conn.close()
    (outcome, cost, estimate) = rows[0]
    assert (outcome, estimate) == ("stopped", 0)
    assert float(cost) > 0
