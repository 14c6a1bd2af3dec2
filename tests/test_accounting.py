"""Every cent accounted for: the ledger behind usage(), budgets, and the account views."""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import orjupyter
from orjupyter.core.budget import dollars
from orjupyter.store.ledger import Ledger


def run(shell, source: str):
    return shell.run_cell(source, store_history=True)


def chat_requests(router) -> list:
    return [r for r in router.requests if r.path.endswith("/chat/completions")]


def ledger() -> Ledger:
    return Ledger(os.environ["ORJUPYTER_LEDGER"])


def test_each_call_is_written_with_what_it_cost(shell, router):
    assert run(shell, "%%gpt4o -o reply\nhello ledger").success
    reply = shell.user_ns["reply"]
    [record] = ledger().calls()
    assert record.generation_id == reply.id
    assert record.model == reply.model
    assert record.usage == reply.usage
    assert record.outcome == "ok"
    assert record.cell is not None
    assert record.cell.startswith("[")
    assert record.time_to_first_token is not None
    assert record.prompt is None
    assert record.answer is None


def test_prompts_are_kept_only_when_asked(shell, router):
    shell.run_line_magic("config", "OrJupyter.store_prompts = True")
    try:
        assert run(shell, "%%gpt4o\nremember this prompt").success
    finally:
        shell.run_line_magic("config", "OrJupyter.store_prompts = False")
    [record] = ledger().calls()
    assert record.prompt == "remember this prompt"
    assert record.answer.startswith("I received 1 part")


def test_failed_and_cached_calls_are_recorded_as_such(shell, router):
    shell.run_line_magic("config", "OrJupyter.max_retries = 0")
    assert not run(shell, "%%gpt4o\n[[fake words=10 midstream_error_after=3]]").success
    assert run(shell, "%%gpt4o\nagain").success
    assert run(shell, "%%gpt4o\nagain").success
    outcomes = [(r.outcome, r.from_cache) for r in ledger().calls()]
    assert outcomes == [("error", False), ("ok", False), ("ok", True)]
    assert "Provider returned error" in ledger().calls()[0].error


def test_usage_survives_a_kernel_restart(router, tmp_path, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "analysis.ipynb"))

    def execute(question: str) -> dict:
        notebook = new_notebook(
            cells=[
                new_code_cell("%load_ext orjupyter"),
                new_code_cell(f"%%gpt4o\n{question}"),
                new_code_cell(
                    "import orjupyter, json\nu = orjupyter.usage()\n"
                    "print(json.dumps({'calls': u.calls, 'cost': str(u.cost)}))"
                ),
            ],
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        )
        NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
        return json.loads(notebook.cells[2].outputs[0]["text"])

    first = execute("first session")
    second = execute("second session, new kernel")  # a new kernel: a restart
    billed = sum(Decimal(str(b["cost"])) for b in router.billed())
    assert first["calls"] == 1
    assert second["calls"] == 2
    assert Decimal(second["cost"]) == billed


def test_budget_refuses_a_call_that_could_cross_it(shell, router, capsys):
    shell.run_line_magic("gpt4o", "budget 0.01")
    assert run(shell, "%%gpt4o --max-tokens 100\nsmall question").success
    # worst case of 16,384 tokens at $10/M is $0.16: more than the budget
    result = run(shell, "%%gpt4o\nan open-ended question")
    assert not result.success
    err = capsys.readouterr().err
    assert "refused (nothing was sent)" in err
    assert "%gpt4o budget" in err
    assert len(chat_requests(router)) == 1
    shell.run_line_magic("gpt4o", "budget off")
    assert run(shell, "%%gpt4o\nan open-ended question").success


def test_budget_warns_at_80_percent(shell, router, capsys):
    assert run(shell, "%%gpt4o --max-tokens 50\nfirst").success
    spent = orjupyter.usage().cost
    shell.run_line_magic("gpt4o", f"budget {spent * Decimal('1.1'):.7f}")
    capsys.readouterr()
    shell.run_line_magic("gpt4o", "budget")
    assert "budget" in capsys.readouterr().out
    assert run(shell, "%%gpt4o --max-tokens 50\nfirst").success  # cached: free, allowed
    assert "spent of the" in capsys.readouterr().err


def test_bad_budget_amount_is_refused(shell, router, capsys):
    result = run(shell, "%gpt4o budget lots")
    assert not result.success
    assert "is not an amount" in capsys.readouterr().err


def test_usage_dashboard_and_exports(shell, router, tmp_path, capsys):
    for question in ("one", "two"):
        assert run(shell, f"%%gpt4o\n{question}").success
    shell.run_line_magic("gpt4o", "usage")
    shell.run_line_magic("gpt4o", "usage --all")
    csv_path = tmp_path / "calls.csv"
    shell.run_line_magic("gpt4o", f"usage --csv {csv_path}")
    rows = csv_path.read_text().strip().splitlines()
    assert len(rows) == 3  # header and two calls
    assert "Wrote 2 calls" in capsys.readouterr().out


def test_models_and_credits_views(shell, router):
    shown = []
    shell.display_pub.publish = lambda data, **kw: shown.append(data)
    try:
        shell.run_line_magic("gpt4o", "models gpt-4o")
        assert run(shell, "%%gpt4o\nspend something").success
        shell.run_line_magic("gpt4o", "credits")
    finally:
        del shell.display_pub.publish
    models_html = shown[0]["text/html"]
    assert "openai/gpt-4o-2024-11-20" in models_html
    assert "llama" not in models_html
    credits_text = shown[-1]["text/plain"]
    (charged,) = [usage["cost"] for usage in router.billed()]
    spent = dollars(Decimal(repr(charged)))
    left = dollars(Decimal(10) - Decimal(repr(charged)))
    # GET /key's limit, limit_remaining and usage today, this week and this month
    assert f"{spent} used, {left} of $10.00 left" in credits_text
    for row, value in [("limit", "$10.00"), ("remaining", left), ("limit resets", "monthly"),
                       ("used today", spent), ("used this week", spent),
                       ("used this month", spent)]:  # fmt: skip
        assert re.search(rf"\n{row}\s+{re.escape(value)}\n", credits_text), row
