"""A fake OpenRouter on 127.0.0.1: run notebooks and tests without a key or a bill.

    python -m orjupyter.fakerouter [--port 8765] [--delay 0.05] [--require-key KEY]

or in Python: ``with FakeRouter() as router: OpenAI(base_url=router.base_url, api_key="x")``.

It speaks OpenRouter's wire format: `POST
/api/v1/chat/completions` (streamed SSE with keepalive comments, usage chunk with
`choices: []` and `cost`, `[DONE]`; or plain JSON), `GET /api/v1/models`, `/api/v1/key`,
`/api/v1/generation?id=…`. For inspection from another process: `GET /_fake/requests`,
`/_fake/events`, `/_fake/billed`, `POST /_fake/reset`, `POST /_fake/release`.

The default answer describes what arrived (one list item per part of the last user
message, then `System: N characters` and `History: N messages` lines when relevant).
Put `[[fake key=value flag …]]` in the last user message to script it:
`reply=A_B` / `reply_b64=…`, `words=N`, `chunks=N`, `delay=S`, `first_delay=S`,
`status=CODE` (+ `retry_after=S`, `fail_times=N`), `midstream_error_after=N`,
`drop_after=N`, `stall_after=N`, `hold_after=N`, `malformed_after=N`, `html_error=CODE`, `no_cost`,
`no_usage`, `think_words=N`, `cite_b64=…` (base64 of a JSON list of citations),
`not_json=N`, `off_schema=N` (the first N attempts at a JSON answer fail)
(docs/local-server.md says what each does). Token counting is described in
`orjupyter.fakerouter.script`; reasoning, web search, PDF files, prompt caching and
`session_id` in `orjupyter.fakerouter.features`. `GET /generation` knows a generation
`generation_delay` seconds after it ended (finished, failed, or cancelled by the client:
then billed for what was generated before the cancel).

Streams use HTTP/1.1 chunked transfer encoding: each SSE event is written and flushed as
one chunk, and a dropped connection is an error to the client, not a clean end.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import secrets
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from orjupyter.fakerouter import features, structured, tools
from orjupyter.fakerouter.script import (
    DIRECTIVE,
    JSON,
    MODELS,
    Directives,
    FakeModel,
    Generation,
    Received,
    RequestError,
    analyse,
    answer_text,
    check_params,
    dumps,
    error_body,
    key_info,
    parse_directives,
    part_description,
    split_pieces,
    status_error,
    summarize_body,
)

__all__ = ["FakeRouter", "RecordedRequest", "main"]

API = "/api/v1"
KEEPALIVE = b": OPENROUTER PROCESSING\n\n"
_SECRET_HEADERS = ("authorization", "x-api-key", "api-key", "cookie")


@dataclass(frozen=True)
class RecordedRequest:
    """One chat request as received; header names are lower-case and no key is kept."""

    path: str
    headers: dict[str, str]
    body: JSON
    generation_id: str | None
    received_at: float = 0.0  # time.time() when it arrived

    def to_json(self) -> JSON:
        """The shape `GET /_fake/requests` serves: `data:` images become `_summary`."""
        body = summarize_body(self.body)
        gen_id = self.generation_id
        return {"path": self.path, "headers": self.headers, "body": body, "generation_id": gen_id}


class _ClientGone(Exception):
    """The client closed its end while we were answering."""


class _Stopping(Exception):
    """The server is shutting down."""


class _Ended(Exception):
    """A scripted fault ended the response early."""


class _HtmlError(Exception):
    """`html_error=CODE`: answer like a proxy in front of OpenRouter would."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class FakeRouter:
    """An OpenRouter-compatible HTTP server on a daemon thread. State lives in the instance."""

    keepalive_interval: float = 1.0  # seconds between `: OPENROUTER PROCESSING` comments
    generation_delay: float = 0.3  # seconds before `GET /generation` knows a generation
    log_requests: bool = False  # the CLI turns this on

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        delay: float = 0.0,
        require_key: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.delay = delay
        self._require_key = require_key
        self.requests: list[RecordedRequest] = []
        self.events: list[dict[str, object]] = []
        self.fingerprint = f"fp_{secrets.token_hex(5)}"
        self._billed: list[JSON] = []
        self._generations: dict[str, tuple[float, JSON]] = {}
        self._prefixes: set[str] = set()
        self._charged = Decimal(0)
        self._charges: list[tuple[datetime, Decimal]] = []
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._released = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeRouter:
        """Bind (port 0 picks a free one) and serve on a daemon thread."""
        self._stopping.clear()
        server = _Server((self.host, self.port), _Handler)
        server.router = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = f"fakerouter-{self.port}"
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open streams and close every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 2.0
        while self._connections and time.monotonic() < deadline:
            time.sleep(0.01)
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeRouter:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self.port == 0:
            raise RuntimeError("FakeRouter is not started: call start() first")
        return f"http://{self.host}:{self.port}{API}"

    # --- state ------------------------------------------------------------------------

    def open_connections(self) -> int:
        """Client connections the server holds open right now."""
        with self._lock:
            return len(self._connections)

    def billed(self) -> list[dict[str, object]]:
        """The usage objects actually sent to clients, in order."""
        with self._lock:
            return [dict(u) for u in self._billed]

    def reset(self) -> None:
        """Forget requests, events, bills, generations and `fail_times` counters."""
        with self._lock:
            self.requests.clear()
            self.events.clear()
            self._billed.clear()
            self._generations.clear()
            self._prefixes.clear()
            self._failures.clear()
            self._charged = Decimal(0)
            self._charges.clear()
        self._released.clear()

    def release(self) -> None:
        """Let every stream held by `hold_after=N` go on (and any held later)."""
        self._released.set()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _event(self, name: str, gen_id: str | None, **fields: object) -> None:
        with self._lock:
            self.events.append({"event": name, "id": gen_id, **fields, "time": time.time()})

    def _should_fail(self, directives: Directives) -> bool:
        """`status=` fails always, or only the first `fail_times` requests with this text."""
        if directives.fail_times is None:
            return True
        with self._lock:
            seen = self._failures.get(directives.source, 0)
            self._failures[directives.source] = seen + 1
        return seen < directives.fail_times

    def _complete(self, gen: Generation, usage: JSON | None) -> None:
        """Book a finished generation: charge it, remember it, record the usage sent."""
        self._book(gen)
        with self._lock:
            if usage is not None:
                self._billed.append(usage)
        chunks = len(gen.pieces)
        self._event("completed", gen.id, chunks=chunks, finish_reason=gen.finish_reason)

    def _book(self, gen: Generation, *, cancelled: bool = False, finish: str | None = None) -> None:
        """Charge what was generated; `GET /generation` knows it after `generation_delay`."""
        record = gen.record(cancelled=cancelled, finish_reason=finish)
        with self._lock:
            if gen.id in self._generations:  # booked already (the client left at the end)
                return
            self._charged += gen.cost
            self._charges.append((datetime.now(timezone.utc), gen.cost))
            self._generations[gen.id] = (time.monotonic() + self.generation_delay, record)

    def _cache_prompt(self, model: str, messages: list[JSON], received: Received) -> int:
        """Cached prompt tokens for these messages; remember their prefixes for later."""
        keys = features.prefix_keys(model, messages)
        with self._lock:
            cached = features.cached_tokens(keys, list(received.message_tokens), self._prefixes)
            self._prefixes.update(keys)
        return cached

    def _key_info(self, key: str) -> JSON:
        """The key's usage in all and this UTC day, week (from Monday) and month."""
        now = datetime.now(timezone.utc)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        starts = (day, day - timedelta(days=day.weekday()), day.replace(day=1))
        with self._lock:
            daily, weekly, monthly = (
                sum((cost for when, cost in self._charges if when >= start), Decimal(0))
                for start in starts
            )
            return key_info(key, self._charged, daily=daily, weekly=weekly, monthly=monthly)

    def _check_key(self, authorization: str) -> str:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise RequestError(401, "No auth credentials found")
        if self._require_key is not None and not secrets.compare_digest(
            key.strip().encode(), self._require_key.encode()
        ):
            raise RequestError(401, "User not found.")
        return key.strip()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # many clients connect at once (a --map run, a benchmark)
    router: FakeRouter


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakerouter/1"

    @property
    def router(self) -> FakeRouter:
        return cast(_Server, self.server).router

    def setup(self) -> None:
        super().setup()
        with self.router._lock:
            self.router._connections.add(self.connection)

    def finish(self) -> None:
        with self.router._lock:
            self.router._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        if self.router.log_requests:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    # --- routing ----------------------------------------------------------------------

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        routes = {
            f"{API}/models": lambda: {"data": [m.to_wire() for m in MODELS.values()]},
            f"{API}/key": lambda: {"data": self.router._key_info(self._key())},
            f"{API}/generation": lambda: self._generation(parse_qs(url.query)),
            "/_fake/requests": lambda: [r.to_json() for r in list(self.router.requests)],
            "/_fake/events": lambda: list(self.router.events),
            "/_fake/billed": self.router.billed,
        }
        self._route(routes.get(url.path.rstrip("/")))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        body = self._read_body()
        if path == f"{API}/chat/completions":
            self._chat(body)
            return
        actions = {"/_fake/reset": self.router.reset, "/_fake/release": self.router.release}
        if path in actions:
            actions[path]()
        self._route((lambda: {"ok": True}) if path in actions else None)

    def _route(self, answer: Any) -> None:
        try:
            if answer is None:
                raise RequestError(404, f"Not Found: {self.command} {self.path}")
            self._send_json(200, answer())
        except RequestError as err:
            self._send_error(err)

    def _key(self) -> str:
        return self.router._check_key(self.headers.get("Authorization", ""))

    def _generation(self, query: dict[str, list[str]]) -> JSON:
        self._key()
        gen_id = (query.get("id") or [""])[0]
        with self.router._lock:
            ready, record = self.router._generations.get(gen_id, (0.0, None))
        if record is None or time.monotonic() < ready:
            raise RequestError(404, f"Generation {gen_id} not found")
        return {"data": record}

    # --- plain responses --------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_bytes(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _send_json(self, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, dumps(obj), "application/json", headers)

    def _send_error(self, err: RequestError, headers: dict[str, str] | None = None) -> None:
        self._send_json(err.status, error_body(err), headers)

    def _send_html(self, status: int) -> None:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        page = f"<html><body><h1>{status} {phrase}</h1></body></html>".encode()
        self._send_bytes(status, page, "text/html; charset=utf-8")

    # --- chat -------------------------------------------------------------------------

    def _masked_headers(self) -> dict[str, str]:
        headers = {k.lower(): v for k, v in self.headers.items()}
        for name in _SECRET_HEADERS:
            if name in headers:
                headers[name] = "Bearer ***" if name == "authorization" else "***"
        return headers

    def _chat(self, raw: bytes) -> None:
        try:
            parsed = json.loads(raw or b"null")
        except ValueError:
            parsed = None
        body: JSON = parsed if isinstance(parsed, dict) else {}
        try:
            gen = self._prepare(body, parsed)
        except RequestError as err:
            self._record(body, None)
            self._send_error(err, err.headers)
            return
        except _HtmlError as html:
            self._record(body, None)
            self._send_html(html.status)
            return
        self._record(body, gen.id)
        _Answer(self, gen).run()

    def _record(self, body: JSON, gen_id: str | None) -> None:
        request = RecordedRequest(self.path, self._masked_headers(), body, gen_id, time.time())
        self.router._record(request)

    def _prepare(self, body: JSON, parsed: object) -> Generation:
        """Check the request and script its answer; raise RequestError to refuse it."""
        self._key()
        if not isinstance(parsed, dict):
            raise RequestError(400, "Invalid JSON body: expected an object")
        model = check_params(body)
        received = analyse(body.get("messages"))
        if received.has_images and not model.sees_images:
            raise RequestError(404, "No endpoints found that support image input")
        directives = parse_directives(received.last_user_text)
        self._scripted_failure(directives, model, received)
        calls = self._tool_calls(body, directives)
        text = answer_text(directives, received)
        if directives.reply is None and directives.words is None and directives.chunks is None:
            text = tools.text_after_tools(body["messages"], part_description) or text
        text = self._structured(body, directives, text)

        pieces = [] if calls else split_pieces(text, directives.chunks)
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        finish = "tool_calls" if calls else "stop"
        if isinstance(limit, int) and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        stream = body.get("stream") is True
        gen = Generation(
            model, received, directives, pieces, finish, stream, self.router.fingerprint
        )
        gen.tool_calls = calls
        self._extras(gen, body)
        return gen

    def _structured(self, body: JSON, d: Directives, text: str) -> str:
        """JSON that fits the request's `response_format`, or fails as the question's
        `not_json=`/`off_schema=` say for this attempt (`structured`)."""
        asked = parse_directives(structured.question_text(body["messages"]))
        scripted = d.reply is not None or d.words is not None or d.chunks is not None
        return structured.structured_answer(
            body, text, scripted=scripted, not_json=asked.not_json, off=asked.off_schema
        )

    def _tool_calls(self, body: JSON, d: Directives) -> list[tools.PlannedCall]:
        """The functions this round calls (`tools.plan`); a bad script is a 400."""
        try:
            return tools.plan(
                body,
                call=d.call,
                args_b64=d.args_b64,
                calls_b64=d.calls_b64,
                loop_forever=d.loop_forever,
                call_unoffered=d.call_unoffered,
                unscripted=d.reply is None and d.words is None and d.chunks is None,
            )
        except tools.ToolScriptError as err:
            raise RequestError(400, str(err)) from err

    def _extras(self, gen: Generation, body: JSON) -> None:
        """Reasoning, web search, PDF parsing, prompt caching and the session id."""
        d, received = gen.directives, gen.received
        try:
            words = features.reasoning_words(body, d.think_words) if gen.model.reasons else 0
            search = features.web_search(body, d.searches)
            answer_length = len("".join(gen.pieces))
            if search.results or d.cite_b64:
                gen.annotations = features.citations(
                    search.results,
                    DIRECTIVE.sub("", received.last_user_text)[:60],
                    answer_length,
                    d.cite_b64,
                )
        except features.FeatureError as err:
            raise RequestError(400, str(err)) from err
        gen.reasoning = features.reasoning_pieces(words)
        gen.web_searches = search.searches
        gen.extra_cost = features.WEB_RESULT_PRICE * search.results
        gen.extra_cost += features.ocr_cost(features.pdf_engine(body), received.pages)
        gen.cached = self.router._cache_prompt(gen.model.id, body["messages"], received)
        session = body.get("session_id") or self.headers.get("x-session-id")
        gen.session_id = str(session) if session else None

    def _scripted_failure(self, d: Directives, model: FakeModel, received: Received) -> None:
        if d.html_error is not None:
            raise _HtmlError(d.html_error)
        if d.status is not None and self.router._should_fail(d):
            err = status_error(d.status, model.id, received)
            if d.status == 429 or d.retry_after is not None:
                err.headers["Retry-After"] = d.retry_after or "1"
            self.router._event("error", None, status=d.status, message=err.message)
            raise err


