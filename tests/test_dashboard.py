"""The dashboards: numbers shown, everything escaped, SVG well formed, exports exact."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from orjupyter.core.domain import Totals, Usage, format_cost
from orjupyter.fakerouter.script import MODELS, key_info
from orjupyter.render.catalog import age_text, credits_view, models_table
from orjupyter.render.dashboard import (
    COLUMNS,
    calls_csv,
    calls_frame,
    notebooks_dashboard,
    spend_svg,
    usage_dashboard,
)
from orjupyter.store.ledger import CallRecord, Ledger
from orjupyter.store.usage import Entries

EVIL = "<script>alert(1)</script>"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def record(i: int, **kw) -> CallRecord:
    fields = {
        "notebook": f"/tmp/{EVIL}.ipynb",
        "cell": f"In [{i}]",
        "model": "openai/gpt-4o-mini",
        "generation_id": f"gen-{i}",
        "usage": Usage(1000 + i, 50 + i, Decimal("0.0002725") * (i + 1), i % 3 == 0),
        "outcome": "ok",
        "started_at": T0 + timedelta(minutes=i),
    }
    return CallRecord(**{**fields, **kw})


CALLS = [
    record(0),
    record(1, model=f"evil/{EVIL}", from_cache=True, usage=Usage(900, 0, Decimal(0))),
    record(2, outcome="error", error=f"400 {EVIL} bad request"),
    record(3, outcome="stopped", usage=Usage(10, 5, Decimal("0.01"), cached_tokens=1024)),
    record(4, prompt="What is {x}?\nLine two, with, commas", answer='He said "hi"'),
]


def totals_of(calls) -> Totals:
    totals = Totals()
    for call in calls:
        totals = totals.add(call.usage, from_cache=call.from_cache)
    return totals


def dashboard(calls, title: str = "nb", *, lines: int = 100, **kw) -> dict[str, str]:
    """The usage dashboard of these calls as `%gpt4o usage` draws it: from a ledger that
    holds them (every figure summed by its database)."""
    with Ledger(":memory:") as ledger:
        for call in calls:
            ledger.record(call)
        notebook = f"/tmp/{EVIL}.ipynb"
        return usage_dashboard(
            ledger.totals(notebook),
            ledger.entries(notebook, limit=lines),
            ledger.cost_by_model(notebook),
            title,
            spend=ledger.spend(notebook),
            **kw,
        )


class Elements(HTMLParser):
    """Start tags and text of an HTML fragment, as a browser's tokenizer would see them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def assert_inert(html: str) -> Elements:
    parsed = Elements(html)
    assert "script" not in parsed.tags
    assert "iframe" not in parsed.tags
    assert not re.search(r"<(script|img|iframe)\b", html, re.IGNORECASE)
    assert "javascript:" not in html
    return parsed


def svg_of(html: str) -> ET.Element:
    match = re.search(r"<svg\b.*?</svg>", html, re.DOTALL)
    assert match, "no inline SVG"
    return ET.fromstring(match.group(0))


# --- the usage dashboard --------------------------------------------------------------------


def test_usage_dashboard_shows_totals_models_and_calls():
    totals = totals_of(CALLS)
    bundle = dashboard(CALLS, f"/tmp/{EVIL}.ipynb")
    assert set(bundle) == {"text/html", "text/plain"}
    html, text = bundle["text/html"], bundle["text/plain"]
    parsed = assert_inert(html)
    shown = "".join(parsed.text)
    for view in (shown, text):
        assert f"/tmp/{EVIL}.ipynb" in view  # shown as text, not run
        assert "4 calls · 1 answer from the cache ·" in view  # an answer from the cache is no call
        assert f"{totals.prompt_tokens:,} prompt + {totals.completion_tokens:,} completion" in view
        assert format_cost(totals.cost) in view
        assert "(1 estimated)" in view
        assert "~$0.0002725" in view  # call 0 is an estimate
        assert "$0.01" in view
        assert f"error: 400 {EVIL} bad request" in view
        assert "stopped" in view
        assert "1,024 cached" in view
        assert "In [3]" in view
        assert "Cost per model" in view
        assert f"evil/{EVIL}" in view
    assert shown.count("✓") == 1  # the call answered from the local cache


