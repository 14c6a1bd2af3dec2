"""The stylesheets of what orjupyter shows: the final output's and the live panel's, each
`static/answer.css` (what both show: answers, the status line) and its own rules, and the
action bar's.

The final output carries its `<style>` element, so the saved notebook keeps its look. The
live panel's and the action bar's go to a page once, with their widget's module
(`jupyter/answer_stream.py`'s `PageWidget`). Each carries only its own rules, so the
browser is not sent the other's once per answer.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path


def style_tag() -> str:
    """The final output's stylesheet as a `<style>` element, emitted once beside the
    answers."""
    return f"<style>{answer_css()}</style>"


@cache
def answer_css() -> str:
    """The stylesheet of final outputs: answers, comparisons, the action bar
    (`orjupyter/static/answer.css` and `output.css`)."""
    return _stylesheet("answer.css") + _stylesheet("output.css")


@cache
def panel_css() -> str:
    """The stylesheet of the live panel: answers as they stream, Stop and the status line
    (`orjupyter/static/answer.css` and `panel.css`)."""
    return _stylesheet("answer.css") + _stylesheet("panel.css")


@cache
def actions_css() -> str:
    """The stylesheet of the action bar under an answer (`orjupyter/static/actions.css`)."""
    return _stylesheet("actions.css")


def _stylesheet(name: str) -> str:
    """A stylesheet of `orjupyter/static` without its comments."""
    text = (Path(__file__).parent.parent / "static" / name).read_text(encoding="utf-8")
    return re.sub(r"/\*.*?\*/\s*", "", text, flags=re.DOTALL).strip() + "\n"
