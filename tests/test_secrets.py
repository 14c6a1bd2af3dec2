"""The API key never leaks: not into outputs, saved notebooks, kernel logs or error messages.

A recognisable key is used against a local OpenRouter that accepts only that key, so every
successful call proves the key was really in play while the notebook ran.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from conftest import TEST_KEY
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook, output_from_msg

from orjupyter.fakerouter import FakeRouter

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
# the whole key, and its distinctive middle (a truncated or partly masked key still leaks)
FRAGMENTS = (TEST_KEY, TEST_KEY[9:33])


def leaks(text: str) -> list[str]:
    return [fragment for fragment in FRAGMENTS if fragment in text]


def dumped(obj: object) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)


@pytest.fixture
def keyed_router(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeRouter]:
    """A local OpenRouter that answers only TEST_KEY; the environment points at it.

    The kernels started here get this test's own answer cache and ledger.
    """
    monkeypatch.setenv("ORJUPYTER_LEDGER", str(tmp_path / "ledger.sqlite"))
    monkeypatch.setenv("ORJUPYTER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ORJUPYTER_REPLAY", raising=False)
    with FakeRouter(require_key=TEST_KEY) as server:
        monkeypatch.setenv("OPENROUTER_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENROUTER_API_KEY", TEST_KEY)
        yield server


def files_on_disk_leak(tmp_path: Path) -> list[str]:
    """The answer cache and the usage ledger this test's kernels wrote: raw bytes."""
    found = []
    for path in [*(tmp_path / "cache").rglob("*"), *tmp_path.glob("ledger.sqlite*")]:
        if path.is_file():
            raw = path.read_bytes()
            found += [f"{path.name}: {f}" for f in FRAGMENTS if f.encode() in raw]
    return found


SETUP = """\
import io
from PIL import Image

class Opaque:
    pass

obj = Opaque()
data = b"\\x89PNG\\r\\n\\x1a\\n" + b"garbage"
buffer = io.BytesIO()
Image.effect_noise((640, 480), 64).convert("RGB").save(buffer, format="JPEG")
jpeg = buffer.getvalue()[: len(buffer.getvalue()) // 2]
big = "x" * 600_000"""

FAULT_CELLS = [
    *(
        f"%%gpt4o -o reply\n[[fake status={status}]]"
        for status in (400, 401, 402, 403, 404, 408, 413, 429, 500, 502, 503)
    ),
    "%%gpt4o -m nobody/nothing -o reply\nhello",
    "%%gpt4o -o reply\n[[fake words=20 midstream_error_after=5]]",
    "%%gpt4o -o reply\n[[fake words=20 drop_after=5]]",
    "%config OrJupyter.timeout = 1.5",
    "%%gpt4o -o reply\n[[fake words=20 stall_after=3]]",
    "%config OrJupyter.timeout = 600.0",
    "%%gpt4o -o reply\n[[fake words=20 malformed_after=3]]",
    "%%gpt4o -o reply\n[[fake html_error=502]]",
    '%config OrJupyter.base_url = "http://127.0.0.1:9/api/v1"',
    "%%gpt4o -o reply\nhello",
    '%config OrJupyter.base_url = "http://no-such-host.invalid/api/v1"',
    "%%gpt4o -o reply\nhello",
    '%config OrJupyter.base_url = ""',
    "%config OrJupyter.max_retries = 2",
    "%%gpt4o -o reply\n[[fake status=503 fail_times=2 retry_after=0.05]]",
    "%%gpt4o -o reply\n[[fake status=429 fail_times=5 retry_after=0.05]]",
    "%%gpt4o -o reply\n[[fake status=402]] again",
    "%%gpt4o -o reply\n[[fake words=20 midstream_error_after=5]] again",
    "%config OrJupyter.max_retries = 0",
    "%%gpt4o\n   ",
    "%%gpt4o\nlook at {nowhere}",
    "%%gpt4o\nwhat is {obj}?",
    "%%gpt4o\nlook at {data}",
    "%%gpt4o\nlook at {jpeg}",
    "%%gpt4o\n{big}",
    "%%gpt4o --temperature 7\nhi",
    "%%gpt4o --max-tokens -1\nhi",
    "%%gpt4o --detail huge\nhi",
]

INSPECTION_CELLS = [
    "%config OrJupyter",
    "%config OrJupyter.api_key",
    "print(repr(get_ipython().magics_manager.registry['OrJupyterMagics'].session))",
    "%%gpt4o -o r\nhello",
    "r",
    "repr(r)",
    "%%gpt4o --max-tokens 5\n[[fake words=30]]",
    "%gpt4o usage",
]


