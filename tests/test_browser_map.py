"""`%%gpt4o --map` in JupyterLab: the progress panel moves while rows are answered, and its
Stop ends the run, keeping the finished rows."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from browser_support import NotebookPage, normalise, screenshots_for_docs, wait_for

from orjupyter.fakerouter import FakeRouter

pytestmark = [pytest.mark.browser]

OpenNotebook = Callable[..., NotebookPage]
ROWS = 40
_DONE = re.compile(r"(\d+)/40 rows")


@pytest.fixture
def router(lab_router: FakeRouter) -> FakeRouter:
    lab_router.reset()
    return lab_router


def rows_done(notebook: NotebookPage, index: int) -> int | None:
    line = notebook.cell(index).locator(".orj-map-panel .orj-status")
    if not line.count():
        return None
    match = _DONE.search(line.inner_text())
    return int(match.group(1)) if match else None


def test_the_progress_panel_moves_and_its_stop_keeps_the_finished_rows(
    open_notebook: OpenNotebook, router: FakeRouter
) -> None:
    notebook = open_notebook(
        "%load_ext orjupyter",
        f"items = [f'row {{i}} [[fake words=5 delay=0.1]]' for i in range({ROWS})]",
        "%%gpt4o --map items -o out --concurrency 2\n{item}",
        "print(sum(v is not None for v in out), sorted(set(out_errors.values())))",
    )
    notebook.run_and_wait(0)
    notebook.run_and_wait(1)
    notebook.run(2)
    panel = notebook.cell(2).locator(".orj-map-panel")
    panel.wait_for(timeout=60_000)
    first = wait_for(lambda: rows_done(notebook, 2), 30, "a first row done")
    later = wait_for(
        lambda: (n := rows_done(notebook, 2)) is not None and n > first and n, 30, "more rows"
    )
    assert first < later < ROWS
    text = normalise(panel.inner_text())
    assert "billed $" in text
    assert "rows/s" in text
    assert "left" in text
    shots = screenshots_for_docs()
    if shots:
        notebook.cell(2).screenshot(path=str(shots / "map-progress.png"))

    panel.locator("button", has_text="Stop").click()
    summary = notebook.cell(2).locator(".orj-map-summary")
    summary.wait_for(timeout=10_000)  # Stop ends the run at once, not after every row
    said = normalise(summary.inner_text())
    assert re.match(r"40 rows · \d+ answered · 0 failed · (\d+ stopped · )?\d+ not sent", said)
    answered = int(said.split(" · ")[1].split()[0])
    assert later <= answered < ROWS
    assert not panel.count(), "the live panel stays after the run"

    notebook.run_and_wait(3)
    printed = normalise(notebook.output_area(3).inner_text())
    assert printed.startswith(f"{answered} [")
    assert "not sent" in printed
    assert len(router.requests) < ROWS
