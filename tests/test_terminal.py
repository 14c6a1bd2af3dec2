"""Plain `ipython` in a terminal: the answer streams as text, then the usage line."""

from __future__ import annotations

import subprocess
import sys


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
    typed = "%gpt4o budget 0.50\n%gpt4o Hello there\n%gpt4o budget\nexit\n"
    result = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", "--ext=orjupyter"],
        input=typed,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    said = result.stdout
    assert "Budget for this IPython session: $0.50; spent $0.00." in said
    assert "session total" in said
    assert "notebook" not in said
    assert "path unknown" not in said
