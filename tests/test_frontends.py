"""Every frontend shows the answer and its usage line: a piped `jupyter console` (which
renders new outputs but never a display update), and the kernel's messages that any
frontend reads (the final output of an answer, a `--map` and a `--compare` is a new output
of the cell, never only an update of an earlier one)."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import TYPE_CHECKING

from notebook_support import emptied

from orjupyter.fakerouter import FakeRouter

if TYPE_CHECKING:
    from jupyter_client.blocking.client import BlockingKernelClient

CONSOLE = [sys.executable, "-m", "jupyter_console", "--simple-prompt", "--kernel=python3"]
USAGE_LINE = re.compile(r"\d+ prompt \+ \d+ completion tokens · \$[\d.]+ · folder total")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def typed_into_console(*lines: str) -> str:
    """What a person sees in `jupyter console --simple-prompt` after typing these lines."""
    typed = "\n".join([*lines, "exit", ""])
    done = subprocess.run(
        CONSOLE, input=typed, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_jupyter_console_shows_every_final_output(router: FakeRouter) -> None:
    seen = typed_into_console(
        "%load_ext orjupyter",
        "%gpt4o What is a z-score, briefly?",
        "rows = ['a', 'b', 'c']",
        "%gpt4o --map rows Row {item}?",
        "%gpt4o --compare openai/gpt-4o-mini,openai/gpt-4o-2024-11-20 Which is cheaper?",
    )
    # the fake's answer describes what it received, then the usage line
    assert "I received 1 part:\n- text: 27 characters" in seen
    assert len(USAGE_LINE.findall(seen)) == 1
    assert "3 rows · 3 answered · 0 failed · billed $" in seen
    assert "== openai/gpt-4o-mini ==" in seen
    assert "cheapest: openai/gpt-4o-mini" in seen


def test_jupyter_console_runs_commands_and_asks_questions(router: FakeRouter) -> None:
    seen = typed_into_console(
        "%load_ext orjupyter",
        "%gpt4o budget 0.50",
        "%gpt4o reset",
        "%gpt4o panel",
        "%gpt4o models of the 1990s: which were best?",
    )
    assert "Budget for " in seen
    assert ": $0.50; spent $0" in seen
    assert "All threads reset." in seen
    assert "calls 0" in seen  # the notebook panel's numbers, as text
    asked = [r.body["messages"][-1]["content"] for r in router.requests if r.body]
    assert asked == ["models of the 1990s: which were best?"]
    assert "OpenRouter models" not in seen


def cell_messages(kernel: BlockingKernelClient, code: str) -> list[dict]:
    """The iopub messages a cell sent, in order."""
    shown: list[dict] = []
    reply = kernel.execute_interactive(code, timeout=120, output_hook=shown.append)
    assert reply["content"]["status"] == "ok"
    return [m for m in shown if m["msg_type"] in {"display_data", "update_display_data"}]


def display_id(message: dict) -> str | None:
    return message["content"].get("transient", {}).get("display_id")


def final_and_live(messages: list[dict], final_text: str) -> tuple[int, dict]:
    """Where the final output is among the new outputs, and how the live one ends."""
    new = [m for m in messages if m["msg_type"] == "display_data"]
    [final] = [
        i for i, m in enumerate(new) if final_text in m["content"]["data"].get("text/plain", "")
    ]
    live = next(m for m in new if WIDGET_VIEW in m["content"]["data"])
    last_of_live = [m for m in messages if display_id(m) == display_id(live)][-1]
    return final, last_of_live


def test_final_outputs_are_new_outputs_of_the_cell(router: FakeRouter, kernel) -> None:
    kernel.execute_interactive("%load_ext orjupyter\nrows = ['a', 'b']", timeout=60)
    answer = cell_messages(kernel, "%%gpt4o\n[[fake words=30]]")
    final, live_end = final_and_live(answer, "30 completion tokens")
    new = [m for m in answer if m["msg_type"] == "display_data"]
    assert WIDGET_VIEW in new[0]["content"]["data"]  # the live panel came first
    assert final == 1  # the answer right under it…
    assert WIDGET_VIEW in new[2]["content"]["data"]  # …and the action bar under the answer
    assert emptied(live_end["content"]["data"])  # the live panel is emptied

    mapped = cell_messages(kernel, "%%gpt4o --map rows\nRow {item}?")
    _, live_end = final_and_live(mapped, "2 rows · 2 answered · 0 failed")
    assert emptied(live_end["content"]["data"])

    compared = cell_messages(
        kernel, "%%gpt4o --compare openai/gpt-4o-mini,openai/gpt-4o-2024-11-20\nHi?"
    )
    _, live_end = final_and_live(compared, "cheapest: openai/gpt-4o-mini")
    assert emptied(live_end["content"]["data"])


def test_the_widgets_setting_chooses_every_view_in_a_kernel(router: FakeRouter, kernel) -> None:
    """`OrJupyter.widgets = False`: an answer, a `--map` run, a `--compare`, a tool loop and
    `%gpt4o panel` all show as text in a kernel (no widget is made), and each still says
    what it did."""
    setup = "%load_ext orjupyter\n%config OrJupyter.widgets = False\nrows = ['a', 'b']\n"
    setup += "def lookup(city: str) -> str:\n    return 'sunny in ' + city\n"
    kernel.execute_interactive(setup, timeout=60)
    cells = {
        "%%gpt4o\n[[fake words=30]]": "30 completion tokens",
        "%%gpt4o --map rows\nRow {item}?": "2 rows · 2 answered · 0 failed",
        "%%gpt4o --compare openai/gpt-4o-mini,openai/gpt-4o-2024-11-20\nHi?": "cheapest:",
        "%%gpt4o --tools lookup\n[[fake call=lookup]] Go": "lookup(",
        "%gpt4o panel": "calls",
    }
    for code, said in cells.items():
        sent: list[dict] = []
        reply = kernel.execute_interactive(code, timeout=120, output_hook=sent.append)
        assert reply["content"]["status"] == "ok", code
        assert [m for m in sent if m["msg_type"].startswith("comm_")] == [], code
        shown = "".join(
            m["content"].get("text", "") + m["content"].get("data", {}).get("text/plain", "")
            for m in sent
        )
        assert WIDGET_VIEW not in str(sent), code
        assert said in shown, code


def test_jupyter_console_asks_approval_on_stdin_instead_of_waiting_on_buttons(
    router: FakeRouter,
) -> None:
    # console draws no widgets: the approval buttons never tell the kernel they were shown
    seen = typed_into_console(
        "%load_ext orjupyter",
        "def lookup(city: str = 'Oslo') -> str: return city + ': 12 C'",
        "%gpt4o --tools lookup --approve What is the weather?",
        "y",
        "%gpt4o --tools lookup --approve --no-cache And now?",
        "n",
    )
    assert "this front end did not show the approval buttons" in seen
    assert "%config OrJupyter.widgets = False asks here at once" in seen
    assert seen.count("Run lookup(city='Oslo')? [y]es, [n]o, [a]ll:") == 2
    assert "- lookup: Oslo: 12 C" in seen  # approved: it ran
    assert "- lookup: The person denied this call of lookup; it was not run." in seen
