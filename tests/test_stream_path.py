"""The stream's hot path: each chunk costs work in proportion to its own text.

No timing here (that is `benchmarks/`): the views are checked to read only what is new,
and the state to hand out exactly that.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from orjupyter.core.stream import StreamState
from orjupyter.jupyter.panel import TextView

KEY = "sk-or-v1-" + "0123abcd" * 8


def chunk(content: str = "", reasoning: str = "") -> object:
    delta = SimpleNamespace(content=content, tool_calls=None, model_extra={})
    if reasoning:
        delta.model_extra = {"reasoning": reasoning}
    choice = SimpleNamespace(delta=delta, finish_reason=None)
    return SimpleNamespace(id="gen-1", model="m", provider=None, usage=None, choices=[choice])


class WatchedState(StreamState):
    """A stream state that counts how often the whole answer or reasoning is read."""

    whole_reads = 0

    @property
    def text(self) -> str:
        WatchedState.whole_reads += 1
        return super().text

    @property
    def reasoning(self) -> str:
        WatchedState.whole_reads += 1
        return super().reasoning


def test_the_terminal_view_reads_only_the_new_text_of_each_chunk():
    state, out = WatchedState(secrets=(KEY,)), io.StringIO()
    view = TextView("m", out=out)
    WatchedState.whole_reads = 0
    words = [f"w{n} " for n in range(3000)]
    for piece in [chunk(reasoning="hm ")] * 50 + [chunk(word) for word in words]:
        state.handle_chunk(piece)
        view.on_text(state)
    assert WatchedState.whole_reads == 0  # nothing re-read the answer so far
    state.release()
    view.on_text(state)
    assert out.getvalue().endswith("".join(words))
    assert "Thinking: " + "hm " * 50 in out.getvalue()


@given(st.lists(st.text(max_size=12), max_size=40), st.data())
def test_text_since_a_mark_is_exactly_what_came_after_it(pieces, data):
    state = StreamState()
    marks, so_far = [], ""
    for piece in pieces:
        marks.append(state.text_length)
        state.add_text(piece)
        so_far += piece
        mark = data.draw(st.sampled_from(marks))
        assert state.text_since(mark) == so_far[mark:]
    assert state.text == "".join(pieces)
    assert state.text_since(state.text_length) == ""
