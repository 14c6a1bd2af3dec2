"""`%%gpt4o --tools`: the loop through a real IPython shell against the local server,
with the real `openai` SDK: calls run in order, results go back with their ids, caps
stop it, each round is cached and recorded, and only offered functions ever run."""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from conftest import sent_images

from orjupyter.core.domain import ToolStep


def run(shell: Any, source: str) -> Any:
    return shell.run_cell(source, store_history=True)


def b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def rounds(*calls: list[tuple[str, dict[str, Any]]]) -> str:
    return b64([[{"name": n, "arguments": a} for n, a in round_calls] for round_calls in calls])


@pytest.fixture
def ran(shell: Any) -> list[str]:
    """Functions the notebook defines, recording each call."""
    log: list[str] = []

    def lookup(city: str) -> str:
        """The weather in a city."""
        log.append(f"lookup {city}")
        return f"{city}: 12 C"

    def divide(n: int) -> float:
        """One divided by n."""
        log.append(f"divide {n}")
        return 1 / n

    def wipe(folder: str) -> None:
        """Delete a folder (never offered)."""
        log.append(f"wipe {folder}")

    shell.user_ns.update(lookup=lookup, divide=divide, wipe=wipe)
    return log


def test_calls_run_in_order_and_results_go_back_with_their_ids(shell, router, ran, capsys):
    script = rounds([("lookup", {"city": "Oslo"}), ("divide", {"n": 4})])
    result = run(shell, f"%%gpt4o --tools lookup,divide -o r\n[[fake calls_b64={script}]] Go")
    assert result.success
    assert ran == ["lookup Oslo", "divide 4"]
    second = router.requests[-1].body
    assert [tool["function"]["name"] for tool in second["tools"]] == ["lookup", "divide"]
    assistant, *answers = second["messages"][-3:]
    ids = [call["id"] for call in assistant["tool_calls"]]
    assert [(m["role"], m["tool_call_id"], m["content"]) for m in answers] == [
        ("tool", ids[0], "Oslo: 12 C"),
        ("tool", ids[1], "0.25"),
    ]
    reply = shell.user_ns["r"]
    assert reply.text == "Tool results:\n- lookup: Oslo: 12 C\n- divide: 0.25"
    assert reply.rounds == 2
    billed = router.billed()
    assert reply.usage.cost == sum(Decimal(str(usage["cost"])) for usage in billed)
    assert reply.usage.prompt_tokens == sum(usage["prompt_tokens"] for usage in billed)
    assert [(s.call.name, s.result, s.round) for s in reply.steps] == [
        ("lookup", "Oslo: 12 C", 1),
        ("divide", "0.25", 1),
    ]
    assert reply.steps[0].round_cost == Decimal(str(billed[0]["cost"]))
    out = capsys.readouterr().out
    assert "→ round 1 · running lookup(city='Oslo')…" in out
    assert "← 'Oslo: 12 C'" in out
    assert "2 rounds, 2 tool calls" in out


def test_each_round_is_a_ledger_row_of_one_run(shell, router, ran):
    script = rounds([("lookup", {"city": "Oslo"})], [("lookup", {"city": "Rome"})])
    run(shell, f"%%gpt4o --tools lookup\n[[fake calls_b64={script}]] Go")
    magics = shell.magics_manager.registry["OrJupyterMagics"]
    ledger = magics.session.records.ledger
    rows = ledger.calls(magics.notebook().key)
    assert len(rows) == 3
    assert len({row.run for row in rows}) == 1
    assert rows[0].run.startswith("--tools ")


def test_a_tool_that_raises_is_told_to_the_model_and_the_loop_goes_on(shell, router, ran, capsys):
    script = rounds([("divide", {"n": 0})])
    result = run(shell, f"%%gpt4o --tools divide -o r\n[[fake calls_b64={script}]] Go")
    assert result.success
    told = router.requests[-1].body["messages"][-1]["content"]
    assert told.startswith("The function raised ZeroDivisionError: division by zero")
    assert "in divide, line" in told
    assert "return 1 / n" in told
    step: ToolStep = shell.user_ns["r"].steps[0]
    assert not step.ok
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert "← ✗ The function raised ZeroDivisionError: division by zero" in out


def test_a_function_not_offered_is_never_run(shell, router, ran):
    script = rounds([("wipe", {"folder": "data"})])
    run(shell, f"%%gpt4o --tools lookup -o r\n[[fake calls_b64={script}]] Go")
    assert ran == []
    told = router.requests[-1].body["messages"][-1]["content"]
    assert "no function named 'wipe'" in told
    assert "offered are: lookup" in told


def test_wrong_arguments_never_reach_the_function(shell, router, ran):
    script = rounds([("lookup", {"town": "Oslo"})])
    run(shell, f"%%gpt4o --tools lookup\n[[fake calls_b64={script}]] Go")
    assert ran == []
    told = router.requests[-1].body["messages"][-1]["content"]
    assert "unknown argument 'town'" in told
    assert "missing argument 'city'" in told


def test_max_steps_stops_a_model_that_never_stops(shell, router, ran, capsys):
    run(shell, "%%gpt4o --tools lookup --max-steps 3 -o r\n[[fake loop_forever]] Go")
    assert len(router.requests) == 3
    reply = shell.user_ns["r"]
    assert reply.outcome == "stopped"
    assert "stopped after 3 rounds (--max-steps 3)" in reply.error
    assert "stopped after 3 rounds" in capsys.readouterr().out


