"""Which notebook is this kernel running? The key the ledger groups calls and budgets by.

Pure: the caller passes the kernel's namespace, environment and working directory.

Sources, in order (the first that names a notebook wins):

1. ``__vsc_ipynb_file__`` in the namespace: VS Code's absolute path of the notebook.
2. ``PAPERMILL_INPUT_PATH`` in the namespace: papermill's input notebook. Papermill does
   not set it by itself: it is injected as a parameter by ``papermill --inject-input-path``
   (or ``--inject-paths``), or by ``execute_notebook(..., parameters={"PAPERMILL_INPUT_PATH":
   path})``. It is also honoured in the environment. A relative path is taken relative to the
   kernel's working directory (papermill's own directory unless ``--cwd`` moved the kernel).
   It comes before jupyter-server's variable because a notebook run by papermill from inside
   a JupyterLab kernel inherits that kernel's ``JPY_SESSION_NAME``.
3. ``JPY_SESSION_NAME`` in the environment: jupyter-server starts a notebook's kernel with it
   set to the notebook's path (absolute in jupyter-server 2; relative to the server's root
   in older servers).
4. ``__session__`` in the namespace: ipykernel's copy of ``JPY_SESSION_NAME``.
5. Otherwise, in a kernel (plain ``jupyter console``, nbclient/nbconvert and papermill
   without injected paths, other frontends): ``unsaved:<working directory>``, labelled
   "unnamed notebooks in <working directory>", so such kernels share one history per
   directory, and the status line calls its total the "folder total".

Terminal IPython has no notebook (the caller says so by passing ``terminal_session``):

6. ``__file__`` in the namespace (``ipython ask.ipy`` runs a script): the script's path.
7. Otherwise: this IPython session, ``ipython:<working directory>@<session>``, labelled
   "this IPython session"; its calls, total and budget are the session's own.

Renaming. The key is the notebook's path, so a renamed or moved notebook starts a new
history and the old one stays under the old path. The kernel does not learn of a rename
either: jupyter-server set ``JPY_SESSION_NAME`` when the kernel started, so calls keep going
to the old path until the kernel restarts (VS Code updates ``__vsc_ipynb_file__``). Nothing is
lost, but the history is split until you merge it: ``%gpt4o usage --rename OLD_PATH`` moves
OLD_PATH's calls and budget to the current notebook (`LedgerStore.rename_notebook`); ``%gpt4o
usage --all`` lists every key to pick OLD_PATH from. A copy of a notebook is a new notebook.
(A stable id in the notebook's metadata would survive renames, but a kernel cannot read the
notebook document, so the path is the best key available.)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal

Source = Literal[
    "vscode", "papermill", "jupyter-server", "ipykernel", "fallback", "script", "terminal"
]
UNNAMED_LABEL = "unnamed notebooks in {folder}"
SESSION_LABEL = "this IPython session"


@dataclass(frozen=True)
class NotebookId:
    """`key`: what the ledger stores; `label`: what a person reads; `source`: who told us."""

    key: str
    label: str
    source: Source

    @property
    def total_name(self) -> str:
        """What the status line calls the running total: `notebook total`, `session total`,
        `ask.ipy total`."""
        if self.source == "terminal":
            return "session total"
        if self.source == "script":
            return f"{PurePath(self.key).name} total"
        if self.source == "fallback":
            return "folder total"
        return "notebook total"


def notebook_identity(
    namespace: Mapping[str, object],
    environ: Mapping[str, str],
    cwd: Path,
    terminal_session: str | None = None,
) -> NotebookId:
    """This kernel's notebook, from the first source that names it (see the module doc).

    `terminal_session`: in terminal IPython (no kernel), a name for this session (its start
    time and process id), so that its calls are not taken for a notebook's."""
    candidates: list[tuple[Source, object]] = [
        ("vscode", namespace.get("__vsc_ipynb_file__")),
        ("papermill", namespace.get("PAPERMILL_INPUT_PATH")),
        ("papermill", environ.get("PAPERMILL_INPUT_PATH")),
        ("jupyter-server", environ.get("JPY_SESSION_NAME")),
        ("ipykernel", namespace.get("__session__")),
    ]
    for source, value in candidates:
        if isinstance(value, (str, PurePath)) and str(value).strip() not in ("", "-"):
            key = _absolute(str(value).strip(), cwd, relative_to_root=source != "papermill")
            return NotebookId(key=key, label=_label(key, environ), source=source)
    if terminal_session is not None:
        script = namespace.get("__file__")
        if isinstance(script, (str, PurePath)) and str(script).strip():
            key = _absolute(str(script).strip(), cwd, relative_to_root=False)
            return NotebookId(key=key, label=_label(key, environ), source="script")
        key = f"ipython:{_normal(cwd)}@{terminal_session}"
        return NotebookId(key=key, label=SESSION_LABEL, source="terminal")
    folder = _normal(cwd)
    label = UNNAMED_LABEL.format(folder=_label(folder, environ))
    return NotebookId(key=f"unsaved:{folder}", label=label, source="fallback")


def session_id(key: str) -> str:
    """OpenRouter's `session_id` for a notebook: stable for its key, different between
    notebooks, and not the path in clear (a path can name a client or a project)."""
    return "orj-" + hashlib.sha256(f"orjupyter-session\n{key}".encode()).hexdigest()[:32]


def _absolute(path: str, cwd: Path, *, relative_to_root: bool) -> str:
    """An absolute, normalised path (URLs such as ``s3://…`` are kept as they are).

    A relative session path from an older jupyter-server is relative to the server's root,
    while the kernel runs in the notebook's directory: ``sub/a.ipynb`` with the kernel in
    ``/root/sub`` is ``/root/sub/a.ipynb``, not ``/root/sub/sub/a.ipynb``.
    """
    if "://" in path:
        return path
    path = path.removeprefix("RTC:")  # jupyter-collaboration's drive prefix
    given = Path(path)
    if given.is_absolute():
        return _normal(given)
    parent = given.parent.parts
    if relative_to_root and parent and cwd.parts[-len(parent) :] == parent:
        return _normal(cwd / given.name)
    return _normal(cwd / given)


def _normal(path: Path) -> str:
    return os.path.normpath(path)


def _label(key: str, environ: Mapping[str, str]) -> str:
    """The path with the home directory shown as ``~``."""
    home = environ.get("HOME", "").rstrip("/\\")
    if home and (key == home or key.startswith(home + os.sep)):
        return "~" + key[len(home) :]
    return key
