"""A hostile OpenAI-compatible server on 127.0.0.1, for testing what a misbehaving server
(or a proxy in front of one) can do to a notebook. Not OpenRouter's manners: this one
reflects the key, bills absurd amounts, answers with the wrong kind of page, cuts streams
short and writes terminal escapes.

    with HostileRouter() as server:
        OpenAI(base_url=server.base_url, api_key="x")

or `python -m orjupyter.fakerouter.hostile --port 8766`, then
`OPENROUTER_BASE_URL=http://127.0.0.1:8766/api/v1` in the notebook's environment.

Put `[[hostile MODE key=value …]]` in the last user message to choose what it does:

- (nothing): a normal short streamed answer, billed `0.0001`.
- `reflect` (`status=401`): an error whose message and metadata reflect the request's
  `Authorization` header; `bare` reflects the key without `Bearer`.
- `reflect_midstream`: one piece of text, then a mid-stream error reflecting the header.
- `echo_key` (`split`): the answer contains the key (`split`: across two chunks);
  `envelope`: the key is the chunks' model, id and provider; `pieces=N`, `think`, and
  `costly=KIND`: see `hostile_text.py`.
- `html200`: HTTP 200 with an HTML login page.
- `json200`: HTTP 200 with a non-streaming JSON chat completion.
- `redirect`: 302 to a JSON page that is not a completion.
- `noblank`: SSE events separated by single newlines (never dispatched).
- `truncated`: text, then a clean end before a finish reason and usage.
- `length`: the answer ends with `finish_reason: "length"`.
- `cost=V`, `prompt_tokens=V`, `completion_tokens=V`: usage numbers written as given
  (`1e27`, `NaN`, `Infinity`, `-5`).
- `escapes`: an answer full of terminal control sequences.
- `slow_headers=S`: the response headers arrive one byte every S seconds.
- `bad_utf8`: an event that is not valid UTF-8.
- `huge=MB`: one event carrying MB megabytes of text.
- `deep_json=N`: the answer is JSON nested N deep (`[[[…]]]`), billed as usual.
- `served=NAME`: a normal answer whose chunks claim to come from model NAME.

Costs that rise, 429 storms, costs of a billion digits and lying `GET /generation`
answers: see `hostile_money` (`after=N then=V`, `storm=K`, `cost_text=V`, `delay=S`, `id=NAME`).

`GET /key` reflects the key in its label and reports a usage of 1e27 dollars.
`GET /models` lists the default model at its real price and `hostile/nan`,
`hostile/huge`, `hostile/router` (`"-1"`), `hostile/number-nan` and `hostile/digits`
(`"1E-999999999"`) with broken prices.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from orjupyter.core.settings import DEFAULT_MODEL
from orjupyter.fakerouter import hostile_text
from orjupyter.fakerouter.hostile_money import Bills, models, serve_generation, too_many_requests
from orjupyter.fakerouter.hostile_text import ESCAPES

__all__ = ["ESCAPES", "HostileRouter"]

API = "/api/v1"
DIRECTIVE = re.compile(r"\[\[hostile(?:\s+([^\]]*))?\]\]")


def _directive(body: dict[str, Any]) -> dict[str, str]:
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content", "")
    if isinstance(content, list):
        content = " ".join(str(part.get("text", "")) for part in content)
    values: dict[str, str] = {}
    for match in DIRECTIVE.finditer(str(content)):
        for token in (match.group(1) or "").split():
            name, _, value = token.partition("=")
            values[name] = value
    return values


class _Server(ThreadingHTTPServer):
    """The HTTP server, knowing the router its handlers record into."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], router: HostileRouter) -> None:
        super().__init__(address, _Handler)
        self.router = router


