"""The stream path at its floor: five figures, each against its goal, with the raw SDK
beside it, medians of three runs (`make bench`).

1. `%%gpt4o` wall time on a 20,000-chunk answer ÷ a bare `async for` SDK loop's, in the
   same kernel (streaming.py's runs: execute_request to execute_reply).
2. Bytes the kernel sends the browser (raw ZMQ frames of every iopub message of the
   cell) ÷ the answer's UTF-8 bytes; beside it, the bare loop's (it shows nothing).
3. Messages per second to the browser while streaming: every iopub message between the
   live panel's display_data and the final output's, by the kernel's timestamps; the
   busiest second beside it.
4. `%load_ext orjupyter` in a fresh InteractiveShell; beside it, `import openai` there.
5. The first `%%gpt4o` sent the instant `%load_ext` returns, in a fresh kernel, minus the
   raw SDK's first call in a fresh kernel: time to the first iopub message carrying
   answer text.
"""

from __future__ import annotations

import sys

from _common import FakeServer, Row, child, log, median, ms, sandbox, signed_ms, size
from _kernel import CellRun
from first_call import kernel_first_token
from load import load_seconds
from streaming import SIZES, collect

GOAL_RATIO = 1.05
GOAL_BYTES = 3.3
GOAL_RATE = 30.0
GOAL_LOAD = 0.060
GOAL_FIRST = 0.050

IMPORT = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
start = time.perf_counter()
shell.run_cell("import openai")
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def streaming_rate(run: CellRun) -> tuple[float, int, int]:
    """Messages a second between the panel's display and the final output's, the busiest
    second's count, and the messages in that window."""
    times = [m.sent.timestamp() for m in run.messages if m.sent is not None]
    shown = [m.sent.timestamp() for m in run.messages if m.msg_type == "display_data" and m.sent]
    if len(shown) < 2 or shown[1] <= shown[0]:
        return 0.0, 0, 0
    window = [t for t in times if shown[0] < t < shown[1]]
    busiest, first = 0, 0
    for last, moment in enumerate(window):
        while moment - window[first] >= 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    return len(window) / (shown[1] - shown[0]), busiest, len(window)


def measure(runs: int, server: FakeServer) -> list[Row]:
    log(f"floor: the stream path's five figures, {runs} runs each")
    small = SIZES[0]
    data = collect(server.url, runs)
    ours, theirs = data.seconds("magic", small), data.seconds("bare", small)
    answer = data.answer_bytes[small]
    sent = median([run.wire_bytes for run in data.magic[small]])
    bare_sent = median([run.wire_bytes for run in data.bare[small]])
    rates = [streaming_rate(run) for run in data.magic[small]]
    rate = median([r[0] for r in rates])
    busiest = median([r[1] for r in rates])

    load_ext, imports = [], []
    load_seconds(sys.executable, "orjupyter", "gpt4o")  # warms the disk cache
    for _ in range(runs):
        load_ext.append(load_seconds(sys.executable, "orjupyter", "gpt4o"))
        imports.append(float(child(IMPORT)["seconds"]))

    first, sdk_first = [], []
    for repetition in range(runs + 1):
        with sandbox(server.url) as env:
            mine = kernel_first_token(env, "orjupyter")
        with sandbox(server.url) as env:
            other = kernel_first_token(env, "sdk")
        if repetition:  # the first pair warms the disk cache
            first.append(mine)
            sdk_first.append(other)
    extra = median(first) - median(sdk_first)
    spread = f"median of {runs}"
    return [
        Row(
            f"%%gpt4o wall time ÷ raw SDK loop ({small:,} chunks)",
            ms(ours),
            f"{ms(theirs)} (bare SDK loop)",
            f"{ours / theirs:.2f}x",
            f"<= {GOAL_RATIO:.2f}x",
            ours / theirs <= GOAL_RATIO,
            f"{spread}; magic {', '.join(ms(r.seconds) for r in data.magic[small])}; "
            f"SDK {', '.join(ms(r.seconds) for r in data.bare[small])}",
        ),
        Row(
            "bytes to the browser ÷ the answer's bytes",
            size(sent),
            f"{size(bare_sent)} (bare SDK loop; answer {size(answer)})",
            f"{sent / answer:.2f}x",
            f"<= {GOAL_BYTES:.1f}x",
            sent / answer <= GOAL_BYTES,
            f"{spread}; raw ZMQ frames of every iopub message of the cell",
        ),
        Row(
            "messages per second to the browser while streaming",
            f"{rate:.0f}/s",
            "- (the bare loop shows nothing while it streams)",
            f"busiest 1 s: {busiest:.0f}",
            f"<= {GOAL_RATE:.0f}/s",
            rate <= GOAL_RATE,
            f"{spread}; {', '.join(f'{r[2]} msgs' for r in rates)} between the panel and "
            "the final output",
        ),
        Row(
            "%load_ext orjupyter (fresh InteractiveShell)",
            ms(median(load_ext)),
            f"{ms(median(imports))} (import openai there)",
            "-",
            f"<= {ms(GOAL_LOAD)}",
            median(load_ext) <= GOAL_LOAD,
            f"{spread}; ours {', '.join(ms(s) for s in load_ext)}; "
            f"import openai {', '.join(ms(s) for s in imports)}",
        ),
        Row(
            "first %%gpt4o at once after %load_ext − raw SDK's first call",
            ms(median(first)),
            f"{ms(median(sdk_first))} (raw SDK, fresh kernel)",
            signed_ms(extra),
            f"<= +{ms(GOAL_FIRST)}",
            extra <= GOAL_FIRST,
            f"{spread}; time to the first iopub message with answer text; ours "
            f"{', '.join(ms(s) for s in first)}; SDK {', '.join(ms(s) for s in sdk_first)}",
        ),
    ]
