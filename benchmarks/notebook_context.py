"""What the model sees of the notebook: describing values, and the `--context` capture.

Describe: `orjupyter.core.describe.describe` on a 10,000,000 × 20 DataFrame (float64,
int64, strings, timestamps, 1.6 GB) and a 10,000 × 1,000 float64 array, each in a fresh
process (made once, described `runs` times); tokens are the description's estimate
(`pricing.text_tokens`). Capture: a real ipykernel each, with and without
`%load_ext orjupyter` (whose recorder captures every cell): `%timeit -o -q pass` (the
statement's own time, which the recorder does not touch), a `pass` cell's round trip
(execute_request to execute_reply; 10 per repetition) and a cell printing 100,000 lines.
"""

from __future__ import annotations

import json

from _common import FakeServer, Row, child, log, median, ms, sandbox, signed_ms
from _kernel import KernelSession

DESCRIBE = """
import json, sys, time
import numpy as np, pandas as pd
from orjupyter.core.describe import describe
from orjupyter.core.pricing import text_tokens
kind, runs = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
if kind == "frame":
    n = 10_000_000
    columns = {f"x{i}": rng.random(n) for i in range(16)}
    columns["count"] = rng.integers(0, 1000, n)
    columns["flag"] = rng.random(n) > 0.5
    columns["when"] = pd.date_range("2020-01-01", periods=n, freq="s")
    columns["city"] = pd.Categorical(rng.choice(["Paris", "Lyon", "Nice"], n))
    value = pd.DataFrame(columns)
    value.iloc[::9, 0] = np.nan
else:
    value = rng.normal(size=(10_000, 1_000))
seconds = []
for _ in range(runs):
    start = time.perf_counter()
    text = describe(value, "value").text
    seconds.append(time.perf_counter() - start)
print(json.dumps({"seconds": seconds, "tokens": text_tokens(text), "shape": list(value.shape)}))
"""

TARGET_DESCRIBE = 0.5
"""A fraction of a second, as the issue asks, on this 2-CPU machine."""
TARGET_TOKENS = 1500
TARGET_RATIO = 1.10
TARGET_CELL_EXTRA = 0.005
"""A cell's round trip is ~10 ms; everything the extension does per cell (its events,
its input transformer, the capture) should stay within a few milliseconds of that."""
PRINTS = "for n in range(100_000):\n    print('line', n)"
TIMEIT = "r = %timeit -o -q -n 100000 -r 5 pass"


def describe_rows(runs: int) -> list[Row]:
    rows = []
    for kind, label in (("frame", "10,000,000 × 20 DataFrame"), ("array", "10,000 × 1,000 array")):
        log(f"context: describe a {label}, {runs} runs")
        result = child(DESCRIBE, kind, str(runs), timeout=900)
        seconds = [float(s) for s in result["seconds"]]  # type: ignore[attr-defined]
        tokens = int(result["tokens"])  # type: ignore[call-overload]
        mine = median(seconds)
        rows.append(
            Row(
                f"Describe {{value}}: {label}: time / tokens",
                f"{ms(mine)} / {tokens:,}",
                "-",
                "-",
                f"<= {ms(TARGET_DESCRIBE)} / <= {TARGET_TOKENS:,}",
                mine <= TARGET_DESCRIBE and tokens <= TARGET_TOKENS,
                f"median of {runs}; range {ms(min(seconds))}-{ms(max(seconds))}",
            )
        )
    return rows


def kernel_figures(env: dict[str, str], loaded: bool, runs: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"timeit": [], "pass": [], "prints": []}
    with KernelSession(env) as kernel:
        if loaded:
            kernel.run("%load_ext orjupyter")
        kernel.run("pass")  # warm
        for _ in range(runs):
            timed = kernel.run(TIMEIT, user_expressions={"t": "r.average"})
            figures["timeit"].append(float(timed.expression("t")))
            figures["pass"].extend(kernel.run("pass").seconds for _ in range(10))
            figures["prints"].append(kernel.run(PRINTS).seconds)
    return figures


def capture_rows(runs: int, env: dict[str, str]) -> list[Row]:
    log(f"context: capture overhead, {runs} runs in a kernel with and without orjupyter")
    ours = kernel_figures(env, True, runs)
    theirs = kernel_figures(env, False, runs)
    rows = []
    for key, label, show in (
        ("timeit", "%timeit pass", lambda s: f"{s * 1e9:.1f} ns"),
        ("pass", "a `pass` cell, round trip", ms),
        ("prints", "a cell printing 100,000 lines", ms),
    ):
        mine, other = median(ours[key]), median(theirs[key])
        extra = mine - other
        compare = f"{mine / other:.2f}x" if key == "timeit" else signed_ms(extra)
        met = extra <= TARGET_CELL_EXTRA if key == "pass" else mine <= other * TARGET_RATIO
        rows.append(
            Row(
                f"Context capture: {label}",
                show(mine),
                f"{show(other)} (extension not loaded)",
                compare,
                f"<= +{ms(TARGET_CELL_EXTRA)}" if key == "pass" else f"<= {TARGET_RATIO:.2f}x",
                met,
                f"median of {runs}; ours {show(min(ours[key]))}-{show(max(ours[key]))}, "
                f"without {show(min(theirs[key]))}-{show(max(theirs[key]))}",
            )
        )
    return rows


def measure(runs: int, server: FakeServer) -> list[Row]:
    with sandbox(server.url) as env:
        return describe_rows(runs) + capture_rows(runs, env)


if __name__ == "__main__":
    with FakeServer() as local:
        for row in measure(3, local):
            print(json.dumps(row.__dict__))
