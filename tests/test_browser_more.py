"""More of `%%gpt4o` in a browser: the kernel interrupt, `--bg`, and Jupyter Notebook 7.

Like `test_browser.py`: one JupyterLab server (and, for the last test, one Jupyter
Notebook 7 server) whose kernels talk to a local fake OpenRouter, one Chromium, and a
fresh notebook per test, driven by clicks and key presses.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from browser_support import (
    PANEL,
    PROBE_SOURCE,
    JupyterLab,
    NotebookPage,
    check_saved_answer,
    fake,
    normalise,
    notebook_opener,
    saved_outputs,
    saved_views,
    wait_for,
)
from conftest import lab_env

from orjupyter.core.domain import format_cost
from orjupyter.fakerouter import FakeRouter
from orjupyter.fakerouter.script import lorem

pytestmark = [
    pytest.mark.browser,
]

VIEWPORT = {"width": 1280, "height": 1000}


def slow(question: str) -> str:
    """A prompt answered with 400 words, one every 50 ms: 20 s unless stopped.

    Each test asks its own `question`, so no test is answered from another's cache.
    """
    return f"{question}\n[[fake words=400 delay=0.05]]"


OpenNotebook = Callable[..., NotebookPage]


# --- Jupyter Notebook 7 -------------------------------------------------------------


class JupyterNotebook(JupyterLab):
    """`jupyter notebook` (Notebook 7) with the same isolation as `JupyterLab`."""

    APP = "notebook"

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/notebooks/{name}?token={self.token}"


JS_NB7_KERNEL_IDLE = """() => {
    const name = document.querySelector(
        '.jp-NotebookPanel-toolbar .jp-KernelName .jp-ToolbarButtonComponent-label');
    const indicator = document.querySelector(
        '.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator');
    return !!name && name.innerText.trim() !== '' && name.innerText.trim() !== 'No Kernel'
        && !!indicator && indicator.getAttribute('data-status') === 'idle';
}"""


class Notebook7Page(NotebookPage):
    """The same driver on Notebook 7's page: no status bar, no dock panel tabs."""

    def open(self, timeout: float = 60.0) -> Notebook7Page:
        self.page.goto(self.lab.notebook_url(self.name))
        self.page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=timeout * 1000)
        self.wait_idle(timeout)
        return self

    def wait_idle(self, timeout: float = 60.0) -> None:
        """A kernel is named in the toolbar, connected (the server says so) and idle.

        The toolbar's indicator reads "idle" before a kernel is attached, then
        "connecting", then "idle" again; the server's view of the connection settles it.
        """

        def connected() -> bool:
            sessions = self.lab.api("GET", "/api/sessions")
            kernels = [s["kernel"] for s in sessions if s.get("path") == self.name]
            return any(
                k.get("connections", 0) >= 1 and k["execution_state"] == "idle" for k in kernels
            )

        wait_for(connected, timeout, "the kernel to be connected", interval=0.1)
        self.page.wait_for_function(JS_NB7_KERNEL_IDLE, timeout=timeout * 1000)

    def save(self) -> None:
        """Ctrl+S; the caller waits for the file to hold what it expects."""
        self.page.keyboard.press("Control+s")


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def notebook7(
    tmp_path_factory: pytest.TempPathFactory, lab_router: FakeRouter
) -> Iterator[JupyterNotebook]:
    server = JupyterNotebook(tmp_path_factory.mktemp("notebook7"), lab_env(lab_router))
    try:
        server.start()
        yield server
    finally:
        server.stop()


NOTEBOOK7_LOAD_ERROR = "Cannot read properties of undefined (reading 'schema')"
"""Notebook 7.6's page throws this while loading (its keyboard-shortcut settings handler,
in notebook_core.js), with or without orjupyter: a plain `1 + 1` notebook does too."""


@pytest.fixture
def router(lab_router: FakeRouter) -> FakeRouter:
    """The kernels' local OpenRouter, holding this test's records only."""
    lab_router.reset()
    return lab_router


@pytest.fixture
def open_notebook7(
    notebook7: JupyterNotebook, context: Any, router: FakeRouter, request: pytest.FixtureRequest
) -> Iterator[OpenNotebook]:
    """Write this test's notebook and open it in Jupyter Notebook 7."""
    yield from notebook_opener(
        notebook7,
        context,
        f"{request.node.name}.ipynb",
        Notebook7Page,
        known_errors=(NOTEBOOK7_LOAD_ERROR,),
    )


