"""What a newcomer installs: a wheel built from the checkout, and the README's instructions."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    )
    return [name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]


def copy_of_the_checkout(folder: Path) -> Path:
    """The tracked files (building writes build/ and egg-info beside the sources)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to copy")  # e.g. tests run from an unpacked sdist
    for name in tracked_files():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, folder / name)
    return folder


def test_the_wheel_carries_the_browser_assets_and_the_type_marker(tmp_path):
    """`python -m build`, as the README says."""
    pytest.importorskip("build")
    source = copy_of_the_checkout(tmp_path / "source")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("orjupyter-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in (ROOT / "orjupyter" / "static").iterdir():
        assert f"orjupyter/static/{asset.name}" in names
    assert "orjupyter/py.typed" in names
    assert not [name for name in names if name.startswith(("tests/", "benchmarks/"))]


def test_the_readme_installs_what_exists_and_says_where_keys_come_from():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # the package is not on PyPI: no bare `pip install orjupyter`
    assert not re.search(r"pip install orjupyter\b(?![\[\w-])", readme)
    assert "pip install ." in readme
    assert "python -m build" in readme
    assert "https://openrouter.ai/keys" in readme


def test_the_makefiles_editable_install_is_quiet(tmp_path):
    """`make run` and `make test` install the checkout in place; setuptools' advice about
    editable installs is not for the person who typed `make run`."""
    if shutil.which("make") is None:
        pytest.skip("needs make")  # the Makefile is what it tests; Windows may have none
    shown = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval", "show: ; @echo $(QUIET_EDITABLE)", "show"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    settings = dict(word.split("=", 1) for word in shlex.split(shown.stdout) if "=" in word)
    source = copy_of_the_checkout(tmp_path / "source")
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **settings},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Editable installation" not in result.stdout + result.stderr
