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
    assert "notebook total" in result.stdout
    assert router.requests[-1].body["messages"][-1]["content"] == "Describe {this} please."
