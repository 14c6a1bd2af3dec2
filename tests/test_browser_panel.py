"""`%gpt4o panel` in JupyterLab: the notebook's live panel follows an answer streaming in
another cell, without a page reload."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from browser_support import JupyterLab, NotebookPage, fake, wait_for

from orjupyter.fakerouter.script import lorem
from orjupyter.render.notebook_summary import SAVED_TEXT

pytestmark = [pytest.mark.browser]

IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
OpenNotebook = Callable[..., NotebookPage]

JS_FIELDS = """panel => Object.fromEntries(Array.from(
    panel.querySelectorAll('.orj-np-field')).map(
        el => [el.dataset.orjField, el.querySelector('.orj-np-value').innerText]))"""


def test_notebook_panel_changes_while_an_answer_streams_in_another_cell(
    open_notebook: OpenNotebook, tmp_path: Path
) -> None:
    notebook = open_notebook(
        "%load_ext orjupyter",
        "%gpt4o budget 1.00",
        "%%gpt4o\nWhat is a notebook panel?",
        f"%%gpt4o\n{fake(lorem(40), chunks=40)}",
        "%gpt4o panel",
        f"%%gpt4o\n{fake(lorem(160), chunks=160, delay=0.04)}",
    )
    notebook.page.keyboard.press("Control+b")  # hide the file browser: a wider notebook
    for index in range(5):
        notebook.run_and_wait(index)
    panel = notebook.cell(4).locator(".orj-notebook-panel")
    panel.wait_for()
    wait_for(lambda: panel.evaluate(JS_FIELDS).get("calls") == "2", 20, "the first calls")
    notebook.page.evaluate("() => { window.__orjSamePage = true; }")

    notebook.run(5)
    flying = panel.locator(".orj-np-flying .orj-np-line")
    lines: list[str] = []
    deadline = time.monotonic() + 40
    while notebook.final(5) is None:
        assert time.monotonic() < deadline, "the answer never finished"
        shown = flying.all_inner_texts()  # at once: the line may go as the call ends
        if shown:
            line = shown[0]
            if not lines or line != lines[-1]:
                lines.append(line)
            if len(lines) == 3:
                panel.screenshot(path=tmp_path / "notebook-panel.png", animations="disabled")
        time.sleep(0.1)

    # while it streamed, the panel listed it under its cell, with more text each time
    assert len(lines) >= 3, f"the panel changed only {len(lines)} times: {lines}"
    assert all(line.startswith("[6] openai/gpt-4o") for line in lines), lines
    counts = [line.split(" · ")[-1] for line in lines if line.endswith(" characters")]
    received = [int(count.split()[0].replace(",", "")) for count in counts]
    assert len(received) >= 2, lines
    assert received == sorted(received), lines
    assert received[0] < received[-1], lines

    # once recorded, the panel counts it, and its total is the status line's notebook total
    wait_for(lambda: panel.evaluate(JS_FIELDS).get("calls") == "3", 20, "the streamed call")
    wait_for(lambda: flying.count() == 0, 20, "the call to leave the in-flight list")
    status = notebook.wait_final(5)["status"]
    billed = panel.evaluate(JS_FIELDS)["cost"]
    assert f"notebook total {billed} (3 calls)" in status, (billed, status)
    assert "[6]" in panel.locator(".orj-np-recent").inner_text()
    assert notebook.page.evaluate("() => window.__orjSamePage === true"), "the page reloaded"

    if os.environ.get("ORJUPYTER_SCREENSHOTS") == "1":  # by hand, for the docs
        shutil.copy(tmp_path / "notebook-panel.png", IMAGES / "notebook-panel.png")


def test_a_saved_panel_says_what_was_there_once_its_kernel_is_gone(
    open_notebook: OpenNotebook, lab: JupyterLab
) -> None:
    notebook = open_notebook("%load_ext orjupyter", "%gpt4o panel")
    notebook.run_and_wait(0)
    notebook.run_and_wait(1)
    notebook.cell(1).locator(".orj-notebook-panel").wait_for()
    assert SAVED_TEXT not in notebook.output_area(1).inner_text()  # the live panel is there
    notebook.save()
    lab.shutdown_kernels()
    wait_for(lambda: not lab.kernels(), 10, "the kernel to shut down")
    notebook.page.close()

    reopened = open_notebook()
    reopened.check_no_dead_widgets(1, 1)
    assert SAVED_TEXT in reopened.output_area(1).inner_text()


def test_usage_dashboard_lists_the_notebooks_calls(
    open_notebook: OpenNotebook, tmp_path: Path
) -> None:
    notebook = open_notebook(
        "%load_ext orjupyter",
        "%%gpt4o\nWhat is a ledger?",
        f"%%gpt4o\n{fake(lorem(60), chunks=60)}",
        f"%%gpt4o\n{fake(lorem(20), chunks=20)}",
        "%gpt4o usage",
    )
    notebook.page.keyboard.press("Control+b")  # hide the file browser: a wider notebook
    for index in range(5):
        notebook.run_and_wait(index)
    dashboard = notebook.output_area(4)
    dashboard.locator("svg polyline").wait_for()
    text = dashboard.inner_text()
    assert "3 calls" in text, text
    assert text.count("openai/gpt-4o-2024-11-20") >= 4, text  # per model, and each call
    dashboard.screenshot(path=tmp_path / "dashboard.png", animations="disabled")
    if os.environ.get("ORJUPYTER_SCREENSHOTS") == "1":  # by hand, for the docs
        shutil.copy(tmp_path / "dashboard.png", IMAGES / "dashboard.png")


def test_the_panel_opens_beside_the_notebook_with_side(open_notebook: OpenNotebook) -> None:
    pytest.importorskip("sidecar", reason="`--side` needs jupyterlab-sidecar (the test extras)")
    notebook = open_notebook(
        "%load_ext orjupyter",
        "%gpt4o panel --side",
        f"%%gpt4o\n{fake('Beside the notebook.', chunks=3)}",
    )
    for index in range(3):
        notebook.run_and_wait(index)
    page = notebook.page
    # the panel is in JupyterLab's side area, not in a cell's output
    side = page.locator(".jp-LinkedOutputView .orj-notebook-panel, .jp-Sidecar .orj-notebook-panel")
    side.wait_for(timeout=20_000)
    assert notebook.cell(1).locator(".orj-notebook-panel").count() == 0
    wait_for(lambda: side.evaluate(JS_FIELDS).get("calls") == "1", 20, "the call in the panel")
    status = notebook.wait_final(2)["status"]
    assert f"notebook total {side.evaluate(JS_FIELDS)['cost']} (1 call)" in status
