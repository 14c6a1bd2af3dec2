"""Helpers for tests that run a notebook in a real kernel (nbclient) and read its outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
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
