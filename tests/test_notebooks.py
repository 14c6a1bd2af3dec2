"""Notebooks executed in a real kernel (nbclient) against the local OpenRouter server."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest
from conftest import TEST_KEY, sent_images
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from notebook_support import emptied

from orjupyter.core.domain import Usage
from orjupyter.store.columns import CallRecord
from orjupyter.store.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent


def execute(notebook: nbformat.NotebookNode, tmp_path: Path) -> nbformat.NotebookNode:
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)  # what a user would save
    return nbformat.read(path, as_version=4)


def answer_outputs(cell: nbformat.NotebookNode) -> list[dict]:
    return [o for o in cell.outputs if "orjupyter" in o.get("metadata", {})]


def make_notebook(*sources: str) -> nbformat.NotebookNode:
    return new_notebook(
        cells=[new_code_cell(source) for source in sources],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )


def test_images_answer_and_usage_in_a_real_kernel(router, tmp_path):
    notebook = make_notebook(
        "%load_ext orjupyter",
        "from PIL import Image\n"
        "fig = Image.new('RGB', (3000, 1500), 'white')\n"
        "photo = Image.new('P', (640, 480))",
        "%%gpt4o -o review\nHere is my plot {fig} and the photo it came from {photo}. "
        "What is wrong?",
        "%%gpt4o -o second\nAnd in one word?",
        "import orjupyter, json\n"
        "u = orjupyter.usage()\n"
        "print(json.dumps({'calls': u.calls, 'cost': str(u.cost), 'prompt': u.prompt_tokens,"
        " 'completion': u.completion_tokens, 'review_cost': str(review.usage.cost),"
        " 'review_id': review.id, 'review_text': review.text}))",
    )
    done = execute(notebook, tmp_path)

    # the images travelled in place, bounded to what GPT-4o sees
    content = router.requests[0].body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "text", "image_url", "text"]
    assert [size[:2] for size in sent_images(content)] == [(1536, 768), (640, 480)]

    # the saved notebook holds the final answer as ordinary outputs, with its usage line
    [persisted] = answer_outputs(done.cells[2])
    assert persisted["output_type"] == "display_data"
    data = persisted["data"]
    assert "application/vnd.jupyter.widget-view+json" not in data
    assert "- image: 1536x768" in data["text/plain"]
    assert "text/markdown" not in data  # HTML and plain text only: no third copy
    assert "<li>image: 1536x768" in data["text/html"]
    assert "prompt +" in data["text/plain"]
    # nbclient does not tell the kernel the notebook's path: its total is the folder's
    assert "folder total" in data["text/plain"]

    # -o and orjupyter.usage() match what the server billed
    facts = json.loads(done.cells[4].outputs[0]["text"])
    billed = router.billed()
    assert facts["calls"] == 2
    assert Decimal(facts["cost"]) == sum(Decimal(str(b["cost"])) for b in billed)
    assert facts["prompt"] == sum(b["prompt_tokens"] for b in billed)
    assert facts["completion"] == sum(b["completion_tokens"] for b in billed)
    assert Decimal(facts["review_cost"]) == Decimal(str(billed[0]["cost"]))
    assert persisted["metadata"]["orjupyter"]["id"] == facts["review_id"]
    assert facts["review_text"] in data["text/plain"]


def test_the_key_never_reaches_the_saved_notebook(router, tmp_path):
    notebook = make_notebook(
        "%load_ext orjupyter",
        "%%gpt4o\nhello",
        "%config OrJupyter",
        "%%gpt4o\n[[fake status=402]]",
    )
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)
    saved = path.read_text()
    assert "Insufficient credits" in saved
    assert TEST_KEY not in saved


def test_quickstart_runs_top_to_bottom(router, tmp_path):
    notebook = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    done = execute(notebook, tmp_path)
    errors = [
        o
        for c in done.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o["output_type"] == "error"
    ]
    assert errors == []
    answers = [o for c in done.cells if c.cell_type == "code" for o in answer_outputs(c)]
    assert len(answers) == 12
    chat = [r for r in router.requests if r.path.endswith("/chat/completions")]
    # the repeated question came from the cache; the --map cell asked once per review, the
    # --compare cell once per model; then --think, --web, the PDF and two --tools rounds
    assert len(chat) == 6 + 3 + 3 + 3 + 2
    assert [r.body.get("reasoning") for r in chat if "reasoning" in r.body] == [{"effort": "low"}]
    parts = [p for r in chat if isinstance(c := r.body["messages"][-1]["content"], list) for p in c]
    pdf = [part for part in parts if part["type"] == "file"]
    assert [part["file"]["filename"] for part in pdf] == ["visits.pdf"]
    compared = next(c for c in done.cells if c.cell_type == "code" and "--compare" in c.source)
    assert "cheapest: " in compared.outputs[-1]["data"]["text/plain"]
    # the data section: {df} described, and the plot of the cell before as an image
    with_context = next(
        r for r in chat if "--context" not in str(r.body) and "Daily" in str(r.body)
    )
    content = with_context.body["messages"][-1]["content"]
    assert len(sent_images(content)) == 1
    assert "df: pandas DataFrame, 60 rows × 2 columns" in str(content)
    summary = [
        o for c in done.cells if c.cell_type == "code" and "--map" in c.source for o in c.outputs
    ]
    live, final = summary  # the live bar, emptied, and the run's summary under it
    assert emptied(live["data"])
    assert final["data"]["text/plain"].startswith("3 rows · 3 answered · 0 failed · billed $")
    # the tools section: the model called both functions, and looked at the chart
    tools = next(c for c in done.cells if c.cell_type == "code" and "--tools" in c.source)
    log = tools.outputs[0]["data"]["text/plain"]
    assert "→ top_products(n=3, by='revenue')" in log
    assert "→ plot_sales(by='revenue')" in log
    answer = answer_outputs(tools)[0]["data"]["text/plain"]
    assert "- top_products:\n\n```\ntop_products(): pandas DataFrame, 3 rows × 2 columns" in answer
    assert "chair   7120.0" in answer  # the best seller, from the frame the tool returned
    assert "- The image plot_sales returned: image: " in answer
    looked_at = sent_images(chat[-1].body["messages"][-1]["content"])  # round 2's
    assert [media for _, _, media in looked_at] == ["image/png"]


def test_nbconvert_html_shows_the_answer_safely(router, tmp_path):
    hostile = "<img src=x onerror=alert(1)> **bold**"
    import base64

    encoded = base64.b64encode(hostile.encode()).decode()
    notebook = make_notebook("%load_ext orjupyter", f"%%gpt4o\n[[fake reply_b64={encoded}]]")
    done = execute(notebook, tmp_path)
    path = tmp_path / "answer.ipynb"
    nbformat.write(done, path)
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", str(path)],
        check=True,
        capture_output=True,
    )
    html = (tmp_path / "answer.html").read_text()
    assert "<strong>bold</strong>" in html
    assert "onerror=alert" not in html.replace("&lt;img src=x onerror=alert(1)&gt;", "")


@pytest.mark.parametrize("widgets", [True, False])
def test_headless_runs_keep_final_outputs(router, tmp_path, widgets):
    notebook = make_notebook(
        "%load_ext orjupyter",
        f"%config OrJupyter.widgets = {widgets}",
        "%%gpt4o -o r\n[[fake words=30]]",
    )
    done = execute(notebook, tmp_path)
    cell = done.cells[2]
    text = "".join(o.get("text", "") for o in cell.outputs) + "".join(
        o.get("data", {}).get("text/plain", "") for o in cell.outputs
    )
    assert "lorem ipsum dolor" in text
    assert "30 completion tokens" in text


def test_make_run_says_only_what_a_person_needs(tmp_path, monkeypatch):
    """`make run`'s script: no kernel warning about unencrypted TCP (the kernel talks over
    local sockets), no traceback, and the executed notebook where it says."""
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.delenv("OPENROUTER_BASE_URL", raising=False)
    # an earlier run that failed left its calls (and answers) behind
    usage = Usage(100, 20, Decimal("0.001"))
    notebook = str(ROOT / "notebooks" / "quickstart.ipynb")
    earlier = CallRecord(notebook, "[2]", "openai/gpt-4o", "gen-earlier", usage, "ok")
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        for _ in range(3):
            ledger.record(earlier)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "an-earlier-answer.json").write_text("{}", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_quickstart.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    assert "without encryption" not in said
    assert "WARNING" not in said
    assert "Traceback" not in said
    assert "Executed notebooks/quickstart.ipynb top to bottom." in said
    assert (tmp_path / "quickstart.html").exists()
    assert (tmp_path / "kernel.log").exists()  # the kernel's own chatter, kept out of sight
    # the kernel was told which notebook it ran: its calls are the quickstart's own
    executed = nbformat.read(tmp_path / "quickstart.ipynb", as_version=4)
    said_in_cells = [
        str(output.get("data", {}).get("text/plain", ""))
        for cell in executed.cells
        for output in cell.get("outputs", [])
    ]
    assert any("notebook total" in text for text in said_in_cells)
    assert not any("folder total" in text for text in said_in_cells)
    # each run starts afresh: its totals count its own calls only
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        calls = ledger.calls()
    assert calls
    assert "gen-earlier" not in {call.generation_id for call in calls}
    assert not (tmp_path / "cache" / "an-earlier-answer.json").exists()
    printed = [
        str(output.get("text", "")) for cell in executed.cells for output in cell.get("outputs", [])
    ]
    sent = [call for call in calls if not call.from_cache]  # answers from the cache count apart
    assert any(f"{len(sent)} calls" in text for text in printed), printed
