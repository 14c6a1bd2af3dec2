"""`--tools` in JupyterLab: the log of calls above the answer, and approvals by clicking
Approve, Deny and Approve all (the cell awaits on the kernel's loop, so clicks land)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from browser_support import NotebookPage, wait_for

from orjupyter.fakerouter import FakeRouter

pytestmark = [pytest.mark.browser]

OpenNotebook = Callable[..., NotebookPage]
TOOLS = '''
import orjupyter
ran = []

def lookup(city: str) -> str:
    """The weather in a city."""
    ran.append(city)
    return f"{city}: 12 C"

@orjupyter.tool(approve=True)
def wipe(folder: str) -> str:
    """Delete a folder."""
    ran.append("wipe " + folder)
    return "wiped"
'''


@pytest.fixture
def router(lab_router: FakeRouter) -> FakeRouter:
    lab_router.reset()
    return lab_router


def shot(notebook: NotebookPage, name: str) -> None:
    folder = os.environ.get("ORJUPYTER_SCREENSHOTS")
    if folder:
        notebook.page.screenshot(path=f"{folder}/{name}.png")


def test_clicking_approve_and_deny_in_jupyterlab(open_notebook: OpenNotebook, router) -> None:
    notebook = open_notebook(
        "%load_ext orjupyter",
        TOOLS,
        "%%gpt4o --tools lookup,wipe -o r --no-cache\n"
        "[[fake call=lookup,wipe,wipe delay=0.02]] Clean up after checking Oslo",
        "ran, [s.ok for s in r.steps]",
    )
    notebook.run_and_wait(0)
    notebook.run_and_wait(1)
    notebook.run(2)
    area = notebook.output_area(2)
    approve = area.get_by_role("button", name="Approve", exact=True)
    approve.wait_for(timeout=30_000)
    wait_for(lambda: "wants to run" in area.inner_text(), 10, "the approval")
    assert "wipe(folder='sample')" in area.inner_text()
    shot(notebook, "tools-approval")
    approve.click()
    deny = area.get_by_role("button", name="Deny", exact=True)
    wait_for(lambda: "wipe: approved" in area.inner_text() and deny.count() == 1, 20, "the second")
    deny.click()
    wait_for(lambda: "Tool results:" in area.inner_text(), 30, "the answer")
    wait_for(lambda: notebook.prompt_number(2) is not None, 30, "the cell to end")
    text = area.inner_text()
    assert "→ lookup(city='sample')" in text
    assert "← 'sample: 12 C'" in text
    assert "wipe: denied" in text
    assert "2 rounds · 3 calls" in text
    shot(notebook, "tools-done")
    notebook.run_and_wait(3)
    shown = notebook.output_area(3).inner_text()
    assert "(['sample', 'wipe sample'], [True, True, False])" in shown


def test_the_status_line_says_which_call_runs(open_notebook: OpenNotebook, router) -> None:
    notebook = open_notebook(
        "%load_ext orjupyter",
        'import time\n\ndef slow_lookup(city: str = "Oslo") -> str:\n'
        '    """The weather in a city, slowly."""\n    time.sleep(4)\n    return city + ": 12 C"',
        "%%gpt4o --tools slow_lookup --no-cache\nWhat is the weather in Oslo?",
    )
    notebook.run_and_wait(0)
    notebook.run_and_wait(1)
    notebook.run(2)
    area = notebook.output_area(2)
    status = area.locator(".orj-status")
    wait_for(
        lambda: "round 1 · running slow_lookup(city='Oslo')…" in status.inner_text(),
        30,
        "the status line to name the call",
    )
    shot(notebook, "tools-running")
    wait_for(lambda: "slow_lookup: Oslo: 12 C" in area.inner_text(), 30, "the answer")
    wait_for(lambda: notebook.prompt_number(2) is not None, 30, "the cell to end")
    assert "1 tool call" in area.inner_text()
