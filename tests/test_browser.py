"""`%%gpt4o` in JupyterLab, driven in Chromium the way a person uses it.

One JupyterLab server (its kernels talk to a local fake OpenRouter) and one browser
serve the whole module; each test writes a fresh notebook, opens it in a new page,
clicks into cells and presses Shift+Enter.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser_support import (
    JS_HAZARDS,
    PROBE_SOURCE,
    JupyterLab,
    NotebookPage,
    check_saved_answer,
    fake,
    normalise,
    saved_outputs,
    saved_views,
    wait_for,
)

from orjupyter.core.domain import format_cost
from orjupyter.fakerouter import FakeRouter
from orjupyter.fakerouter.script import lorem

pytestmark = [
    pytest.mark.browser,
]

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
"""Where the README's screenshots live: written only by `make screenshots`."""
VIEWPORT = {"width": 1280, "height": 1000}

OpenNotebook = Callable[..., NotebookPage]


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture
def router(lab_router: FakeRouter) -> FakeRouter:
    """The kernels' local OpenRouter, holding this test's records only."""
    lab_router.reset()
    return lab_router


def loaded(open_notebook: OpenNotebook, *cells: str, **kwargs: Any) -> NotebookPage:
    """A notebook whose first cell (`%load_ext orjupyter`) has been run."""
    notebook = open_notebook("%load_ext orjupyter", *cells, **kwargs)
    notebook.run_and_wait(0)
    return notebook


def gpt4o(prompt: str) -> str:
    return f"%%gpt4o\n{prompt}"


def hazards(notebook: NotebookPage, index: int) -> list[str]:
    return list(notebook.cell(index).evaluate(JS_HAZARDS))


# --- tests --------------------------------------------------------------------------

PLAIN_ANSWER = "\n\n".join(
    " ".join(f"{word}{p}" for word in ("alpha", "beta", "gamma", "delta", "epsilon") * 3)
    for p in range(5)
)


def test_answer_streams_live_into_the_panel(open_notebook: OpenNotebook) -> None:
    notebook = loaded(open_notebook, gpt4o(fake(PLAIN_ANSWER, chunks=60, delay=0.1)))
    notebook.run(1)
    notebook.wait_panel(1)

    seen: list[str] = []
    deadline = time.monotonic() + 30
    while (final := notebook.final(1)) is None:
        assert time.monotonic() < deadline, "the answer never finished"
        text = normalise(notebook.panel_text(1))
        if text and (not seen or text != seen[-1]):
            seen.append(text)
        time.sleep(0.1)

    growing = [(a, b) for a, b in itertools.pairwise(seen) if not b.startswith(a)]
    assert not growing, f"the panel's text went back: {growing[:3]}"
    assert len(seen) >= 3, f"only {len(seen)} renderings seen while streaming: {seen}"
    first_half = len(normalise(PLAIN_ANSWER)) // 2
    assert len(seen[0]) < first_half, "the panel showed the answer only once most had arrived"
    assert normalise(final["answer"]) == normalise(PLAIN_ANSWER)
    assert final["error"] is None


MARKDOWN_ANSWER = """\
# Reading a CSV

Use pandas:

- `read_csv` loads the file
- `head()` shows the first rows

```python
import pandas as pd

def load(path: str) -> pd.DataFrame:
    return pd.read_csv(path)  # one line
```
"""


def test_markdown_renders_with_highlighted_code(open_notebook: OpenNotebook) -> None:
    notebook = loaded(open_notebook, gpt4o(fake(MARKDOWN_ANSWER, chunks=12, delay=0.02)))
    notebook.run_from_toolbar(1)
    notebook.wait_final(1)
    answer = notebook.cell(1).locator(".jp-RenderedHTML div.orj-answer")
    assert answer.locator("h1").inner_text() == "Reading a CSV"
    assert answer.locator("li").all_inner_texts() == [
        "read_csv loads the file",
        "head() shows the first rows",
    ]
    code = answer.locator("pre code")
    assert "def load(path: str)" in code.inner_text()
    classes = code.locator("span[class]").evaluate_all("els => els.map(e => e.className)")
    assert {"kn", "k", "nf"} <= set(classes), f"pygments classes missing: {classes}"
    # the stylesheet shipped with the answer colours them
    keyword = code.locator("span.k").first.evaluate("e => getComputedStyle(e).color")
    plain = answer.locator("p").first.evaluate("e => getComputedStyle(e).color")
    assert keyword != plain, "keywords are not highlighted"


