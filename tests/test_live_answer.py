"""The live answer: one widget per answer, to which the kernel only appends.

`render.live` is checked against a browser written here in Python (it applies each
`Delta` as `static/answer_stream.js` does, counting code points); the panel is checked
through the comms it opens and the messages it sends (`comm.create_comm` is the comm
package's own hook for a frontend), with a fake clock.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import comm
import pytest
from comm.base_comm import BaseComm
from hypothesis import given, settings
from hypothesis import strategies as st

from orjupyter.core.stream import StreamState
from orjupyter.fakerouter.script import lorem
from orjupyter.render.live import Delta, LiveAnswer
from orjupyter.render.markdown import render_markdown

MARKDOWN = """\
# Reading a CSV 📄

Use pandas, then look at the rows: a sentence that goes on for a while.

- `read_csv` loads the file
- `head()` shows the first rows

```
import pandas as pd
frame = pd.read_csv("data.csv")
```

| col | kind |
| --- | ---- |
| a   | int  |

> A quote with **bold** and a [link](https://example.com).

Plain closing words, then 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 beyond the BMP.
"""


class Browser:
    """What `answer_stream.js` holds: finished parts (HTML from the kernel, or sealed
    paragraphs of text) and the open block's text."""

    def __init__(self) -> None:
        self.finished: list[str] = []
        self.open = ""
        self.thought = ""
        self.title = ""

    def apply(self, delta: Delta) -> None:
        self.thought += delta.get("think", "")
        self.title = delta.get("title", self.title)
        self.open += delta.get("text", "")
        cut = delta.get("cut", 0)
        if cut:
            done, self.open = self.open[:cut], self.open[cut:]  # Python counts code points
            if "html" in delta:
                self.finished.append(delta["html"])
            else:
                assert delta.get("seal") is True
                self.finished.append(f"<p>{html.escape(done.strip(' ' + chr(10)))}</p>")

    def words(self) -> list[str]:
        shown = re.sub(r"<[^>]+>", " ", "".join(self.finished))
        return re.findall(r"\w+", html.unescape(shown) + " " + self.open)


def stream(answer: str, cuts: list[int], live: LiveAnswer) -> Iterator[Delta]:
    """The deltas of `answer` arriving in pieces ending at `cuts`, one refresh each."""
    start = 0
    for end in [*sorted(set(cuts)), len(answer)]:
        if end > start:
            yield live.delta(answer[start:end])
            start = end


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, len(MARKDOWN)), max_size=30))
def test_the_browser_shows_every_word_once_however_the_answer_is_cut(cuts):
    browser, sent = Browser(), []
    for delta in stream(MARKDOWN, cuts, LiveAnswer()):
        browser.apply(delta)
        sent.append(delta.get("text", ""))
    assert "".join(sent) == MARKDOWN  # every character crossed once, as text
    assert browser.words() == re.findall(r"\w+", html.unescape(re.sub(r"<[^>]+>", " ", (
        render_markdown(MARKDOWN)))))  # fmt: skip


def test_plain_prose_is_sealed_so_its_text_crosses_once():
    answer = "\n\n".join(lorem(400) for _ in range(6))
    live, browser, size = LiveAnswer(), Browser(), 0
    for delta in stream(answer, list(range(0, len(answer), 499)), live):
        assert "html" not in delta  # the browser already has the text: no HTML of it
        browser.apply(delta)
        size += len(json.dumps(delta, ensure_ascii=False))
    assert size < 1.05 * len(answer)
    assert browser.finished  # paragraphs were finished (sealed), not left open
    assert len(browser.open) <= 4000


def test_finished_blocks_arrive_sanitised_and_the_open_block_only_as_text():
    answer = (
        "<script>alert(1)</script> and [x](javascript:alert(1)) ![i](https://t.example/a.png)"
        "\n\nnext paragraph\n\n"
    )
    live = LiveAnswer()
    deltas = [live.delta(answer[:30]), live.delta(answer[30:])]
    markup = "".join(d.get("html", "") for d in deltas)
    assert "<script" not in markup
    assert 'href="javascript' not in markup
    assert "<img" not in markup
    assert "&lt;script&gt;" in markup  # the tag shows as text
    assert "".join(d.get("text", "") for d in deltas) == answer


def test_the_reasoning_streams_as_text_with_its_heading_sent_once():
    live = LiveAnswer()
    first = live.delta("", "Let me <b>think", "Thinking…")
    again = live.delta("", " more", "Thinking…")
    done = live.delta("Answer", "", "Thinking")
    assert (first["think"], first["title"]) == ("Let me <b>think", "Thinking…")
    assert again == {"think": " more"}
    assert done == {"title": "Thinking", "text": "Answer"}


# --- the panel's comms ----------------------------------------------------------------


class RecordingComm(BaseComm):
    """A comm that keeps what the kernel would send to the browser."""

    sent: ClassVar[list[tuple[str, str, dict[str, Any]]]] = []

    def publish_msg(self, msg_type: str, data: Any = None, **_: Any) -> None:
        RecordingComm.sent.append((msg_type, self.comm_id, data or {}))


