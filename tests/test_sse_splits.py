"""However TCP cuts a valid OpenRouter SSE stream into writes, the call reads the same answer.

A raw-socket HTTP/1.1 server writes one recorded-shape stream (chunked transfer encoding)
in pieces that hypothesis chooses, pausing between writes: cuts land inside `\\r\\n`,
inside multi-byte UTF-8 characters, inside `data:` and inside the chunk-size lines. The
real `openai.AsyncOpenAI` client and orjupyter's `StreamedCall` read it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orjupyter.core.domain import TextPart
from orjupyter.core.request import CallOptions, build_request
from orjupyter.core.stream import StreamState
from orjupyter.service.call import StreamedCall

GEN_ID = "gen-1764031697-vqvW0uz7ouT4gsp3FYqp"
MODEL = "openai/gpt-4o-2024-11-20"
PIECES = ["Café ", "au lait, ", "漢字 ", "and 🎉🦀 ", "naïve—", "fin."]
TEXT = "".join(PIECES)
COST = "0.000123456789"
PROMPT_TOKENS, COMPLETION_TOKENS = 97, len(PIECES)
KEEPALIVE = b": OPENROUTER PROCESSING\n\n"


def _data(obj: object) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


def sse_body() -> bytes:
    envelope = {
        "id": GEN_ID,
        "provider": "OpenAI",
        "model": MODEL,
        "object": "chat.completion.chunk",
        "created": 1764031697,
    }
    events = [KEEPALIVE, KEEPALIVE]
    for index, piece in enumerate(PIECES):
        finish = "stop" if index == len(PIECES) - 1 else None
        choice = {
            "index": 0,
            "delta": {"role": "assistant", "content": piece},
            "finish_reason": finish,
            "native_finish_reason": finish,
            "logprobs": None,
        }
        events.append(
            _data({**envelope, "choices": [choice], "system_fingerprint": "fp_e819e3438b"})
        )
        if index == 2:
            events.append(KEEPALIVE)  # a slow provider thinking mid-answer
    usage = {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "cost": float(COST),
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0, "audio_tokens": 0},
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": 0.0000972,
            "upstream_inference_completions_cost": 0.000026256789,
        },
        "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": 0},
    }
    events.append(_data({**envelope, "choices": [], "usage": usage}))
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


BODY = sse_body()
HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"X-Generation-Id: " + GEN_ID.encode() + b"\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Connection: close\r\n"
    b"\r\n"
)


def framed(body: bytes, cuts: list[int]) -> bytes:
    """The body in HTTP chunks cut at `cuts`, then the last-chunk marker."""
    edges = [0, *sorted(set(cuts)), len(body)]
    out = b""
    for start, end in itertools.pairwise(edges):
        if end > start:
            out += b"%x\r\n%s\r\n" % (end - start, body[start:end])
    return out + b"0\r\n\r\n"


def interesting(data: bytes) -> list[int]:
    """Offsets inside `\\r\\n`, inside UTF-8 characters and inside `data:`."""
    offsets = set()
    for index in range(1, len(data)):
        if data[index - 1 : index + 1] == b"\r\n":
            offsets.add(index)
        if data[index] & 0xC0 == 0x80:  # a UTF-8 continuation byte
            offsets.add(index)
        if data[index - 1 : index + 1] == b"\n\n":
            offsets.add(index)
    start = data.find(b"data:")
    while start != -1:
        offsets.update(range(start + 1, start + 5))
        start = data.find(b"data:", start + 1)
    return sorted(offsets)


@st.composite
def cuts_in(draw: st.DrawFn, data: bytes) -> list[int]:
    anywhere = st.integers(1, len(data) - 1)
    tricky = st.sampled_from(interesting(data))
    return sorted(set(draw(st.lists(st.one_of(anywhere, tricky), max_size=40))))


@st.composite
def splits(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Where the body is cut into HTTP chunks, and where the wire is cut into writes."""
    chunk_cuts = draw(cuts_in(BODY))
    wire = HEAD + framed(BODY, chunk_cuts)
    return chunk_cuts, draw(cuts_in(wire))


class SplitServer:
    """Accepts one connection per call and writes a canned response in given pieces."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def serve_once(self, writes: list[bytes]) -> threading.Thread:
        thread = threading.Thread(target=self._serve, args=(writes,), daemon=True)
        thread.start()
        return thread

    def _serve(self, writes: list[bytes]) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(10)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.requests.append(_read_request(conn))
            pause = 0.0005 if len(writes) <= 100 else 0.0
            for piece in writes:
                conn.sendall(piece)
                time.sleep(pause)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(4096):  # until the client closes its end
                pass

    def close(self) -> None:
        self.listener.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
def server() -> Iterator[SplitServer]:
    split_server = SplitServer()
    yield split_server
    split_server.close()


def pieces_of(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


async def read_through_the_sdk(base_url: str) -> tuple[object, list[str]]:
    import openai

    seen: list[str] = []

    def on_text(state: StreamState) -> None:
        seen.append(state.text)

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-or-v1-fake", max_retries=0)
    try:
        call = StreamedCall(
            client=client,
            request=build_request([TextPart("hi")], CallOptions()),
            on_text=on_text,
            describe_error=lambda exc, *_: f"{type(exc).__name__}: {exc}",
        )
        result = await asyncio.wait_for(call.run(), timeout=20)
    finally:
        await client.close()
    return result, seen


def test_the_canned_stream_is_what_openrouter_sends():
    text = BODY.decode()
    assert text.startswith(": OPENROUTER PROCESSING\n\n")
    assert text.endswith("data: [DONE]\n\n")
    assert text.count('"role":"assistant"') == len(PIECES)
    assert '"choices":[],"usage"' in text
    assert f'"cost":{COST}' in text  # the JSON number reads back as exactly this decimal


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(split=splits())
@example(split=([], []))  # one chunk, one write
@example(split=(list(range(1, len(BODY))), []))  # one HTTP chunk per byte
@example(split=([], list(range(1, len(HEAD) + len(framed(BODY, []))))))  # one write per byte
def test_any_split_reads_the_same_answer(server, split):
    chunk_cuts, write_cuts = split
    wire = HEAD + framed(BODY, chunk_cuts)
    thread = server.serve_once(pieces_of(wire, write_cuts))
    result, seen = asyncio.run(read_through_the_sdk(server.base_url))
    thread.join(timeout=10)
    assert not thread.is_alive()

    assert result.error is None, result.error
    assert result.outcome == "ok"
    state = result.state
    assert state.text == TEXT
    assert state.id == GEN_ID
    assert state.model == MODEL
    assert state.usage is not None
    assert state.usage.prompt_tokens == PROMPT_TOKENS
    assert state.usage.completion_tokens == COMPLETION_TOKENS
    assert state.usage.cost == Decimal(COST)
    # the text only ever grew, and every snapshot is a prefix of the answer
    assert seen
    assert seen[-1] == TEXT
    assert all(TEXT.startswith(snapshot) for snapshot in seen)
    assert b"POST /api/v1/chat/completions " in server.requests[-1]
