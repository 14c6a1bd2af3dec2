"""Cache hit: once the cache holds the answer, how long a repeated `%%gpt4o` cell takes.

In a fresh process with a plain InteractiveShell (stdout captured): `%load_ext
orjupyter`, the cell run once (it calls the local server and records the answer), then
`shell.run_cell` of the same cell timed, against the same cell with `--no-cache` (a real
call to the local server, no artificial delay), alternating. The server's request count
shows that the hits sent nothing.
"""

from __future__ import annotations

from _common import FakeServer, Row, child, log, median, ms, sandbox

TARGET_SECONDS = 0.020
PROMPT = "Summarise the findings in three paragraphs. [[fake words=400]]"

CACHE = """
import io, json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "orjupyter")
runs, prompt = int(sys.argv[1]), sys.argv[2]
cell = "%%gpt4o -o reply\\n" + prompt
uncached = "%%gpt4o --no-cache -o reply\\n" + prompt
captured = io.StringIO()
sys.stdout = captured

def timed(code):
    start = time.perf_counter()
    result = shell.run_cell(code)
    seconds = time.perf_counter() - start
    if not result.success:
        raise SystemExit(f"cell failed: {result.error_in_exec!r} {captured.getvalue()[-300:]}")
    return seconds, shell.user_ns["reply"]

timed(cell)  # the first run: a real call, which fills the cache
hits, calls, cached = [], [], []
for _ in range(runs):
    seconds, reply = timed(cell)
    hits.append(seconds)
    cached.append(reply.cached)
    seconds, reply = timed(uncached)
    calls.append(seconds)
sys.stdout = sys.__stdout__
print(json.dumps({"hits": hits, "calls": calls, "all_cached": all(cached),
                  "answer": len(reply.text)}))
"""


def measure(runs: int, server: FakeServer) -> list[Row]:
    log(f"cache hit: {runs} hits and {runs} calls in one InteractiveShell")
    with sandbox(server.url) as env:
        before = server.requests()
        result = child(CACHE, str(runs), PROMPT, env=env)
        sent = server.requests() - before
    hits: list[float] = result["hits"]
    calls: list[float] = result["calls"]
    if not result["all_cached"] or sent != runs + 1:
        raise RuntimeError(f"cache hits were not all from the cache ({sent} requests sent)")
    mine, other = median(hits), median(calls)
    return [
        Row(
            "Cache hit, repeated cell (InteractiveShell)",
            ms(mine),
            f"{ms(other)} (same cell, --no-cache)",
            f"{mine / other:.2f}x",
            f"<= {ms(TARGET_SECONDS)}",
            mine <= TARGET_SECONDS,
            f"median of {runs}; range {ms(min(hits))}-{ms(max(hits))}; "
            f"{result['answer']:,}-character answer; hits sent no request",
        )
    ]
