"""markdown-it and nh3 as answers use them: the parser (our code blocks, images as links,
table cells aligned without styles), the block parser that finds where blocks end, and the
sanitiser.

Imported when an answer's first block is rendered, not before: the first words of an
answer need none of it (`render/markdown.py` imports it inside its functions).

Pure: no IPython, no ipywidgets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Final

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import MD_TRIM_RE, escapeHtml, mdTrim, unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments.token import STANDARD_TYPES

__all__ = ["block_parser", "cleaner", "code_html", "escapeHtml", "parser"]

MAX_HIGHLIGHT_CHARS: Final = 100_000
"""Longer code blocks are shown escaped but not highlighted, to bound the work."""
MAX_INLINE_CHARS: Final = 10_000
"""A longer paragraph (or heading, or table cell) is shown as written, escaped: no prose
runs that long, and parsing its links and emphasis can take seconds (a megabyte of JSON
on one line, thousands of `[` that never close)."""

_LANGUAGE = re.compile(r"[a-z0-9_+#.-]{1,40}")
_LANGUAGE_CLASS = re.compile(r"language-[a-z0-9_+#.-]{1,40}")
_IMAGE_SCHEMES = ("http://", "https://")

# What markdown-it produces from Markdown, minus <img> (see `_AnswerRenderer.image`).
ALLOWED_TAGS: Final = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr", "br"}
    | {"ul", "ol", "li", "pre", "code", "span", "em", "strong", "del", "s", "a"}
    | {"table", "thead", "tbody", "tr", "th", "td"}
)
ALLOWED_URL_SCHEMES: Final = frozenset({"http", "https", "mailto"})
LINK_REL: Final = "noopener noreferrer nofollow"
_ALIGNS: Final = frozenset({"left", "center", "right"})


class _AnswerRenderer(RendererHTML):
    """markdown-it's HTML renderer with our code blocks and without images."""

    def fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        info = mdTrim(unescapeAll(tokens[idx].info)) if tokens[idx].info else ""
        language = MD_TRIM_RE.split(info, maxsplit=1)[0] if info else ""
        return code_html(tokens[idx].content, language)

    def code_block(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        return code_html(tokens[idx].content, "")

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        """A link showing the alt text (never `<img>`, which would load by itself)."""
        token = tokens[idx]
        alt = escapeHtml(self.renderInlineAsText(token.children or [], options, env))
        src = str(token.attrGet("src") or "")
        if not src.lower().startswith(_IMAGE_SCHEMES):
            return f"[image: {alt}]"
        if _inside_link(tokens, idx):  # <a> cannot nest
            return f"\N{FRAME WITH PICTURE} {alt}"
        title = token.attrGet("title")
        title_attr = f' title="{escapeHtml(str(title))}"' if title else ""
        return f'<a href="{escapeHtml(src)}"{title_attr}>\N{FRAME WITH PICTURE} {alt}</a>'


def _inside_link(tokens: Sequence[Token], idx: int) -> bool:
    depth = 0
    for token in tokens[:idx]:
        depth += (token.type == "link_open") - (token.type == "link_close")
    return depth > 0


def code_html(code: str, language: str) -> str:
    language = language.lower()
    lexer = _lexer_class(language) if language and len(code) <= MAX_HIGHLIGHT_CHARS else None
    body = escapeHtml(code) if lexer is None else _highlighted(code, lexer)
    css_class = f' class="language-{language}"' if _LANGUAGE.fullmatch(language) else ""
    return f'<pre class="orj-code"><code{css_class}>{body}</code></pre>\n'


@lru_cache(maxsize=256)  # an unknown name costs a look through the plugins
def _lexer_class(language: str) -> type | None:
    """A pygments lexer for a language name from the info string (aliases: py, sh, …)."""
    from pygments import lexers, util  # the first code block loads pygments' lexers

    try:
        lexer_class: type = lexers.find_lexer_class_by_name(language)
    except util.ClassNotFound:
        return None
    return lexer_class


def _highlighted(code: str, lexer: type) -> str:
    from pygments import formatters, highlight

    formatter = formatters.HtmlFormatter(nowrap=True)  # CSS classes, no inline styles
    return str(highlight(code, lexer(stripnl=False), formatter))


def _table_align(state: StateCore) -> None:
    """Turn markdown-it's `style="text-align:…"` on table cells into `align`: no styles."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open") and token.attrs:
            style = str(token.attrs.pop("style", ""))
            if style.startswith("text-align:"):
                token.attrs["align"] = style.removeprefix("text-align:")


def _with_extensions(md: MarkdownIt) -> MarkdownIt:
    md.enable(["table", "strikethrough"])
    return md


@cache
def parser() -> MarkdownIt:
    options = {"html": False, "linkify": False, "typographer": False}
    md = _with_extensions(MarkdownIt("commonmark", options, renderer_cls=_AnswerRenderer))
    md.core.ruler.before("inline", "orj_long_inline", _long_inline_as_text)
    md.core.ruler.push("orj_table_align", _table_align)
    return md


def _long_inline_as_text(state: StateCore) -> None:
    """Inline content longer than MAX_INLINE_CHARS becomes one text token (escaped)."""
    for token in state.tokens:
        if token.type == "inline" and len(token.content) > MAX_INLINE_CHARS:
            token.type = "text"


@cache
def block_parser() -> MarkdownIt:
    """The same block rules, without inline parsing: enough to see where blocks are."""
    return _with_extensions(MarkdownIt("commonmark", {"html": False})).disable("inline")


def _narrow_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "code" and attribute == "class":
        kept = [name for name in value.split() if _LANGUAGE_CLASS.fullmatch(name)]
        return " ".join(kept) or None
    return value


@cache
def cleaner() -> nh3.Cleaner:
    token_classes = set(STANDARD_TYPES.values()) - {""}
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}},
        attribute_filter=_narrow_attribute,
        allowed_classes={"pre": {"orj-code"}, "span": token_classes},
        tag_attribute_values={"th": {"align": set(_ALIGNS)}, "td": {"align": set(_ALIGNS)}},
        set_tag_attribute_values={"a": {"target": "_blank"}},
        link_rel=LINK_REL,
        url_schemes=set(ALLOWED_URL_SCHEMES),
        url_relative="deny",
        strip_comments=True,
    )
