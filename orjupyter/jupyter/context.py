"""What each execution produced, captured as it is produced, for `--context N`.

The kernel is never told what the frontend shows, so `Recorder` listens where outputs
are made: IPython's `pre_run_cell`/`post_run_cell` events (the source, the errors), the
display publisher (`display(...)`, matplotlib's inline figures), the displayhook (a
cell's `Out`), and printed text. In ipykernel, printed text is taken where the kernel
sends it (each flush of its stdout/stderr, by the request it belongs to), so a `print`
costs nothing more; elsewhere (terminal IPython) `sys.stdout`/`sys.stderr` are teed while
a cell runs. Each finished cell becomes a `core.context.RanCell`; the newest `KEEP` are
kept.

Left out: cells that ran orjupyter's own magics (questions, answers, commands), outputs
orjupyter displayed (they carry `orjupyter` metadata), widgets, display updates and
silent executions.
"""

from __future__ import annotations

import base64
import contextlib
import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # imported when a cell first records something, not with the extension
    from orjupyter.core.context import CellOutput, OutputKind, OutputText, RanCell
    from orjupyter.core.errlog import CellNamer

KEEP = 200
"""Most finished cells remembered (`--context all` takes as many of these as fit)."""
IMAGE_TYPES = ("image/png", "image/jpeg")
STREAMS: tuple[tuple[str, OutputKind], ...] = (("stdout", "printed"), ("stderr", "stderr"))
WIDGET = "application/vnd.jupyter.widget-view+json"


PENDING_CHARS = 65_536
"""Printed text gathered before it is folded into the cell's bounded record."""
MOST_OUTPUTS = 50
MOST_IMAGES = 3
"""A cell that displays in a loop keeps only its latest outputs and images (a plot redrawn
1,000 times is not 1,000 images in memory)."""


def cell_namer(shell: Any) -> CellNamer:
    """`Cell In[7]` for the code file IPython compiled cell 7 into (the kernel's
    `/tmp/ipykernel_<pid>/<hash>.py`), as IPython's own tracebacks say; None for a real file."""

    def name(filename: str) -> str | None:
        found = shell.compile.format_code_name(filename)
        return f"{found[0]} {found[1]}" if found else None

    return name


