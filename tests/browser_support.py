"""Helpers for the browser tests: a private JupyterLab server and a notebook page driver.

Everything JupyterLab and its kernels write (config, settings, workspaces, runtime
files, IPython profile, orjupyter's cache and ledger) goes under one temporary folder;
news, update checks and the PyPI extension manager are off, so nothing pops up over the
page or goes to the network.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

PROBE_SOURCE = (
    "from IPython.display import HTML\n"
    "HTML('<span class=\"orj-probe\">typesetting barrier: $x^2$</span>')"
)
"""A cell whose output MathJax typesets: see `NotebookPage.wait_typeset`."""

T = TypeVar("T")


def normalise(text: str) -> str:
    """Collapse runs of whitespace, as a reader sees them."""
    return " ".join(text.split())


def fake(reply: str, **options: object) -> str:
    """A `[[fake …]]` directive making the local server answer exactly `reply`."""
    encoded = base64.b64encode(reply.encode()).decode()
    extra = "".join(f" {key}={value}" for key, value in options.items())
    return f"[[fake reply_b64={encoded}{extra}]]"


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Call `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _PortTaken(Exception):
    """Another program bound the server's port before the server did."""


class JupyterLab:
    """`jupyter lab` on 127.0.0.1 in a subprocess, with its state in `base`."""

    APP = "lab"
    """The `jupyter` subcommand that serves it."""

    def __init__(self, base: Path, env: dict[str, str], disabled: Sequence[str] = ()) -> None:
        self.base = base
        self.disabled = disabled  # frontend extensions turned off, as `labextension disable`
        self.root = base / "notebooks"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.extra_env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = base / f"jupyter-{self.APP}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str) -> str:
        """The notebook in a workspace of its own, so no other test's tabs are restored."""
        workspace = Path(name).stem
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?token={self.token}"

    def _environment(self) -> dict[str, str]:
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_SETTINGS_DIR": "settings",
            "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
            "IPYTHONDIR": "ipython",
            "ORJUPYTER_CACHE_DIR": "orjupyter-cache",  # every test's first call is a real one
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORJUPYTER_")}
        for name, folder in dirs.items():
            path = self.base / folder
            path.mkdir(parents=True, exist_ok=True)
            env[name] = str(path)
        env["ORJUPYTER_LEDGER"] = str(self.base / "orjupyter-ledger.sqlite")
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env.pop("JUPYTER_PATH", None)
        env.pop("JUPYTER_CONFIG_PATH", None)
        env.update(self.extra_env)
        return env

    def _write_settings(self) -> None:
        notification = self.base / "settings/@jupyterlab/apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        config = {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_lsp": False, "jupyter_server_terminals": False},
                "terminals_enabled": False,
            },
            "LabApp": {
                "news_url": None,
                "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
                "extension_manager": "readonly",
            },
        }
        (self.base / "config/jupyter_server_config.json").write_text(json.dumps(config))
        labconfig = self.base / "config/labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        disabled = dict.fromkeys(self.disabled, True)
        (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}))

    def start(self, timeout: float = 60.0) -> None:
        """Start the server. The free port it was given can be taken before it binds (by a
        kernel's socket in another test process): then it starts again on another port."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._environment()  # makes the server's folders
        self._write_settings()
        for _attempt in range(3):
            try:
                self._launch(timeout)
                return
            except _PortTaken:
                self.port = free_port()
        raise RuntimeError(f"jupyter {self.APP} found no free port:\n{self.log()}")

    def _launch(self, timeout: float) -> None:
        env = self._environment()
        command = [
            sys.executable,
            "-m",
            "jupyter",
            self.APP,
            "--no-browser",
            f"--port={self.port}",
            "--port-retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.open_browser=False",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # containers often run tests as root
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                env=env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                if f"port {self.port} is already in use" in self.log():
                    raise _PortTaken()
                raise RuntimeError(f"jupyter {self.APP} exited early:\n{self.log()}")
            try:
                self.api("GET", "/api/status")
            except (OSError, http.client.HTTPException):  # URLError and timeouts among them
                return False  # not listening yet, or another program's socket on the port
            return True

        wait_for(ready, timeout, f"jupyter {self.APP} to answer", interval=0.2)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, method: str, path: str, body: object = None) -> Any:
        """Call the server's REST API with the token; the JSON answer, or None."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def kernels(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "/api/kernels"))

    def shutdown_kernels(self) -> None:
        """End every session and kernel (one already gone is fine)."""
        paths = [f"/api/sessions/{s['id']}" for s in self.api("GET", "/api/sessions")]
        paths += [f"/api/kernels/{k['id']}" for k in self.kernels()]
        for path in paths:
            try:
                self.api("DELETE", path)
            except urllib.error.HTTPError as err:
                if err.code != 404:
                    raise
                err.close()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        try:
            self.shutdown_kernels()
            self.api("POST", "/api/shutdown")
        except (urllib.error.URLError, ConnectionError):
            pass
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def write_notebook(self, name: str, *sources: str) -> str:
        """A fresh notebook in the server's root with one code cell per source."""
        notebook = new_notebook(
            cells=[new_code_cell(source) for source in sources],
            metadata={
                "kernelspec": {
                    "name": "python3",
                    "display_name": "Python 3 (ipykernel)",
                    "language": "python",
                },
                "language_info": {"name": "python"},
            },
        )
        nbformat.write(notebook, self.root / name)
        return name

    def read_notebook(self, name: str) -> nbformat.NotebookNode:
        """The saved file, once whole: the server writes it in place, so a read that
        lands mid-write sees a truncated file and tries again."""

        def whole() -> nbformat.NotebookNode | None:
            try:
                return nbformat.read(self.root / name, as_version=4)
            except ValueError:  # nbformat.reader.NotJSONError among them
                return None

        return wait_for(whole, 10, f"{name} to be whole on disk")


