"""Helpers for tests that run orjupyter: the environment pointing at a local server, a
loaded InteractiveShell, and a notebook run in a real kernel (nbclient)."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook


def execute(tmp_path: Path, *sources: str, allow_errors: bool = False) -> nbformat.NotebookNode:
    """A new notebook of these cells, run top to bottom in a fresh kernel in `tmp_path`."""
    notebook = new_notebook(
        cells=[new_code_cell(source) for source in sources],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    return notebook


def streamed(cell: nbformat.NotebookNode, name: str = "stdout") -> str:
    """What the cell printed to `name` (stdout or stderr)."""
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == name)


def point_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_url: str, api_key: str) -> None:
    """What a test's calls (and the kernels it starts) read from the environment: this
    server and key, a ledger and a cache of the test's own, replay off."""
    monkeypatch.setenv("OPENROUTER_BASE_URL", base_url)
    monkeypatch.setenv("OPENROUTER_API_KEY", api_key)
    monkeypatch.setenv("ORJUPYTER_LEDGER", str(tmp_path / "ledger.sqlite"))
    monkeypatch.setenv("ORJUPYTER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ORJUPYTER_REPLAY", raising=False)


def loaded_shell() -> Iterator[object]:
    """A real InteractiveShell with orjupyter loaded (no kernel: the text view); unloaded
    after the test."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    before = copy.deepcopy(shell.config)  # the shell outlives the test: so does its %config
    shell.run_line_magic("load_ext", "orjupyter")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "orjupyter")
        shell.user_ns.pop("reply", None)
        for section in set(shell.config) - set(before):
            del shell.config[section]
        shell.config.update(before)


def is_live_panel(state: dict[str, Any]) -> bool:
    """Whether a widget's opening state is an answer's live panel (which draws Stop)."""
    return state.get("_model_name") == "AnyModel" and "status" in state


def press_stop(client: Any, comm_id: str) -> None:
    """Click a live panel's Stop in a running kernel, as its module does: a custom comm
    message on the shell channel."""
    content = {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "stop"}}}
    client.shell_channel.send(client.session.msg("comm_msg", content))


def click(client: Any, comm_id: str) -> None:
    """Click a widget button in a running kernel, as the browser's widget manager does: a
    comm message on the shell channel."""
    content = {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}
    client.shell_channel.send(client.session.msg("comm_msg", content))


TERMINAL_IPYTHON = [
    sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", "--ext=orjupyter"
]  # fmt: skip
"""Terminal IPython with orjupyter loaded, reading what is typed from its stdin."""


def typed_into_ipython(typed: str) -> subprocess.CompletedProcess[str]:
    """Terminal IPython in a subprocess, with `typed` as the keyboard (end it with exit)."""
    return subprocess.run(
        TERMINAL_IPYTHON, input=typed, capture_output=True, text=True, timeout=60, check=False
    )


def emptied(data: dict[str, Any]) -> bool:
    """An output that shows nothing: what a live panel leaves once the final output is
    shown under it (no widget, no text; in JupyterLab its place is hidden too)."""
    return (
        "application/vnd.jupyter.widget-view+json" not in data
        and not data.get("text/plain", "").strip()
        and 'class="orj-gone"' in data.get("text/html", "")
    )
