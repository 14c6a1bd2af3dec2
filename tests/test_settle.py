"""The exact bill of a stopped or failed call replaces its estimate, in real kernels."""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal

import openai
from notebook_support import press_stop
from test_stop import find_stop_button, run_quietly

from orjupyter.core.domain import Usage
from orjupyter.fakerouter import FakeRouter
from orjupyter.store.ledger import CallRecord, Ledger

DISPLAYED: list[str] = []
"""Every display update seen while a test's cells ran (the bill arrives between cells)."""


def printed(client, code: str) -> str:
    """Run `code`; return what it printed. Display updates from any cell (the bill arrives
    from the background, attributed to the cell that asked) go to DISPLAYED."""
    msg_id = client.execute(code)
    text = []
    while True:
        msg = client.get_iopub_msg(timeout=60)
        if msg["msg_type"] == "update_display_data":
            DISPLAYED.append(msg["content"]["data"].get("text/plain", ""))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(text)


def generation(router: FakeRouter, gen_id: str) -> dict:
    with openai.OpenAI(base_url=router.base_url, api_key="sk-or-test", max_retries=0) as sdk:
        deadline = time.monotonic() + 5
        while True:
            try:
                body: dict = sdk.get(
                    "/generation", cast_to=object, options={"params": {"id": gen_id}}
                )
                return dict(body["data"])
            except openai.NotFoundError:
                assert time.monotonic() < deadline
                time.sleep(0.1)


REPORT = (
    "import json, orjupyter\n"
    "t = orjupyter.usage()\n"
    "print(json.dumps([r.id, str(r.usage.cost), r.usage.cost_is_estimate,"
    " r.usage.completion_tokens, str(t.cost), t.estimated_calls]))"
)


def wait_settled(client, deadline: float = 10.0) -> list:
    end = time.monotonic() + deadline
    while True:
        report = json.loads(printed(client, REPORT))
        if not report[2] or time.monotonic() > end:
            return report
        time.sleep(0.2)


def test_a_stopped_answer_gets_its_exact_bill(router: FakeRouter, kernel) -> None:
    run_quietly(kernel, "%load_ext orjupyter")
    started = time.monotonic()
    msg_id = kernel.execute("%%gpt4o -o r\n[[fake words=400 delay=0.03]]")
    comm_id, _ = find_stop_button(kernel, started + 30)
    time.sleep(0.8)
    press_stop(kernel, comm_id)
    updates: list[str] = []
    while True:  # the cell ends at once: it does not wait for the bill
        msg = kernel.get_iopub_msg(timeout=30)
        if msg["msg_type"] in {"display_data", "update_display_data"}:
            updates.append(msg["content"]["data"].get("text/plain", ""))
        if (
            msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
            and (msg["parent_header"].get("msg_id") == msg_id)
        ):
            break
    assert any("stopped" in u and "(estimated)" in u for u in updates)
    gen_id, cost, estimate, completion, total, estimated_calls = wait_settled(kernel)
    billed = generation(router, gen_id)
    assert billed["cancelled"] is True
    assert estimate is False
    assert Decimal(cost) == Decimal(str(billed["total_cost"]))
    assert completion == billed["tokens_completion"]
    assert Decimal(total) == Decimal(cost)  # the ledger holds the bill too
    assert estimated_calls == 0


def test_a_broken_stream_gets_its_exact_bill_and_the_panel_shows_it(router, kernel) -> None:
    run_quietly(kernel, "%load_ext orjupyter")
    DISPLAYED.clear()
    shown: list[str] = []
    kernel.execute_interactive(
        "%%gpt4o -o r\n[[fake words=30 midstream_error_after=6]]",
        timeout=60,
        output_hook=lambda m: shown.append(m["content"].get("data", {}).get("text/plain", "")),
    )
    gen_id, cost, estimate, completion, _, _ = wait_settled(kernel)
    assert estimate is False
    assert completion == 6
    assert Decimal(cost) == Decimal(str(generation(router, gen_id)["total_cost"]))
    assert any("(estimated)" in s for s in shown)
    billed = [s for s in DISPLAYED if "error" in s and "completion" in s]
    assert billed  # the answer's status line was replaced with the bill
    assert "(estimated)" not in billed[-1]


def test_reconcile_settles_this_notebooks_estimated_rows(router: FakeRouter, kernel, tmp_path):
    with openai.OpenAI(base_url=router.base_url, api_key="sk-or-test", max_retries=0) as sdk:
        chunks = list(
            sdk.chat.completions.create(
                model="openai/gpt-4o-2024-11-20",
                messages=[{"role": "user", "content": "[[fake words=12]]"}],
                stream=True,
            )
        )
    gen_id = chunks[0].id
    notebook = printed(kernel, "print(__import__('os').getcwd())").strip()
    with Ledger(os.environ["ORJUPYTER_LEDGER"]) as ledger:
        for generation_id in (gen_id, "gen-0-unknown"):
            ledger.record(
                CallRecord(
                    notebook=f"unsaved:{notebook}",
                    cell="[1]",
                    model="openai/gpt-4o-2024-11-20",
                    generation_id=generation_id,
                    usage=Usage(10, 5, Decimal("0.0001"), cost_is_estimate=True),
                    outcome="stopped",
                )
            )
    run_quietly(kernel, "%load_ext orjupyter")
    said = printed(kernel, "%gpt4o reconcile")
    assert "Settled 1 estimated call with OpenRouter's bill" in said
    assert "1 still estimated" in said
    billed = Decimal(str(generation(router, gen_id)["total_cost"]))
    with Ledger(os.environ["ORJUPYTER_LEDGER"]) as ledger:
        rows = {call.generation_id: call.usage for call in ledger.calls()}
    assert rows[gen_id].cost == billed
    assert rows[gen_id].cost_is_estimate is False
    assert rows["gen-0-unknown"].cost_is_estimate is True
    assert "No estimated calls" not in said


def test_a_stopped_answer_says_when_billing_may_continue_upstream() -> None:
    from orjupyter.core.domain import Reply, Totals
    from orjupyter.render.report import usage_line

    usage = Usage(10, 5, Decimal("0.0001"), cost_is_estimate=True)
    google = Reply(
        "x", "google/gemini-2.5-flash", "gen-1", usage, "stopped", provider="Google AI Studio"
    )
    openai_ = Reply("x", "openai/gpt-4o-mini", "gen-2", usage, "stopped", provider="OpenAI")
    finished = Reply(
        "x", "google/gemini-2.5-flash", "gen-3", usage, "ok", provider="Google AI Studio"
    )
    assert "billing may continue upstream" in usage_line(google, Totals())
    assert "billing may continue" not in usage_line(openai_, Totals())
    assert "billing may continue" not in usage_line(finished, Totals())