# --- the page -----------------------------------------------------------------------

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
_PROMPT_NUMBER = re.compile(r"\[\s*(\d+)\s*\]")

JS_KERNEL_IDLE = """() => {
    const items = document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem');
    const idle = Array.from(items).some(item => /^(?!No Kernel).+ \\| Idle$/.test(item.innerText));
    const indicator = document.querySelector(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
    return idle && indicator && indicator.getAttribute('data-status') === 'idle';
}"""

# JavaScript run in the page. `cell` is the `.jp-Cell` element.
JS_PANEL_TEXT = """cell => new Promise(resolve => requestAnimationFrame(() => resolve(
    Array.from(cell.querySelectorAll('.orj-panel .orj-answer'))
        .filter(el => !el.parentElement.closest('.orj-panel .orj-answer'))
        .map(el => el.innerText).join('\\n'))))"""
"""The live panel's answer as painted: read in an animation frame, so two widget
messages handled back to back (a block frozen, then the tail trimmed) are seen as the
user sees them, not half-applied."""

JS_FINAL = """cell => {
    if (cell.querySelector('.orj-panel')) return null;
    const area = cell.querySelector('.jp-Cell-outputArea');
    const status = area && area.querySelector('div.orj-status');
    if (!status) return null;
    const answer = area.querySelector('div.orj-answer');
    const error = area.querySelector('div.orj-error');
    return {answer: answer ? answer.innerText : '', html: answer ? answer.innerHTML : '',
            status: status.innerText, error: error ? error.innerText : null};
}"""

JS_HAZARDS = """cell => {
    const area = cell.querySelector('.jp-Cell-outputArea');
    const found = [];
    if (typeof window.__pwned !== 'undefined') found.push('window.__pwned=' + window.__pwned);
    for (const el of area.querySelectorAll('img, script, iframe, object, embed, frame'))
        found.push('<' + el.tagName.toLowerCase() + '> in the output');
    const rendered = area.querySelectorAll(
        '.orj-panel .orj-answer .widget-html-content *, .jp-RenderedHTML .orj-answer *');
    for (const el of rendered)
        for (const attr of el.attributes)
            if (/^(on|style$|srcdoc$)/i.test(attr.name))
                found.push(attr.name + ' on <' + el.tagName.toLowerCase() + '>');
    for (const el of document.querySelectorAll('[href], [src], [action], [formaction]')) {
        for (const name of ['href', 'src', 'action', 'formaction']) {
            const value = (el.getAttribute(name) || '').replace(/[\\s\\x00-\\x1f]/g, '');
            if (/^javascript:/i.test(value)) found.push(name + '=' + value);
        }
    }
    for (const el of area.querySelectorAll('*')) {
        const position = getComputedStyle(el).position;
        if (position === 'fixed' || position === 'sticky')
            found.push(position + ' <' + el.tagName.toLowerCase() + '>');
    }
    return found;
}"""
"""Everything in a cell's output (the answer and the action bar under it) that a hostile
answer could use, as a list of findings."""

JS_TRANSCRIPT = """cell => {
    const area = cell.querySelector('.jp-Cell-outputArea');
    if (!area || area.querySelector('.orj-panel')) return null;
    const output = area.querySelector('.orj-output');
    if (!output) return null;
    const kinds = ['question', 'answer', 'error', 'status'];
    return Array.from(output.children).flatMap(el => {
        const kind = kinds.find(k => el.classList.contains('orj-' + k));
        return kind ? [[kind, el.innerText]] : [];
    });
}"""
"""The final output's blocks in order, as [kind, text] (kind: question, answer, error or
status), or None while there is no final output (or a live panel replaces it)."""

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
DEAD_WIDGET = "Error displaying widget"


