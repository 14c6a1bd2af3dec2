"""The documentation site builds in strict mode, lists every setting from the code, and
leaves the checkout as it was."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tracked_changes() -> str:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout if done.returncode == 0 else ""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    before = tracked_changes()
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    assert tracked_changes() == before, "building the site changed tracked files"
    return out


def text_of(page: Path) -> str:
    html = page.read_text(encoding="utf-8")
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_every_page_in_the_nav_is_built(site: Path) -> None:
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = [page for entry in config["nav"] for page in entry.values()]
    assert {"api.md", "configuration.md", "architecture.md", "screenshots.md"} <= set(pages)
    for page in pages:
        assert (site / page.replace(".md", ".html")).exists(), page


def test_configuration_lists_every_setting_from_the_code(site: Path) -> None:
    from orjupyter.jupyter.config import OrJupyter

    page = (site / "configuration.html").read_text(encoding="utf-8")
    traits = OrJupyter.class_traits(config=True)
    assert len(traits) >= 10
    for name, trait in traits.items():
        assert f"<td><code>{name}</code></td>" in page, name
        assert " ".join(trait.help.split())[:40] in unescape(page), name
    assert "settings: generated" not in page  # the marker was replaced


def test_api_reference_documents_the_public_values(site: Path) -> None:
    text = text_of(site / "api.html")
    for name in ("Reply", "Usage", "Totals", "usage()", "cost_is_estimate", "budget_share"):
        assert name in text, name


def test_architecture_comes_from_the_repository(site: Path) -> None:
    first = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").split("\n\n")[1]
    assert " ".join(first.split())[:60] in " ".join(text_of(site / "architecture.html").split())


# -- the tables that mirror the code -----------------------------------------------------

DOCS = ROOT / "docs"


def docs_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def table_after(markdown: str, heading: str) -> list[list[str]]:
    """The rows (cells as written) of the first table after `heading`."""
    rest = markdown[markdown.index(heading) :]
    rows = re.findall(r"^\|(.*)\|$", rest.split("\n\n|", 1)[1].split("\n\n")[0], re.M)
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)] for row in rows[1:]]


def test_the_tables_taken_from_the_code_are_up_to_date():
    """Each generated block in docs/*.md is what the code makes now (the site is built
    from the code either way; this keeps the Markdown pages true on their own)."""
    hooks = docs_hooks()
    found = {}
    for path in sorted(DOCS.glob("*.md")):
        for name, body in hooks.blocks(path.read_text(encoding="utf-8")):
            found[name] = path.name
            assert body == hooks.GENERATED[name]() + "\n", (
                f"{path.name}: the {name} table is out of date; run python scripts/docs_hooks.py"
            )
    assert found == {
        "commands": "user-guide.md",
        "image kinds": "user-guide.md",
        "value describers": "user-guide.md",
    }


def squeezed(text: str) -> str:
    """Text without spaces or backticks: a page's words as the built HTML has them."""
    return re.sub(r"[\s`]", "", text)


def test_the_user_guide_lists_every_command(site: Path):
    from orjupyter.jupyter.commands import COMMANDS

    text = squeezed(text_of(site / "user-guide.html"))
    for command in COMMANDS:
        assert squeezed(f"%gpt4o {command.name}") in text, command.name
        assert squeezed(command.summary) in text, command.name


def test_the_user_guide_shows_every_image_kind_and_describer(site: Path):
    from orjupyter.core.describe import DESCRIBERS
    from orjupyter.core.image_sources import SOURCES

    text = squeezed(text_of(site / "user-guide.html"))
    for source in SOURCES:
        assert squeezed(source.name) in text, source.name
    for describer in DESCRIBERS:
        assert describer.reads, f"{describer.name} says nothing of what the model reads"
        assert squeezed(describer.reads) in text, describer.name


def test_the_options_table_is_the_grammars():
    from orjupyter.core.domain import DETAILS
    from orjupyter.core.formats import FORMATS
    from orjupyter.core.request import PDF_ENGINES, REASONING_EFFORTS
    from orjupyter.jupyter.grammar import OPTIONS

    rows = table_after(page("user-guide.md"), "### Options")
    documented = {
        flag: row for row in rows for flag in re.findall(r"(?<![\w-])--?[a-z][\w-]*", row[0])
    }
    assert set(documented) == {flag for option in OPTIONS for flag in option.flags}
    for flag, choices in [
        ("--format", FORMATS),
        ("--detail", DETAILS),
        ("--think", REASONING_EFFORTS),
        ("--pdf-engine", PDF_ENGINES),
    ]:
        row = " ".join(documented[flag])
        named = set(re.findall(r"[\w-]+", " ".join(re.findall(r"`([^`]+)`", row))))
        assert set(choices) <= named, (flag, row)


def test_troubleshooting_lists_every_http_hint_and_every_fault_line():
    """Each status `service/faults.py` gives a hint for, and each kind of failure it
    explains, has its row (a row names the line's fixed words; `…` stands for the rest)."""
    from orjupyter.service import faults

    markdown = page("troubleshooting.md")
    shown = [
        quoted
        for line in markdown.splitlines()
        if line.startswith("| ")
        for quoted in re.findall(r"`([^`]+)`", line.split(" | ")[0])
    ]

    def row_for(line: str) -> str | None:
        for quoted in shown:
            pieces = [piece.strip() for piece in quoted.split("…") if piece.strip()]
            if max(map(len, pieces), default=0) >= 10 and all(p in line for p in pieces):
                return quoted
        return None

    for status in faults._HINTS:
        assert f"`HTTP {status} " in markdown, status
    body = {"error": {"code": 502, "message": "Provider returned error"}}
    failure = SimpleNamespace(
        **{"seconds": 600, "what": "an HTML page titled '…'", "redirected_to": None},
        **{"characters": 10**7, "body": body, "message": "Provider returned error"},
        **{"status_code": 502, "response": SimpleNamespace(headers={})},
        **{"__cause__": None, "__context__": None},
    )
    for received in (1234, None):
        context = faults._Context(received=received, base_url="…", timeout=600.0)
        for kind, explain in faults._explainers():
            line = explain(failure, context)
            assert row_for(line), f"no row in troubleshooting.md for {kind.__name__}: {line}"


def test_every_environment_variable_is_in_the_configuration_page():
    used = {
        name
        for path in (ROOT / "orjupyter").rglob("*.py")
        if "fakerouter" not in path.parts
        for name in re.findall(r"\"((?:ORJUPYTER|OPENROUTER)_[A-Z_]+)\"", path.read_text("utf-8"))
    }
    assert used
    documented = {
        row[0].strip("`")
        for row in table_after(page("configuration.md"), "## Environment variables")
    }
    assert used <= documented


def test_the_local_server_page_lists_its_options_and_models():
    from orjupyter.fakerouter.script import MODELS

    helped = subprocess.run(
        [sys.executable, "-m", "orjupyter.fakerouter", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    markdown = page("local-server.md")
    rows = table_after(markdown, "## Options")
    documented = {re.findall(r"--[\w-]+", row[0])[0] for row in rows}
    assert documented == set(re.findall(r"(?<![\w-])--(?!help)[\w-]+", helped)) - {"--"}
    for model in MODELS:
        assert f"`{model}`" in markdown, model


def test_the_local_server_page_says_what_it_does_with_structured_output():
    """It answers `response_format` with JSON (and fails on purpose when asked): the page
    says so, and shows the switches."""
    from orjupyter.fakerouter import FakeRouter

    markdown = page("local-server.md")
    with FakeRouter() as router:
        import openai

        with openai.OpenAI(base_url=router.base_url, api_key="sk-or-fake") as client:
            answer = client.chat.completions.create(
                model="openai/gpt-4o-mini",
                messages=[{"role": "user", "content": "a JSON object, please"}],
                response_format={"type": "json_object"},
            )
    assert isinstance(json.loads(answer.choices[0].message.content or ""), dict)
    assert "ignores `response_format`" not in markdown
    assert "## Structured output: `response_format`" in markdown
    for switch in ("not_json=N", "off_schema=N", "reply_b64"):
        assert switch in markdown


def test_getting_started_installs_what_exists():
    markdown = page("getting-started.md")
    assert not re.search(r"pip install orjupyter\b", markdown)
    assert "pip install ./orjupyter" in markdown
    assert "not on the public package index" in markdown


@pytest.mark.browser
def test_search_works_when_the_site_is_opened_from_disk(site: Path, context):
    """As the README says: open site/index.html, and search, with nothing fetched from
    the network."""
    page = context.new_page()
    remote: list[str] = []
    page.on("request", lambda request: remote.append(request.url))
    page.goto((site / "index.html").as_uri())
    page.click("input.md-search__input")
    page.keyboard.type("reconcile")
    results = page.locator(".md-search-result__item")
    results.first.wait_for()
    assert "User guide" in " ".join(results.all_inner_texts())
    assert [url for url in remote if not url.startswith(("file:", "data:", "blob:"))] == []
