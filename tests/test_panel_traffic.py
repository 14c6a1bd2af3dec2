"""What the browser is sent for one answer, counted from a real kernel's iopub.

A `%%gpt4o` cell streams into its live panel, then shows the final output and the action
bar. Each widget model is a message when it opens (and one when it closes), each with an
envelope of about 600 bytes: the panel and the bar are one model each, opened with only
what the browser does not know already; their modules and stylesheets cross once per
page, and every character of the answer once per place it is shown.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from orjupyter.jupyter.actions import ActionBar
from orjupyter.jupyter.answer_stream import AnswerStream
from orjupyter.render.stylesheet import _stylesheet, actions_css, answer_css, panel_css

CELL = "%%gpt4o -o reply\nTell me a long story. [[fake words=1200 delay=0.003]]"

STYLE_MODELS = {
    "LayoutModel",
    "HTMLStyleModel",
    "ButtonStyleModel",
    "TextStyleModel",
    "DescriptionStyleModel",
}


FIRST = "%%gpt4o\nSay hello. [[fake words=5]]"


def answered(kernel: Any) -> tuple[list[dict[str, Any]], str]:
    """The iopub messages of a `%%gpt4o` cell (not the kernel's first, which also carries
    the widgets' modules), and the answer's text."""
    kernel.execute_interactive("%load_ext orjupyter", timeout=60, output_hook=lambda _m: None)
    kernel.execute_interactive(FIRST, timeout=120, output_hook=lambda _m: None)
    messages: list[dict[str, Any]] = []
    reply = kernel.execute_interactive(
        CELL, timeout=120, output_hook=messages.append, user_expressions={"text": "reply.text"}
    )
    assert reply["content"]["status"] == "ok", reply["content"]
    text = reply["content"]["user_expressions"]["text"]["data"]["text/plain"]
    return messages, str(ast.literal_eval(text))


def opened(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["content"]["data"]["state"] for m in messages if m["msg_type"] == "comm_open"]


def final_index(messages: list[dict[str, Any]]) -> int:
    """Where the final output (the answer with its metadata) is shown."""
    return next(
        n
        for n, m in enumerate(messages)
        if m["msg_type"] == "display_data" and "orjupyter" in m["content"]["metadata"]
    )


def rules(css: str) -> set[str]:
    """The rules of a stylesheet, or of the `<style>` elements of some HTML."""
    sheets = re.findall(r"<style>(.*?)</style>", css, re.DOTALL) if "<style>" in css else [css]
    flat = re.sub(r"@media[^{]*\{", "", "".join(sheets))
    return {rule.strip() for rule in re.findall(r"[^{}]+\{[^{}]*\}", flat)}


def test_an_answer_opens_no_layout_or_style_model_and_no_state_the_browser_has(kernel):
    messages, _text = answered(kernel)
    states = opened(messages)
    assert states, "no widget was opened"
    assert not {s["_model_name"] for s in states} & STYLE_MODELS
    for state in states:  # a default the browser's model starts from is left out
        assert None not in state.values(), state


MOST_MODELS = 2
"""An answer's widgets: its live panel and its action bar, each one model."""


def test_an_answer_opens_at_most_two_models_and_sends_no_state_again_but_the_bars(kernel):
    messages, _text = answered(kernel)
    assert 1 <= len(opened(messages)) <= MOST_MODELS
    updates = [
        m["content"]["data"]["state"]
        for m in messages
        if m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update"
    ]
    # the status line comes with the answer's refreshes; the bar is revealed, once
    assert [set(u) <= {"busy", "code", "anchor"} for u in updates] == [True]
    final = final_index(messages)
    assert not [m for m in messages[final:] if m["msg_type"] == "comm_open"]
    statuses = [
        m["content"]["data"]["content"]["status"]
        for m in messages
        if m["msg_type"] == "comm_msg" and "status" in m["content"]["data"].get("content", {})
    ]
    assert statuses
    assert all(s.startswith("openai/gpt-4o") for s in statuses), statuses


def module_reply(kernel: Any, comm_id: str) -> dict[str, Any]:
    """Ask a model for its module, as the page's first model of its kind does."""
    ask = {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "module"}}}
    kernel.shell_channel.send(kernel.session.msg("comm_msg", ask))
    while True:
        message = kernel.get_iopub_msg(timeout=30)
        content = message["content"]
        if message["msg_type"] == "comm_msg" and content["comm_id"] == comm_id:
            return dict(content["data"]["content"])


