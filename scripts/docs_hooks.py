"""MkDocs hooks for the documentation site (named in mkdocs.yml).

The configuration page's table of settings is written here, when the site is built, from
the traitlets of `orjupyter.jupyter.config.OrJupyter`: a new setting appears in the docs
with its help text and default, and nothing in `docs/` is rewritten.
"""

from __future__ import annotations

from typing import Any

SETTINGS_MARKER = "<!-- settings: generated from orjupyter/jupyter/config.py -->"


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


def _kind(trait: Any) -> str:
    kinds = {"Unicode": "text", "Secret": "text (hidden)", "Float": "number", "Int": "integer"}
    kinds |= {"Bool": "`True` or `False`", "Dict": "dict", "Location": "text (a password hidden)"}
    return kinds.get(type(trait).__name__, type(trait).__name__)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def on_page_markdown(markdown: str, page: Any, **_kwargs: Any) -> str:
    """MkDocs event: put the generated table where the configuration page asks for it."""
    if SETTINGS_MARKER not in markdown:
        return markdown
    return markdown.replace(SETTINGS_MARKER, settings_table())
