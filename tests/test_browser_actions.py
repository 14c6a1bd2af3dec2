"""The action bar under a finished `%%gpt4o` answer, in JupyterLab: a follow-up box,
Regenerate, Copy and Insert as cell.

Like `test_browser.py`: one JupyterLab server whose kernels talk to a local fake
OpenRouter, one Chromium, and a fresh notebook per test, driven by clicks and key
presses. Every test asks its own questions: the package caches identical requests.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from browser_support import (
    PANEL,
    JupyterLab,
    NotebookPage,
    check_saved_answer,
    fake,
    normalise,
    saved_outputs,
    saved_views,
    wait_for,
)

from orjupyter.fakerouter import FakeRouter

pytestmark = [
    pytest.mark.browser,
]

VIEWPORT = {"width": 1280, "height": 1000}

OpenNotebook = Callable[..., NotebookPage]


# --- fixtures (as in test_browser.py) -----------------------------------------------


@pytest.fixture
def router(lab_router: FakeRouter) -> FakeRouter:
    """The kernels' local OpenRouter, holding this test's records only."""
    lab_router.reset()
    return lab_router


# --- helpers ------------------------------------------------------------------------


def loaded(open_notebook: OpenNotebook, *cells: str) -> NotebookPage:
    """A notebook whose first cell (`%load_ext orjupyter`) has been run."""
    notebook = open_notebook("%load_ext orjupyter", *cells)
    notebook.run_and_wait(0)
    return notebook


def gpt4o(question: str, reply: str, **options: object) -> str:
    return f"%%gpt4o\n{question}\n{fake(reply, **options)}"


def follow_up(question: str, reply: str, **options: object) -> str:
    """What a person types in the follow-up box (the fake server's script included)."""
    return f"{question} {fake(reply, **options)}"


def bar(notebook: NotebookPage, index: int) -> Any:
    """The cell's action bar, once it is shown (the answer is complete)."""
    actions = notebook.output_area(index).locator(".orj-actions")
    actions.wait_for(state="visible", timeout=20_000)
    return actions


def button(notebook: NotebookPage, index: int, label: str) -> Any:
    return bar(notebook, index).locator("button").filter(has_text=re.compile(f"^{label}$"))


def ask(notebook: NotebookPage, index: int, text: str) -> None:
    """Type a follow-up and press Enter."""
    box = bar(notebook, index).get_by_placeholder("Ask a follow-up…")
    box.fill(text)
    box.press("Enter")


def save_from_toolbar(notebook: NotebookPage) -> None:
    """Save with the notebook's toolbar button and wait until the tab is clean.

    After a click in the bar, focus sits in a widget, and widgets swallow shortcuts
    such as Ctrl+S: a person saves from the toolbar then."""
    notebook.page.locator(
        f'{PANEL} .jp-NotebookPanel-toolbar [data-command="docmanager:save"]'
    ).click()
    notebook.page.wait_for_function(
        """() => {
            const tab = document.querySelector('.lm-DockPanel-tabBar .lm-mod-current');
            return tab && !tab.classList.contains('jp-mod-dirty');
        }""",
        timeout=20_000,
    )


def clipboard_after(notebook: NotebookPage, control: Any) -> str:
    """What the clipboard holds once clicking `control` has changed it."""
    page = notebook.page
    page.evaluate("navigator.clipboard.writeText('nothing copied yet')")
    control.click()
    return wait_for(
        lambda: (
            (text := page.evaluate("navigator.clipboard.readText()")) != "nothing copied yet"
            and text
        ),
        10,
        "the clipboard to change",
    )


def cell_count(notebook: NotebookPage) -> int:
    return notebook.page.locator(f"{PANEL} .jp-Notebook .jp-Cell").count()


def statuses(blocks: list[tuple[str, str]] | None) -> list[str]:
    return [text for kind, text in blocks or [] if kind == "status"]


def wait_transcript(
    notebook: NotebookPage, index: int, done: Callable[[list[tuple[str, str]]], bool], what: str
) -> list[tuple[str, str]]:
    """The cell's final output once `done` holds for its blocks."""

    def check() -> list[tuple[str, str]] | None:
        blocks = notebook.transcript(index)
        return blocks if blocks is not None and done(blocks) else None

    return wait_for(check, 30, what)


def answer_children(notebook: NotebookPage, index: int) -> int:
    """How many outputs the cell shows: the answer (or its live panel) and the bar (the
    emptied first panel is hidden)."""
    area = notebook.output_area(index)
    return area.locator(":scope > .jp-OutputArea-child:not(:has(.orj-gone))").count()


def first_answer(notebook: NotebookPage, index: int) -> list[tuple[str, str]]:
    notebook.run(index)
    blocks = wait_transcript(notebook, index, lambda b: len(statuses(b)) == 1, "the answer")
    bar(notebook, index)
    return blocks


def own_fields(line: str) -> list[str]:
    """A usage line's fields about its own call (the notebook total is re-read each time
    the transcript is shown again)."""
    return [f for f in normalise(line).split(" · ") if not f.startswith("notebook total")]


def messages(request: Any) -> list[tuple[str, str]]:
    """A recorded chat request's messages as (role, text)."""
    result = []
    for message in request.body["messages"]:
        content = message["content"]
        if isinstance(content, list):
            content = "\n".join(str(part.get("text", "")) for part in content)
        result.append((message["role"], str(content)))
    return result


FIRST = "The first answer names **three** colours: red, green and blue."
SECOND = "\n\n".join(
    " ".join(f"{word}{p}" for word in ("cyan", "magenta", "yellow", "black") * 3) for p in range(4)
)


# --- tests --------------------------------------------------------------------------


def test_follow_up_streams_into_the_same_output(
    open_notebook: OpenNotebook, router: FakeRouter
) -> None:
    notebook = loaded(open_notebook, gpt4o("Which colours are primary?", FIRST, chunks=3))
    first = first_answer(notebook, 1)
    assert [kind for kind, _ in first] == ["answer", "status"]
    assert answer_children(notebook, 1) == 2
    gone = notebook.output_area(1).locator(":scope > .jp-OutputArea-child:has(.orj-gone)")
    assert gone.count() == 1  # the live panel, emptied above the answer…
    assert not gone.is_visible()  # …takes no room

    question = follow_up("And the printing ones?", SECOND, chunks=30, delay=0.05)
    ask(notebook, 1, question)
    notebook.wait_panel(1, timeout=20)
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while (blocks := notebook.transcript(1)) is None or len(statuses(blocks)) < 2:
        assert time.monotonic() < deadline, "the follow-up never finished"
        if blocks is None:  # the live panel is showing, in place of the answer
            assert answer_children(notebook, 1) == 2, "the follow-up opened another output"
            text = normalise(notebook.panel_text(1))
            if text and (not seen or text != seen[-1]):
                seen.append(text)
        time.sleep(0.05)

    full, earlier = normalise(SECOND), normalise(FIRST.replace("**", ""))
    assert all(t.startswith(earlier) for t in seen), "the panel lost the first answer"
    streamed = [t.removeprefix(earlier).strip() for t in seen]
    partial = [t for t in streamed if 0 < len(t) < len(full) and full.startswith(t)]
    assert partial, f"no intermediate rendering of the follow-up seen: {seen}"
    assert answer_children(notebook, 1) == 2
    kinds = [kind for kind, _ in blocks]
    assert kinds == ["answer", "status", "question", "answer", "status"], blocks
    texts = [normalise(text) for _, text in blocks]
    assert texts[0] == normalise(FIRST.replace("**", ""))
    assert own_fields(texts[1]) == own_fields(first[1][1]), "the first usage line changed"
    assert texts[2] == normalise(question)
    assert texts[3] == full
    assert "prompt +" in texts[4], texts[4]
    assert "(2 calls)" in texts[4], texts[4]
    bar(notebook, 1)  # offered again

    assert len(router.requests) == 2
    sent = messages(router.requests[-1])
    assert [role for role, _ in sent] == ["user", "assistant", "user"], sent
    assert "Which colours are primary?" in sent[0][1]
    assert sent[1][1] == FIRST
    assert sent[2][1] == question


def test_regenerate_asks_again(open_notebook: OpenNotebook, router: FakeRouter) -> None:
    reply = "Regenerated answers sound alike, but each is asked for anew."
    notebook = loaded(open_notebook, gpt4o("Regenerate me?", FIRST, chunks=3))
    first_answer(notebook, 1)
    question = follow_up("Say it once more?", reply, chunks=20, delay=0.03)
    ask(notebook, 1, question)
    before = wait_transcript(notebook, 1, lambda b: len(statuses(b)) == 2, "the follow-up")
    assert len(router.requests) == 2

    button(notebook, 1, "Regenerate").click()
    notebook.wait_panel(1, timeout=20)  # streamed again, not answered from the cache
    after = wait_transcript(
        notebook, 1, lambda b: "(3 calls)" in " ".join(statuses(b)), "the regenerated answer"
    )
    assert len(router.requests) == 3, "Regenerate sent no new request"
    assert messages(router.requests[-1]) == messages(router.requests[-2])
    assert [kind for kind, _ in after] == [kind for kind, _ in before]
    assert [normalise(t) for k, t in after if k == "question"] == [normalise(question)]
    assert normalise(after[3][1]) == normalise(reply)
    assert own_fields(after[1][1]) == own_fields(before[1][1]), "the first usage line changed"
    assert not after[4][1].startswith("cached"), after[4][1]
    assert after[4][1] != before[4][1]
    bar(notebook, 1)


COPIED_FIRST = "First, *not* what gets copied."
COPIED = "Copy **this**:\n\n- `one`\n- two\n\n```python\nx = 1\n```"


def test_copy_puts_the_last_answers_markdown_on_the_clipboard(
    open_notebook: OpenNotebook,
) -> None:
    notebook = loaded(open_notebook, gpt4o("What do I copy?", COPIED_FIRST, chunks=2))
    first_answer(notebook, 1)
    ask(notebook, 1, follow_up("And now?", COPIED, chunks=4))
    wait_transcript(notebook, 1, lambda b: len(statuses(b)) == 2, "the follow-up")
    copied = clipboard_after(notebook, button(notebook, 1, "Copy"))
    assert copied == COPIED


CODE = 'import math\n\n\ndef area(r: float) -> float:\n    return math.pi * r**2  # "circle"'
WITH_CODE = f"Use this:\n\n```python\n{CODE}\n```\n\nThat is all."


def test_copy_code_puts_the_answers_code_block_on_the_clipboard(
    open_notebook: OpenNotebook,
) -> None:
    notebook = loaded(open_notebook, gpt4o("Circle area code?", WITH_CODE, chunks=5))
    first_answer(notebook, 1)
    copied = clipboard_after(notebook, button(notebook, 1, "Copy code"))
    assert copied == CODE  # the fenced block's code, without the prose around it


def test_insert_as_cell_adds_the_code_right_below_the_answer(
    open_notebook: OpenNotebook, lab: JupyterLab
) -> None:
    notebook = loaded(
        open_notebook, gpt4o("Circle area, as code?", WITH_CODE, chunks=5), "print('last')"
    )
    first_answer(notebook, 1)
    # a new empty cell above the answer's (Escape, B on the first): the answer is now cell 2
    notebook.cell(0).locator(".jp-InputArea-editor").click()
    notebook.page.keyboard.press("Escape")
    notebook.page.keyboard.press("b")
    wait_for(lambda: cell_count(notebook) == 4, 10, "the cell added above")

    button(notebook, 2, "Insert as cell").click()
    wait_for(lambda: cell_count(notebook) == 5, 10, "a new cell")
    inserted = notebook.cell(3)
    assert "jp-CodeCell" in (inserted.get_attribute("class") or "")
    editor = inserted.locator(".cm-content")
    lines = editor.locator(".cm-line").all_inner_texts()
    assert [line.strip("\u200b\n") for line in lines] == CODE.split("\n")
    assert "print('last')" in notebook.cell(4).inner_text()  # the old next cell moved down
    # the button says it worked, then is ready again
    button(notebook, 2, "Inserted ✓").wait_for(timeout=5_000)
    button(notebook, 2, "Insert as cell").wait_for(timeout=5_000)

    save_from_toolbar(notebook)
    cells = lab.read_notebook(notebook.name).cells
    assert [cell.cell_type for cell in cells] == ["code"] * 5
    assert cells[1].source == ""
    assert cells[2].source.startswith("%%gpt4o\nCircle area, as code?")
    assert cells[3].source == CODE
    assert cells[3].outputs == []
    assert cells[4].source == "print('last')"


def test_answers_without_code_offer_no_code_buttons(open_notebook: OpenNotebook) -> None:
    notebook = loaded(open_notebook, gpt4o("Colours, in prose?", FIRST, chunks=2))
    first_answer(notebook, 1)
    assert button(notebook, 1, "Copy").is_visible()
    for label in ("Copy code", "Insert as cell"):
        assert not button(notebook, 1, label).is_visible(), label
    # a follow-up whose answer has code brings them back
    ask(notebook, 1, follow_up("Now as code?", WITH_CODE, chunks=3))
    wait_transcript(notebook, 1, lambda b: len(statuses(b)) == 2, "the follow-up")
    for label in ("Copy code", "Insert as cell"):
        button(notebook, 1, label).wait_for(state="visible", timeout=10_000)


def test_transcript_survives_save_and_reopen_without_a_kernel(
    open_notebook: OpenNotebook, lab: JupyterLab
) -> None:
    notebook = loaded(open_notebook, gpt4o("Keep this conversation?", FIRST, chunks=3))
    first_answer(notebook, 1)
    question = follow_up("Will it be kept?", SECOND, chunks=6)
    ask(notebook, 1, question)
    before = wait_transcript(notebook, 1, lambda b: len(statuses(b)) == 2, "the follow-up")
    bar(notebook, 1)
    save_from_toolbar(notebook)

    def saved() -> Any:
        cell = lab.read_notebook(notebook.name).cells[1]
        answers = saved_outputs(cell)[0]
        return cell if answers and "orj-question" in answers[0]["data"]["text/html"] else None

    cell = wait_for(saved, 10, "the transcript in the saved file")
    output = check_saved_answer(cell)
    plain = output["data"]["text/plain"]
    assert plain.count("prompt +") == 2, plain
    assert f"> {question}" in plain
    assert normalise(SECOND) in normalise(plain)

    lab.shutdown_kernels()
    wait_for(lambda: not lab.kernels(), 10, "the kernel to shut down")
    notebook.page.close()

    reopened = open_notebook()
    after = wait_transcript(reopened, 1, lambda b: len(statuses(b)) == 2, "the saved transcript")
    assert after == before
    reopened.check_no_dead_widgets(1, saved_views(cell))
    body = reopened.page.locator("body").inner_text()
    assert "Error displaying widget" not in body