def test_the_modules_and_their_stylesheets_cross_only_to_a_page_that_asks(kernel):
    messages, _text = answered(kernel)
    raw = [json.dumps(m["content"]) for m in messages]
    for asset in (panel_css(), actions_css(), AnswerStream._module, ActionBar._module):
        assert not any(json.dumps(asset)[1:-1] in text for text in raw)
    assert sum(json.dumps(answer_css())[1:-1] in text for text in raw) == 1  # the final output
    shown = messages[final_index(messages)]["content"]["data"]["text/html"]
    assert rules(shown) & rules(_stylesheet("panel.css")) == set()
    assert rules(shown) & rules(actions_css()) == set()
    (bar,) = [
        m["content"]["comm_id"]
        for m in messages
        if m["msg_type"] == "comm_open" and "key" not in m["content"]["data"]["state"]
    ]
    assert module_reply(kernel, bar) == {"module": ActionBar._module, "css": actions_css()}
    assert rules(panel_css()) & rules(_stylesheet("output.css")) == set()
    assert rules(_stylesheet("answer.css")) <= rules(panel_css()) & rules(shown)


def test_the_answer_crosses_once_live_and_once_per_final_representation(kernel):
    messages, text = answered(kernel)
    deltas = [
        m
        for m in messages
        if m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "custom"
    ]
    live = "".join(m["content"]["data"]["content"].get("text", "") for m in deltas)
    assert len(text) > 5000
    assert live
    assert text.startswith(live)  # each piece once, in order (the tail may come only in
    # the final output)
    final = messages[final_index(messages)]
    shown = final["content"]["data"]
    assert set(shown) == {"text/html", "text/plain"}
    assert text in shown["text/plain"]
    assert len(shown["text/plain"]) < len(text) + 500  # and its usage line
    assert text in shown["text/html"]
    assert len(shown["text/html"]) < len(text) + len(answer_css()) + 1000  # its markup
    # nothing else carries it: not a widget's state, the metadata, nor another output
    others = [m for m in messages if m is not final and m not in deltas]
    assert max(len(json.dumps(m["content"])) for m in others) < 3000


def test_a_kernels_first_answer_brings_the_modules_unasked_once(kernel):
    """A page asks for the modules, but a kernel busy in a tool the model called answers only
    when the tool is done: so its first answer sends them before it is asked."""
    kernel.execute_interactive("%load_ext orjupyter", timeout=60, output_hook=lambda _m: None)
    firsts: list[dict[str, Any]] = []
    kernel.execute_interactive(FIRST, timeout=120, output_hook=firsts.append)
    again: list[dict[str, Any]] = []
    kernel.execute_interactive(FIRST, timeout=120, output_hook=again.append)
    sent = [
        m["content"]["data"]["content"]
        for m in firsts
        if m["msg_type"] == "comm_msg" and "module" in m["content"]["data"].get("content", {})
    ]
    assert sorted(sent, key=json.dumps) == sorted(
        [
            {"module": AnswerStream._module, "css": panel_css()},
            {"module": ActionBar._module, "css": actions_css()},
        ],
        key=json.dumps,
    )
    raw = [json.dumps(m["content"]) for m in again]
    for asset in (AnswerStream._module, ActionBar._module):
        assert not any(json.dumps(asset)[1:-1] in text for text in raw)