def test_a_run_is_one_line_with_its_rows_answers_from_the_cache_failures_and_bill():
    run = "--map tickets 1a2b3c4d"
    rows = [
        record(10 + i, cell="In [7]", run=run, usage=Usage(100, 10, Decimal("0.001")))
        for i in range(3)
    ]
    rows += [record(13 + i, cell="In [7]", run=run, from_cache=True, usage=Usage())
             for i in range(2)]  # fmt: skip
    rows.append(record(15, cell="In [7]", run=run, outcome="error", error="429 busy",
                       usage=Usage(100, 0, Decimal("0.0005"), True)))  # fmt: skip
    both = "--compare 5e6f7a8b"
    rows += [record(16, cell="In [8]", run=both, model=m) for m in ("a/one", "b/two")]
    text = dashboard([record(0), *rows])["text/plain"]
    (line,) = [line for line in text.splitlines() if "--map tickets" in line]
    assert "In [7] --map tickets" in line
    assert "6 rows · 5 answered · 2 from the cache · 1 failed" in line
    assert "~$0.0035" in line  # billed, and one row's estimate
    assert "1a2b3c4d" not in text
    (line,) = [line for line in text.splitlines() if "--compare" in line]
    assert "2 calls · 2 answered · 0 failed" in line
    assert "a/one, b/two" in line
    assert "7 calls · 2 answers from the cache" in text  # the calls sent, the cache apart
    assert "The last" not in text
    assert "Calls and runs" in text


def test_spend_plot_is_well_formed_svg_with_no_script_or_links():
    html = dashboard(CALLS, budget=Decimal("0.03"))["text/html"]
    svg = svg_of(html)
    ns = "{http://www.w3.org/2000/svg}"
    assert svg.tag == f"{ns}svg"
    (line,) = svg.iter(f"{ns}polyline")
    points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    assert len(points) == len(CALLS) + 1
    xs, ys = zip(*points, strict=True)
    assert list(xs) == sorted(xs)
    assert list(ys) == sorted(ys, reverse=True)  # spend only grows (SVG y points down)
    texts = "".join(el.text or "" for el in svg.iter(f"{ns}text"))
    assert "budget $0.03" in texts  # the axis reaches the budget, drawn as a dashed line
    assert any(el.get("stroke-dasharray") for el in svg.iter(f"{ns}line"))
    assert not any(el.tag.endswith(("script", "a", "image", "foreignObject")) for el in svg.iter())
    assert "href" not in ET.tostring(svg, encoding="unicode")


SVG = "{http://www.w3.org/2000/svg}"


def plot(spends: list[str], budget: str) -> tuple[list[float], list[ET.Element], str]:
    """The spend line's y values, the dashed lines and the labels of a plot of these calls."""
    calls = [record(i, usage=Usage(10, 5, Decimal(cost))) for i, cost in enumerate(spends)]
    svg = ET.fromstring(spend_svg(calls, budget=Decimal(budget)))
    (line,) = svg.iter(f"{SVG}polyline")
    ys = [float(point.split(",")[1]) for point in line.get("points").split()]
    dashed = [el for el in svg.iter(f"{SVG}line") if el.get("stroke-dasharray")]
    return ys, dashed, " | ".join(el.text or "" for el in svg.iter(f"{SVG}text"))


def test_the_spend_plot_is_scaled_to_the_spend_not_to_a_far_budget():
    """$0.01 of a $1.00 budget: the spend fills the plot; the budget is named above it."""
    ys, dashed, labels = plot(["0.004", "0.006"], budget="1.00")
    base, top = ys[0], 16.0  # the first point is the start at $0
    assert ys[-1] <= top + (base - top) * 0.25, "the spend is flattened against the axis"
    assert "| $0.01 |" in labels  # the axis ends at the spend, not at $1.00
    assert "budget $1.00, above this scale (1% spent)" in labels
    assert dashed == []


def test_a_near_budget_is_a_reference_line_above_the_spend():
    ys, dashed, labels = plot(["0.004", "0.006"], budget="0.02")
    (budget_line,) = dashed
    budget_y = float(budget_line.get("y1"))
    assert budget_y == float(budget_line.get("y2"))
    assert 16.0 <= budget_y < ys[-1] < ys[0]  # in the plot, above where the spend got to
    assert "budget $0.02" in labels
    assert "| $0.02 |" in labels


def test_plot_of_one_call_and_the_newest_lines_only():
    assert svg_of(spend_svg([record(0)])) is not None
    assert spend_svg([]) == ""
    bundle = dashboard(CALLS, lines=1)
    # the plot is every call's; the table says it shows only the newest line
    assert f"spent $0 → {format_cost(totals_of(CALLS).cost)}" in bundle["text/plain"]
    assert "The last 1 of 5 calls and runs" in bundle["text/plain"]
    assert bundle["text/plain"].count("In [") == 1
    assert "In [4]" in bundle["text/plain"]


