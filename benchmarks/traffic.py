"""Traffic to the browser: the iopub messages and bytes the kernel sends while `%%gpt4o`
streams the 20,000-chunk answer (the same runs as streaming.py), and how they grow for
40,000 chunks.

Bytes are the raw ZMQ frames of every iopub message whose parent is the cell's
execute_request (signature and headers included); the serialized content + metadata +
buffers alone are given beside them. Panel updates are the ipywidgets `update` and
`custom` (the live answer's appends) comm messages to the widgets the cell opened, per
second of streaming: from the panel's display_data to the final output's display_data,
by the kernel's own timestamps.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from _common import FakeServer, Row, log, median, size
from _kernel import CellRun
from streaming import SIZES, TARGET_GROWTH, collect

TARGET_UPDATES = 25.0
TARGET_BYTES = 3.3


@dataclass
class Traffic:
    messages: int
    types: Counter[str]
    type_bytes: Counter[str]
    updates: int
    flushes: int
    """Updates of the status line (they come with the panel's refreshes)."""
    streaming_seconds: float
    busiest_second: int
    wire_bytes: int
    payload_bytes: int
    update_bytes: int
    final_bytes: int
    """The final output shown under the panel (and the action bar under it)."""

    @property
    def rate(self) -> float:
        return self.updates / self.streaming_seconds if self.streaming_seconds else 0.0


def traffic(run: CellRun) -> Traffic:
    types: Counter[str] = Counter()
    type_bytes: Counter[str] = Counter()
    opened: set[str] = set()
    flushes = 0
    update_times: list[float] = []
    update_bytes = final_bytes = 0
    shown = replaced = None
    for message in run.messages:
        kind = message.msg_type
        if kind == "comm_open":
            opened.add(message.content["comm_id"])
        method = ""
        if kind == "comm_msg":
            method = str(message.content.get("data", {}).get("method", ""))
            kind = f"comm_msg/{method}"
        types[kind] += 1
        type_bytes[kind] += message.wire_bytes
        when = message.sent.timestamp() if message.sent else message.received
        if method in ("update", "custom") and message.content["comm_id"] in opened:
            update_times.append(when)
            update_bytes += message.wire_bytes
            told = message.content.get("data", {}).get("content") or {}
            flushes += "status" in told
        elif kind == "display_data" and shown is None:
            shown = when
        elif kind == "display_data":  # the final output (and the action bar under it)
            replaced = when if replaced is None else replaced
            final_bytes += message.wire_bytes
    window = (replaced - shown) if shown is not None and replaced is not None else 0.0
    busiest, first = 0, 0
    for last, moment in enumerate(update_times):
        while moment - update_times[first] >= 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    return Traffic(
        messages=len(run.messages),
        types=types,
        type_bytes=type_bytes,
        updates=len(update_times),
        flushes=flushes,
        streaming_seconds=window,
        busiest_second=busiest,
        wire_bytes=run.wire_bytes,
        payload_bytes=run.payload_bytes,
        update_bytes=update_bytes,
        final_bytes=final_bytes,
    )


def kinds(traffic: Traffic) -> str:
    """Messages and bytes by type, biggest first."""
    return ", ".join(
        f"{kind} {traffic.types[kind]} ({size(total)})"
        for kind, total in traffic.type_bytes.most_common()
    )


def median_traffic(runs: list[CellRun]) -> Traffic:
    """The run with the median wire bytes (a real run: its figures belong together)."""
    measured = sorted((traffic(run) for run in runs), key=lambda t: t.wire_bytes)
    return measured[(len(measured) - 1) // 2]


def measure(runs: int, server: FakeServer) -> list[Row]:
    log("traffic: from the streaming runs")
    data = collect(server.url, runs)
    small, large = SIZES
    each = [traffic(run) for run in data.magic[small]]
    rate = median([t.rate for t in each])
    refreshes = median([t.flushes / t.streaming_seconds for t in each if t.streaming_seconds])
    busiest = median([t.busiest_second for t in each])
    typical = median_traffic(data.magic[small])
    bigger = median_traffic(data.magic[large])
    answer = data.answer_bytes[small]
    bytes_ratio = typical.wire_bytes / answer
    growth = bigger.wire_bytes / typical.wire_bytes
    answer_growth = data.answer_bytes[large] / answer
    markdown = median_traffic(data.paragraphs)
    # its execute_input echoes the cell, whose prompt carries the scripted answer: not counted
    markdown_bytes = markdown.wire_bytes - markdown.type_bytes["execute_input"]
    return [
        Row(
            f"Panel updates per second ({small:,} chunks)",
            f"{rate:.0f}/s",
            "-",
            f"busiest 1 s: {busiest:.0f}",
            f"<= {TARGET_UPDATES:.0f}/s",
            rate <= TARGET_UPDATES,
            f"median of {runs}; {refreshes:.0f} refreshes/s (status-line updates); "
            f"median-bytes run: {typical.updates} widget updates, {typical.flushes} refreshes "
            f"in {typical.streaming_seconds:.2f} s of streaming",
        ),
        Row(
            f"iopub bytes, {small:,}-chunk answer",
            f"{size(typical.wire_bytes)} in {typical.messages} msgs",
            f"{size(answer)} (the answer)",
            f"{bytes_ratio:.1f}x answer",
            f"<= {TARGET_BYTES:.1f}x answer",
            bytes_ratio <= TARGET_BYTES,
            f"run with the median bytes of {runs}; content+metadata+buffers "
            f"{size(typical.payload_bytes)}; widget updates {size(typical.update_bytes)}, "
            f"final answer output {size(typical.final_bytes)}; {kinds(typical)}",
        ),
        Row(
            f"iopub bytes, {large:,} vs {small:,} chunks",
            f"{growth:.2f}x ({size(bigger.wire_bytes)})",
            f"{answer_growth:.2f}x (the answer)",
            f"{growth:.2f}x",
            f"~2x (<= {TARGET_GROWTH}x)",
            growth <= TARGET_GROWTH,
            f"median-bytes runs of {runs}; {bigger.updates} widget updates at "
            f"{bigger.rate:.0f}/s for {large:,}",
        ),
        Row(
            f"(diagnostic) iopub bytes, {small:,} chunks of paragraphed Markdown",
            f"{size(markdown_bytes)} in {markdown.messages - 1} msgs",
            f"{size(answer)} (the answer)",
            f"{markdown_bytes / answer:.1f}x answer",
            "-",
            None,
            f"median-bytes run of {runs}; as long as the lorem answer, with headings, "
            f"lists, code and blank lines (execute_input, which echoes it in the prompt, "
            f"not counted); {markdown.rate:.0f} widget updates/s; "
            f"{kinds(markdown)}",
        ),
    ]