# --- helpers ------------------------------------------------------------------------


def loaded(open_notebook: OpenNotebook, *cells: str) -> NotebookPage:
    """A notebook whose first cell (`%load_ext orjupyter`) has been run."""
    notebook = open_notebook("%load_ext orjupyter", *cells)
    notebook.run_and_wait(0)
    return notebook


def gpt4o(prompt: str, options: str = "") -> str:
    return f"%%gpt4o {options}".rstrip() + f"\n{prompt}"


def panel_shown(notebook: NotebookPage, index: int, timeout: float = 30.0) -> None:
    """Wait for the live panel under cell `index`; say what the cell shows if it never comes."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        notebook.wait_panel(index, timeout)
    except PlaywrightTimeout:
        raise AssertionError(
            f"no live panel in cell {index} after {timeout} s; prompt "
            f"{notebook.prompt_number(index)}, output {output_text(notebook, index)!r}"
        ) from None


def words_shown(notebook: NotebookPage, index: int, at_least: int = 6) -> str:
    """Wait for the live panel to show some words; the text shown."""
    panel_shown(notebook, index)

    def words() -> str:
        text = normalise(notebook.panel_text(index))
        return text if len(text.split()) >= at_least else ""

    return wait_for(words, 20, f"some words in cell {index}'s panel")


def final_or_empty(notebook: NotebookPage, index: int) -> dict[str, Any]:
    """The cell's final output, or {} while the live panel is still there."""
    return notebook.final(index) or {}


def wait_stopped(notebook: NotebookPage, index: int) -> dict[str, Any]:
    """The final output of a stopped answer: it comes long before the whole answer would
    have (20 s). How quickly is measured in benchmarks/stopping.py, not asserted here."""
    final = wait_for(
        lambda: final_or_empty(notebook, index), 10, "the stopped answer", interval=0.02
    )
    assert final["status"].startswith("stopped · "), final["status"]
    assert final["error"] is None, final["error"]
    return final


def stop_with_button(notebook: NotebookPage, index: int, shown: str, router: FakeRouter) -> None:
    """Click the panel's Stop: the answer ends in time, keeps what was `shown`, and the
    server sees the client go."""
    stop = notebook.cell(index).locator(".orj-panel button", has_text="Stop")
    stop.click()
    final = wait_stopped(notebook, index)
    check_partial(final, shown)
    check_disconnected(router)


def check_partial(final: dict[str, Any], shown: str) -> None:
    """The words shown before stopping are still there, and no more than were sent."""
    text = normalise(final["answer"])
    assert text.startswith(shown), "the text shown before stopping was lost"
    assert lorem(400).startswith(text), f"unexpected text: {text[:80]!r}…"
    assert len(shown.split()) <= len(text.split()) < 400


def check_disconnected(router: FakeRouter) -> None:
    """The server saw exactly one client go away mid-stream, and did not finish that answer.

    Called again at the end of a test, when a second disconnection would have shown.
    """
    gone = wait_for(
        lambda: [e for e in router.events if e["event"] == "client_disconnected"],
        5,
        "the server to see the client go",
    )
    assert len(gone) == 1, gone
    assert 0 < int(str(gone[0]["after_chunks"])) < 400
    completed = [e for e in router.events if e["event"] == "completed"]
    assert not [e for e in completed if e["id"] == gone[0]["id"]]


def error_outputs(notebook: NotebookPage, index: int) -> list[str]:
    """Tracebacks and stderr text in the cell's output, as shown."""
    return list(
        notebook.cell(index)
        .locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
        )
        .all_inner_texts()
    )


def output_text(notebook: NotebookPage, index: int) -> str:
    return "\n".join(notebook.cell(index).locator(".jp-OutputArea-output").all_inner_texts())


def check_next_answer(notebook: NotebookPage, index: int, router: FakeRouter, reply: str) -> None:
    """Cell `index` (a `%%gpt4o` cell asking for `reply`) runs and answers normally."""
    notebook.run(index)
    final = notebook.wait_final(index, timeout=20)
    assert normalise(final["answer"]) == normalise(reply)
    assert final["error"] is None
    assert not final["status"].startswith(("stopped", "error", "cached")), final["status"]
    wait_for(
        lambda: [e for e in router.events if e["event"] == "completed"],
        5,
        "the next answer to be completed",
    )


# --- the kernel interrupt -----------------------------------------------------------