def test_empty_usage_dashboard():
    bundle = usage_dashboard(Totals(), Entries([], 0), [], "unnamed notebooks in ~/project")
    assert "0 calls" in bundle["text/plain"]
    assert "no calls recorded yet" in bundle["text/plain"]
    assert "<svg" not in bundle["text/html"]


def test_budget_in_the_totals_line():
    bundle = dashboard(CALLS, budget=Decimal("0.50"))
    assert "of a $0.50 budget (2%)" in bundle["text/plain"]


def test_notebooks_dashboard():
    rows = [(f"/x/{EVIL}.ipynb", 3, Decimal("0.30")), ("unsaved:/tmp", 1, Decimal("0.0002725"))]
    bundle = notebooks_dashboard(rows)
    shown = "".join(assert_inert(bundle["text/html"]).text)
    for view in (shown, bundle["text/plain"]):
        assert f"/x/{EVIL}.ipynb" in view
        assert "2 notebooks · 4 calls · $0.3003" in view
        assert "$0.0002725" in view
        assert re.search(r"\$0\.30\s*100%", view)


# --- export -----------------------------------------------------------------------------------


def test_csv_round_trips_exactly():
    rows = list(csv.DictReader(io.StringIO(calls_csv(CALLS))))
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == len(CALLS)
    for row, call in zip(rows, CALLS, strict=True):
        assert datetime.fromisoformat(row["started_at"]) == call.started_at
        assert row["notebook"] == call.notebook
        assert row["model"] == call.model
        assert Decimal(row["cost"]) == call.usage.cost
        assert int(row["prompt_tokens"]) == call.usage.prompt_tokens
        assert int(row["cached_tokens"]) == call.usage.cached_tokens
        assert row["cost_is_estimate"] == ("true" if call.usage.cost_is_estimate else "false")
        assert row["from_cache"] == ("true" if call.from_cache else "false")
        assert row["outcome"] == call.outcome
        assert (row["error"] or None) == call.error
        assert (row["prompt"] or None) == call.prompt
        assert (row["answer"] or None) == call.answer
    assert sum(Decimal(row["cost"]) for row in rows) == totals_of(CALLS).cost


def test_frame_without_pandas_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        calls_frame(CALLS)


def test_frame_is_built_from_rows_and_columns(monkeypatch):
    fake = types.ModuleType("pandas")
    fake.DataFrame = lambda rows, columns: (rows, columns)
    monkeypatch.setitem(sys.modules, "pandas", fake)
    rows, columns = calls_frame(CALLS)
    assert columns == list(COLUMNS)
    assert [dict(zip(columns, row, strict=True))["cost"] for row in rows] == [
        call.usage.cost for call in CALLS
    ]
    assert rows[0][0] == T0  # a datetime, not text


def test_frame_with_pandas():
    pytest.importorskip("pandas")
    frame = calls_frame(CALLS)
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == len(CALLS)
    assert sum(frame["cost"]) == totals_of(CALLS).cost


# --- models and credits -------------------------------------------------------------------------

ENTRIES = [model.to_wire() for model in MODELS.values()] + [
    {
        "id": "openrouter/auto",
        "name": f"Auto {EVIL}",
        "context_length": 2_000_000,
        "architecture": {"modality": "text+image->text"},
        "pricing": {"prompt": "-1", "completion": "-1"},
    },
    {"id": "free/model", "name": "Free", "pricing": {"prompt": "0", "completion": "0"}},
]


def test_models_table_filters_by_id_or_name_in_any_case():
    now = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    bundle = models_table(ENTRIES, "GPT-4O", now - timedelta(minutes=25), now=now)
    text = bundle["text/plain"]
    assert "openai/gpt-4o-2024-11-20" in text
    assert "openai/gpt-4o-mini" in text
    assert "claude" not in text
    assert f"2 of {len(ENTRIES)} models matching 'GPT-4O'" in text
    assert "model list fetched 25 minutes ago" in text
    shown = "".join(assert_inert(bundle["text/html"]).text)
    for view in (shown, text):
        assert "128,000" in view
        assert "text, image, file" in view
        assert "$2.50" in view  # $0.0000025 per token = $2.50 per million
        assert "$10.00" in view
        assert "$0.003613" in view  # per image
    by_name = models_table(ENTRIES, "auto <SCRIPT>", now, now=now)
    shown = "".join(assert_inert(by_name["text/html"]).text)
    assert f"Auto {EVIL}" in shown
    assert "varies" in shown
    assert "text, image" in shown  # from the older `modality` field
    everything = models_table(ENTRIES, None, now, now=now)["text/plain"]
    assert f"{len(ENTRIES)} of {len(ENTRIES)} models" in everything
    assert "free" in everything