def test_status_line_shows_billed_cost_and_notebook_total(
    open_notebook: OpenNotebook, router: FakeRouter
) -> None:
    notebook = loaded(
        open_notebook,
        gpt4o(fake("The first answer.", chunks=4)),
        gpt4o(fake("A second, somewhat longer answer to the next question.", chunks=9)),
        PROBE_SOURCE,
    )
    notebook.run_cells(1, 3)  # two cells in a row, then the probe
    notebook.wait_typeset(3)  # the status lines as they stay, not as first inserted
    finals = [notebook.final(1), notebook.final(2)]
    assert finals[0] is not None
    assert finals[1] is not None

    for index in (1, 2):
        typeset = notebook.cell(index).locator(".orj-status mjx-container")
        assert typeset.count() == 0, (
            f"JupyterLab's MathJax typeset the usage line as TeX (`$…$`): {finals[0]['status']!r}"
        )
    billed = router.billed()
    assert len(billed) == 2
    costs = [Decimal(str(usage["cost"])) for usage in billed]
    for final, usage, cost in zip(finals, billed, costs, strict=True):
        tokens = f"{usage['prompt_tokens']:,} prompt + {usage['completion_tokens']:,} completion"
        assert f"{tokens} tokens" in final["status"], final["status"]
        assert f" · {format_cost(cost)} · " in final["status"], (
            f"the billed cost {format_cost(cost)} is not shown as text in {final['status']!r}"
        )
    assert f"notebook total {format_cost(costs[0])} (1 call)" in finals[0]["status"]
    assert f"notebook total {format_cost(sum(costs))} (2 calls)" in finals[1]["status"]


def test_no_output_of_orjupyter_is_typeset_as_maths(
    open_notebook: OpenNotebook, router: FakeRouter
) -> None:
    """Several dollar amounts in one line (the budget line, the dashboard's tables, the model
    prices, an answer) stay money: JupyterLab's MathJax leaves them alone."""
    notebook = loaded(
        open_notebook,
        "%gpt4o budget 1",
        gpt4o(fake("Between $5 and $6, or $7 at most.", chunks=3)),
        "%gpt4o usage",
        "%gpt4o models gpt-4o",
        "%gpt4o credits",
        PROBE_SOURCE,
    )
    notebook.run_cells(1, 6)
    notebook.wait_typeset(6)
    for index in range(1, 6):
        typeset = notebook.output_area(index).locator("mjx-container")
        assert typeset.count() == 0, normalise(notebook.output_area(index).inner_text())
    usage = normalise(notebook.output_area(3).inner_text())
    assert re.search(r"\$0\.\d+ of a \$1\.00 budget \(\d+%\)", usage), usage
    assert "Between $5 and $6, or $7 at most." in normalise(notebook.output_area(2).inner_text())
    prices = normalise(notebook.output_area(4).inner_text())
    assert prices.count("$") >= 4, prices


