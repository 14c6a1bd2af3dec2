"""Where a view is chosen: live widgets where a kernel can show them and
`OrJupyter.widgets` allows it, else plain text; and the answer's own view, made here."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orjupyter.core.question import Question
    from orjupyter.jupyter.magic import OrJupyterMagics
    from orjupyter.service.views import View


def shows_widgets(magics: OrJupyterMagics) -> bool:
    """The one choice of every view (an answer, its follow-ups, `--compare`'s columns, a
    `--map` run, a tool loop's log, `%gpt4o panel`): widgets in a kernel, unless
    `OrJupyter.widgets` is False; text in terminal IPython, whatever the setting."""
    return bool(magics.settings.widgets) and getattr(magics.shell, "kernel", None) is not None


def reads_input(kernel: Any) -> bool:
    """The front end of the request running now lets the kernel read input: a terminal
    (no kernel) whose stdin is open, or a kernel's front end that allowed it (jupyter
    console, JupyterLab, Notebook 7, VS Code; not nbclient or papermill)."""
    if kernel is None:
        return sys.stdin is not None and not sys.stdin.closed
    return bool(getattr(kernel, "_allow_stdin", False))


def from_a_console(kernel: Any) -> bool:
    """The request running now came from a console (jupyter console, qtconsole): a front
    end that reads input and names no cell. JupyterLab, Notebook 7 and VS Code send the
    cell's id with each request, and nbclient reads no input. A console prints each new
    output and applies no display update, so what changes after its cell has ended must
    come as a new output to show there."""
    if kernel is None or not reads_input(kernel):
        return False
    request = kernel.get_parent() if callable(getattr(kernel, "get_parent", None)) else {}
    return not (request.get("metadata") or {}).get("cellId")


def answer_view(
    magics: OrJupyterMagics, model: str, question: Question, *, background: bool = False
) -> View:
    """A cell's streaming answer: the widget panel with its action bar (whose follow-ups
    get panels of the same kind), or the text view."""
    from orjupyter.jupyter.panel import Panel, TextView

    settings, total_name = magics.settings, magics.notebook().total_name
    if not shows_widgets(magics):
        return TextView(model, total_name=total_name)
    from functools import partial

    from orjupyter.jupyter.actions import Conversation

    make_panel = partial(Panel, model, settings.updates_per_second, total_name=total_name)
    conversation = Conversation(magics.session, question, make_panel)
    return make_panel(
        on_done=conversation.done,
        after_show=conversation.show,
        background=background,
        console=from_a_console(getattr(magics.shell, "kernel", None)),
    )
