"""A real ipykernel, driven the way a frontend drives it, with every iopub frame counted.

`KernelSession.run(code)` sends an execute_request and reads the raw ZMQ frames of the
iopub and shell sockets itself (not through jupyter_client's channel objects), so the
byte counts are those of the messages on the wire: identity, delimiter, HMAC signature,
header, parent header, metadata, content and buffers. Only messages whose parent is that
request are counted. The cell's time is from sending the execute_request to receiving
its execute_reply.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import zmq
from jupyter_client.manager import start_new_kernel


@dataclass
class Message:
    msg_type: str
    content: dict[str, Any]
    wire_bytes: int
    """All ZMQ frames of the message."""
    payload_bytes: int
    """The serialized content, metadata and buffers only."""
    received: float
    """Seconds after the execute_request was sent."""
    sent: datetime | None
    """The kernel's own timestamp (header date)."""
    raw: bytes = field(repr=False, default=b"")
    """The serialized content and buffers, to search."""


@dataclass
class CellRun:
    seconds: float
    status: str
    reply: dict[str, Any]
    messages: list[Message]

    @property
    def wire_bytes(self) -> int:
        return sum(m.wire_bytes for m in self.messages)

    @property
    def payload_bytes(self) -> int:
        return sum(m.payload_bytes for m in self.messages)

    def expression(self, name: str) -> str:
        """A user expression's value, as its text/plain repr."""
        value = self.reply.get("user_expressions", {}).get(name, {})
        if value.get("status") != "ok":
            raise RuntimeError(f"user expression {name!r} failed: {value}")
        return str(value["data"]["text/plain"])

    def first(self, marker: bytes) -> float | None:
        """When the first iopub message carrying `marker` arrived (seconds after sending)."""
        return next((m.received for m in self.messages if marker in m.raw), None)


class KernelSession:
    """One ipykernel (this interpreter's `python3` kernel) with the given environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.manager, self.client = start_new_kernel(
            kernel_name="python3",
            env=env,
            cwd=env.get("BENCH_FOLDER"),
            startup_timeout=120,
            stderr=subprocess.DEVNULL,  # ipykernel warns about TCP; failures reach the reply
        )
        self.iopub = self.client.iopub_channel.socket
        self.shell = self.client.shell_channel.socket
        check = self.run("import sys", user_expressions={"prefix": "sys.prefix"})
        if check.expression("prefix") != repr(sys.prefix):
            raise RuntimeError(f"the kernel runs in {check.expression('prefix')}, not {sys.prefix}")

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)

    def __enter__(self) -> KernelSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _read(self, socket: zmq.Socket[bytes]) -> tuple[list[bytes], dict[str, Any]]:
        frames = socket.recv_multipart(copy=True)
        _identities, parts = self.client.session.feed_identities(frames, copy=True)
        return frames, self.client.session.deserialize(parts, content=True, copy=True)

    def run(
        self,
        code: str,
        user_expressions: dict[str, str] | None = None,
        timeout: float = 600,
        check: bool = True,
    ) -> CellRun:
        while self.iopub.poll(0):  # leftovers of earlier cells are not this cell's traffic
            self.iopub.recv_multipart()
        poller = zmq.Poller()
        poller.register(self.iopub, zmq.POLLIN)
        poller.register(self.shell, zmq.POLLIN)
        start = time.perf_counter()
        msg_id = self.client.execute(code, user_expressions=user_expressions or {})
        reply: dict[str, Any] | None = None
        seconds = 0.0
        idle = False
        messages: list[Message] = []
        deadline = start + timeout
        while reply is None or not idle:
            ready = dict(poller.poll(max(1, int((deadline - time.perf_counter()) * 1000))))
            if not ready:
                raise TimeoutError(f"no execute_reply within {timeout} s for {code[:60]!r}")
            if self.shell in ready:
                _frames, message = self._read(self.shell)
                if message["parent_header"].get("msg_id") == msg_id:
                    seconds = time.perf_counter() - start
                    reply = message
            if self.iopub in ready:
                received = time.perf_counter() - start
                frames, message = self._read(self.iopub)
                if message["parent_header"].get("msg_id") != msg_id:
                    continue
                wire = sum(len(frame) for frame in frames)
                delimiter = frames.index(b"<IDS|MSG>")
                payload = sum(len(frame) for frame in frames[delimiter + 4 :])  # md, content, bufs
                date = message["header"].get("date")
                messages.append(
                    Message(
                        message["msg_type"],
                        message["content"],
                        wire,
                        payload,
                        received,
                        date if isinstance(date, datetime) else None,
                        b"".join(frames[delimiter + 5 :]),
                    )
                )
                if (
                    message["msg_type"] == "status"
                    and message["content"].get("execution_state") == "idle"
                ):
                    idle = True
        status = str(reply["content"].get("status"))
        if check and status != "ok":
            error = reply["content"]
            raise RuntimeError(f"cell failed: {error.get('ename')}: {error.get('evalue')}")
        return CellRun(seconds, status, reply["content"], messages)
