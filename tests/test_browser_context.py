"""`--context` in JupyterLab: the answer's usage line says what went with the question."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from browser_support import NotebookPage, fake
from conftest import sent_images

from orjupyter.fakerouter import FakeRouter

pytestmark = [pytest.mark.browser]

OpenNotebook = Callable[..., NotebookPage]

PLOT = (
    "%matplotlib inline\n"
    "import matplotlib.pyplot as plt\n"
    "import pandas as pd\n"
    "df = pd.DataFrame({'day': range(30), 'visits': [200 + 3 * n for n in range(30)]})\n"
    "print('visits grow by', 3, 'a day')\n"
    "df.plot(x='day', y='visits');"
)


def test_the_context_line_shows_under_the_answer(
    open_notebook: OpenNotebook, lab_router: FakeRouter, context: Any
) -> None:
    lab_router.reset()
    question = "%%gpt4o --context 1\nWhat does the plot of {df} show?\n" + fake(
        "Visits grow steadily.", chunks=3
    )
    notebook = open_notebook("%load_ext orjupyter", PLOT, question)
    notebook.run_and_wait(0)
    notebook.run_and_wait(1)
    notebook.run(2)
    final = notebook.wait_final(2)
    assert "context: 1 cell (1 image) · df: 30 × 2 described" in final["status"], final
    content = lab_router.requests[-1].body["messages"][-1]["content"]
    assert len(sent_images(content)) == 1
    assert "visits grow by 3 a day" in "".join(p.get("text", "") for p in content)
    shots = os.environ.get("ORJUPYTER_SCREENSHOTS")
    if shots:  # for a person to look at; never written into the repository by tests
        notebook.cell(2).screenshot(path=f"{shots}/context-line.png", animations="disabled")