def test_answers_persist_after_save_and_reopen(
    open_notebook: OpenNotebook, lab: JupyterLab
) -> None:
    notebook = loaded(
        open_notebook,
        gpt4o(fake("Saved answer **one**.", chunks=3)),
        gpt4o(fake("Saved answer two, with a list:\n\n- a\n- b\n", chunks=5)),
        PROBE_SOURCE,
    )
    notebook.run_cells(1, 3)
    notebook.wait_typeset(3)
    before = [notebook.wait_final(1), notebook.wait_final(2)]
    notebook.save()

    def saved_answers() -> bool:
        cells = lab.read_notebook(notebook.name).cells
        return all(len(saved_outputs(cell)[0]) == 1 for cell in cells[1:3])

    wait_for(saved_answers, 10, "the answers in the saved file")
    usage_lines, views = [], []
    for cell in lab.read_notebook(notebook.name).cells[1:3]:
        output = check_saved_answer(cell)  # and, at most, the action bar's widget view
        usage_lines.append(output["data"]["text/plain"].splitlines()[-1])
        views.append(saved_views(cell))

    lab.shutdown_kernels()
    wait_for(lambda: not lab.kernels(), 10, "the kernel to shut down")
    notebook.page.close()

    reopened = open_notebook()
    reopened.wait_typeset(3)
    after = [reopened.final(1), reopened.final(2)]
    for old, new, line in zip(before, after, usage_lines, strict=True):
        assert new is not None
        assert normalise(new["answer"]) == normalise(old["answer"])
        assert new["status"] == old["status"]
        assert "prompt +" in line
        assert new["status"] == line, "the usage line does not read as saved"
    assert reopened.cell(1).locator(".jp-RenderedHTML .orj-answer strong").inner_text() == "one"
    for index, count in zip((1, 2), views, strict=True):
        reopened.check_no_dead_widgets(index, count)
    body = reopened.page.locator("body").inner_text()
    assert "Error displaying widget" not in body
    assert "Model not found" not in body


def test_stop_button_ends_the_answer_quickly(
    open_notebook: OpenNotebook, router: FakeRouter
) -> None:
    notebook = loaded(open_notebook, gpt4o("[[fake words=400 delay=0.05]]"))
    notebook.run(1)
    notebook.wait_panel(1)
    shown = wait_for(
        lambda: (text := normalise(notebook.panel_text(1))).count(" ") >= 5 and text,
        20,
        "some words in the panel",
    )

    stop = notebook.cell(1).locator(".orj-panel button", has_text="Stop")
    stop.click()
    # the whole answer would take 20 s; how quickly Stop lands is measured in
    # benchmarks/stopping.py, not asserted here
    final = wait_for(lambda: notebook.final(1), 10, "the stopped answer", interval=0.02)

    assert final["status"].startswith("stopped · "), final["status"]
    text = normalise(final["answer"])
    assert text.startswith(shown), "the text shown before Stop was lost"
    assert lorem(400).startswith(text)
    assert 5 < len(text.split()) < 400
    gone = wait_for(
        lambda: [e for e in router.events if e["event"] == "client_disconnected"],
        5,
        "the server to see the client go",
    )
    assert len(gone) == 1
    assert 0 < int(gone[0]["after_chunks"]) < 400
    assert not [e for e in router.events if e["event"] == "completed"]


HOSTILE_ANSWER = """\
Some **bold** text first.

<img src=x onerror="window.__pwned=1">

<script>window.__pwned=2</script>

[click](javascript:window.__pwned=3)

<iframe src="javascript:window.__pwned=4"></iframe>

<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;background:red" \
onmouseover="window.__pwned=5">cover</div>

![x](http://127.0.0.1:1/track.png)

The end.
"""


def _is_tracker(url: str) -> bool:
    parts = urlsplit(url)
    return parts.hostname == "127.0.0.1" and parts.port == 1