def test_age_text():
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert age_text(now, now) == "just now"
    assert age_text(now - timedelta(seconds=61), now) == "1 minute ago"
    assert age_text(now - timedelta(hours=3, minutes=5), now) == "3 hours ago"
    assert age_text(now - timedelta(days=2), now) == "2 days ago"


def test_credits_with_a_limit():
    bundle = credits_view({"data": key_info("sk-or-v1-0123456789abcdef-secret", Decimal("0.25"))})
    text = bundle["text/plain"]
    assert "sk-or-v1-012...ret" in text  # OpenRouter's own masked label
    assert "secret" not in text.replace("...ret", "")
    assert "$0.25 used, $9.75 of $10.00 left" in text
    assert re.search(r"used today\s+\$0\.25", text)
    assert re.search(r"free tier\s+no", text)
    assert_inert(bundle["text/html"])


def test_credits_without_a_limit():
    data = {"label": EVIL, "limit": None, "usage": 3.5, "is_free_tier": True, "usage_daily": None}
    bundle = credits_view(data)
    text = bundle["text/plain"]
    assert "$3.50 used, no limit" in text
    assert re.search(r"remaining\s+no limit", text)
    assert re.search(r"free tier\s+yes", text)
    shown = "".join(assert_inert(bundle["text/html"]).text)
    assert EVIL in shown


def test_ledger_identity_and_views_are_pure():
    script = (
        "import sys, json\n"
        "import orjupyter.store.ledger, orjupyter.core.notebook_id, orjupyter.render.dashboard\n"
        "import orjupyter.render.catalog\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    loaded = set(json.loads(out.stdout))
    heavy = ("IPython", "ipywidgets", "openai", "pandas", "jupyter_core", "PIL")
    assert [name for name in heavy if name in loaded] == []


# --- no maths typesetting -----------------------------------------------------------------


class TopLevel(HTMLParser):
    """The class attribute of each top-level element (a `<style>` aside)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.classes: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        if self.depth == 0 and tag != "style":
            self.classes.append(dict(attrs).get("class") or "")
        if tag not in {"br", "img", "hr", "input", "meta", "link"}:
            self.depth += 1

    def handle_endtag(self, tag):
        self.depth -= 1


def every_html_view() -> dict[str, str]:
    from orjupyter.core.domain import Reply
    from orjupyter.render.report import final_bundle

    now = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    totals = totals_of(CALLS)
    reply = Reply("It costs $5 and $6.", "openai/gpt-4o-mini", "gen-1", CALLS[0].usage)
    empty = usage_dashboard(Totals(), Entries([], 0), [], "t", budget=Decimal(1))
    return {
        "usage": dashboard(CALLS, "t", budget=Decimal(1))["text/html"],
        "usage, empty": empty["text/html"],
        "every notebook": notebooks_dashboard([("/a.ipynb", 1, Decimal("0.5"))])["text/html"],
        "models": models_table(ENTRIES, None, now, now=now)["text/html"],
        "credits": credits_view({"data": key_info("sk-or-v1-x", Decimal("0.25"))})["text/html"],
        "answer": final_bundle(reply, totals)["text/html"],
    }


@pytest.mark.parametrize("view", list(every_html_view()))
def test_every_html_view_keeps_mathjax_out(view):
    """`$0.0111 of a $1.00 budget` must not be typeset as a formula in JupyterLab."""
    html = every_html_view()[view]
    assert "$" in html
    classes = TopLevel(html).classes
    assert classes, "no element"
    for names in classes:
        assert {"tex2jax_ignore", "mathjax_ignore"} <= set(names.split()), (view, names)


def test_one_call_is_drawn_across_the_plot_not_up_its_axis():
    svg = ET.fromstring(spend_svg([record(0)]))
    (line,) = svg.iter(f"{SVG}polyline")
    xs = [float(point.split(",")[0]) for point in line.get("points").split()]
    assert xs[0] < xs[-1]
