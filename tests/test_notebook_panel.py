"""`%gpt4o panel`: the notebook's live panel agrees with `orjupyter.usage()`, moves when
shown again, prints once in a terminal, and warns near the budget."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from decimal import Decimal

from notebook_support import click

from orjupyter.core.domain import Totals, Usage
from orjupyter.render.notebook_summary import (
    NotebookSummary,
    budget_html,
    budget_warning_text,
    summary_text,
    totals_html,
)
from orjupyter.render.report import budget_note
from orjupyter.service.activity import Activity
from orjupyter.service.call import Stopper
from orjupyter.store.ledger import CallRecord

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def execute(client, code: str) -> tuple[dict, str, list[dict]]:
    outputs: list[dict] = []
    reply = client.execute_interactive(code, timeout=60, output_hook=outputs.append)
    printed = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    return reply["content"], printed, outputs


# What the panel shows, read from its widgets in the kernel (the frontend mirrors them).
PANEL_STATE = r"""
import json, re, orjupyter
_panel = get_ipython().magics_manager.registry["OrJupyterMagics"].notebook_panel
_shown = dict(re.findall(
    r'data-orj-field="(\w+)".*?class="orj-np-value">([^<]*)</b>', _panel.totals.value))
_u = orjupyter.usage()
print(json.dumps({
    "panel": _shown,
    "flying": [row.children[1].value for row in _panel._rows.values()],
    "stops": [row.children[0].model_id for row in _panel._rows.values()],
    "recent": _panel.recent.value,
    "usage": {"calls": _u.calls, "from_cache": _u.from_cache, "prompt_tokens": _u.prompt_tokens,
              "completion_tokens": _u.completion_tokens, "cached_tokens": _u.cached_tokens,
              "reasoning_tokens": _u.reasoning_tokens, "cost": str(_u.cost),
              "estimated_calls": _u.estimated_calls},
}))
"""


def panel_state(kernel) -> dict:
    _, printed, _ = execute(kernel, PANEL_STATE)
    return json.loads(printed)


def wait_state(kernel, check, what: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = panel_state(kernel)
        if check(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {state}")
        time.sleep(0.2)


def as_number(text: str) -> int:
    return int(text.replace(",", ""))


NUMBERS = (
    "calls",
    "from_cache",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
)


def agrees(state: dict) -> bool:
    shown, usage = state["panel"], state["usage"]
    return all(as_number(shown[key]) == usage[key] for key in NUMBERS)


def test_panel_numbers_equal_usage_after_a_mix_of_calls(router, kernel):
    execute(kernel, "%load_ext orjupyter")
    _, _, outputs = execute(kernel, "%gpt4o panel")
    assert any(m["msg_type"] == "display_data" for m in outputs)
    execute(kernel, "%%gpt4o -o a\nWhat is a panel?")
    execute(kernel, "%%gpt4o -o a2\nWhat is a panel?")  # the same again: from the cache
    execute(kernel, "%%gpt4o --bg -o b\n[[fake words=30 delay=0.02]]")
    _, printed, _ = execute(kernel, "print(b.wait().outcome)")
    assert printed.split() == ["ok"]
    execute(kernel, "%%gpt4o --bg -o s\n[[fake words=400 delay=0.05]]")

    def streaming(state: dict) -> bool:  # in flight under its cell's number, text arriving
        return any("[7]" in line and "characters" in line for line in state["flying"])

    running = wait_state(kernel, streaming, "the call in flight")
    [stop] = [
        b for b, line in zip(running["stops"], running["flying"], strict=True) if "[7]" in line
    ]
    # click the panel's Stop for that call, as the browser would (a comm message)
    click(kernel, stop)
    _, printed, _ = execute(kernel, "print(s.wait().outcome)")
    assert printed.split() == ["stopped"]

    # the stopped answer was recorded at an estimate, then settled with OpenRouter's bill
    # (`GET /generation`, in the background): the panel follows both
    def settled(state: dict) -> bool:
        nothing_estimated = state["usage"]["estimated_calls"] == 0
        return agrees(state) and nothing_estimated and not state["panel"]["cost"].startswith("~")

    wait_state(kernel, settled, "the panel to show the settled bill", timeout=20)
    # an answer billed without a cost stays an estimate, and the panel marks it
    execute(kernel, "%%gpt4o -o e\n[[fake no_cost]] an estimate")
    state = wait_state(
        kernel, lambda s: agrees(s) and s["usage"]["calls"] == 4, "the panel to catch up"
    )
    usage, shown = state["usage"], state["panel"]
    assert usage["from_cache"] == 1  # the repeated question: an answer, not a call
    assert usage["estimated_calls"] == 1
    cost = Decimal(usage["cost"])
    assert shown["cost"].startswith("~$")  # estimates are marked
    assert f"(1 of {usage['calls']} estimated)" in shown["cost"]
    # the billed total as the panel prints it is the same amount
    assert Decimal(re.sub(r"[~$,]", "", shown["cost"].split()[0])) == cost.quantize(
        Decimal("0.0000001")
    )
    recent = state["recent"]
    assert "stopped" in recent
    assert "ok (cached)" in recent
    assert recent.index("[7]") < recent.index("[3]")  # newest first


def test_showing_the_panel_again_moves_it(router, kernel):
    execute(kernel, "%load_ext orjupyter")
    _, _, first = execute(kernel, "%gpt4o panel")
    shown = [m for m in first if m["msg_type"] == "display_data"]
    assert WIDGET_VIEW in shown[-1]["content"]["data"]
    ids = [m["content"]["transient"]["display_id"] for m in shown]
    _, _, second = execute(kernel, "%gpt4o panel")
    moved = {
        m["content"]["transient"]["display_id"]: m["content"]["data"]
        for m in second
        if m["msg_type"] == "update_display_data"
    }
    assert set(moved) == set(ids)  # the old place keeps no widget
    assert {"text/plain": "(orjupyter's live panel moved to [3])"} in moved.values()
    assert not any(WIDGET_VIEW in data for data in moved.values())
    assert [m["msg_type"] for m in second].count("display_data") == 2  # the panel, there


def test_panel_reads_the_ledger_after_a_restart(router):
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        execute(client, "%load_ext orjupyter")
        execute(client, "%%gpt4o\nremember me")
        client.stop_channels()
        manager.restart_kernel(now=True)
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        execute(client, "%load_ext orjupyter")
        execute(client, "%gpt4o panel")
        state = panel_state(client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert state["usage"]["calls"] == 1
    assert agrees(state)
    assert "[2]" in state["recent"]  # the cell that asked, before the restart


def test_side_without_sidecar_says_how_to_dock_it(router, kernel):
    # a kernel where `import sidecar` fails, as where it is not installed
    execute(kernel, "import sys\nsys.modules['sidecar'] = None\n%load_ext orjupyter")
    _, printed, outputs = execute(kernel, "%gpt4o panel --side")
    assert "Create New View for Output" in printed
    assert any(m["msg_type"] == "display_data" for m in outputs)


def test_terminal_prints_the_summary_once(shell, capsys):
    shell.run_cell("%%gpt4o\nhello there")
    capsys.readouterr()
    shell.run_line_magic("gpt4o", "panel")
    printed = capsys.readouterr().out
    assert printed.startswith("orjupyter: ")
    assert "calls 1 · answers from the cache 0 · prompt tokens" in printed
    assert "last calls:" in printed


def test_status_line_and_panel_warn_at_80_percent_of_the_budget(shell, capsys):
    shell.run_cell("%%gpt4o\n[[fake words=200]]")
    import orjupyter

    spent = orjupyter.usage().cost
    budget = (spent / Decimal("0.85")).quantize(Decimal("0.000001"))
    shell.run_line_magic("gpt4o", f"budget {budget}")
    capsys.readouterr()
    shell.run_cell("%%gpt4o --max-tokens 3\nshort")
    status = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.search(r"· 8\d% of the \$[\d.]+ budget spent", status), status
    shell.run_line_magic("gpt4o", "panel")
    printed = capsys.readouterr().out
    assert "warning: 8" in printed
    assert "% of the budget spent" in printed


# --- the pure parts ---------------------------------------------------------------------


def test_budget_bar_turns_to_a_warning_at_80_percent():
    calm = Totals(calls=2, cost=Decimal("0.10"), budget=Decimal("0.50"))
    near = Totals(calls=9, cost=Decimal("0.41"), budget=Decimal("0.50"))
    over = Totals(calls=9, cost=Decimal("0.52"), budget=Decimal("0.50"))
    assert "orj-np-near" not in budget_html(calm)
    assert "width:20.0%" in budget_html(calm)
    assert budget_warning_text(calm) is None
    assert budget_note(calm) is None
    assert "orj-np-near" in budget_html(near)
    assert budget_note(near) == "82% of the $0.50 budget spent"
    assert "82% of the budget spent" in (budget_warning_text(near) or "")
    assert "width:100.0%" in budget_html(over)
    assert "new calls are refused" in (budget_warning_text(over) or "")
    assert budget_html(Totals(calls=1, cost=Decimal(1))) == ""


def test_outside_text_is_escaped():
    usage = Usage(10, 5, Decimal("0.001"))
    call = CallRecord("nb", "[1]", "<script>x</script>", "gen", usage, "error", error="<img src=x>")
    summary = NotebookSummary("<b>nb</b>", Totals(calls=1), [call])
    from orjupyter.render.notebook_summary import chart_html, recent_html

    html = totals_html(summary.totals) + recent_html(summary.recent) + chart_html(summary)
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    assert "<b>nb</b>" in summary_text(summary)  # plain text stays as it is


def test_activity_tells_listeners_and_tracks_calls_in_flight():
    activity = Activity()
    seen: list[str] = []
    stop = activity.listen(lambda event: seen.append(event.kind))
    call = activity.started("nb", "[3]", "m", Stopper())
    activity.progress(call, 12)
    activity.progress(call, 15)  # at once: counted, but listeners heard of 12 just now
    assert [c.characters for c in activity.in_flight("nb")] == [15]
    assert activity.in_flight("other") == []
    activity.ended(call)
    assert activity.in_flight() == []
    stop()
    activity.started("nb", "[4]", "m", Stopper())
    assert seen == ["started", "progress", "ended"]


def test_a_failing_listener_never_breaks_a_call(capsys):
    activity = Activity()

    def broken(_event: object) -> None:
        raise RuntimeError("widget gone")

    activity.listen(broken)
    call = activity.started("nb", None, "m", Stopper())
    activity.ended(call)  # the broken listener was dropped after the first failure
    assert capsys.readouterr().err.count("stopped updating") == 1


def test_summary_text_lists_calls_newest_first():
    def record(cell: str, minute: int) -> CallRecord:
        return CallRecord(
            "nb", cell, "openai/gpt-4o", "g", Usage(1, 1, Decimal("0.01")), "ok",
            started_at=datetime(2026, 1, 1, 12, minute, tzinfo=timezone.utc),
        )  # fmt: skip

    summary = NotebookSummary(
        "nb", Totals(calls=2, cost=Decimal("0.02")), [record("[1]", 0), record("[2]", 1)]
    )
    text = summary_text(summary)
    assert text.index("[2]") < text.index("[1]")
