"""The hostile server's money: broken prices, costs that rise, 429 storms, costs of a
billion digits, and `GET /generation` answers that lie, swell or hang.

Directives (in `[[hostile …]]`, beside `cost=V`):

- `cost_text=V`: the cost written as a JSON string (`"1E-999999999"`: finite, in range,
  and a billion digits long when written out).
- `after=N then=V`: once the server has billed N answers, every later one costs V (costs
  that rise after a cheap start, whatever order the rows are sent in).
- `storm=K` (`retry_after=S`, default 0.05): each distinct question is refused K times with
  a 429 and `Retry-After: S` before it is answered.
- `delay=S`: the answer takes S seconds (rows overlap in flight).
- `id=NAME`: the stream's generation id is `gen-hostile-NAME`.

`GET /generation?id=gen-hostile-MODE-…` answers by MODE: `ok` (a true bill of $0.05),
`other` (another call's data: a different id, 99,999 + 88,888 tokens, $7.77), `bill`
($9,999.99), `digits` (`"1E-999999999"`), `big` (a true bill padded to 50 MB; the bytes
actually sent are in `generation_sent`), `slow` (a true bill after 30 s, or when the server
stops). Any other id is not found (404).
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

from orjupyter.core.settings import DEFAULT_MODEL

GENERATION_BILL = "0.05"
BIG_GENERATION = 50 * 2**20
SLOW_GENERATION = 30.0


def models() -> list[dict[str, Any]]:
    """`GET /models`: the default model at its real price, and broken prices."""

    def entry(slug: str, prompt: Any, completion: Any) -> dict[str, Any]:
        return {
            "id": slug,
            "name": slug,
            "context_length": 128_000,
            "architecture": {"input_modalities": ["text"]},
            "top_provider": {"max_completion_tokens": 16_384},
            "pricing": {"prompt": prompt, "completion": completion, "request": "0"},
        }

    return [
        entry(DEFAULT_MODEL, "0.0000025", "0.00001"),
        entry("hostile/nan", "NaN", "NaN"),
        entry("hostile/huge", "1e300", "1e300"),
        entry("hostile/router", "-1", "-1"),
        entry("hostile/number-nan", float("nan"), float("inf")),
        entry("hostile/digits", "1E-999999999", "1E-999999999"),
    ]


class Bills:
    """What the hostile server billed, per router: reset between tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.closing = threading.Event()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.billed: list[Decimal] = []
            """Each answer's cost as sent (a cost that is not a number counts 0)."""
            self.refusals: dict[str, int] = {}
            self.generation_asked: list[str] = []
            """Every id `GET /generation` was asked about, in order."""
            self.generation_sent: dict[str, int] = {}
            """Generation id → bytes of its `GET /generation` body written before the
            client hung up (or all of them)."""

    def refuse(self, values: dict[str, str], question: str) -> float | None:
        """`storm=K`: the Retry-After (seconds) while this question is still refused."""
        times = int(values.get("storm") or 0)
        with self._lock:
            seen = self.refusals.get(question, 0)
            self.refusals[question] = seen + 1
        return float(values.get("retry_after") or 0.05) if seen < times else None

    def cost(self, values: dict[str, str]) -> str:
        """The JSON text of this answer's cost (and remember it as billed)."""
        with self._lock:
            rising = "then" in values and len(self.billed) >= int(values.get("after") or 0)
            text = values["then"] if rising else values.get("cost", "0.0001")
            if "cost_text" in values and not rising:
                text = json.dumps(values["cost_text"])
            try:
                self.billed.append(Decimal(text.strip('"')))
            except ArithmeticError:
                self.billed.append(Decimal(0))
        return text


def generation_record(gen_id: str) -> dict[str, Any] | None:
    """What `GET /generation` says of `gen_id` (before any padding), or None (404)."""
    mode = gen_id.removeprefix("gen-hostile-").split("-")[0]
    true = {"id": gen_id, "total_cost": float(GENERATION_BILL), "tokens_prompt": 12,
            "tokens_completion": 40, "cancelled": True}  # fmt: skip
    records: dict[str, dict[str, Any]] = {
        "ok": true,
        "big": true,
        "slow": true,
        "other": {
            "id": "gen-someone-else",
            "total_cost": 7.77,
            "tokens_prompt": 99_999,
            "tokens_completion": 88_888,
        },
        "bill": {**true, "total_cost": 9999.99},
        "digits": {**true, "total_cost": "1E-999999999"},
    }
    return records.get(mode) if gen_id.startswith("gen-hostile-") else None


def serve_generation(handler: Any, bills: Bills, gen_id: str) -> None:
    """Answer `GET /generation` on `handler` (the hostile server's request handler)."""
    with bills._lock:
        bills.generation_asked.append(gen_id)
    record = generation_record(gen_id)
    if record is None:
        handler._json({"error": {"code": 404, "message": "not found"}}, "404 Not Found")
        return
    if gen_id.startswith("gen-hostile-slow"):
        bills.closing.wait(SLOW_GENERATION)
    body = json.dumps({"data": record}).encode()
    if gen_id.startswith("gen-hostile-big"):  # the bill, then padding the JSON allows
        body = body[:-1] + b', "padding": "' + b"x" * BIG_GENERATION + b'"}'
    head = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    sent = 0
    try:
        handler._raw("200 OK", head)
        for start in range(0, len(body), 2**16):
            handler.wfile.write(body[start : start + 2**16])
            sent += len(body[start : start + 2**16])
        handler.wfile.flush()
    except OSError:  # the client hung up: it read no more
        handler.close_connection = True
    with bills._lock:
        bills.generation_sent[gen_id] = sent


def too_many_requests(handler: Any, retry_after: float) -> None:
    """A 429 with `Retry-After`, as a rate-limited OpenRouter key gets."""
    data = json.dumps({"error": {"code": 429, "message": "Rate limit exceeded"}}).encode()
    handler._raw(
        "429 Too Many Requests",
        {
            "Content-Type": "application/json",
            "Content-Length": str(len(data)),
            "Retry-After": str(retry_after),
        },
        data,
    )