def test_toolbar_interrupt_stops_the_answer(
    open_notebook: OpenNotebook, router: FakeRouter
) -> None:
    after = "Answered after the toolbar interrupt."
    notebook = loaded(
        open_notebook, gpt4o(slow("Toolbar interrupt?")), gpt4o(fake(after, chunks=4))
    )
    notebook.run(1)
    shown = words_shown(notebook, 1)

    button = notebook.page.locator(
        f'{PANEL} .jp-NotebookPanel-toolbar jp-button[title="Interrupt the kernel"]'
    )
    button.click()
    final = wait_stopped(notebook, 1)
    check_interrupted_gracefully(notebook, final, shown, router, after)


def check_interrupted_gracefully(
    notebook: NotebookPage, final: dict[str, Any], shown: str, router: FakeRouter, after: str
) -> None:
    """Cell 1's interrupted answer kept what was `shown`, left no error, closed the stream;
    cell 2 then answers `after` normally."""
    check_partial(final, shown)
    assert error_outputs(notebook, 1) == [], "the interrupt left an error in the cell"
    check_disconnected(router)
    check_next_answer(notebook, 2, router, after)
    check_disconnected(router)


def test_i_i_interrupts_the_answer(open_notebook: OpenNotebook, router: FakeRouter) -> None:
    after = "Answered after I, I."
    notebook = loaded(open_notebook, gpt4o(slow("I, I?")), gpt4o(fake(after, chunks=4)))
    notebook.run(1)
    shown = words_shown(notebook, 1)

    keyboard = notebook.page.keyboard
    keyboard.press("Escape")  # command mode
    keyboard.press("i")
    keyboard.press("i")
    final = wait_stopped(notebook, 1)
    check_interrupted_gracefully(notebook, final, shown, router, after)


# --- --bg ---------------------------------------------------------------------------


def panel_grows(notebook: NotebookPage, index: int, than: str, what: str) -> str:
    """Wait for the live panel's text to grow beyond `than`, with no final output yet."""

    def grown() -> str:
        assert notebook.final(index) is None, f"the answer finished before {what}"
        text = normalise(notebook.panel_text(index))
        return text if len(text) > len(than) and text.startswith(than) else ""

    return wait_for(grown, 5, f"cell {index}'s panel to keep growing {what}")


def test_bg_cell_returns_while_the_answer_streams_and_stop_works(
    open_notebook: OpenNotebook, router: FakeRouter
) -> None:
    notebook = loaded(
        open_notebook,
        gpt4o(slow("In the background?"), "--bg -o r"),
        "6 * 7",
        "r.wait().outcome",
    )
    notebook.run(1)
    panel_shown(notebook, 1)
    wait_for(lambda: notebook.prompt_number(1), 10, "cell A's prompt number (the cell ended)")
    assert notebook.final(1) is None, "the answer finished before cell A returned"
    text = panel_grows(notebook, 1, normalise(notebook.panel_text(1)), "after cell A ended")

    notebook.run(2)
    wait_for(lambda: "42" in output_text(notebook, 2), 10, "cell B's 42")
    assert notebook.prompt_number(2) is not None
    text = panel_grows(notebook, 1, normalise(notebook.panel_text(1)), "after cell B ran")

    stop_with_button(notebook, 1, text, router)

    notebook.run(3)
    wait_for(lambda: notebook.prompt_number(3), 10, "cell C to finish")
    check_disconnected(router)
    shown = output_text(notebook, 3)
    assert "'stopped'" in shown, f"cell C `r.wait().outcome` shows: {shown!r}"


BG_ANSWER = (
    "A background answer, in two paragraphs.\n\n"
    + " ".join(f"word{k}" for k in range(60))
    + "\n\nThe last line of the background answer."
)


QUICK_BG_ANSWER = "A quick background answer, ended before the browser drew it live."


def check_one_quick_bg_answer(notebook: NotebookPage, index: int) -> None:
    """Cell `index` (a `--bg` cell asking for `QUICK_BG_ANSWER`) then the next cell run:
    the answer shows once in its cell, and nowhere else."""
    notebook.run(index)
    final = notebook.wait_final(index, timeout=20)
    assert normalise(final["answer"]) == normalise(QUICK_BG_ANSWER)
    notebook.run_and_wait(index + 1)
    for k in range(index, index + 2):
        shown = notebook.output_area(k).inner_text()
        assert shown.count(QUICK_BG_ANSWER) == (1 if k == index else 0), f"cell {k}: {shown!r}"
    assert notebook.output_area(index).locator("div.orj-status").count() == 1


