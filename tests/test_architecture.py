"""ARCHITECTURE.md tells the truth: where it sends a newcomer exists, and the choices it
says are made in one place are made there only."""

from __future__ import annotations

import ast
import re
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


# --- the map's newcomer table and its list of modules -----------------------------------

_TICKED = re.compile(r"`([^`]+)`")
_PATH = re.compile(r"^[\w./-]+\.(py|md|toml|css|js)$")
_NAME = re.compile(r"^([A-Za-z_]\w*)(\(.*\))?$")


def _section(title: str) -> str:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _newcomer_rows() -> list[str]:
    """The rows of "Where a newcomer goes to…", and its note on where a view is chosen."""
    table = _section("Where a newcomer goes to…")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 10
    return [*rows[1:], table.split("### Where a view is chosen", 1)[1]]


def _where(path: str) -> Path | None:
    for base in (PACKAGE, ROOT):
        if (base / path).is_file():
            return base / path
    return None


def _names_in(path: Path) -> set[str]:
    """What a Python file defines (functions, classes, assigned names, fields, methods) and
    the words it holds as strings (an argparse `dest`, a dict key)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
    return names


def cited(row: str) -> list[tuple[str, str | None]]:
    """Each backticked path, and each backticked name with the path cited last before it
    in the same row (None: no file named yet). Flags, placeholders and commands are prose."""
    found: list[tuple[str, str | None]] = []
    path: str | None = None
    for token in _TICKED.findall(row):
        if _PATH.match(token):
            path = token
            found.append((token, None))
        elif match := _NAME.match(token):
            found.append((match.group(1), path))
    return found


def test_the_newcomer_table_cites_only_files_and_names_that_exist():
    missing = []
    for row in _newcomer_rows():
        for token, path in cited(row):
            if path is None and _PATH.match(token):
                if _where(token) is None:
                    missing.append(f"no file {token}")
            elif path is not None and path.endswith(".py"):
                where = _where(path)
                if where is not None and token not in _names_in(where):
                    missing.append(f"{path} has no {token}")
    assert missing == []


def test_the_checker_of_the_newcomer_table_sees_a_wrong_file_and_a_wrong_name():
    row = "| x | `core/request.py`: `CallOptions`, `sent`, `NO_SUCH_TABLE`; `core/nowhere.py` |"
    assert cited(row) == [
        ("core/request.py", None),
        ("CallOptions", "core/request.py"),
        ("sent", "core/request.py"),
        ("NO_SUCH_TABLE", "core/request.py"),
        ("core/nowhere.py", None),
    ]
    names = _names_in(PACKAGE / "core" / "request.py")
    assert {"CallOptions", "sent"} <= names
    assert "NO_SUCH_TABLE" not in names
    assert _where("core/nowhere.py") is None


def first_sentence(docstring: str) -> str:
    """A docstring's first sentence: its first paragraph up to the first full stop (or
    question mark) that ends a sentence, on one line."""
    paragraph = " ".join(docstring.strip().split("\n\n")[0].split())
    end = re.search(r"[.?!](?=\s|$)", paragraph)
    return paragraph[: end.end()] if end else paragraph


def test_the_module_list_gives_each_module_its_own_first_sentence():
    listed = dict(
        re.findall(r"^- `([\w/]+\.py)`: (.*)$", _section("Every module, by room"), re.MULTILINE)
    )
    wrong = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = str(path.relative_to(PACKAGE))
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if listed.get(name) != first_sentence(docstring):
            wrong[name] = first_sentence(docstring)
    assert wrong == {}  # the map's line for each module, as its docstring says it now
