"""Streaming overhead: a 20,000-chunk answer consumed by `%%gpt4o` (panel attached, in a
real ipykernel) against a bare `async for chunk in stream` loop in the same kernel.

One kernel runs both, alternating, after `%load_ext orjupyter` and an untimed warm-up
call of each (imports, the model list, the first connection, ipywidgets). The magic's
cell is `%%gpt4o --no-cache`; the bare loop's cell awaits the same request on the
kernel's event loop with an `openai.AsyncOpenAI` client made beforehand (the magic reuses
its client too) and joins the content. Each cell's time is execute_request to
execute_reply. The same runs, repeated with 40,000 chunks, show how time grows; traffic.py
reads the iopub messages of these same runs. Each repetition also runs the magic once on
an answer as long but in Markdown paragraphs (a diagnostic for traffic.py, untimed here).
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass, field

from _common import MODEL, FakeServer, Row, log, median, ms, sandbox
from _kernel import CellRun, KernelSession

from orjupyter.fakerouter.script import lorem

SIZES = (20_000, 40_000)
TARGET_RATIO = 1.05
TARGET_GROWTH = 2.5  # "roughly doubles, not quadruples"

SETUP = """
import os, openai
_bench_client = openai.AsyncOpenAI(
    base_url=os.environ["OPENROUTER_BASE_URL"],
    api_key=os.environ["OPENROUTER_API_KEY"],
    max_retries=0,
)
"""

BARE = """
_bench_stream = await _bench_client.chat.completions.create(
    model={model!r}, messages=[{{"role": "user", "content": {prompt!r}}}], stream=True
)
_bench_parts = []
async for _bench_chunk in _bench_stream:
    if _bench_chunk.choices and _bench_chunk.choices[0].delta.content:
        _bench_parts.append(_bench_chunk.choices[0].delta.content)
_bench_text = "".join(_bench_parts)
"""


def prompt(chunks: int) -> str:
    return f"Stream a long answer. [[fake chunks={chunks}]]"


def magic_cell(chunks: int) -> str:
    return f"%%gpt4o --no-cache -o _bench_reply\n{prompt(chunks)}"


def paragraphs(length: int) -> str:
    """Markdown as answers usually come: headings, paragraphs of ~80 words, lists, code.

    The local server's `chunks=N` answer is a single paragraph of lorem ipsum; this text
    (as long, with blank lines between blocks) tells how much of the traffic is due to
    that. Sent through `reply_b64=`, cut into the same number of chunks."""
    words = lorem(length // 4).split()  # more than enough: cut to `length` below
    blocks: list[str] = []
    for k, start in enumerate(range(0, len(words), 80)):
        paragraph = " ".join(words[start : start + 80])
        if k % 6 == 0:
            blocks.append(f"## Section {k // 6 + 1}")
        if k % 6 == 3:
            blocks.append("\n".join(f"- {paragraph[i : i + 70]}" for i in range(0, 280, 70)))
        elif k % 6 == 5:
            blocks.append(f"```python\nprint({paragraph[:60]!r})\n```")
        else:
            blocks.append(paragraph)
    return "\n\n".join(blocks)[:length]


def paragraphs_cell(length: int, chunks: int) -> str:
    encoded = base64.b64encode(paragraphs(length).encode()).decode().rstrip("=")
    return (
        f"%%gpt4o --no-cache -o _bench_reply\nAnswer. [[fake chunks={chunks} reply_b64={encoded}]]"
    )


def bare_cell(chunks: int) -> str:
    return BARE.format(model=MODEL, prompt=prompt(chunks))


@dataclass
class StreamingRuns:
    runs: int
    magic: dict[int, list[CellRun]] = field(default_factory=dict)
    bare: dict[int, list[CellRun]] = field(default_factory=dict)
    answer_bytes: dict[int, int] = field(default_factory=dict)
    """UTF-8 size of the final answer the magic stored."""
    paragraphs: list[CellRun] = field(default_factory=list)
    """The magic on a Markdown answer in paragraphs, as long, as many chunks."""

    def seconds(self, kind: str, chunks: int) -> float:
        runs = self.magic if kind == "magic" else self.bare
        return median([run.seconds for run in runs[chunks]])


@functools.cache
def collect(url: str, runs: int) -> StreamingRuns:
    """Run both cells `runs` times for each size, alternating, in one kernel."""
    result = StreamingRuns(runs)
    magic_checks = {
        "size": "len(_bench_reply.text.encode())",
        "outcome": "_bench_reply.outcome",
        "chunks": "_bench_reply.usage.completion_tokens",
    }
    bare_checks = {"size": "len(_bench_text.encode())", "chunks": "len(_bench_parts)"}
    with sandbox(url) as env, KernelSession(env) as kernel:
        kernel.run("%load_ext orjupyter")
        kernel.run(SETUP)
        kernel.run("%%gpt4o --no-cache\nWarm up. [[fake words=20]]")  # untimed
        kernel.run(bare_cell(200))
        for repetition in range(runs):
            log(f"  streaming in the kernel: repetition {repetition + 1} of {runs}")
            for chunks in SIZES:
                magic = kernel.run(magic_cell(chunks), magic_checks)
                bare = kernel.run(bare_cell(chunks), bare_checks)
                if magic.expression("outcome") != "'ok'":
                    raise RuntimeError(f"the magic's answer was {magic.expression('outcome')}")
                for run in (magic, bare):
                    if int(run.expression("chunks")) != chunks:
                        raise RuntimeError(f"expected {chunks} chunks: {run.reply}")
                if magic.expression("size") != bare.expression("size"):
                    raise RuntimeError("the magic and the bare loop got different answers")
                result.answer_bytes[chunks] = int(magic.expression("size"))
                result.magic.setdefault(chunks, []).append(magic)
                result.bare.setdefault(chunks, []).append(bare)
            small = SIZES[0]
            run = kernel.run(paragraphs_cell(result.answer_bytes[small], small), magic_checks)
            if int(run.expression("chunks")) != small or run.expression("outcome") != "'ok'":
                raise RuntimeError(f"the Markdown answer went wrong: {run.reply}")
            result.paragraphs.append(run)
    return result


def measure(runs: int, server: FakeServer) -> list[Row]:
    log(f"streaming: one kernel, {runs} repetitions of each size, alternating")
    data = collect(server.url, runs)
    small, large = SIZES
    ours, theirs = data.seconds("magic", small), data.seconds("bare", small)
    ratio = ours / theirs
    growth = data.seconds("magic", large) / ours
    bare_growth = data.seconds("bare", large) / theirs
    spread = [run.seconds for run in data.magic[small]]
    return [
        Row(
            f"Streaming {small:,} chunks, kernel + panel",
            f"{ms(ours)} ({small / ours:,.0f} chunks/s)",
            f"{ms(theirs)} ({small / theirs:,.0f} chunks/s, bare SDK loop)",
            f"{ratio:.2f}x",
            f"<= {TARGET_RATIO:.2f}x",
            ratio <= TARGET_RATIO,
            f"median of {runs}; magic {ms(min(spread))}-{ms(max(spread))}; "
            "baseline in the same kernel",
        ),
        Row(
            f"Streaming time, {large:,} vs {small:,} chunks",
            f"{growth:.2f}x ({ms(data.seconds('magic', large))})",
            f"{bare_growth:.2f}x (bare SDK loop)",
            f"{growth:.2f}x",
            f"~2x (<= {TARGET_GROWTH}x)",
            growth <= TARGET_GROWTH,
            f"medians of {runs}",
        ),
    ]
