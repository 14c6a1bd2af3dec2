"""A hostile server in JupyterLab: the key it reflects never reaches the page (the live
panel's "retrying…" line included) or the saved notebook, and a cut answer says so."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import notebook_opener, wait_for
from conftest import TEST_KEY

from orjupyter.fakerouter.hostile import HostileRouter

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileRouter]:
    with HostileRouter() as server:
        yield server


@pytest.fixture
def open_notebook(lab: Any, context: Any, request: pytest.FixtureRequest) -> Iterator[object]:
    yield from notebook_opener(lab, context, f"{request.node.name}.ipynb")


def test_the_page_and_the_saved_notebook_never_show_a_reflected_key(
    open_notebook: Any, lab: Any, hostile_server: HostileRouter, tmp_path: Any
) -> None:
    sources = [
        "%load_ext orjupyter",
        f'%config OrJupyter.base_url = "{hostile_server.base_url}"\n'
        "%config OrJupyter.max_retries = 1",
        "%%gpt4o\n[[hostile truncated]] browser",
        "%%gpt4o --max-tokens 5\n[[hostile length]] browser",
        "%%gpt4o\n[[hostile reflect=429]] browser",  # last: a failed cell stops the queue
    ]
    notebook = open_notebook(*sources)
    retrying_seen: list[str] = []

    def all_run() -> bool:
        text = notebook.page.content()
        if "retrying in" in text:
            retrying_seen.append(text)
        return all(notebook.prompt_number(i) is not None for i in range(len(sources)))

    notebook.run_cells(0, len(sources))
    wait_for(all_run, 90, "every cell to run")
    page = notebook.page.content()
    assert "Invalid credentials for Authorization: &lt;key hidden&gt;" in page
    assert "incomplete answer: the stream ended before the model finished" in page
    assert "hit max_tokens" in page
    for seen in [page, *retrying_seen]:
        assert TEST_KEY not in seen
        assert TEST_KEY[9:33] not in seen
    notebook.page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)
    notebook.save()
    saved = (lab.root / notebook.name).read_text()
    assert "incomplete answer" in saved
    assert TEST_KEY not in saved