class HostileRouter:
    """The hostile server on a daemon thread; `requests` holds every chat body received."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.bills = Bills()
        self._server = _Server((host, port), self)
        self.host, self.port = host, self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}{API}"

    def start(self) -> HostileRouter:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def reset(self) -> None:
        """Forget requests and bills (between tests)."""
        self.requests.clear()
        self.bills.reset()

    def stop(self) -> None:
        self.bills.closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileRouter:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    gen_id = "gen-hostile-1"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    # --- plumbing -------------------------------------------------------------------

    def _raw(self, status: str, headers: dict[str, str], body: bytes = b"") -> None:
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.wfile.write(head.encode() + b"\r\n" + body)
        self.wfile.flush()

    def _json(self, body: object, status: str = "200 OK") -> None:
        data = json.dumps(body).encode()
        self._raw(
            status,
            {"Content-Type": "application/json", "Content-Length": str(len(data))},
            data,
        )

    def _start_stream(self) -> None:
        self._raw(
            "200 OK",
            {
                "Content-Type": "text/event-stream",
                "Transfer-Encoding": "chunked",
                "X-Generation-Id": self.gen_id,
            },
        )

    def _send(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, payload: str, end: bytes = b"\n\n") -> None:
        self._send(b"data: " + payload.encode() + end)

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(
        self,
        content: str | None,
        finish: str | None = None,
        usage: str | None = None,
        model: str = DEFAULT_MODEL,
    ) -> str:
        choices = (
            "[]"
            if content is None and finish is None
            else json.dumps(
                [{"index": 0, "delta": {"content": content or ""}, "finish_reason": finish}]
            )
        )
        usage_part = f', "usage": {usage}' if usage else ""
        return (
            '{"id": "' + self.gen_id + '", "model": ' + json.dumps(model) + ", "
            '"object": "chat.completion.chunk", "created": 1, '
            f'"choices": {choices}{usage_part}}}'
        )

    # --- requests -------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path.startswith(f"{API}/models"):
            self._json({"data": models()})
        elif self.path.startswith(f"{API}/key"):
            auth = self.headers.get("Authorization", "")
            self._json({"data": {"label": f"key for {auth}", "limit": None, "usage": 1e27}})
        elif self.path.startswith(f"{API}/generation"):
            query = parse_qs(urlsplit(self.path).query)
            router = cast(_Server, self.server).router
            serve_generation(self, router.bills, (query.get("id") or [""])[0])
        elif self.path.startswith("/elsewhere"):
            self._json({"status": "ok", "message": "Welcome to the portal"})
        else:
            self._json({"error": {"code": 404, "message": "not here"}}, "404 Not Found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        router = cast(_Server, self.server).router
        router.requests.append(body)
        values = _directive(body)
        auth = self.headers.get("Authorization", "")
        self.gen_id = f"gen-hostile-{values['id']}" if values.get("id") else "gen-hostile-1"
        retry_after = router.bills.refuse(values, json.dumps(body.get("messages")))
        if retry_after is not None:
            too_many_requests(self, retry_after)
            return
        for mode in (
            "costly",
            "reflect",
            "reflect_midstream",
            "echo_key",
            "html200",
            "json200",
            "redirect",
            "noblank",
            "truncated",
            "length",
            "escapes",
            "slow_headers",
            "bad_utf8",
            "huge",
            "deep_json",
            "served",
        ):
            if mode in values:
                getattr(self, f"_{mode}")(values, auth)
                return
        self._normal(values)

    def _usage(self, values: dict[str, str]) -> str:
        return (
            f'{{"prompt_tokens": {values.get("prompt_tokens", "12")}, '
            f'"completion_tokens": {values.get("completion_tokens", "3")}, '
            f'"total_tokens": 15, "cost": {cast(_Server, self.server).router.bills.cost(values)}}}'
        )

    def _normal(self, values: dict[str, str], text: str = "A fine answer.") -> None:
        self._start_stream()
        self._event(self._chunk(text))
        time.sleep(float(values.get("delay") or 0))
        self._event(self._chunk("", "stop"))
        self._event(self._chunk(None, usage=self._usage(values)))
        self._send(b"data: [DONE]\n\n")
        self._end()

    def _reflect(self, values: dict[str, str], auth: str) -> None:
        shown = auth.removeprefix("Bearer ") if "bare" in values else auth
        status = int(values.get("reflect") or 401)
        message = f"Invalid credentials for Authorization: {shown}"
        error = {"code": status, "message": message, "metadata": {"headers": dict(self.headers)}}
        self._json({"error": error}, f"{status} Refused")

    def _reflect_midstream(self, _values: dict[str, str], auth: str) -> None:
        self._start_stream()
        self._event(self._chunk("Partial "))
        error = {"code": 502, "message": f"upstream rejected {auth}", "metadata": {"raw": auth}}
        self._event(json.dumps({"id": "gen-hostile-1", "error": error, "choices": []}))
        self._end()

    def _streamed(self, values: dict[str, str], pieces: hostile_text.Pieces) -> None:
        """Reasoning pieces, then answer pieces, `delay` seconds apart; a client that
        goes away (Stop) ends it."""
        delay = float(values.get("delay") or 0)
        try:
            self._start_stream()
            for event in hostile_text.events(pieces, DEFAULT_MODEL):
                self._event(event)
                time.sleep(delay)
            self._event(self._chunk("", "stop"))
            self._event(self._chunk(None, usage=self._usage(values)))
            self._end()
        except OSError:
            return

    def _costly(self, values: dict[str, str], _auth: str) -> None:
        self._streamed(values, hostile_text.costly(values))

    def _echo_key(self, values: dict[str, str], auth: str) -> None:
        key = auth.removeprefix("Bearer ")
        if "pieces" in values:
            self._streamed(values, hostile_text.key_in_pieces(key, values))
            return
        self._start_stream()
        if "envelope" in values:
            choice = {"index": 0, "delta": {"content": "Fine. "}, "finish_reason": key}
            chunk = {"id": key, "model": key, "provider": key, "choices": [choice]}
            self._event(json.dumps(chunk))
        if "split" in values:
            half = len(key) // 2
            self._event(self._chunk(f"Your key is {key[:half]}"))
            self._event(self._chunk(f"{key[half:]} indeed."))
        else:
            self._event(self._chunk(f"Your key is {key} indeed."))
        self._event(self._chunk("", "stop"))
        self._event(self._chunk(None, usage=self._usage(values)))
        self._end()

    def _html200(self, _values: dict[str, str], _auth: str) -> None:
        page = b"<!doctype html><html><head><title>Hotel WiFi login</title></head>"
        page += b"<body>Log in</body></html>"
        self._raw("200 OK", {"Content-Type": "text/html", "Content-Length": str(len(page))}, page)

    def _json200(self, values: dict[str, str], _auth: str) -> None:
        self._json(
            {
                "id": "gen-hostile-json",
                "object": "chat.completion",
                "model": DEFAULT_MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Answered all at once."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": json.loads(self._usage(values)),
            }
        )

    def _redirect(self, _values: dict[str, str], _auth: str) -> None:
        self._raw("302 Found", {"Location": "/elsewhere", "Content-Length": "0"})

    def _noblank(self, values: dict[str, str], _auth: str) -> None:
        self._start_stream()
        self._event(self._chunk("Never "), b"\n")
        self._event(self._chunk("dispatched.", "stop"), b"\n")
        self._event(self._chunk(None, usage=self._usage(values)), b"\n")
        self._end()

    def _truncated(self, _values: dict[str, str], _auth: str) -> None:
        self._start_stream()
        self._event(self._chunk("The first half of an answer, "))
        self._event(self._chunk("and then"))
        self._end()

    def _length(self, values: dict[str, str], _auth: str) -> None:
        self._start_stream()
        self._event(self._chunk("An answer cut at max"))
        self._event(self._chunk("", "length"))
        self._event(self._chunk(None, usage=self._usage(values)))
        self._send(b"data: [DONE]\n\n")
        self._end()

    def _escapes(self, values: dict[str, str], _auth: str) -> None:
        self._normal(values, ESCAPES)

    def _slow_headers(self, values: dict[str, str], _auth: str) -> None:
        pause = float(values.get("slow_headers") or 1)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Padding: " + b"x" * 200
        try:
            for byte in head:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(pause)
        except OSError:
            return

    def _bad_utf8(self, values: dict[str, str], _auth: str) -> None:
        self._start_stream()
        self._event(self._chunk("Before "))
        self._send(
            b'data: {"id": "gen-hostile-1", "choices": [{"index": 0, "delta": '
            b'{"content": "\xff\xfe broken"}}]}\n\n'
        )
        self._event(self._chunk("", "stop"))
        self._event(self._chunk(None, usage=self._usage(values)))
        self._end()

    def _huge(self, values: dict[str, str], _auth: str) -> None:
        megabytes = float(values.get("huge") or 50)
        self._start_stream()
        self._event(self._chunk("x" * int(megabytes * 2**20)))
        self._event(self._chunk("", "stop"))
        self._event(self._chunk(None, usage=self._usage(values)))
        self._end()

    def _deep_json(self, values: dict[str, str], _auth: str) -> None:
        depth = int(values.get("deep_json") or 50_000)
        self._normal(values, "[" * depth + "]" * depth)

    def _served(self, values: dict[str, str], _auth: str) -> None:
        model = values.get("served") or "hostile/impostor"
        self._start_stream()
        self._event(self._chunk("An answer from elsewhere.", model=model))
        self._event(self._chunk("", "stop", model=model))
        self._event(self._chunk(None, usage=self._usage(values), model=model))
        self._send(b"data: [DONE]\n\n")
        self._end()


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted: `python -m orjupyter.fakerouter.hostile [--port N]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m orjupyter.fakerouter.hostile")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766, help="default: 8766")
    args = parser.parse_args(argv)
    router = HostileRouter(args.host, args.port).start()
    print(f"hostile server at {router.base_url} (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        router.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
