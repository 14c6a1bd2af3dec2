"""`--think` and `--web` in real kernels against the local server."""

from __future__ import annotations

import base64
import json

import nbformat
from notebook_support import execute, streamed

from orjupyter.fakerouter import FakeRouter


def answer(cell: nbformat.NotebookNode) -> dict[str, str]:
    [output] = [o for o in cell.outputs if "orjupyter" in o.get("metadata", {})]
    return dict(output["data"])


def test_think_streams_reasoning_apart_from_the_answer(router: FakeRouter, tmp_path):
    notebook = execute(
        tmp_path,
        "%load_ext orjupyter",
        "%%gpt4o -m openai/o4-mini --think low -o r\nWhy? [[fake reply=Because.]]",
        "import json\nprint(json.dumps([r.text, r.reasoning, r.usage.reasoning_tokens]))",
        "%gpt4o -m openai/o4-mini --think Tell me why not",
    )
    text, reasoning, tokens = json.loads(streamed(notebook.cells[2]))
    assert text == "Because."
    assert reasoning.startswith("Let me think")
    assert len(reasoning.split()) == tokens == 8
    assert router.requests[0].body["reasoning"] == {"effort": "low"}
    assert router.requests[1].body["reasoning"] == {"effort": "medium"}  # --think alone
    shown = answer(notebook.cells[1])
    html = shown["text/html"]
    assert '<details class="orj-thinking"><summary>Thinking</summary>' in html
    assert html.index("Let me think") < html.index("Because.")
    assert "Let me think" not in shown["text/plain"]
    assert "(8 reasoning)" in shown["text/plain"]


def test_think_on_a_model_that_does_not_reason_says_so_in_one_line(router, tmp_path):
    notebook = execute(tmp_path, "%load_ext orjupyter", "%gpt4o --think high Tell me why")
    warning = streamed(notebook.cells[1], "stderr").strip()
    assert warning.count("\n") == 0
    assert "does not reason" in warning
    assert "reasoning" not in router.requests[-1].body
    assert "I received 1 part" in answer(notebook.cells[1])["text/plain"]


def test_the_live_reasoning_streams_into_the_answer_as_text_under_its_heading(router, kernel):
    kernel.execute_interactive("%load_ext orjupyter", timeout=60)
    deltas: list[dict] = []

    def watch(msg: dict) -> None:
        data = msg["content"].get("data", {}) if msg["msg_type"] == "comm_msg" else {}
        if data.get("method") == "custom":
            deltas.append(data["content"])

    reply = kernel.execute_interactive(
        "%%gpt4o -m openai/o4-mini --think -o r\n[[fake words=20 delay=0.02 think_words=30]]",
        timeout=60,
        output_hook=watch,
    )
    assert reply["content"]["status"] == "ok"
    thought = "".join(delta.get("think", "") for delta in deltas)
    assert thought.startswith("Let me think")
    titles = [delta["title"] for delta in deltas if "title" in delta]
    assert titles == ["Thinking…", "Thinking"]  # sent once each: while thinking, then after
    answer = "".join(delta.get("text", "") for delta in deltas)
    assert "Let me think" not in answer
    assert "lorem" in answer


def test_web_search_numbers_its_sources_and_bills_the_search(router: FakeRouter, tmp_path):
    hostile = [
        {"url": "https://example.org/a", "title": "A <b>bold</b> claim"},
        {"url": "javascript:alert(1)", "title": "click me"},
    ]
    cite = base64.b64encode(json.dumps(hostile).encode()).decode().rstrip("=")
    notebook = execute(
        tmp_path,
        "%load_ext orjupyter",
        "%%gpt4o --web -o r\nWhat happened today? [[fake reply=Things.]]",
        f"%%gpt4o --web -o s --no-cache\nHostile [[fake reply=Ok. cite_b64={cite}]]",
        "import json\nprint(json.dumps([r.text, [[c.url, c.title] for c in r.citations],"
        " str(r.usage.cost), [[c.url, c.title] for c in s.citations]]))",
        "%gpt4o --web --dry-run What is new",
    )
    text, citations, cost, scripted = json.loads(streamed(notebook.cells[3]))
    assert text == "Things."
    assert [url for url, _ in citations] == [f"https://example.org/what-happened-today/{n}"
                                             for n in range(1, 6)]  # fmt: skip
    assert router.requests[0].body["tools"] == [
        {
            "type": "openrouter:web_search",
            "parameters": {"max_results": 5, "max_total_results": 5, "max_uses": 1},
        }
    ]
    billed = router.billed()[0]
    assert str(billed["cost"]) == cost
    assert float(cost) > 0.02  # five results at $4 per 1,000, plus the tokens
    shown = answer(notebook.cells[1])
    assert shown["text/html"].count('target="_blank" rel="noopener noreferrer"') == 5
    assert "[1] Source 1 about" in shown["text/plain"]
    assert scripted == [[h["url"], h["title"]] for h in hostile]
    hostile_html = answer(notebook.cells[2])["text/html"]
    assert "javascript:" not in hostile_html
    assert "<b>bold</b>" not in hostile_html
    assert "A &lt;b&gt;bold&lt;/b&gt; claim" in hostile_html
    dry = streamed(notebook.cells[4])
    assert "Web search: about $0.02 a call" in dry
    assert len(router.requests) == 2  # the dry run sent nothing


def test_a_terminal_shows_the_thinking_before_the_answer(shell, router, capsys):
    cell = "%gpt4o -m openai/o4-mini --think -o r Why? [[fake reply=Because.]]"
    assert shell.run_cell(cell).success
    out = capsys.readouterr().out
    r = shell.user_ns["r"]
    assert out.startswith(f"Thinking: {r.reasoning}\n\nAnswer: Because.\n\n[openai/o4-mini")
    assert r.reasoning.startswith("Let me think")
    assert out.count("Because.") == 1
    assert shell.run_cell(cell).success  # again, from the cache: the same, at $0
    again = capsys.readouterr().out
    assert again.startswith(f"Thinking: {r.reasoning}\n\nAnswer: Because.\n\n[cached · ")


def test_sources_are_listed_in_a_terminal_too(shell, router, capsys):
    assert shell.run_cell("%gpt4o --web What is new [[fake reply=News.]]").success
    out = capsys.readouterr().out
    assert "News.\n\nSources:\n[1] Source 1 about what-is-new https://example.org/" in out
    assert out.index("Sources:") < out.index("[openai/")


def test_a_server_echoing_the_key_in_reasoning_or_sources_shows_no_key(shell, router, capsys):
    from conftest import TEST_KEY

    cite = base64.b64encode(
        json.dumps([{"url": f"https://example.org/?k={TEST_KEY}", "title": TEST_KEY}]).encode()
    ).decode()
    reply = base64.b64encode(f"Key: {TEST_KEY}".encode()).decode()
    cell = f"%gpt4o --web -o r Echo [[fake reply_b64={reply} cite_b64={cite}]]"
    assert shell.run_cell(cell).success
    r = shell.user_ns["r"]
    shown = capsys.readouterr().out
    assert TEST_KEY not in shown
    assert TEST_KEY not in r.text
    assert TEST_KEY not in repr(r.citations)
