"""`--compare` and `--think` in JupyterLab, driven in Chromium the way a person uses them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from browser_support import NotebookPage, normalise, screenshots_for_docs, wait_for

from orjupyter.fakerouter import FakeRouter

pytestmark = [pytest.mark.browser]

OpenNotebook = Callable[..., NotebookPage]
THREE = "openai/gpt-4o-mini,anthropic/claude-3.5-sonnet,meta-llama/llama-3.1-8b-instruct"
SHOTS = screenshots_for_docs()


def boxes(locator: Any) -> list[dict[str, float]]:
    return [locator.nth(k).bounding_box() for k in range(locator.count())]


def test_compare_streams_side_by_side_and_one_stop_stops_only_its_model(
    open_notebook: OpenNotebook, lab_router: FakeRouter
) -> None:
    notebook = open_notebook(
        "%load_ext orjupyter",
        f"%%gpt4o --compare {THREE} -o cmp\n[[fake words=200 delay=0.04]]",
    )
    notebook.run_and_wait(0)
    notebook.run(1)
    cell = notebook.cell(1)
    columns = cell.locator(".orj-panel.orj-column")
    wait_for(lambda: columns.count() == 3, 60, "three live columns")
    wait_for(
        lambda: all(
            normalise(columns.nth(k).locator(".orj-answer").inner_text()).count(" ") > 12
            for k in range(3)
        ),
        30,
        "words streaming in every column",
    )
    tops = [box["y"] for box in boxes(columns)]
    lefts = [box["x"] for box in boxes(columns)]
    assert max(tops) - min(tops) < 2, tops  # side by side on a wide page
    assert lefts == sorted(lefts)
    if SHOTS:
        cell.screenshot(path=str(SHOTS / "compare-live.png"))
    # the button moves down as its column grows: on a busy machine a click at the place
    # it was a moment ago lands on the answer's text, so the click is sent to it
    columns.nth(1).locator("button", has_text="Stop").dispatch_event("click")
    final = cell.locator(".orj-output .orj-compare")
    final.wait_for(timeout=60_000)
    finished = final.locator(".orj-column")
    tops = [box["y"] for box in boxes(finished)]
    assert max(tops) - min(tops) < 2, tops  # still side by side
    statuses = final.locator(".orj-column .orj-status").all_inner_texts()
    models = THREE.split(",")
    assert [s.split(" · ")[0] for s in statuses] == [models[0], "stopped", models[2]]
    assert "Anthropic" in statuses[1]
    verdict = cell.locator(".orj-output > .orj-status").inner_text()
    assert "cheapest: meta-llama/llama-3.1-8b-instruct" in verdict
    gone = [e for e in lab_router.events if e["event"] == "client_disconnected"]
    assert len(gone) == 1
    completed = {e["id"] for e in lab_router.events if e["event"] == "completed"}
    assert len(completed) == 2  # the other two ran to the end


def test_the_thinking_section_is_collapsed_above_the_answer(
    open_notebook: OpenNotebook, lab_router: FakeRouter
) -> None:
    notebook = open_notebook(
        "%load_ext orjupyter",
        "%%gpt4o -m openai/o4-mini --think\n[[fake words=60 delay=0.05 think_words=40]]",
    )
    notebook.run_and_wait(0)
    notebook.run(1)
    cell = notebook.cell(1)
    thinking = cell.locator(".orj-panel .orj-thinking")
    thinking.wait_for(timeout=60_000)
    wait_for(lambda: "Thinking" in thinking.inner_text(), 20, "the Thinking title")
    reasoning = cell.locator(".orj-panel .orj-thinking .orj-thinking-text")
    assert not reasoning.first.is_visible()  # collapsed while it streams
    final = cell.locator(".orj-output")
    final.wait_for(timeout=60_000)
    details = final.locator("details.orj-thinking")
    assert details.get_attribute("open") is None  # collapsed in the saved answer too
    assert details.locator("summary").inner_text() == "Thinking"
    assert not details.locator(".orj-thinking-text").is_visible()
    answer = final.locator(".orj-answer").inner_text()
    assert "lorem ipsum" in answer
    assert "Let me think" not in answer
    box_thinking, box_answer = details.bounding_box(), final.locator(".orj-answer").bounding_box()
    assert box_thinking["y"] < box_answer["y"]  # above the answer
    details.locator("summary").click()
    assert "Let me think" in details.locator(".orj-thinking-text").inner_text()