def test_no_cell_output_saved_notebook_or_kernel_log_holds_the_key(keyed_router, tmp_path):
    sources = ["%load_ext orjupyter", "%config OrJupyter.max_retries = 0", SETUP]
    sources += FAULT_CELLS + INSPECTION_CELLS
    notebook = new_notebook(
        cells=[new_code_cell(source) for source in sources], metadata={"kernelspec": KERNELSPEC}
    )
    replies: list[dict] = []
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
        on_cell_executed=lambda cell, cell_index, execute_reply: replies.append(execute_reply),
    )
    log = tmp_path / "kernel.log"
    with log.open("wb") as sink:
        client.execute(stdout=sink, stderr=sink)
    path = tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)

    # the notebook really ran, with the key in play
    saved = path.read_text()
    outputs = {
        source: dumped(cell.outputs) for source, cell in zip(sources, notebook.cells, strict=True)
    }
    for phrase in ("Insufficient credits", "harassment", "cannot reach", "read timeout"):
        assert phrase in saved, phrase
    assert "Reply(" in outputs["repr(r)"]
    assert "I received 1 part" in outputs["%%gpt4o -o r\nhello"]
    session_cell = notebook.cells[sources.index(INSPECTION_CELLS[2])]
    assert any(o.get("text", "").strip() for o in session_cell.outputs), session_cell.outputs
    chats = [r for r in keyed_router.requests if r.path.endswith("/chat/completions")]
    assert len(chats) >= 20

    # …and the key is nowhere
    for source, text in outputs.items():
        assert leaks(text) == [], f"cell {source!r} shows the key: {text}"
    assert leaks(saved) == []
    assert leaks(log.read_text(errors="replace")) == []
    for reply in replies:  # error names, values and tracebacks the kernel sent
        assert leaks(dumped(reply)) == []
    assert files_on_disk_leak(tmp_path) == []


@pytest.fixture
def kernel_without_key(keyed_router, monkeypatch, tmp_path) -> Iterator[tuple[object, Path]]:
    """A kernel started with no OPENROUTER_API_KEY; its stdout/stderr go to a file."""
    monkeypatch.delenv("OPENROUTER_API_KEY")
    log = tmp_path / "kernel.log"
    manager = KernelManager(kernel_name="python3")
    with log.open("wb") as sink:
        manager.start_kernel(stdout=sink, stderr=sink)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield client, log
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


class Frontend:
    """Runs cells the way a notebook frontend does and keeps every message it saw."""

    def __init__(self, client) -> None:
        self.client = client
        self.cells: list[tuple[str, list[dict], dict]] = []
        self.input_requests: list[dict] = []

    def run(self, code: str, answer: str | None = None) -> tuple[dict, str]:
        outputs: list[dict] = []

        def on_stdin(msg: dict) -> None:
            self.input_requests.append(msg)
            assert msg["msg_type"] == "input_request"
            self.client.input(answer)

        reply = self.client.execute_interactive(
            code,
            timeout=60,
            allow_stdin=answer is not None,
            output_hook=outputs.append,
            stdin_hook=on_stdin,
        )
        self.cells.append((code, outputs, reply))
        text = "".join(
            m["content"].get("text", "") + m["content"].get("data", {}).get("text/plain", "")
            for m in outputs
        )
        return reply, text

    def notebook(self) -> nbformat.NotebookNode:
        cells = []
        for code, messages, _ in self.cells:
            cell = new_code_cell(code)
            kinds = ("stream", "display_data", "execute_result", "error")
            cell.outputs = [output_from_msg(m) for m in messages if m["msg_type"] in kinds]
            cells.append(cell)
        return new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC})


def test_key_entered_with_getpass_works_and_never_shows(kernel_without_key, keyed_router, tmp_path):
    client, log = kernel_without_key
    frontend = Frontend(client)
    frontend.run("%load_ext orjupyter")
    frontend.run("%config OrJupyter.max_retries = 0")

    reply, text = frontend.run("%%gpt4o\nhello")
    assert reply["content"]["status"] == "error"
    assert "OPENROUTER_API_KEY" in text
    assert keyed_router.requests == []

    # a wrong key is refused by the server: the key entered is the one used
    reply, text = frontend.run("%gpt4o key", answer="sk-or-v1-wrong-key")
    assert reply["content"]["status"] == "ok", text
    reply, text = frontend.run("%%gpt4o\nhello")
    assert reply["content"]["status"] == "error"
    assert "HTTP 401" in text

    reply, text = frontend.run("%gpt4o key", answer=TEST_KEY)
    assert reply["content"]["status"] == "ok", text
    assert all(m["content"]["password"] for m in frontend.input_requests)
    assert len(frontend.input_requests) == 2

    reply, text = frontend.run("%%gpt4o -o r\nhello")
    assert reply["content"]["status"] == "ok", text
    reply, text = frontend.run("print(r.outcome, r.text.splitlines()[0])")
    assert text.strip() == "ok I received 1 part:"
    reply, text = frontend.run("import os; print(os.environ.get('OPENROUTER_API_KEY'))")
    assert text.strip() == "None"
    for code in (
        "%config OrJupyter",
        "%config OrJupyter.api_key",
        "r",
        "repr(r)",
        "print(repr(get_ipython().magics_manager.registry['OrJupyterMagics'].session))",
        "%%gpt4o\n[[fake status=402]]",
        "%gpt4o usage",
    ):
        frontend.run(code)

    for code, messages, shell_reply in frontend.cells:
        for msg in messages:
            assert leaks(dumped(msg)) == [], f"{code!r}: iopub {msg['msg_type']} shows the key"
        assert leaks(dumped(shell_reply)) == [], code
    for request in frontend.input_requests:
        assert leaks(dumped(request)) == []
    path = tmp_path / "entered.ipynb"
    nbformat.write(frontend.notebook(), path)
    assert "I received 1 part" in path.read_text()
    assert leaks(path.read_text()) == []
    assert leaks(log.read_text(errors="replace")) == []
    assert files_on_disk_leak(tmp_path) == []