def saved_outputs(cell: Any) -> tuple[list[Any], list[Any]]:
    """A saved cell's answer outputs (those with orjupyter's metadata) and the others."""
    answers = [o for o in cell.outputs if "orjupyter" in o.get("metadata", {})]
    return answers, [o for o in cell.outputs if "orjupyter" not in o.get("metadata", {})]


def saved_views(cell: Any) -> int:
    """How many widget views a saved cell holds (the action bar's)."""
    return sum(WIDGET_VIEW in output.get("data", {}) for output in cell.outputs)


def check_saved_answer(cell: Any) -> Any:
    """The saved cell holds its answer as one ordinary display_data (HTML with the usage
    line, and plain text), first of what shows (the live panel it replaced is left
    empty above it); anything else is the action bar's widget view, which shows nothing
    as text. Returns the answer output."""
    from notebook_support import emptied

    shown = [o for o in cell.outputs if not emptied(o.get("data", {}))]
    answers = [o for o in shown if "orjupyter" in o.get("metadata", {})]
    others = [o for o in shown if "orjupyter" not in o.get("metadata", {})]
    assert len(answers) == 1, f"expected one saved answer, got {cell.outputs}"
    [answer] = answers
    assert shown[0] is answer, "the answer is not the first output that shows"
    assert answer["output_type"] == "display_data"
    assert WIDGET_VIEW not in answer["data"], "the saved answer is a widget"
    assert set(answer["data"]) == {"text/html", "text/plain"}
    assert 'class="orj-status"' in answer["data"]["text/html"]
    assert len(others) <= 1, f"more than the action bar under the answer: {others}"
    for other in others:
        assert other["output_type"] == "display_data", other
        assert set(other["data"]) <= {WIDGET_VIEW, "text/plain"}, other
        assert not other["data"].get("text/plain", "").strip(), other
    return answer


