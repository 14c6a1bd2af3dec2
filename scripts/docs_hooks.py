"""MkDocs hooks for the documentation site (named in mkdocs.yml), and the tables the docs
take from the code.

The configuration page's table of settings is written here, when the site is built, from
the traitlets of `orjupyter.jupyter.config.OrJupyter`: a new setting appears in the docs
with its help text and default, and nothing in `docs/` is rewritten.

Other tables that mirror a table in the code sit in `docs/*.md` between two markers,

    <!-- generated: commands (python scripts/docs_hooks.py) -->
    …
    <!-- end: commands -->

so that the Markdown pages read whole on their own. The site is always built from the code
(the hook writes each block afresh); `python scripts/docs_hooks.py` rewrites the blocks in
`docs/` after the code changed, and tests/test_docs.py fails while a block is out of date.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SETTINGS_MARKER = "<!-- settings: generated from orjupyter/jupyter/config.py -->"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def settings_table() -> str:
    """Every `%config OrJupyter.NAME` setting: its type, default and help, in source order."""
    from traitlets import TraitType

    from orjupyter.jupyter.config import OrJupyter

    rows = ["| setting | type | default | meaning |", "|---|---|---|---|"]
    for name, trait in vars(OrJupyter).items():
        if not isinstance(trait, TraitType) or not trait.metadata.get("config"):
            continue
        rows.append(
            f"| `{name}` | {_kind(trait)} | `{trait.default_value_repr()}` | {_cell(trait.help)} |"
        )
    return "\n".join(rows)


def commands_table() -> str:
    """Every `%gpt4o COMMAND` (`COMMANDS` in orjupyter/jupyter/commands.py), with its
    arguments as `%gpt4o help` shows them."""
    from orjupyter.jupyter.commands import COMMANDS, command_parser

    parser = command_parser()
    (choices,) = (action.choices for action in parser._actions if action.dest == "command")
    rows = ["| command | what it does |", "|---|---|"]
    for command in COMMANDS:
        usage = choices[command.name].format_usage().removeprefix("usage:").strip()
        rows.append(f"| `{_cell(usage)}` | {_cell(command.summary)} |")
    return "\n".join(rows)


def image_kinds_table() -> str:
    """Which values travel as images (`SOURCES` in orjupyter/core/image_sources.py)."""
    from orjupyter.core.image_sources import SOURCES

    rows = ["| value | travels as |", "|---|---|"]
    rows += [f"| {_cell(source.name)} | an image |" for source in SOURCES]
    rows.append(
        "| a string | text, even one naming a file (write `{name:image}` to send the image it "
        "names) |"
    )
    rows.append(
        "| anything else: a NumPy array of floats, wider integers or booleans, a DataFrame… "
        "| data: described (see below) |"
    )
    return "\n".join(rows)


def describers_table() -> str:
    """How each kind of data value is described (`DESCRIBERS` in orjupyter/core/describe.py)."""
    from orjupyter.core.describe import DESCRIBERS

    rows = ["| value | what the model reads |", "|---|---|"]
    rows.append(
        "| an object with `_repr_llm_()` or a `text/llm+plain` representation | its own "
        "description, cut to fit with a note ([Objects that describe themselves]"
        "(describing-objects.md)) |"
    )
    rows += [f"| {_cell(row.name)} | {_cell(row.reads)} |" for row in DESCRIBERS]
    rows.append(
        "| a string, a number, any other object | its text: a string whole, anything else "
        "shortened with a note when it is long |"
    )
    return "\n".join(rows)


GENERATED: dict[str, Callable[[], str]] = {
    "commands": commands_table,
    "image kinds": image_kinds_table,
    "value describers": describers_table,
}
"""Every block the docs take from the code: its name and how it is made."""

_BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[\w ]+) \(python scripts/docs_hooks\.py\) -->\n)"
    r"(?P<body>.*?)"
    r"(<!-- end: (?P=name) -->)",
    re.DOTALL,
)


def blocks(markdown: str) -> list[tuple[str, str]]:
    """The generated blocks of a page: (name, body as it is in the page)."""
    return [(match["name"], match["body"]) for match in _BLOCK.finditer(markdown)]


def regenerated(markdown: str) -> str:
    """The page with each generated block made afresh from the code."""

    def fresh(match: re.Match[str]) -> str:
        make = GENERATED.get(match["name"])
        if make is None:
            raise ValueError(f"no table named {match['name']!r} in scripts/docs_hooks.py")
        return f"{match[1]}{make()}\n{match[4]}"

    return _BLOCK.sub(fresh, markdown)


def _kind(trait: Any) -> str:
    kinds = {"Unicode": "text", "Secret": "text (hidden)", "Float": "number", "Int": "integer"}
    kinds |= {"Bool": "`True` or `False`", "Dict": "dict", "Location": "text (a password hidden)"}
    return kinds.get(type(trait).__name__, type(trait).__name__)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def on_page_markdown(markdown: str, page: Any, **_kwargs: Any) -> str:
    """MkDocs event: the generated tables, made from the code as the site is built."""
    markdown = regenerated(markdown)
    if SETTINGS_MARKER not in markdown:
        return markdown
    return markdown.replace(SETTINGS_MARKER, settings_table())


def main() -> int:
    """Rewrite the generated blocks in docs/*.md from the code; say which pages changed."""
    sys.path.insert(0, str(DOCS.parent))
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        fresh = regenerated(text)
        if fresh != text:
            page.write_text(fresh, encoding="utf-8")
            print(f"updated {page.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
