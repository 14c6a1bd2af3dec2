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


def make_dry_run(*targets: str) -> list[str]:
    """The commands `make` would run for these targets (nothing is run)."""
    if shutil.which("make") is None:
        pytest.skip("needs make")  # the Makefile is what it tests; Windows may have none
    shown = subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout.splitlines()


def test_every_editable_install_in_the_makefile_is_quiet():
    """`make docs` (and run, test) install the checkout in place without setuptools'
    advice about editable installs."""
    installs = [
        line
        for line in make_dry_run("setup", "setup-test", "setup-docs")
        if "pip install" in line and " -e " in line
    ]
    assert len(installs) == 3
    for line in installs:
        assert 'PYTHONWARNINGS="ignore:Editable installation"' in line, line


def test_make_run_installs_what_the_quickstart_imports():
    """`make run` on a fresh clone: every module the quickstart's cells import is a
    dependency of orjupyter or in what `make run` installs, never something only
    `make test` brings."""
    import ast
    from importlib.metadata import packages_distributions

    import nbformat
    from packaging.requirements import Requirement

    tomllib = pytest.importorskip(
        "tomllib", reason="reads pyproject.toml with Python 3.11's tomllib"
    )

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    [install] = [line for line in make_dry_run("setup") if "pip install" in line and " -e " in line]
    extras = re.findall(r'-e "?\.\[([\w,-]+)\]', install)
    assert extras, f"make setup installs no extra of orjupyter: {install}"
    wanted = [*project["dependencies"]]
    for extra in extras[0].split(","):
        wanted += project["optional-dependencies"][extra]
    installed = {Requirement(spec).name.lower().replace("_", "-") for spec in wanted}
    notebook = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    modules = set()
    for cell in notebook.cells:
        if cell.cell_type != "code" or cell.source.startswith("%%"):
            continue  # a question, not Python
        source = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules.add(node.module.split(".")[0])
    distributions = packages_distributions()
    missing = {
        module: distributions[module]
        for module in modules - set(sys.stdlib_module_names) - {"orjupyter"}
        if not {name.lower().replace("_", "-") for name in distributions.get(module, [])}
        & installed
    }
    assert {"matplotlib", "numpy", "pandas"} <= modules
    assert missing == {}
    for tool in ("ipykernel", "nbclient", "nbformat", "nbconvert"):  # what runs it
        assert tool in installed, tool


def test_ci_runs_the_first_command_on_its_clean_clone_before_the_tests():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    made = [
        found[1]
        for line in script.splitlines()
        if (found := re.match(r"\s*(?:env (?:-u \w+ )*)?make (\w+)", line))
    ]
    assert made == ["run", "test"]
    assert "postgresql" in script


def test_the_readmes_jupyterlab_step_opens_a_copy():
    """Following the README's JupyterLab step must not change a tracked file: JupyterLab
    saves (autosaves) what it opens."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("To open the quickstart in JupyterLab:", 1)[1].split("```")[1]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    opened = []
    for command in commands:
        if command.startswith("make "):
            lines = make_dry_run(*command.split()[1:])
            opened += [word for line in lines if "jupyter lab" in line for word in line.split()]
        else:
            opened += command.split()
    notebooks = [word for word in opened if word.endswith(".ipynb")]
    assert notebooks, commands
    tracked = set(tracked_files())
    for notebook in notebooks:
        assert notebook not in tracked, f"{notebook} is tracked: JupyterLab would change it"
        ignored = subprocess.run(["git", "check-ignore", "-q", notebook], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{notebook} would show in git status"