class _Running:
    """The cell running now: its source and what it has produced so far.

    Printed text is on the path of every `print`, so `_Tee` only appends it to `pending`;
    the pieces are folded into a bounded `OutputText` every `PENDING_CHARS` and when
    another output comes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.outputs: list[CellOutput | tuple[OutputKind, OutputText]] = []
        self.excluded = False
        self.muted = 0
        """Above 0 while IPython itself prints something recorded another way (a terminal's
        `Out[n]:`, a displayed value's text, a traceback)."""
        self.lock = threading.Lock()
        self.pending: list[str] = []
        self.pending_kind: OutputKind = "printed"
        self.pending_size = 0

    def fold(self) -> None:
        """Move the pending printed text into the bounded record."""
        pieces, self.pending = self.pending, []
        self.pending_size = 0
        if pieces:
            self.printed(self.pending_kind, "".join(pieces))

    def printed(self, kind: OutputKind, text: str) -> None:
        """Add printed text to the record (safe from the kernel's I/O thread)."""
        with self.lock:
            last = self.outputs[-1] if self.outputs else None
            if isinstance(last, tuple) and last[0] == kind:
                last[1].write(text)
                return
            from orjupyter.core.context import OutputText

            buffer = OutputText()
            buffer.write(text)
            self.outputs.append((kind, buffer))

    def add(self, output: CellOutput) -> None:
        from orjupyter.core.context import CellOutput

        self.fold()
        with self.lock:
            self.outputs.append(output)
            if output.image_base64:
                images = [
                    i
                    for i, o in enumerate(self.outputs)
                    if isinstance(o, CellOutput) and o.image_base64
                ]
                for index in images[:-MOST_IMAGES]:
                    kept = self.outputs[index]
                    assert isinstance(kept, CellOutput)
                    self.outputs[index] = CellOutput(kept.kind, kept.text)
            del self.outputs[:-MOST_OUTPUTS]

    def clear(self) -> None:
        """`clear_output()`: what the cell showed so far is gone, as in the frontend."""
        self.pending, self.pending_size = [], 0
        with self.lock:
            self.outputs.clear()

    def finished(self, number: int) -> RanCell:
        from orjupyter.core.context import CellOutput, RanCell

        self.fold()
        with self.lock:
            outputs = tuple(
                CellOutput(o[0], o[1].value()) if isinstance(o, tuple) else o for o in self.outputs
            )
        return RanCell(number, self.source, outputs)


class _Tee:
    """`sys.stdout` while a cell runs: writes go on to the real stream and are recorded."""

    def __init__(self, stream: TextIO, cell: _Running, kind: OutputKind) -> None:
        self._stream = stream
        self._write = stream.write
        self._cell = cell
        self._kind: OutputKind = kind

    def write(self, text: str) -> int:
        written = self._write(text)
        cell = self._cell
        if not cell.muted:  # `_Running.text`, inlined: this runs for every piece printed
            if cell.pending_kind != self._kind:
                cell.fold()
                cell.pending_kind = self._kind
            cell.pending.append(text)
            cell.pending_size += len(text)
            if cell.pending_size > PENDING_CHARS:
                cell.fold()
        return written

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _base64(image: object) -> str:
    """An image from a display bundle as base64 text (Jupyter's form; raw bytes encoded)."""
    if isinstance(image, (bytes, bytearray)):
        return base64.b64encode(bytes(image)).decode("ascii")
    return image if isinstance(image, str) else ""


def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


class Recorder:
    """Listens to one shell; `cells()` are the finished executions, oldest first."""

    def __init__(self, shell: Any, keep: int = KEEP) -> None:
        self.shell = shell
        self._cells: deque[tuple[int, _Running]] = deque(maxlen=keep)
        self._running: _Running | None = None
        self._tees: dict[str, _Tee] = {}
        self._wrapped: list[tuple[Any, str]] = []
        self._by_request: OrderedDict[str, _Running] = OrderedDict()
        """The last few cells by the kernel request that ran them: a stream's last flush
        can come after `post_run_cell`."""
        self._kernel_streams = False

    # -- installing ---------------------------------------------------------------------

    def install(self) -> None:
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)
        self._wrap(self.shell.display_pub, "publish", self._published)
        self._wrap(self.shell.display_pub, "clear_output", self._cleared)
        self._wrap(self.shell.displayhook, "write_format_data", self._result)
        for owner, quiet in (
            (self.shell.displayhook, "write_output_prompt"),
            (self.shell, "_showtraceback"),
        ):
            if hasattr(owner, quiet):
                self._wrap(owner, quiet, _nothing)
        streams = [getattr(sys, name) for name, _kind in STREAMS]
        self._kernel_streams = all(
            hasattr(stream, "_flush_buffers") and hasattr(stream, "parent_header")
            for stream in streams
        )
        if self._kernel_streams:
            for stream, (_name, kind) in zip(streams, STREAMS, strict=True):
                self._hook_kernel_stream(stream, kind)

    def _hook_kernel_stream(self, stream: Any, kind: OutputKind) -> None:
        """Record what an ipykernel `OutStream` flushes, by the request it belongs to."""
        original = stream._flush_buffers

        def flush_buffers() -> Iterator[tuple[dict[str, Any], str]]:
            for parent, data in original():
                cell = self._by_request.get(str(parent.get("msg_id")))
                if cell is not None and data:
                    with contextlib.suppress(Exception):
                        cell.printed(kind, data)
                yield parent, data

        stream._flush_buffers = flush_buffers
        self._wrapped.append((stream, "_flush_buffers"))

    def uninstall(self) -> None:
        self.shell.events.unregister("pre_run_cell", self.pre_run_cell)
        self.shell.events.unregister("post_run_cell", self.post_run_cell)
        self._restore_streams()
        for owner, name in self._wrapped:
            owner.__dict__.pop(name, None)
        self._wrapped.clear()

    def _wrap(self, owner: Any, name: str, record: Any) -> None:
        """Call `record(*args, **kwargs)` after each call of `owner.name`; what the call
        itself prints to stdout is not recorded twice."""
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            cell = self._running
            if cell is not None:
                cell.muted += 1
            try:
                result = original(*args, **kwargs)
            finally:
                if cell is not None:
                    cell.muted -= 1
            with contextlib.suppress(Exception):  # recording never breaks the user's output
                record(*args, **kwargs)
            return result

        setattr(owner, name, wrapper)
        self._wrapped.append((owner, name))

    # -- the events ---------------------------------------------------------------------

    def pre_run_cell(self, info: Any) -> None:
        if getattr(info, "silent", False) or not getattr(info, "store_history", True):
            self._running = None
            return
        self._running = _Running(str(getattr(info, "raw_cell", "") or ""))
        if self._kernel_streams:
            request = str(getattr(sys.stdout, "parent_header", {}).get("msg_id"))
            self._by_request[request] = self._running
            while len(self._by_request) > 8:
                self._by_request.popitem(last=False)
            return
        for name, kind in STREAMS:
            tee = _Tee(getattr(sys, name), self._running, kind)
            setattr(sys, name, tee)
            self._tees[name] = tee

    def post_run_cell(self, result: Any) -> None:
        self._restore_streams()
        cell, self._running = self._running, None
        if cell is None or cell.excluded or not cell.source.strip():
            return
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        if error is not None:
            from orjupyter.core.context import CellOutput
            from orjupyter.core.describe import exception_text

            cell.add(CellOutput("error", exception_text(error, 3_000, cell_namer(self.shell))))
        number = getattr(result, "execution_count", None)
        self._cells.append((number if isinstance(number, int) else 0, cell))

    def _restore_streams(self) -> None:
        for name, tee in self._tees.items():
            if getattr(sys, name) is tee:
                setattr(sys, name, tee._stream)
        self._tees.clear()

    def _published(self, data: Any = None, metadata: Any = None, *_: Any, **kwargs: Any) -> None:
        if kwargs.get("update") or self._running is None or not isinstance(data, dict):
            return
        if isinstance(metadata, dict) and "orjupyter" in metadata:
            return
        self._record_bundle("display", data)

    def _cleared(self, *_args: Any, **_kwargs: Any) -> None:
        if self._running is not None:
            self._running.clear()

    def _result(self, format_dict: Any, md_dict: Any = None) -> None:
        if self._running is not None and isinstance(format_dict, dict):
            self._record_bundle("result", format_dict)

    def _record_bundle(self, kind: OutputKind, data: dict[str, Any]) -> None:
        assert self._running is not None
        if WIDGET in data:
            return
        text = str(data.get("text/plain", ""))
        image = next((_base64(data[t]) for t in IMAGE_TYPES if data.get(t)), "")
        if image or text:
            from orjupyter.core.context import CellOutput

            self._running.add(CellOutput(kind, text if not image else text[:200], image))

    # -- what the magic asks ----------------------------------------------------------------

    def exclude_current(self) -> None:
        """The running cell is orjupyter's own (a question or a command): never context."""
        if self._running is not None:
            self._running.excluded = True

    def cells(self) -> list[RanCell]:
        """Finished executions, oldest first (never the one running now)."""
        return [cell.finished(number) for number, cell in list(self._cells)]