def test_hostile_answer_is_inert(open_notebook: OpenNotebook) -> None:
    notebook = loaded(open_notebook, gpt4o(fake(HOSTILE_ANSWER, chunks=30, delay=0.2)))
    requests: list[str] = []
    notebook.page.on("request", lambda request: requests.append(request.url))
    notebook.run(1)
    notebook.wait_panel(1)

    checks = 0
    while notebook.final(1) is None:
        assert hazards(notebook, 1) == [], "while streaming"
        checks += 1
        time.sleep(0.1)
    assert checks >= 5, "the answer finished before it could be checked while streaming"

    notebook.cell(1).locator(".orj-actions").wait_for(state="visible")  # covered too
    output = notebook.output_area(1)  # the answer and the action bar under it
    output.hover()  # where an onmouseover would fire
    notebook.page.mouse.move(5, 5)
    assert hazards(notebook, 1) == [], "after the answer finished"
    answer = notebook.cell(1).locator(".jp-RenderedHTML div.orj-answer")
    assert answer.locator("strong").inner_text() == "bold"
    assert "cover" in answer.inner_text()  # shown as text, not as a page-covering div

    notebook.save()
    notebook.page.close()
    reopened = open_notebook()
    reopened.page.on("request", lambda request: requests.append(request.url))
    reopened.wait_final(1, timeout=10)
    reopened.output_area(1).hover()
    assert hazards(reopened, 1) == [], "after save and reopen"
    assert reopened.cell(1).locator(".jp-RenderedHTML .orj-answer strong").inner_text() == "bold"
    assert not [url for url in requests if _is_tracker(url)]


SHOWCASE_PROMPT = "How do I read a CSV file with pandas and look at the largest values?"
SHOWCASE_ANSWER = """\
## Reading a CSV with pandas

`pandas.read_csv` loads the file into a **DataFrame**; from there a few calls answer \
most first questions about the data.

- `df.head()` shows the first rows
- `df.describe()` summarises every numeric column
- `df.nlargest(3, "sales")` picks the biggest values

```python
import pandas as pd

df = pd.read_csv("sales.csv", parse_dates=["date"])
top = df.nlargest(3, "sales")  # three best days
print(top[["date", "sales"]])
```
"""


def screenshots_folder(tmp_path: Path) -> Path:
    """docs/images with `ORJUPYTER_SCREENSHOTS=1` (`make screenshots`), else a temporary
    folder: a test run never rewrites files of the checkout."""
    return IMAGES if os.environ.get("ORJUPYTER_SCREENSHOTS") == "1" else tmp_path


def test_screenshots_of_the_panel(
    open_notebook: OpenNotebook, browser: Any, router: FakeRouter, tmp_path: Path
) -> None:
    """panel.png (finished answer) and panel-streaming.png (live panel), for the README."""
    ctx = browser.new_context(viewport={"width": 1000, "height": 900}, device_scale_factor=2)
    folder = screenshots_folder(tmp_path)

    def shoot(name: str) -> None:
        # the cell's source was edited after it ran (below): drop the "changed" marker
        cell.evaluate("cell => cell.classList.remove('jp-mod-dirty')")
        cell.screenshot(path=folder / name, animations="disabled")

    try:
        notebook = loaded(
            open_notebook,
            # held after 99 of 100 chunks until shot: the panel shows all but the tail the
            # key's redaction holds back (up to the key's length and a batch more)
            gpt4o(fake(SHOWCASE_ANSWER, chunks=100, delay=0.05, hold_after=99)),
            PROBE_SOURCE,
            ctx=ctx,
        )
        notebook.page.keyboard.press("Control+b")  # hide the file browser: a wider cell
        cell = notebook.cell(1)
        notebook.run(1)
        notebook.wait_panel(1)
        # The kernel has the cell already; show the question a reader would have typed
        # instead of the fake server's script.
        notebook.replace_source(1, gpt4o(SHOWCASE_PROMPT))
        notebook.cell(2).click()  # the answer's cell is no longer the active one
        wait_for(lambda: "import pandas as pd" in notebook.panel_text(1), 20, "the code block")
        shoot("panel-streaming.png")
        assert notebook.final(1) is None, "the answer finished before the mid-stream shot"
        router.release()
        notebook.wait_final(1)
        notebook.run(2)
        notebook.wait_typeset(2)  # the answer as it stays
        box = cell.bounding_box()
        assert box is not None
        assert box["height"] < 850, "the cell is taller than the window: the shot would clip"
        shoot("panel.png")
    finally:
        router.release()
        ctx.close()
    for name in ("panel.png", "panel-streaming.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
