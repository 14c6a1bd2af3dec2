"""PDFs in a prompt: file parts in place, the engine option, and bad PDFs refused."""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

import pytest
from notebook_support import execute

from orjupyter.core.errors import ImageError
from orjupyter.core.files import read_regular
from orjupyter.core.image_sources import to_image
from orjupyter.core.pdf import MAX_PDF_BYTES, PdfError, file_part, pdf_part
from orjupyter.fakerouter import FakeRouter

PDF = (
    b"%PDF-1.4\n1 0 obj <</Type /Pages /Kids [2 0 R 3 0 R]>>\n"
    b"2 0 obj <</Type /Page>>\n3 0 obj <</Type /Page>>\ntrailer <</Root 1 0 R>>\n%%EOF\n"
)


def test_paths_path_strings_and_pdf_bytes_become_file_parts(tmp_path: Path) -> None:
    report = tmp_path / "Report.PDF"
    report.write_bytes(PDF)
    for value in (report, str(report), PDF, bytearray(PDF)):
        part = pdf_part(value)
        assert part is not None
        assert part.pages == 2
        assert base64.b64decode(part.data_url.partition(",")[2]) == PDF
        assert part.data_url.startswith("data:application/pdf;base64,")
    assert pdf_part(report).filename == "Report.PDF"
    assert "base64" not in repr(pdf_part(report))


def test_other_values_are_not_pdfs(tmp_path: Path) -> None:
    for value in ("notes.pdf", "a report about PDFs", b"\x89PNG\r\n", 3, tmp_path / "x.png"):
        assert pdf_part(value) is None  # a .pdf string naming no file is just text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"Hello, not a PDF", "is not a PDF"),
        (PDF.replace(b"trailer <<", b"trailer <</Encrypt 4 0 R "), "is encrypted"),
    ],
)
def test_bad_pdfs_are_one_clear_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.pdf"
    path.write_bytes(content)
    with pytest.raises(PdfError, match=message) as caught:
        pdf_part(path)
    assert "\n" not in str(caught.value)


def test_a_pdf_too_large_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.pdf"
    with path.open("wb") as file:
        file.truncate(MAX_PDF_BYTES + 1)  # sparse: no disk is used
    with pytest.raises(PdfError, match="over the 50 MB"):
        pdf_part(path)
    with pytest.raises(PdfError, match="no PDF file at"):
        pdf_part(tmp_path / "missing.pdf")


def test_a_pdf_travels_in_place_in_a_real_kernel(router: FakeRouter, tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(PDF)
    (tmp_path / "fake.pdf").write_bytes(b"GIF89a, not a PDF")
    notebook = execute(
        tmp_path,
        "%load_ext orjupyter\nfrom pathlib import Path\nreport = Path('report.pdf')\n"
        "fake, missing = Path('fake.pdf'), Path('nowhere.pdf')",
        "%%gpt4o -o r\nSummarise {report} in one line.",
        "%%gpt4o --pdf-engine mistral-ocr --no-cache\nAgain: {report}",
        "%%gpt4o --pdf-engine mistral-ocr --dry-run\nAgain: {report}",
        "%%gpt4o\nThis one: {fake}",
        "%%gpt4o\nThat one: {missing}",
        allow_errors=True,
    )
    first, second = router.requests[0].body, router.requests[1].body
    content = first["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["text", "file", "text"]
    assert content[1]["file"]["filename"] == "report.pdf"
    assert base64.b64decode(content[1]["file"]["file_data"].partition(",")[2]) == PDF
    assert "plugins" not in first
    assert second["plugins"] == [{"id": "file-parser", "pdf": {"engine": "mistral-ocr"}}]
    answer = "".join(o.get("data", {}).get("text/plain", "") for o in notebook.cells[1].outputs)
    assert "- file: report.pdf, PDF, 2 pages" in answer
    dry = "".join(o.get("text", "") for o in notebook.cells[3].outputs)
    assert "file: report.pdf, PDF" in dry
    assert "PDF parsing: $0.004" in dry  # 2 pages at $2 per 1,000
    assert "base64" not in dry
    for cell, message in (
        (notebook.cells[4], "is not a PDF"),
        (notebook.cells[5], "no PDF file at"),
    ):
        [refusal] = [o["text"] for o in cell.outputs if o.get("name") == "stderr"]
        assert message in refusal
        assert refusal.strip().count("\n") == 0  # one line
        assert "nothing was sent" in refusal or "export it as PDF" in refusal
    assert len(router.requests) == 2  # the dry run and the bad PDFs sent nothing


def finishes(action, fifo: Path) -> object:
    """`action()`'s result or exception, run aside; if it waits on `fifo` for a writer,
    a writer comes and goes (so the waiting thread ends) and the test fails."""
    outcome: list[object] = []

    def attempt() -> None:
        try:
            outcome.append(action())
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(30)
    blocked = worker.is_alive()
    if blocked:  # release the reader: open the write end and close it at once
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join()
    assert not blocked, "reading the FIFO waited for a writer"
    return outcome[0]


def test_a_fifo_named_like_a_pdf_or_an_image_is_refused_without_waiting(tmp_path: Path) -> None:
    for name, action in (
        ("pipe.pdf", pdf_part),
        ("pipe.pdf", lambda path: file_part(str(path), "{x:file}")),
        ("pipe.png", to_image),
    ):
        fifo = tmp_path / name
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo)
        outcome = finishes(lambda action=action, fifo=fifo: action(fifo), fifo)
        assert isinstance(outcome, PdfError | ImageError)
        assert f"{fifo} is not a regular file" in str(outcome)


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero", "/dev/urandom"])
def test_a_device_is_never_read(device: str, tmp_path: Path) -> None:
    if not Path(device).exists():
        pytest.skip(f"{device} does not exist on this system")
    named = tmp_path / "report.pdf"  # a .pdf name that leads to the device
    named.symlink_to(device)
    with pytest.raises(PdfError, match=f"{named} is not a regular file"):
        pdf_part(named)
    with pytest.raises(PdfError, match=f"{device} is not a regular file"):
        file_part(device, "{x:file}")
    with pytest.raises(ImageError, match=f"{device} is not a regular file"):
        to_image(Path(device))


def test_at_most_the_limit_and_one_byte_is_read(tmp_path: Path) -> None:
    path = tmp_path / "grows.pdf"
    path.write_bytes(PDF)
    assert (
        read_regular(path, len(PDF), noun="PDF", error=PdfError, too_big=lambda size: f"big {size}")
        == PDF
    )
    with pytest.raises(PdfError, match=f"big {len(PDF)}"):
        read_regular(
            path, len(PDF) - 1, noun="PDF", error=PdfError, too_big=lambda size: f"big {size}"
        )


def test_a_pdf_error_says_nothing_was_sent_once(shell, router, tmp_path: Path) -> None:
    (tmp_path / "fake.pdf").write_bytes(b"GIF89a, not a PDF")
    shell.user_ns["fake"] = tmp_path / "fake.pdf"
    shell.user_ns["gone"] = tmp_path / "gone.pdf"
    for name in ("gone", "fake"):
        message = str(shell.run_cell(f"%%gpt4o\nRead {{{name}}}").error_in_exec)
        assert message.count("nothing was sent") == 1, message
    assert not router.requests


def test_file_sends_a_pdf_whatever_its_name(tmp_path: Path) -> None:
    path = tmp_path / "report.bin"
    path.write_bytes(PDF)
    for value in (path, str(path), f"  {path} ", PDF):
        assert file_part(value, "{x:file}").pages == 2
    with pytest.raises(PdfError, match="a int cannot be sent as a file"):
        file_part(3, "{x:file}")
