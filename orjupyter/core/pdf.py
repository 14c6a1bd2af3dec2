"""PDFs in a prompt: which values are PDFs, and the `file` part each becomes.

Standard library only. A `{value}` is a PDF when it is a `Path` to a `.pdf` file, a
string naming an existing `.pdf` file (not in `--map`: a row's string is text), or bytes
that start with `%PDF-`; `{value:file}` sends a path (a string too) or bytes as a PDF
whatever the name. It travels in place as OpenRouter's `file` part. A PDF that is not
one, is encrypted or is too large, and a path that is not a regular file, are refused
with one line before anything is sent; a file is read through `core/files.py`, never
past the size limit.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path, PurePath

from orjupyter.core.domain import FilePart, Part
from orjupyter.core.errors import PromptError
from orjupyter.core.files import read_regular

MAX_PDF_BYTES = 50 * 1024 * 1024
"""The largest PDF sent (the limit of the providers that read files, such as OpenAI)."""
OCR_PAGE_PRICE = {"mistral-ocr": "0.002", "cloudflare-ai": "0", "native": "0"}
"""US dollars per page each `--pdf-engine` adds (native files are billed as input tokens)."""

_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_ENCRYPTED = re.compile(rb"/Encrypt\s*[0-9<]")
_SIGNATURE = b"%PDF-"


class PdfError(PromptError):
    """A PDF that cannot be sent, with a one-line message that says what to do."""


def pdf_part(value: object, *, text_names_files: bool = True) -> FilePart | None:
    """`value` as a `file` part when it is a PDF, else None (it is not a PDF: carry on).

    A string naming an existing `.pdf` file counts only with `text_names_files` (a
    cell's own variable); `--map` rows pass False, so row text stays text."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return _part(data, "document.pdf", "the bytes") if data.startswith(_SIGNATURE) else None
    if text_names_files and isinstance(value, str) and _names_pdf(value) and Path(value).is_file():
        value = Path(value)
    if isinstance(value, PurePath) and value.suffix.lower() == ".pdf":
        return _part(_read(Path(value)), value.name, str(value))
    return None


def file_part(value: object, source: str) -> FilePart:
    """`{value:file}`: the value sent as a PDF file, whatever its name; a string is a path."""
    if isinstance(value, str) and _names_file(value):
        value = Path(value.strip())
    if isinstance(value, bytes | bytearray | memoryview):
        return _part(bytes(value), "document.pdf", "the bytes")
    if isinstance(value, PurePath):
        return _part(_read(Path(value)), value.name, str(value))
    raise PdfError(
        f"{source}: a {type(value).__name__} cannot be sent as a file; pass a path to a PDF "
        "(a Path or a string) or PDF bytes"
    )


def _names_file(text: str) -> bool:
    return 0 < len(text.strip()) < 4096 and "\n" not in text


def _names_pdf(text: str) -> bool:
    return len(text) < 4096 and "\n" not in text and text.lower().endswith(".pdf")


def _read(path: Path) -> bytes:
    return read_regular(
        path,
        MAX_PDF_BYTES,
        noun="PDF",
        error=PdfError,
        too_big=lambda size: _too_big(str(path), size),
    )


def _too_big(what: str, size: int) -> str:
    return (
        f"{what} is {size / 2**20:.0f} MB, over the {MAX_PDF_BYTES // 2**20} MB a PDF may be; "
        "split it or send the pages you need"
    )


def _part(data: bytes, filename: str, what: str) -> FilePart:
    if not data.startswith(_SIGNATURE):
        raise PdfError(f"{what} is not a PDF (it does not start with %PDF-); export it as PDF")
    if len(data) > MAX_PDF_BYTES:
        raise PdfError(_too_big(what, len(data)))
    if _ENCRYPTED.search(data):
        raise PdfError(f"{what} is encrypted; save an unprotected copy and send that")
    url = "data:application/pdf;base64," + base64.b64encode(data).decode("ascii")
    pages = max(1, len(_PAGE.findall(data)))
    return FilePart(filename=filename, data_url=url, pages=pages, nbytes=len(data))


def parsing_cost(engine: str | None, parts: Sequence[Part]) -> Decimal:
    """What `--pdf-engine` adds for the PDFs among `parts` (per page)."""
    price = Decimal(OCR_PAGE_PRICE.get(engine or "native", "0"))
    return price * sum(part.pages for part in parts if isinstance(part, FilePart))
