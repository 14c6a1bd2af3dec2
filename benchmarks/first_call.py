"""First-call overhead: time to first token of the first `%%gpt4o` call after
`%load_ext orjupyter`, against the raw openai SDK in the same situation.

Each repetition is a fresh process: IPython imported, an InteractiveShell made (and, for
orjupyter, the extension loaded, untimed). Then one cell is run with `shell.run_cell` and
the clock stops at the first answer text written to stdout. orjupyter's cell is
`%%gpt4o --no-cache`; the baseline's cell imports openai, makes an AsyncOpenAI client and
prints the stream's chunks as they come: what a person would write without orjupyter.
Both pay for importing the SDK and opening the first connection; both talk to the local
server with no artificial delay. The two alternate, after an untimed pair that warms the
disk cache.

The same in a real ipykernel (a fresh kernel each time, `%load_ext orjupyter` run
before, untimed): from sending the execute_request to the first iopub message that carries
answer text (the panel's first update; the baseline's first printed chunk).
"""

from __future__ import annotations

import time

from _common import MODEL, FakeServer, Row, child, log, median, ms, sandbox, signed_ms
from _kernel import KernelSession

TARGET_EXTRA = 0.050
TYPING = 2.0
"""Seconds a person takes to type a cell after `%load_ext`: the extension imports what the
first call needs (the SDK, the call path, ipywidgets) in the background meanwhile, and the
Markdown renderer after it."""
PROMPT = "Say hello. [[fake words=20]]"

# The baseline: what a person would write without orjupyter (in a shell and in a kernel).
SDK_CELL = f"""
import os, openai
client = openai.AsyncOpenAI(
    base_url=os.environ["OPENROUTER_BASE_URL"], api_key=os.environ["OPENROUTER_API_KEY"]
)
stream = await client.chat.completions.create(
    model={MODEL!r}, messages=[{{"role": "user", "content": {PROMPT!r}}}], stream=True
)
async for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
"""

FIRST_CALL = """
import io, json, os, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
mode, prompt, sdk_cell = sys.argv[1:4]

class Probe(io.StringIO):
    first = None
    def write(self, text):
        if self.first is None and text.strip():
            self.first = time.perf_counter()
        return super().write(text)

if mode == "orjupyter":
    shell.run_line_magic("load_ext", "orjupyter")
    cell = "%%gpt4o --no-cache\\n" + prompt
else:
    cell = sdk_cell
probe = Probe()
sys.stdout = probe
start = time.perf_counter()
result = shell.run_cell(cell)
end = time.perf_counter()
sys.stdout = sys.__stdout__
ok = result.success and probe.first is not None and "lorem" in probe.getvalue()
print(json.dumps({"ttft": (probe.first or end) - start, "total": end - start, "ok": ok,
                  "output": probe.getvalue()[-300:]}))
"""


def first_token(env: dict[str, str], mode: str) -> float:
    result = child(FIRST_CALL, mode, PROMPT, SDK_CELL, env=env)
    if not result["ok"]:
        raise RuntimeError(f"first call ({mode}) failed: {result['output']!r}")
    return float(result["ttft"])


def kernel_first_token(env: dict[str, str], mode: str, pause: float = 0.0) -> float:
    """`pause`: seconds between `%load_ext` (or, for the SDK, the kernel's start) and the
    cell, as when a person types the cell after loading the extension."""
    with KernelSession(env) as kernel:
        kernel.run("%load_ext orjupyter" if mode == "orjupyter" else "pass")
        time.sleep(pause)
        if mode == "orjupyter":
            run = kernel.run(f"%%gpt4o --no-cache\n{PROMPT}")
        else:
            run = kernel.run(SDK_CELL)
    first = run.first(b"lorem")
    if first is None:
        raise RuntimeError(f"no answer text on iopub ({mode})")
    return first


def typed_first_token(env: dict[str, str], mode: str) -> float:
    return kernel_first_token(env, mode, pause=TYPING)


def row(label: str, ours: list[float], theirs: list[float], note: str) -> Row:
    mine, other = median(ours), median(theirs)
    extra = mine - other
    return Row(
        f"First-call time to first token ({label})",
        ms(mine),
        f"{ms(other)} (raw openai SDK)",
        signed_ms(extra),
        f"<= +{ms(TARGET_EXTRA)}",
        extra <= TARGET_EXTRA,
        f"median of {len(ours)}; range {ms(min(ours))}-{ms(max(ours))}, "
        f"baseline {ms(min(theirs))}-{ms(max(theirs))}; {note}",
    )


def measure(runs: int, kernel_runs: int, server: FakeServer) -> list[Row]:
    log(f"first call: {runs} fresh processes each, then {kernel_runs} fresh kernels each")
    rows = []
    for label, probe, count, note in (
        ("InteractiveShell", first_token, runs, "fresh process each"),
        ("kernel + panel", kernel_first_token, kernel_runs, "fresh kernel each; the cell "
         "sent the instant %load_ext returns"),
        (f"kernel + panel, cell sent {TYPING:.0f} s after %load_ext", typed_first_token,
         kernel_runs, "fresh kernel each; the SDK cell as long after the kernel's start"),
    ):  # fmt: skip
        ours: list[float] = []
        theirs: list[float] = []
        for repetition in range(count + 1):
            with sandbox(server.url) as env:  # a fresh cache and ledger: a real first call
                mine = probe(env, "orjupyter")
            with sandbox(server.url) as env:
                other = probe(env, "sdk")
            if repetition:  # the first pair warms the disk cache
                ours.append(mine)
                theirs.append(other)
        rows.append(row(label, ours, theirs, note))
    return rows