@pytest.fixture
def comms(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    RecordingComm.sent = []
    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    return RecordingComm.sent


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def streamed_panel(answer: str, chunk: int, clock: FakeClock, step: float) -> tuple[Any, int]:
    """A panel fed `answer` in chunks of `chunk` characters, `step` fake seconds apart, and
    how many comm messages its building sent."""
    from orjupyter.jupyter.panel import Panel

    async def run() -> tuple[Any, int]:
        panel = Panel("m", updates_per_second=100, clock=clock)
        panel.build()
        built = len(RecordingComm.sent)
        state = StreamState()
        for start in range(0, len(answer), chunk):
            state.add_text(answer[start : start + chunk])
            panel.on_text(state)
            clock.now += step
        if panel.pending is not None:  # the last refresh, as its timer would run it
            panel.pending.cancel()
            panel._flush()
        return panel, built

    return asyncio.run(run())


def test_a_long_answer_opens_no_widget_per_block_and_only_appends(comms):
    answer = "\n\n".join(f"## Part {n}\n\n{lorem(60)}\n\n- a\n- b" for n in range(40))
    panel, built = streamed_panel(answer, 7, FakeClock(), 0.01)
    streaming = comms[built:]
    assert [kind for kind, _, _ in streaming if kind != "comm_msg"] == []  # no comm opened
    answer_id = panel.answer.comm.comm_id
    custom = [data for kind, cid, data in streaming if cid == answer_id]
    assert {data["method"] for data in custom} == {"custom"}  # no state re-sent
    deltas = [data["content"] for data in custom]
    assert set().union(*deltas) <= {*Delta.__annotations__, "status"}
    assert "".join(d.get("text", "") for d in deltas) == answer  # each character once
    assert sum("html" in d for d in deltas) >= 40  # headings and lists came as HTML


def test_refreshes_are_at_most_25_a_second_whatever_the_setting(comms):
    clock = FakeClock()
    panel, _ = streamed_panel(lorem(3000), 3, clock, 0.001)  # 1,000 chunks a second
    seconds = clock.now - 1000.0
    sent = [(cid, d) for kind, cid, d in comms if kind == "comm_msg"]
    custom = [d for cid, d in sent if cid == panel.answer.comm.comm_id]
    assert seconds > 5
    assert len(custom) <= 25 * seconds + 1
    status = [d for d in custom if "status" in d["content"]]
    assert len(status) <= seconds + 2  # the status line: once a second, with a refresh


def test_past_a_screenful_the_panel_refreshes_at_most_4_times_a_second(comms):
    """The first screenful streams as fast as the setting allows; past it the reader reads
    above the growing end, and the panel sends fewer, larger refreshes."""
    from orjupyter.jupyter.panel import SCREENFUL, Panel

    clock, answer = FakeClock(), lorem(2000)
    refreshes: list[tuple[float, int]] = []  # (fake time, answer characters) of each

    async def run() -> Panel:
        panel = Panel("m", updates_per_second=25, clock=clock)
        panel.build()
        state = StreamState()
        for start in range(0, len(answer), 3):
            state.add_text(answer[start : start + 3])
            before = len(comms)
            panel.on_text(state)
            if any(cid == panel.answer.comm.comm_id for _, cid, _ in comms[before:]):
                refreshes.append((clock.now, state.text_length))
            clock.now += 0.001
        if panel.pending is not None:  # the last refresh, as its timer would run it
            panel.pending.cancel()
            panel._flush()
        return panel

    panel = asyncio.run(run())
    early = [when for when, length in refreshes if length <= SCREENFUL]
    late = [when for when, length in refreshes if length > SCREENFUL]
    assert len(early) >= 15
    assert len(late) >= 15
    assert min(b - a for a, b in itertools.pairwise(early)) < 0.05  # 25 a second
    assert min(b - a for a, b in itertools.pairwise(late)) >= 0.25 - 1e-9
    answer_id = panel.answer.comm.comm_id
    deltas = [d["content"] for _, cid, d in comms if cid == answer_id and "content" in d]
    assert "".join(d.get("text", "") for d in deltas) == answer  # nothing lost


# --- an ended answer's model, and a browser still loading it ------------------------------


def browser_says(widget: Any, content: dict[str, Any]) -> None:
    """A custom message from the browser's side of `widget`, as the widget manager sends it."""
    message = {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    widget.comm.handle_msg(message)


def closed(comms: list[tuple[str, str, dict[str, Any]]], model_id: str) -> bool:
    return any(kind == "comm_close" and cid == model_id for kind, cid, _ in comms)


def test_an_ended_answer_is_closed_only_once_a_browser_has_loaded_it(comms):
    """anywidget fails with an uncaught error in the page when the kernel closes a model
    the browser is still loading: a short answer on a busy machine ended that way."""
    from orjupyter.jupyter.answer_stream import AnswerStream

    async def run() -> None:
        late, early = AnswerStream(), AnswerStream()
        ids = late.model_id, early.model_id
        browser_says(early, {"event": "loaded"})
        late.close()
        early.close()
        assert closed(comms, ids[1])  # loaded already: closed at once
        assert not closed(comms, ids[0])
        browser_says(late, {"event": "loaded"})
        assert closed(comms, ids[0])

    asyncio.run(run())


def test_an_answer_no_browser_loads_is_closed_a_moment_later(comms, monkeypatch):
    from orjupyter.jupyter import answer_stream

    monkeypatch.setattr(answer_stream, "LINGER", 0.05)

    async def run() -> None:
        stream = answer_stream.AnswerStream()
        model_id = stream.model_id
        stream.close()
        assert not closed(comms, model_id)
        await asyncio.sleep(0.2)
        assert closed(comms, model_id)

    asyncio.run(run())
    outside = answer_stream.AnswerStream()  # no loop running (a plain script): at once
    model_id = outside.model_id
    outside.close()
    assert closed(comms, model_id)
