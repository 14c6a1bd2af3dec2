"""Where the stream path's own time goes, part by part, on the floor's answer: the 20,000
chunks (137 kB) of `[[fake chunks=20000]]`, parsed once by the real openai SDK from the
local server, then fed again and again to each part of ours in a fresh process (the
best of `runs` passes, round robin; each part's CPU time, so that other work on the
machine disturbs it least).

Per chunk: `StreamState.handle_chunk` with a key to hide (the redactor included); the
read loop around it (`StreamedCall._receive`, with no view); the panel's `on_text` and
its refreshes (the live `LiveAnswer` deltas and their widget messages, paced as a 3.3 s
stream would pace them). At the end: the reply (`to_reply`: the answer checked once more
for the key) and the final output (`transcript_bundle`: 137 kB of Markdown rendered and
sanitised, and its plain text). Beside each, the SDK's own time for the same stream: a
bare `async for` over it, reading each chunk's content, in the same process. The last
row renders a Markdown answer as long in paragraphs, headings, lists and code (the
floor's answer is one paragraph), for scale.
"""

from __future__ import annotations

from _common import Row, child, log, ms, sandbox

PARTS = """
import asyncio, json, sys, time
from dataclasses import replace
sys.path.insert(0, sys.argv[3])
import openai
from orjupyter.core.domain import Totals, Usage
from orjupyter.core.stream import StreamState
from orjupyter.jupyter.panel import Panel
from orjupyter.render.report import Exchange, transcript_bundle
from orjupyter.service.call import CallResult, StreamedCall, _Watchdog, to_reply
from streaming import paragraphs

url, runs = sys.argv[1], int(sys.argv[2])
KEY = "sk-or-v1-" + "9c4e1f7a2b8d3065a1f0e7c3b5d29648" * 2
cpu = time.thread_time  # our parts: this thread's CPU time, whatever else runs
STREAM_SECONDS = 3.3  # the kernel's 20,000-chunk stream: the panel refreshes at its pace
client = openai.AsyncOpenAI(base_url=url, api_key="sk-or-fake", max_retries=0)


async def sdk_stream():
    stream = await client.chat.completions.create(
        model="openai/gpt-4o-2024-11-20", stream=True,
        messages=[{"role": "user", "content": "Stream. [[fake chunks=20000]]"}],
    )
    return stream


async def bare_loop():
    start = time.perf_counter()
    parts = []
    async for chunk in await sdk_stream():
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return time.perf_counter() - start


async def collect():
    return [chunk async for chunk in await sdk_stream()]


class Replay:
    def __init__(self, chunks):
        self.chunks = chunks
        self.response = type("Response", (), {"headers": {"content-type": "text/event-stream"}})

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk


async def read(chunks, view=None):
    call = StreamedCall(client=None, request={}, on_text=lambda state: None,
                        describe_error=None, secrets=(KEY,))
    result = CallResult(StreamState(secrets=(KEY,)))
    if view is not None:
        view.clock = lambda: result.state.chunks * STREAM_SECONDS / len(chunks)
        call.on_text = view.on_text
    watchdog = _Watchdog(asyncio.current_task(), 600)
    start = cpu()
    await call._receive(Replay(chunks), result, watchdog, time.perf_counter())
    seconds = cpu() - start
    watchdog.cancel()
    return seconds, result


def panel():
    view = Panel("openai/gpt-4o-2024-11-20")
    view.build()
    view.handle = object()  # shown: it streams into its widgets
    return view


def timed(work):
    start = cpu()
    work()
    return cpu() - start


def bare(chunks):
    start = cpu()
    parts = []
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return cpu() - start


def handled(chunks):
    state = StreamState(secrets=(KEY,))
    start = cpu()
    for chunk in chunks:
        state.handle_chunk(chunk)
    state.release()
    return cpu() - start


async def replayed(chunks):
    start = cpu()
    parts = []
    async for chunk in Replay(chunks):
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return cpu() - start


async def main():
    sdk = min([await bare_loop() for _ in range(runs)])
    chunks = await collect()
    await client.close()
    _, result = await read(chunks)
    reply = to_reply(result, "openai/gpt-4o-2024-11-20", lambda state: Usage())
    long_reply = replace(reply, text=paragraphs(len(reply.text)))
    one, long = [Exchange(None, reply)], [Exchange(None, long_reply)]
    parts = {
        "bare": lambda: bare(chunks),
        "chunks": lambda: handled(chunks),
        "reply": lambda: timed(lambda: to_reply(result, "m", lambda state: Usage())),
        "final": lambda: timed(lambda: transcript_bundle(one, Totals())),
        "markdown": lambda: timed(lambda: transcript_bundle(long, Totals())),
    }
    loops = {
        "replay": lambda: replayed(chunks),
        "read": lambda: _first(read(chunks)),
        "panel": lambda: _first(read(chunks, panel())),
    }
    figures = {"sdk": [sdk]}
    for _ in range(runs):  # round robin: a busy moment of the machine spreads over all
        for name, work in parts.items():
            figures.setdefault(name, []).append(work())
        for name, loop in loops.items():
            figures.setdefault(name, []).append(await loop())
    return {name: min(values) for name, values in figures.items()}


async def _first(pair):
    return (await pair)[0]


print(json.dumps(asyncio.run(main())))
"""


def measure(runs: int, url: str) -> list[Row]:
    from _common import HERE

    log(f"stream parts: our work on the floor's 20,000 chunks, best of {runs}")
    with sandbox(url) as env:
        got = child(PARTS, url, str(runs), str(HERE), env=env, timeout=600)
    sdk = float(got["sdk"])

    def row(figure: str, seconds: float, note: str) -> Row:
        return Row(figure, ms(seconds), f"{ms(sdk)} (SDK stream)", f"{seconds / sdk:.1%}", "-",
                   None, note)  # fmt: skip

    chunks, replay, read, panel = (float(got[k]) for k in ("chunks", "replay", "read", "panel"))
    return [
        row("per chunk: the read loop, handle_chunk with the key", read - replay,
            f"best of {runs}; read loop {ms(read)} less a bare async loop over the same "
            f"chunks ({ms(replay)}); handle_chunk alone {ms(chunks)}"),
        row("per chunk: the panel's on_text and refreshes", panel - read,
            "paced as a 3.3 s stream: every 0.25 s a LiveAnswer delta and its message"),
        row("end: the reply (the key looked for once more)", float(got["reply"]), "to_reply"),
        row("end: the final output, rendered and sanitised", float(got["final"]),
            "transcript_bundle: HTML and plain text of the 137 kB answer"),
        row("end: the final output of a Markdown answer as long", float(got["markdown"]),
            "paragraphs, headings, lists and code (streaming.paragraphs), for scale"),
    ]  # fmt: skip