class _Answer:
    """Writes one chat answer: an SSE stream or a JSON completion, with scripted faults."""

    def __init__(self, handler: _Handler, gen: Generation) -> None:
        self.handler = handler
        self.router = handler.router
        self.gen = gen
        self.d = gen.directives
        self.delay = self.router.delay if self.d.delay is None else self.d.delay
        self.sent = 0
        self.last_write = time.monotonic()

    def run(self) -> None:
        try:
            self._stream() if self.gen.stream else self._respond()
        except _ClientGone:
            self.router._event("client_disconnected", self.gen.id, after_chunks=self.sent)
            self.router._book(self.gen, cancelled=True, finish="cancelled")
            self.handler.close_connection = True
        except _Stopping:
            self.router._event("server_stopped", self.gen.id, after_chunks=self.sent)
            self.handler.close_connection = True
        except _Ended:
            pass

    # --- waiting ----------------------------------------------------------------------

    def _client_gone(self, timeout: float) -> bool:
        """Wait up to `timeout` for the client to close its end; True if it did."""
        sock = self.handler.connection
        readable, _, _ = select.select([sock], [], [], timeout)
        if not readable:
            return False
        try:
            if sock.recv(1, socket.MSG_PEEK) == b"":
                return True
        except OSError:
            return True
        time.sleep(timeout)  # the client sent something: not a close
        return False

    def _pause(self, seconds: float, *, keepalive: bool) -> None:
        """Sleep, sending keepalive comments when streaming; notice a client going away."""
        deadline = time.monotonic() + seconds
        interval = self.router.keepalive_interval
        while (now := time.monotonic()) < deadline:
            if self.router._stopping.is_set():
                raise _Stopping
            if keepalive and now - self.last_write >= interval:
                self._write(KEEPALIVE)
                continue
            wake = min(deadline, self.last_write + interval) if keepalive else deadline
            if self._client_gone(max(0.0, min(wake - now, 0.05))):
                raise _ClientGone

    # --- wire -------------------------------------------------------------------------

    def _write(self, event: bytes, *, end: bool = False) -> None:
        frame = b"%x\r\n%s\r\n" % (len(event), event) if event else b""
        try:
            self.handler.wfile.write(frame + (b"0\r\n\r\n" if end else b""))
        except OSError as err:
            raise _ClientGone from err
        self.last_write = time.monotonic()

    def _data(self, obj: object) -> bytes:
        return b"data: " + dumps(obj) + b"\n\n"

    # --- streaming --------------------------------------------------------------------

    def _stream(self) -> None:
        h = self.handler
        h.send_response(200)
        for name, value in (
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
            ("X-Generation-Id", self.gen.id),
            ("Transfer-Encoding", "chunked"),
        ):
            h.send_header(name, value)
        h.end_headers()
        self._write(KEEPALIVE)
        self._pause(self.d.first_delay, keepalive=True)
        self.gen.sent_reasoning, self.gen.sent_pieces = 0, 0
        for index in range(len(self.gen.reasoning)):
            self._pause(self.delay, keepalive=True)
            self._write(self._data(self.gen.reasoning_chunk(index)))
            self.gen.sent_reasoning = index + 1
        for index in range(len(self.gen.pieces)):
            self._fault(index)
            if index == self.d.hold_after:
                self._hold()
            self._pause(self.delay, keepalive=True)
            self._write(self._data(self.gen.chunk(index)))
            self.gen.first_chunk = self.gen.first_chunk or time.monotonic()
            self.sent += 1
            self.gen.sent_pieces = self.sent
        self._fault(len(self.gen.pieces))
        self._stream_tool_calls()
        usage = self.gen.usage()
        self.router._complete(self.gen, usage)
        tail = self._data(self.gen.usage_chunk(usage)) if usage else b""
        self._write(tail + b"data: [DONE]\n\n", end=True)

    def _stream_tool_calls(self) -> None:
        """A round's function calls: each call's name first, then its arguments in pieces."""
        if not self.gen.tool_calls:
            return
        self.gen.sent_tools = 0
        for index in range(len(self.gen.tool_deltas)):
            self._pause(self.delay, keepalive=True)
            self._write(self._data(self.gen.tool_chunk(index)))
            self.gen.first_chunk = self.gen.first_chunk or time.monotonic()
            self.gen.sent_tools = index + 1

    def _fault(self, index: int) -> None:
        """Run the scripted fault due after `index` content chunks, if any."""
        d, n = self.d, len(self.gen.pieces)
        due = {
            name: after
            for name, after in (
                ("midstream_error", d.midstream_error_after),
                ("dropped", d.drop_after),
                ("stalled", d.stall_after),
                ("malformed", d.malformed_after),
            )
            if after is not None and min(after, n) == index
        }
        if not due:
            return
        name = next(iter(due))
        self.router._event(name, self.gen.id, after_chunks=self.sent)
        if name != "stalled":  # a stalled stream is booked when the client gives up
            self.router._book(self.gen, finish="error")
        getattr(self, f"_fault_{name}")()
        raise _Ended

    def _fault_midstream_error(self) -> None:
        self._write(self._data(self.gen.error_chunk()), end=True)

    def _fault_dropped(self) -> None:
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)

    def _hold(self) -> None:
        """`hold_after=N`: keepalives after N chunks until `FakeRouter.release()`."""
        self.router._event("held", self.gen.id, after_chunks=self.sent)
        while not self.router._released.is_set():
            self._pause(0.05, keepalive=True)

    def _fault_stalled(self) -> None:
        while True:
            self._pause(3600.0, keepalive=True)

    def _fault_malformed(self) -> None:
        self._write(b"data: {not json\n\n", end=True)

    # --- plain JSON -------------------------------------------------------------------

    def _respond(self) -> None:
        pieces = self.gen.pieces
        self._pause(self.d.first_delay + self.delay * len(pieces), keepalive=False)
        faults = (self.d.midstream_error_after, self.d.drop_after, self.d.stall_after)
        if any(f is not None for f in faults) or self.d.malformed_after is not None:
            self._respond_fault()
        usage = self.gen.usage()
        self.router._complete(self.gen, usage)
        completion = self.gen.completion(usage)
        self.handler._send_json(200, completion, {"X-Generation-Id": self.gen.id})

    def _respond_fault(self) -> None:
        d = self.d
        if d.midstream_error_after is not None:
            self.router._event("midstream_error", self.gen.id, after_chunks=0)
            err = RequestError(502, "Provider returned error", {"provider_name": "OpenAI"})
            self.handler._send_error(err)
        elif d.drop_after is not None:
            self.router._event("dropped", self.gen.id, after_chunks=0)
            self._fault_dropped()
        elif d.stall_after is not None:
            self.router._event("stalled", self.gen.id, after_chunks=0)
            self._pause(float("inf"), keepalive=False)
        else:
            self.router._event("malformed", self.gen.id, after_chunks=0)
            self.handler._send_bytes(200, b"{not json", "application/json")
        raise _Ended


