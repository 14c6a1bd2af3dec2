"""Tables as mimebundles: the HTML and plain-text building blocks of every view.

Pure: standard library only, no IPython, no widgets, no SDK. Views are
``{"text/html": …, "text/plain": …}``: a bold title, one summary line and sections, each
an HTML table (numbers right-aligned, tabular figures) beside the same table as aligned
text. Every value is escaped here (and the text has no control sequences): model names,
notebook paths and error messages come from outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from orjupyter.core.terminal import printable

Bundle = dict[str, str]

NO_MATHS = "tex2jax_ignore mathjax_ignore"
"""Classes that keep JupyterLab's, Notebook's and nbconvert's MathJax out of an element:
in everything we show, `$` is money (`$0.01 of a $1.00 budget` is not a formula)."""

_BOX = 'style="font-size:13px;line-height:1.4;max-width:100%;overflow-x:auto"'
_NUM = 'style="text-align:right;font-variant-numeric:tabular-nums"'


def escaped(value: object) -> str:
    """`value` as text safe in HTML content and in quoted attributes."""
    return escape(str(value), quote=True)


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """An HTML table of plain strings (escaped here); `numeric` columns align right."""

    def cell(tag: str, index: int, text: str) -> str:
        align = f" {_NUM}" if index in numeric else ' style="text-align:left"'
        return f"<{tag}{align}>{escaped(text)}</{tag}>"

    head = "".join(cell("th", i, text) for i, text in enumerate(headers))
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    body = "".join(
        "<tr>" + "".join(cell("td", i, text) for i, text in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """The same table as aligned plain text; `numeric` columns align right."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        cells = (
            text.rjust(width) if i in numeric else text.ljust(width)
            for i, (text, width) in enumerate(zip(row, widths, strict=True))
        )
        return "  ".join(cells).rstrip()

    head = [line(headers), line(["-" * width for width in widths])] if any(headers) else []
    return "\n".join([*head, *map(line, rows)])


def bundle(title: str, summary: str, sections: Sequence[tuple[str, str, str]]) -> Bundle:
    """Title, one summary line and (heading, html, text) sections → a mimebundle."""
    html = [
        f'<div class="orj-view {NO_MATHS}" {_BOX}>'
        f"<strong>{escaped(title)}</strong><div>{escaped(summary)}</div>"
    ]
    text = [title, summary]
    for heading, section_html, section_text in sections:
        if heading:
            html.append(f"<div style='margin-top:.6em'><strong>{escaped(heading)}</strong></div>")
            text.extend(["", heading])
        html.append(section_html)
        text.append(section_text)
    html.append("</div>")
    return {"text/html": "".join(html), "text/plain": printable("\n".join(text))}
