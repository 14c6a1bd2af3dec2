"""Plain `ipython` in a terminal: the answer streams as text, then the usage line."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from notebook_support import TERMINAL_IPYTHON, typed_into_ipython


def test_plain_ipython_streams_text_and_prints_usage(router, tmp_path):
    script = tmp_path / "ask.ipy"
    script.write_text("%%gpt4o -o reply\nDescribe {{this}} please.\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "IPython",
            "--no-banner",
            "--colors=nocolor",
            "--ext=orjupyter",
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "I received 1 part:\n- text: 23 characters" in result.stdout
    assert "prompt + " in result.stdout
    assert "ask.ipy total" in result.stdout  # the script's own calls, not a notebook's
    assert "notebook" not in result.stdout
    assert router.requests[-1].body["messages"][-1]["content"] == "Describe {this} please."


def test_an_interactive_terminal_session_names_its_own_total_and_budget(router):
    typed = (
        "%gpt4o budget 0.50\n%gpt4o Hello there\n%gpt4o budget\n"
        "%gpt4o --compare openai/gpt-4o-mini,anthropic/claude-3.5-sonnet Hi\nexit\n"
    )
    result = typed_into_ipython(typed)
    assert result.returncode == 0, result.stderr
    said = result.stdout
    assert "Budget for this IPython session: $0.50; spent $0.00." in said
    assert "session total" in said
    assert "cheapest: " in said  # the comparison names the total as the session's too
    assert "notebook" not in said
    assert "path unknown" not in said


def test_ctrl_c_in_terminal_ipython_stops_a_cell_and_keeps_what_arrived(router):
    """Ctrl+C (SIGINT) while a typed `%%gpt4o` cell streams: the partial answer stays in
    `-o`, marked stopped, and the next cell runs; no traceback."""
    process = subprocess.Popen(
        TERMINAL_IPYTHON,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write("%%gpt4o -o reply\n[[fake words=400 delay=0.05]] go\n\n\n")
    process.stdin.flush()
    deadline = time.monotonic() + 60
    while not router.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # some words on the way
    process.send_signal(signal.SIGINT)
    typed = "print('REPLY', reply.outcome, len(reply.text) > 0)\nexit\n"
    out, err = process.communicate(typed, timeout=60)
    assert "REPLY stopped True" in out, out + err
    assert "Traceback" not in out + err
    assert "KeyboardInterrupt" not in out + err
