"""The documentation site builds in strict mode, lists every setting from the code, and
leaves the checkout as it was."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

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
