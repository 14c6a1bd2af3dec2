"""Sessions, prompt caching and attribution, in real kernels against the local server."""

from __future__ import annotations

import json

import nbformat
from notebook_support import execute, streamed

from orjupyter.fakerouter import FakeRouter


def shown(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs if "data" in o)


def test_every_request_carries_a_session_per_notebook_not_its_path(router: FakeRouter, tmp_path):
    private = "/home/ana/clients/acme-merger/due-diligence.ipynb"
    execute(
        tmp_path,
        f"__vsc_ipynb_file__ = {private!r}\n%load_ext orjupyter",
        "%%gpt4o\nfirst",
        "%gpt4o --no-cache second",
    )
    execute(tmp_path, "__vsc_ipynb_file__ = '/home/ana/other.ipynb'\n%load_ext orjupyter",
            "%gpt4o third")  # fmt: skip
    sessions = [r.body.get("session_id") for r in router.requests]
    assert len(sessions) == 3
    assert sessions[0] == sessions[1]  # stable within a notebook
    assert sessions[2] != sessions[0]  # different between notebooks
    for session in sessions:
        assert isinstance(session, str)
        assert 0 < len(session) <= 256
        assert "acme" not in session
        assert "ana" not in session
    headers = router.requests[0].headers
    assert headers["x-openrouter-title"] == "orjupyter"
    assert headers["x-title"] == "orjupyter"  # the legacy name, for older deployments
    assert headers["http-referer"].startswith("https://")


def test_cached_prompt_tokens_show_in_the_status_line_the_reply_and_the_dashboard(
    router: FakeRouter, tmp_path
):
    notebook = execute(
        tmp_path,
        "%load_ext orjupyter\ncontext = 'The quarterly figures, line by line. ' * 400",
        "%%gpt4o -o first\n{context}\nWhat stands out?",
        "%%gpt4o -o again --no-cache\n{context}\nWhat stands out?",
        "print(first.usage.cached_tokens, again.usage.cached_tokens, again.usage.prompt_tokens)",
        "%gpt4o usage",
    )
    first, again, prompt = map(int, streamed(notebook.cells[3]).split())
    billed = [u["prompt_tokens_details"]["cached_tokens"] for u in router.billed()]
    assert billed == [0, again]
    assert first == 0
    assert 1024 <= again <= prompt
    status = shown(notebook.cells[2])
    assert f"{prompt:,} prompt ({again:,} cached) + " in status
    assert "cached)" not in shown(notebook.cells[1])
    meta = [o["metadata"]["orjupyter"] for o in notebook.cells[2].outputs if "metadata" in o
            and "orjupyter" in o["metadata"]]  # fmt: skip
    assert meta[-1]["cached_tokens"] == again
    dashboard = shown(notebook.cells[4])
    assert f"{again:,} prompt tokens cached, which saved $" in dashboard
    assert f"{prompt:,} ({again:,} cached)" in dashboard
    assert json.dumps(dashboard)