def test_bg_final_answer_replaces_the_panel_and_is_saved(
    open_notebook: OpenNotebook, lab: JupyterLab
) -> None:
    notebook = loaded(
        open_notebook,
        gpt4o(fake(BG_ANSWER, chunks=30, delay=0.05), "--bg -o r"),
        gpt4o(fake(QUICK_BG_ANSWER), "--bg"),
        "6 * 7",
    )
    notebook.run(1)
    panel_shown(notebook, 1)
    wait_for(lambda: notebook.prompt_number(1), 10, "cell A's prompt number (the cell ended)")
    final = notebook.wait_final(1, timeout=20)
    assert notebook.cell(1).locator(".orj-panel").count() == 0, "the panel is still there"
    assert normalise(final["answer"]) == normalise(BG_ANSWER)
    assert final["error"] is None
    assert "notebook total" in final["status"], final["status"]
    assert not final["status"].startswith(("stopped", "error")), final["status"]

    notebook.save()

    def saved_cell() -> Any:
        cell = lab.read_notebook(notebook.name).cells[1]
        return cell if saved_outputs(cell)[0] else None

    # the answer, as an ordinary display_data, and at most the action bar's widget view
    output = check_saved_answer(wait_for(saved_cell, 10, "cell A's final answer in the saved file"))
    saved_html = output["data"]["text/html"]
    assert "The last line of the background answer." in saved_html
    assert "word59" in saved_html
    assert "notebook total" in saved_html

    # an answer that ends before the browser has drawn it live shows once too
    check_one_quick_bg_answer(notebook, 2)


# --- Jupyter Notebook 7 -------------------------------------------------------------

NB7_ANSWER = "\n\n".join(
    " ".join(f"{word}{p}" for word in ("one", "two", "three", "four", "five", "six") * 3)
    for p in range(4)
)


def test_notebook7_streams_stops_and_keeps_the_answers(
    open_notebook7: OpenNotebook, notebook7: JupyterNotebook, router: FakeRouter
) -> None:
    notebook = loaded(
        open_notebook7,
        gpt4o(fake(NB7_ANSWER, chunks=40, delay=0.1)),
        gpt4o(slow("Notebook 7?")),
        PROBE_SOURCE,
    )

    # streams: growing renderings, then the final answer as sent
    notebook.run(1)
    panel_shown(notebook, 1)
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while (final := notebook.final(1)) is None:
        assert time.monotonic() < deadline, "the answer never finished"
        text = normalise(notebook.panel_text(1))
        if text and (not seen or text != seen[-1]):
            seen.append(text)
        time.sleep(0.1)
    went_back = [(a, b) for a, b in itertools.pairwise(seen) if not b.startswith(a)]
    assert not went_back, f"the panel's text went back: {went_back[:3]}"
    assert len(seen) >= 3, f"only {len(seen)} renderings seen while streaming: {seen}"
    assert normalise(final["answer"]) == normalise(NB7_ANSWER)
    assert final["error"] is None
    [usage] = wait_for(router.billed, 5, "the bill")
    cost = Decimal(str(usage["cost"]))
    assert f" · {format_cost(cost)} · " in final["status"], (
        f"the billed cost {format_cost(cost)} is not in {final['status']!r}"
    )

    # Stop
    notebook.run(2)
    shown = words_shown(notebook, 2)
    stop_with_button(notebook, 2, shown, router)

    # save, shut the kernel down, reopen
    notebook.run(3)
    notebook.wait_typeset(3)
    # the stopped answer's estimate gives way to OpenRouter's bill (/generation) a moment
    # after the stop: what is saved, and shown again on reopening, is the billed line
    settled = wait_for(
        lambda: "(estimated)" not in (stopped := notebook.wait_final(2))["status"] and stopped,
        20,
        "the stopped answer's bill",
    )
    before = [notebook.wait_final(1), settled]
    notebook.save()

    def saved() -> bool:
        cells = notebook7.read_notebook(notebook.name).cells
        answers = all(len(saved_outputs(cell)[0]) == 1 for cell in cells[1:3])
        return answers and bool(cells[3].outputs)

    wait_for(saved, 10, "the answers in the saved file")
    saved_cells = notebook7.read_notebook(notebook.name).cells
    usage_lines, views = [], []
    for cell in saved_cells[1:3]:
        output = check_saved_answer(cell)  # and, at most, the action bar's widget view
        usage_lines.append(output["data"]["text/plain"].splitlines()[-1])
        views.append(saved_views(cell))

    notebook7.shutdown_kernels()
    wait_for(lambda: not notebook7.kernels(), 10, "the kernel to shut down")
    notebook.page.close()

    reopened = open_notebook7()
    reopened.wait_typeset(3)
    after = [final_or_empty(reopened, 1), final_or_empty(reopened, 2)]
    for old, new, line in zip(before, after, usage_lines, strict=True):
        assert new, "an answer is missing after reopening"
        assert normalise(new["answer"]) == normalise(old["answer"])
        assert new["status"] == old["status"] == line
    assert f" · {format_cost(cost)} · " in after[0]["status"]
    assert after[1]["status"].startswith("stopped · ")
    for index, count in zip((1, 2), views, strict=True):
        reopened.check_no_dead_widgets(index, count)
    body = reopened.page.locator("body").inner_text()
    assert "Error displaying widget" not in body
    check_disconnected(router)


