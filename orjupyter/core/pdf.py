"""PDFs in a prompt: which values are PDFs, and the `file` part each becomes.

Pure: standard library only. A `{value}` is a PDF when it is a `Path` to a `.pdf` file,
a string naming an existing `.pdf` file, or bytes that start with `%PDF-`. It travels in
place as OpenRouter's `file` part. A PDF that is not one, is encrypted or is too large is
refused with one line before anything is sent.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path, PurePath

from orjupyter.core.domain import FilePart
from orjupyter.core.errors import PromptError

MAX_PDF_BYTES = 50 * 1024 * 1024
"""The largest PDF sent (the limit of the providers that read files, such as OpenAI)."""
OCR_PAGE_PRICE = {"mistral-ocr": "0.002", "cloudflare-ai": "0", "native": "0"}
"""US dollars per page each `--pdf-engine` adds (native files are billed as input tokens)."""

_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_ENCRYPTED = re.compile(rb"/Encrypt\s*[0-9<]")
_SIGNATURE = b"%PDF-"


class PdfError(PromptError):
    """A PDF that cannot be sent, with a one-line message that says what to do."""


def pdf_part(value: object) -> FilePart | None:
    """`value` as a `file` part when it is a PDF, else None (it is not a PDF: carry on)."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return _part(data, "document.pdf", "the bytes") if data.startswith(_SIGNATURE) else None
    if isinstance(value, str) and _names_pdf(value) and Path(value).is_file():
        value = Path(value)
    if isinstance(value, PurePath) and value.suffix.lower() == ".pdf":
        return _part(_read(Path(value)), value.name, str(value))
    return None


def _names_pdf(text: str) -> bool:
    return len(text) < 4096 and "\n" not in text and text.lower().endswith(".pdf")


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_PDF_BYTES:
            raise PdfError(_too_big(str(path), path.stat().st_size))
        return path.read_bytes()
    except FileNotFoundError:
        raise PdfError(f"no PDF file at {path}; check the path (nothing was sent)") from None
    except IsADirectoryError:
        raise PdfError(f"{path} is a directory; pass the path of a PDF file") from None
    except OSError as error:
        raise PdfError(f"cannot read {path}: {error.strerror}; check the file") from None


def _too_big(what: str, size: int) -> str:
    return (
        f"{what} is {size / 2**20:.0f} MB, over the {MAX_PDF_BYTES // 2**20} MB a PDF may be; "
        "split it or send the pages you need (nothing was sent)"
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
