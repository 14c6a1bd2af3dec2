"""Approving a tool's call under a cell: buttons where the front end draws them, else stdin.

Approve, Deny and Approve all are buttons where the front end draws widgets, and y/n/a
on stdin where it does not.

A front end that draws the buttons says so (a small widget in the box sends "shown" when
it is rendered, `static/shown.js`). One that never does (jupyter console prints a
widget's text and waits for nothing) is asked on stdin after `SHOWN_WITHIN` seconds,
so a cell never waits on buttons no one can see.
"""

from __future__ import annotations

import asyncio
import html
import time
from pathlib import Path
from typing import Protocol

import anywidget

from orjupyter.core.domain import ToolCall
from orjupyter.core.terminal import printable
from orjupyter.core.tools import call_text
from orjupyter.service.call import Stopper
from orjupyter.service.toolloop import Decision, said

SHOWN_WITHIN = 5.0
"""Seconds a front end has to draw the approval buttons before the call is asked on stdin."""
_MODULE = Path(__file__).parent.parent / "static" / "shown.js"


class Asker(Protocol):
    """What the buttons need of the tool log: its lines, stdin, and the loop's Stop."""

    def add(self, line: str) -> None: ...

    def ask_on_stdin(self, call: ToolCall) -> Decision: ...

    def stopper(self) -> Stopper | None: ...


class Shown(anywidget.AnyWidget):
    """Draws nothing; tells the kernel that the front end rendered it."""

    _esm = _MODULE


def _decide(future: asyncio.Future[Decision], decision: Decision) -> None:
    if not future.done():
        future.set_result(decision)


async def ask_with_buttons(log: Asker, call: ToolCall) -> Decision:
    """The person's answer by button; on stdin if the buttons are not drawn in time."""
    import ipywidgets as widgets
    from IPython.display import display

    decided: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
    shown = asyncio.Event()
    wanted = call_text(call.name, call.arguments, limit=200)
    asked = widgets.HTML(f"<b>{html.escape(wanted)}</b> wants to run in this kernel.")
    buttons = []
    for label, decision, style in (
        ("Approve", "yes", "success"),
        ("Deny", "no", "danger"),
        ("Approve all", "all", ""),
    ):
        button = widgets.Button(description=label, button_style=style)
        button.on_click(lambda _b, d=decision: _decide(decided, d))
        buttons.append(button)
    probe = Shown()
    probe.on_msg(lambda _w, content, _b: shown.set() if content == {"event": "shown"} else None)
    box = widgets.VBox([asked, widgets.HBox(buttons), probe])
    box.add_class("orj-approval")
    plain = f"{printable(wanted)} wants to run: Approve, Deny or Approve all (buttons)"
    handle = display({**box._repr_mimebundle_(), "text/plain": plain}, raw=True, display_id=True)
    try:
        drawn = await _wait(log, decided, shown)
    finally:
        handle.update({"text/plain": ""}, raw=True)
        for widget in (*buttons, *box.children, box):
            widget.close()
    if not drawn:  # printed too: a front end that draws no widgets may apply no update
        line = (
            f"{call.name}: this front end did not show the approval buttons (jupyter "
            "console shows no widgets), so it is asked here; "
            "%config OrJupyter.widgets = False asks here at once"
        )
        log.add(line)
        print(printable(line), flush=True)
        return log.ask_on_stdin(call)
    decision = decided.result()
    log.add(f"{'✓' if decision != 'no' else '✗'} {call.name}: {said(decision)}")
    return decision


async def _wait(log: Asker, decided: asyncio.Future[Decision], shown: asyncio.Event) -> bool:
    """Wait for a click (or Stop: a denial). False: the buttons were never drawn."""
    deadline = time.monotonic() + SHOWN_WITHIN
    while not decided.done():
        stopper = log.stopper()
        if stopper is not None and stopper.requested:
            decided.set_result("no")
            break
        if not shown.is_set() and time.monotonic() > deadline:
            return False
        await asyncio.wait({decided}, timeout=0.1)
    return True