def test_the_default_is_ten_rounds(shell, router, ran):
    run(shell, "%%gpt4o --tools lookup\n[[fake loop_forever]] Go")
    assert len(router.requests) == 10


def test_budget_holds_each_rounds_worst_case_before_sending(shell, router, ran):
    line = "%%gpt4o --tools lookup --max-tokens 100 --budget 0.003 -o r --no-cache"
    run(shell, f"{line}\n[[fake loop_forever]] Go")
    reply = shell.user_ns["r"]
    assert reply.usage.cost <= Decimal("0.003")
    found = re.search(
        r"round (\d+) could cost up to \$([\d.]+) and \$([\d.]+) is spent", reply.error
    )
    assert found is not None, reply.error
    assert int(found[1]) == len(router.requests) + 1
    assert Decimal(found[3]) == reply.usage.cost
    assert Decimal(found[2]) + reply.usage.cost > Decimal("0.003")  # it would have crossed


def test_the_notebooks_budget_holds_too(shell, router, ran):
    run(shell, "%gpt4o budget 0.0002")
    run(shell, "%%gpt4o --tools lookup --max-tokens 10 -o r\n[[fake loop_forever]] Go")
    reply = shell.user_ns["r"]
    assert "budget" in reply.error
    assert len(router.requests) < 10


def test_re_running_the_cell_sends_nothing_and_costs_nothing(shell, router, ran, monkeypatch):
    script = rounds([("lookup", {"city": "Oslo"})])
    cell = f"%%gpt4o --tools lookup -o r\n[[fake calls_b64={script}]] Go"
    run(shell, cell)
    first = shell.user_ns["r"]
    router.reset()
    run(shell, cell)
    again = shell.user_ns["r"]
    assert router.requests == []
    assert again.usage.cost == 0
    assert again.cached
    assert again.text == first.text
    assert ran == ["lookup Oslo", "lookup Oslo"]  # the tools run again
    monkeypatch.setenv("ORJUPYTER_REPLAY", "1")
    run(shell, cell)
    assert shell.user_ns["r"].text == first.text
    assert router.requests == []


def test_a_changed_tool_result_asks_again(shell, router, ran):
    script = rounds([("lookup", {"city": "Oslo"})])
    cell = f"%%gpt4o --tools lookup -o r\n[[fake calls_b64={script}]] Go"
    run(shell, cell)

    def lookup(city: str) -> str:
        """The weather in a city."""
        return f"{city}: 30 C"

    shell.user_ns["lookup"] = lookup
    router.reset()
    run(shell, cell)
    assert len(router.requests) == 1  # the first round from the cache, the second sent
    assert shell.user_ns["r"].text.endswith("Oslo: 30 C")


def test_approval_where_no_one_can_be_asked_is_a_denial(shell, router, ran, capsys):
    script = rounds([("lookup", {"city": "Oslo"})])
    run(shell, f"%%gpt4o --tools lookup --approve -o r\n[[fake calls_b64={script}]] Go")
    assert ran == []
    told = router.requests[-1].body["messages"][-1]["content"]
    assert "denied" in told
    assert "cannot ask" in capsys.readouterr().out


def test_a_picture_goes_back_as_an_image(shell, router):
    from PIL import Image

    def plot(title: str) -> Any:
        """Draw a chart."""
        return Image.new("RGB", (200, 100), "white")

    shell.user_ns["plot"] = plot
    script = rounds([("plot", {"title": "sales"})])
    run(shell, f"%%gpt4o --tools plot\n[[fake calls_b64={script}]] Go")
    messages = router.requests[-1].body["messages"]
    assert messages[-2]["role"] == "tool"
    assert "returned an image (200×100)" in messages[-2]["content"]
    assert sent_images(messages[-1]["content"]) == [(200, 100, "image/png")]


def test_dry_run_shows_the_schemas_and_sends_nothing(shell, router, ran, capsys):
    run(shell, "%%gpt4o --tools lookup --dry-run\nWeather?")
    out = capsys.readouterr().out
    assert "Tools offered (1)" in out
    assert '"city": {"type": "string"}' in out
    assert router.requests == []


def test_a_thread_keeps_the_tool_exchange(shell, router, ran):
    script = rounds([("lookup", {"city": "Oslo"})])
    run(shell, f"%%gpt4o --tools lookup --thread w\n[[fake calls_b64={script}]] Go")
    run(shell, "%%gpt4o --thread w\nAnd tomorrow?")
    roles = [m["role"] for m in router.requests[-1].body["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("--tools nothing_here", "--tools nothing_here: no such function"),
        ("--tools lookup --map rows", "drop --map or --tools"),
        ("--tools lookup --compare a,b", "drop --compare or --tools"),
        ("--max-steps 3", "--max-steps works with --tools"),
        ("--approve", "--approve works with --tools"),
    ],
)
def test_bad_lines_are_one_line_and_send_nothing(shell, router, ran, capsys, line, says):
    shell.user_ns["rows"] = [1, 2]
    run(shell, f"%%gpt4o {line}\nGo")
    captured = capsys.readouterr()
    assert says in captured.err + captured.out
    assert router.requests == []
