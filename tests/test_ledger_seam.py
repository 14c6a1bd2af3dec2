"""The ledger behind one protocol: which kind a location opens, and who may know it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from orjupyter.core.errors import LedgerError
from orjupyter.store.base import LEDGERS, kind_of, ledger_location, open_ledger, without_password

PACKAGE = Path(__file__).resolve().parent.parent / "orjupyter"


def _outside_store() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "store"]


def test_nothing_outside_the_store_imports_sqlite_or_names_the_sqlite_ledger():
    found = []
    for path in _outside_store():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(alias.name for alias in node.names)]
            elif isinstance(node, ast.Name | ast.Attribute):
                names = [node.id if isinstance(node, ast.Name) else node.attr]
            bad = {"sqlite3", "orjupyter.store.ledger", "Ledger", "PostgresLedger"}
            found += [f"{path.name}: {name}" for name in names if name in bad]
    assert found == []


def test_a_plain_path_is_a_sqlite_file_and_each_url_scheme_has_one_row(tmp_path):
    ledger = open_ledger(str(tmp_path / "here.sqlite"))
    try:
        assert ledger.location == str(tmp_path / "here.sqlite")
        assert ledger.totals().calls == 0
    finally:
        ledger.close()
    assert {"postgresql", "postgres"} <= set(LEDGERS)
    assert kind_of("postgresql://u@h/db") is LEDGERS["postgresql"]


def test_an_unknown_scheme_is_refused_in_one_line_and_makes_no_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LedgerError) as refused:
        open_ledger("mysql://me:hunter2@db.example/team")
    message = str(refused.value)
    assert "\n" not in message
    assert "hunter2" not in message
    assert "mysql://" in message
    assert "postgresql://" in message
    assert list(tmp_path.iterdir()) == []


def test_the_environment_chooses_the_ledger_and_a_url_is_kept_whole(monkeypatch):
    monkeypatch.setenv("ORJUPYTER_LEDGER", "postgresql://me:pw@db.example:5433/team")
    assert ledger_location() == "postgresql://me:pw@db.example:5433/team"
    assert ledger_location("/x/y.sqlite") == "/x/y.sqlite"
    assert without_password(ledger_location()) == "postgresql://me:***@db.example:5433/team"
    assert without_password("postgresql://me@db/team") == "postgresql://me@db/team"


def test_a_missing_driver_is_one_line_that_says_what_to_install(tmp_path):
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from orjupyter.store.base import open_ledger\n"
        "from orjupyter.core.errors import LedgerError\n"
        "try:\n    open_ledger('postgresql://me:secret-pw@127.0.0.1:1/team')\n"
        "except LedgerError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert out.strip() == 'a postgresql:// ledger needs psycopg: pip install "orjupyter[team]"'
    assert list(tmp_path.iterdir()) == []