# --- command line ---------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


DEFAULT_PORT = 8765
HUMAN_DELAY = 0.05
"""The command line's seconds per streamed word: about 20 words a second, so a person sees the
answer stream. `FakeRouter` itself (tests, benchmarks) answers at once unless told."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orjupyter.fakerouter",
        description="A local OpenRouter-compatible server: no key, no bill. "
        "`[[fake …]]` in a prompt scripts its answer: see docs/local-server.md.",
    )
    parser.add_argument("--host", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"default: {DEFAULT_PORT}; 0 picks a free one",
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=HUMAN_DELAY,
        metavar="SECONDS",
        help=f"pause before each streamed word (default: {HUMAN_DELAY}, about the pace of a "
        "real model); 0 answers at once",
    )
    parser.add_argument("--require-key", metavar="KEY", help="accept only this API key")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    if args.delay < 0:
        parser.error("--delay cannot be negative")
    host = args.host or "127.0.0.1"
    if not _is_loopback(host):
        print(f"warning: serving the fake OpenRouter on non-loopback {host}", file=sys.stderr)
    router = FakeRouter(host, args.port, delay=args.delay, require_key=args.require_key)
    router.log_requests = not args.quiet
    router.start()
    key = args.require_key or "sk-or-fake"
    pace = f"one word every {args.delay:g} s" if args.delay else "at once (--delay 0)"
    try:  # from the first line printed on, Ctrl+C stops it quietly
        print(f"Fake OpenRouter listening on {router.base_url}", flush=True)
        print(f"export OPENROUTER_BASE_URL={router.base_url} OPENROUTER_API_KEY={key}", flush=True)
        print(f"Answers stream {pace}.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        router.stop()
    return 0
