"""Which notebook a kernel runs: each frontend's hint, and the fallback."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from orjupyter.core.notebook_id import NotebookId, notebook_identity

# the expected keys are written as POSIX paths; Windows would need its own table
pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX paths")

CWD = Path("/home/me/project/sub")
ENV = {"HOME": "/home/me"}


def identity(namespace=None, environ=None, cwd=CWD) -> NotebookId:
    return notebook_identity(namespace or {}, {**ENV, **(environ or {})}, cwd)


def test_vs_code_names_the_file():
    nb = identity({"__vsc_ipynb_file__": "/home/me/project/sub/a.ipynb"})
    assert nb == NotebookId("/home/me/project/sub/a.ipynb", "~/project/sub/a.ipynb", "vscode")


def test_vs_code_wins_over_jupyter_server():
    nb = identity(
        {"__vsc_ipynb_file__": "/local/a.ipynb", "__session__": "/server/a.ipynb"},
        {"JPY_SESSION_NAME": "/server/a.ipynb"},
    )
    assert (nb.key, nb.source) == ("/local/a.ipynb", "vscode")


def test_papermill_injected_input_path():
    # `papermill --inject-input-path in.ipynb out.ipynb` injects the path as a parameter.
    nb = identity({"PAPERMILL_INPUT_PATH": "reports/in.ipynb"})
    assert nb == NotebookId(
        "/home/me/project/sub/reports/in.ipynb", "~/project/sub/reports/in.ipynb", "papermill"
    )


def test_papermill_wins_over_an_inherited_session_name():
    # papermill run from a JupyterLab kernel inherits that kernel's JPY_SESSION_NAME.
    nb = identity(
        {"PAPERMILL_INPUT_PATH": "/data/in.ipynb"}, {"JPY_SESSION_NAME": "/home/me/parent.ipynb"}
    )
    assert (nb.key, nb.source) == ("/data/in.ipynb", "papermill")


def test_papermill_in_the_environment_urls_and_stdin():
    assert identity(environ={"PAPERMILL_INPUT_PATH": "/x/in.ipynb"}).source == "papermill"
    s3 = identity({"PAPERMILL_INPUT_PATH": "s3://bucket/in.ipynb"})
    assert (s3.key, s3.label) == ("s3://bucket/in.ipynb", "s3://bucket/in.ipynb")
    assert identity({"PAPERMILL_INPUT_PATH": "-"}).source == "fallback"  # read from stdin


def test_jupyter_server_session_name():
    nb = identity(environ={"JPY_SESSION_NAME": "/home/me/project/sub/a.ipynb"})
    assert nb == NotebookId(
        "/home/me/project/sub/a.ipynb", "~/project/sub/a.ipynb", "jupyter-server"
    )


def test_relative_session_names_from_older_servers_are_relative_to_the_root():
    # root /home/me/project, notebook sub/a.ipynb, kernel started in /home/me/project/sub
    nb = identity(environ={"JPY_SESSION_NAME": "sub/a.ipynb"})
    assert nb.key == "/home/me/project/sub/a.ipynb"
    assert identity(environ={"JPY_SESSION_NAME": "a.ipynb"}).key == "/home/me/project/sub/a.ipynb"
    assert (
        identity(environ={"JPY_SESSION_NAME": "../b/c.ipynb"}).key == "/home/me/project/b/c.ipynb"
    )


def test_ipykernel_session_variable():
    nb = identity({"__session__": "/srv/notebooks/a.ipynb"})
    assert nb == NotebookId("/srv/notebooks/a.ipynb", "/srv/notebooks/a.ipynb", "ipykernel")
    assert identity({"__session__": PurePosixPath("/srv/b.ipynb")}).key == "/srv/b.ipynb"


def test_collaboration_drive_prefix_is_dropped():
    assert identity(environ={"JPY_SESSION_NAME": "RTC:/home/me/a.ipynb"}).key == "/home/me/a.ipynb"


def test_paths_are_normalised():
    nb = identity({"__vsc_ipynb_file__": "/home/me/project/./sub/../sub/a.ipynb"})
    assert nb.key == "/home/me/project/sub/a.ipynb"


@pytest.mark.parametrize(
    "namespace",
    [{}, {"__session__": ""}, {"__vsc_ipynb_file__": None}, {"__session__": 42}],
)
def test_fallback_when_nothing_names_the_notebook(namespace):
    nb = identity(namespace, {"JPY_SESSION_NAME": "  "})
    assert nb == NotebookId(f"unsaved:{CWD}", "unnamed notebooks in ~/project/sub", "fallback")
    assert nb.total_name == "folder total"


def test_the_fallback_names_its_folder_as_a_person_reads_it():
    nb = identity(environ={"HOME": "/home/me"}, cwd=Path("/home/me/project"))
    assert nb.label == "unnamed notebooks in ~/project"


def test_the_fallback_key_is_per_directory():
    assert identity(cwd=Path("/a")).key != identity(cwd=Path("/b")).key
    assert identity(cwd=Path("/a/./b/..")).key == f"unsaved:{os.path.normpath('/a')}"


# --- terminal IPython: no notebook ----------------------------------------------------


def test_a_terminal_session_is_named_as_such_and_counted_on_its_own():
    one = notebook_identity({}, ENV, CWD, terminal_session="2026-11-30T10:00:00-11")
    other = notebook_identity({}, ENV, CWD, terminal_session="2026-11-30T11:00:00-12")
    assert one.label == "this IPython session"
    assert one.total_name == "session total"
    assert one.source == "terminal"
    assert one.key != other.key
    assert str(CWD) in one.key


def test_a_script_run_by_ipython_is_named_by_its_path():
    nb = notebook_identity({"__file__": "ask.ipy"}, ENV, CWD, terminal_session="s")
    assert nb.key == os.path.normpath(CWD / "ask.ipy")
    assert nb.label.endswith("ask.ipy")
    assert nb.total_name == "ask.ipy total"


def test_a_notebook_wins_over_the_terminal_and_kernels_keep_their_fallback():
    named = notebook_identity({"__session__": "/n/a.ipynb"}, ENV, CWD, terminal_session="s")
    assert named.total_name == "notebook total"
    assert named.key == "/n/a.ipynb"
    assert identity({"__file__": "x.py"}).source == "fallback"  # a kernel: no terminal session