NB7_CODE = "def greet(name: str) -> str:\n    return f'hello {name}'\n\n\nprint(greet('notebook'))"


def test_notebook7_inserts_the_answers_code_as_a_cell(
    open_notebook7: OpenNotebook, notebook7: JupyterNotebook
) -> None:
    answer = f"Here:\n\n```python\n{NB7_CODE}\n```\n"
    notebook = loaded(open_notebook7, gpt4o(fake(answer, chunks=4)), "x = 1")
    notebook.run(1)
    notebook.wait_final(1)
    insert = notebook.cell(1).locator(".orj-actions button", has_text="Insert as cell")
    insert.wait_for(state="visible", timeout=20_000)
    cells = notebook.page.locator(f"{PANEL} .jp-Notebook .jp-Cell")
    assert cells.count() == 3

    insert.click()
    wait_for(lambda: cells.count() == 4, 10, "a new cell")
    notebook.cell(2).locator(".jp-InputArea-editor").click()  # focus back in the notebook
    notebook.page.keyboard.press("Escape")
    notebook.save()

    def saved() -> list[str] | None:
        sources = [cell.source for cell in notebook7.read_notebook(notebook.name).cells]
        return sources if len(sources) == 4 else None

    sources = wait_for(saved, 10, "the new cell in the saved file")
    assert sources[2] == NB7_CODE
    assert sources[3] == "x = 1"


@pytest.fixture
def open_notebook_without_anywidget(
    tmp_path_factory: pytest.TempPathFactory,
    lab_router: FakeRouter,
    context: Any,
    request: pytest.FixtureRequest,
) -> Iterator[OpenNotebook]:
    """JupyterLab whose frontend lacks anywidget, as when the server runs in another
    environment than the kernel (the kernel's environment has orjupyter and anywidget)."""
    base = tmp_path_factory.mktemp("lab-without-anywidget")
    server = JupyterLab(base, lab_env(lab_router), disabled=["anywidget"])
    try:
        server.start()
        yield from notebook_opener(server, context, f"{request.node.name}.ipynb", NotebookPage)
    finally:
        server.stop()


def test_a_frontend_without_anywidget_shows_the_answer_and_hides_the_bars_placeholder(
    open_notebook_without_anywidget: OpenNotebook,
) -> None:
    answer = f"Here:\n\n```python\n{NB7_CODE}\n```\n"
    notebook = loaded(open_notebook_without_anywidget, gpt4o(fake(answer, chunks=3)))
    notebook.run(1)
    final = notebook.wait_final(1)
    assert NB7_CODE in final["answer"]
    # the bar (a widget this frontend cannot draw) is there, and hidden: no error box
    failed = notebook.output_area(1).locator(".jupyter-widgets-error-widget")
    wait_for(lambda: failed.count() == 1, 10, "the unloadable bar's placeholder")
    assert not failed.is_visible()
    assert "error" not in notebook.output_area(1).inner_text().lower()


def test_a_frontend_without_anywidget_streams_and_shows_the_answer_once_complete(
    open_notebook_without_anywidget: OpenNotebook,
) -> None:
    notebook = loaded(
        open_notebook_without_anywidget,
        gpt4o(fake(NB7_ANSWER, chunks=40, delay=0.1)),
        gpt4o(fake(QUICK_BG_ANSWER), "--bg"),
        "6 * 7",
    )
    notebook.run(1)
    final = notebook.wait_final(1)
    assert normalise(final["answer"]) == normalise(NB7_ANSWER)
    assert final["error"] is None
    # `--bg`: the live answer is never drawn here, and the answer shows once, in place
    check_one_quick_bg_answer(notebook, 2)