class NotebookPage:
    """One JupyterLab page showing one notebook, driven like a person would."""

    def __init__(self, page: Any, lab: JupyterLab, name: str) -> None:
        self.page = page
        self.lab = lab
        self.name = name

    def open(self, timeout: float = 180.0) -> NotebookPage:
        """Open the notebook and wait for its kernel (slow to start on a busy machine)."""
        self.page.goto(self.lab.notebook_url(self.name))
        self.page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=timeout * 1000)
        self.wait_idle(timeout)
        return self

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait for the status bar to show a kernel (not "No Kernel") that is idle.

        The toolbar's execution indicator says "idle" before any kernel is attached,
        so it cannot tell that the kernel is ready.
        """
        self.page.wait_for_function(JS_KERNEL_IDLE, timeout=timeout * 1000)

    def cell(self, index: int) -> Any:
        return self.page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(index)

    def prompt_number(self, index: int) -> int | None:
        text = self.cell(index).locator(".jp-InputPrompt").first.inner_text()
        match = _PROMPT_NUMBER.search(text)
        return int(match.group(1)) if match else None

    def run(self, index: int) -> None:
        """Click into the cell's editor and press Shift+Enter."""
        self.cell(index).locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Shift+Enter")

    def run_cells(self, first: int, count: int) -> None:
        """Click into cell `first` and press Shift+Enter `count` times (runs it and the
        cells after it, one by one, as a person does)."""
        self.run(first)
        for _ in range(count - 1):
            self.page.keyboard.press("Shift+Enter")

    def run_from_toolbar(self, index: int) -> None:
        """Click into the cell, then on the toolbar's run button."""
        self.cell(index).locator(".jp-InputArea-editor").click()
        self.page.locator(
            f'{PANEL} .jp-NotebookPanel-toolbar [data-command="notebook:run-cell-and-select-next"]'
        ).click()

    def wait_typeset(self, probe: int, timeout: float = 30.0) -> None:
        """Wait until JupyterLab's MathJax has typeset every output rendered so far.

        Cell `probe` must hold `PROBE_SOURCE` and come after the cells of interest; its
        output (from running it now, or as saved) is typeset after theirs, since the
        typesetter handles outputs in the order they were rendered.
        """
        self.cell(probe).locator(".orj-probe mjx-container").wait_for(timeout=timeout * 1000)

    def replace_source(self, index: int, source: str) -> None:
        """Select the cell's text in its editor and type `source` over it."""
        self.cell(index).locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Control+a")
        self.page.keyboard.insert_text(source)
        self.page.keyboard.press("Escape")

    def run_and_wait(self, index: int, timeout: float = 60.0) -> None:
        before = self.prompt_number(index)
        self.run(index)

        def done() -> bool:
            number = self.prompt_number(index)
            return number is not None and number != before

        wait_for(done, timeout, f"cell {index} to finish")

    def panel_text(self, index: int) -> str:
        return str(self.cell(index).evaluate(JS_PANEL_TEXT))

    def final(self, index: int) -> dict[str, Any] | None:
        """The finished answer's parts, or None while the live panel is still there."""
        result: dict[str, Any] | None = self.cell(index).evaluate(JS_FINAL)
        return result

    def wait_final(self, index: int, timeout: float = 60.0) -> dict[str, Any]:
        return wait_for(lambda: self.final(index), timeout, f"the answer in cell {index}")

    def output_area(self, index: int) -> Any:
        """The cell's own output area (a widget's Output nests another `.jp-OutputArea`)."""
        return self.cell(index).locator(".jp-Cell-outputArea")

    def transcript(self, index: int) -> list[tuple[str, str]] | None:
        """The final output's blocks, as `JS_TRANSCRIPT` reads them."""
        blocks = self.cell(index).evaluate(JS_TRANSCRIPT)
        return None if blocks is None else [(kind, text) for kind, text in blocks]

    def check_no_dead_widgets(self, index: int, views: int, timeout: float = 20.0) -> None:
        """Reopened without a kernel, the cell's `views` saved widget views (the action
        bar) have no model: once JupyterLab has given up on them ("Loading widget..."
        turns into a placeholder saying "Error displaying widget"), nothing in the cell's
        output says so, neither as text a reader sees nor as a visible placeholder."""
        area = self.output_area(index)
        placeholders = area.locator(".jp-OutputArea-output", has_text=DEAD_WIDGET)
        wait_for(
            lambda: placeholders.count() == views,
            timeout,
            f"{views} dead widget placeholder(s) in cell {index}",
            interval=0.2,
        )
        shown = area.inner_text()  # innerText skips hidden elements
        for phrase in (DEAD_WIDGET, "Model not found", "Loading widget"):
            assert phrase.lower() not in shown.lower(), f"cell {index} shows: {shown!r}"
        for k in range(views):
            assert not placeholders.nth(k).is_visible(), f"cell {index}: a visible placeholder"

    def wait_panel(self, index: int, timeout: float = 60.0) -> None:
        self.cell(index).locator(".orj-panel").wait_for(timeout=timeout * 1000)

    def save(self) -> None:
        """Ctrl+S, then wait until JupyterLab says the document is clean."""
        self.page.keyboard.press("Control+s")
        self.page.wait_for_function(
            """() => {
                const tab = document.querySelector('.lm-DockPanel-tabBar .lm-mod-current');
                return tab && !tab.classList.contains('jp-mod-dirty');
            }""",
            timeout=20_000,
        )


def notebook_opener(
    server: JupyterLab,
    context: Any,
    name: str,
    page_class: type[NotebookPage] = NotebookPage,
    known_errors: tuple[str, ...] = (),
) -> Iterator[Callable[..., NotebookPage]]:
    """For a fixture: a function that writes the notebook `name` (one code cell per
    source, if any are given) and opens it in a new page of `context` (or of `ctx=`).
    Afterwards the kernels are shut down, the pages closed, and any uncaught error a page
    raised (other than `known_errors`) fails the test."""
    pages: list[tuple[Any, list[str]]] = []

    def open_(*sources: str, ctx: Any = None) -> NotebookPage:
        if sources:
            server.write_notebook(name, *sources)
        page = (ctx or context).new_page()
        errors: list[str] = []

        def on_error(error: Any) -> None:
            if str(error) not in known_errors:
                errors.append(f"{error}\n{error.stack}")

        page.on("pageerror", on_error)
        pages.append((page, errors))
        return page_class(page, server, name).open()

    try:
        yield open_
    finally:
        # the pages close first, as a person closes the tab: a kernel shut down under an open
        # page aborts the widgets it is still loading, which is not the page's error
        for page, _errors in pages:
            if not page.is_closed():
                page.close()
        server.shutdown_kernels()
        for _page, errors in pages:
            assert not errors, f"uncaught errors in the page: {errors}"


DOC_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"


def screenshots_for_docs() -> Path | None:
    """`docs/images` when screenshots are being re-taken (`make screenshots` sets
    `ORJUPYTER_SCREENSHOTS=1`), else None: a test run never rewrites a tracked file."""
    return DOC_IMAGES if os.environ.get("ORJUPYTER_SCREENSHOTS") == "1" else None
