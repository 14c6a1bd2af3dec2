"""ARCHITECTURE.md tells the truth: where it sends a newcomer exists, and the choices it
says are made in one place are made there only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "orjupyter"


def _reads_the_widgets_setting(tree: ast.AST) -> list[int]:
    """Lines reading `<...>settings.widgets`."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "widgets"
        and (
            (isinstance(node.value, ast.Attribute) and node.value.attr == "settings")
            or (isinstance(node.value, ast.Name) and node.value.id == "settings")
        )
    ]


def test_one_function_chooses_the_view():
    """Only `jupyter/views.py` reads `OrJupyter.widgets`: every view asks `shows_widgets`."""
    readers = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := _reads_the_widgets_setting(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert readers == {"jupyter/views.py": readers.get("jupyter/views.py", [])}
    assert readers["jupyter/views.py"]  # and it does read it
