"""What the model sees of the notebook: describing values, and the `--context` capture.

Describe: `orjupyter.core.describe.describe` on a 10,000,000 × 20 DataFrame (float64,
int64, strings, timestamps, 1.6 GB) and a 10,000 × 1,000 float64 array, each in a fresh
process (made once, described `runs` times); tokens are the description's estimate
(`pricing.text_tokens`). Capture: the recorder's own work in one process (its two
events per cell; 100,000 prints through its terminal tee), then two real ipykernels, with
and without `%load_ext orjupyter` (whose recorder captures every cell), measured in
turns: `%timeit -o -q pass` (the statement's own time, which the recorder does not
touch), a `pass` cell's round trip (execute_request to execute_reply; 10 per repetition)
and a cell printing 100,000 lines.
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
        seconds = [float(s) for s in result["seconds"]]
        tokens = int(result["tokens"])
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


def kernel_figures(
    kernels: dict[bool, KernelSession], runs: int
) -> dict[bool, dict[str, list[float]]]:
    """Each figure measured in turns in the two kernels (with, without the extension), so
    that a busy moment on the machine falls on both alike."""
    figures = {loaded: {"timeit": [], "pass": [], "prints": []} for loaded in kernels}
    for repetition in range(runs):
        order = (True, False) if repetition % 2 == 0 else (False, True)
        for loaded in order:
            kernel = kernels[loaded]
            timed = kernel.run(TIMEIT, user_expressions={"t": "r.average"})
            figures[loaded]["timeit"].append(float(timed.expression("t")))
            figures[loaded]["pass"].extend(kernel.run("pass").seconds for _ in range(10))
        for loaded in order:
            figures[loaded]["prints"].append(kernels[loaded].run(PRINTS).seconds)
    return figures


def capture_rows(runs: int, env: dict[str, str]) -> list[Row]:
    log(f"context: capture overhead, {runs} runs in a kernel with and without orjupyter")
    with KernelSession(env) as with_it, KernelSession(env) as without:
        with_it.run("%load_ext orjupyter")
        for kernel in (with_it, without):
            kernel.run("pass")  # warm
        figures = kernel_figures({True: with_it, False: without}, runs)
    ours, theirs = figures[True], figures[False]
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
                f"median of {len(ours[key])}, in turns; ours {show(min(ours[key]))}-"
                f"{show(max(ours[key]))}, without {show(min(theirs[key]))}-"
                f"{show(max(theirs[key]))}",
            )
        )
    return rows


RECORDER = """
import io, json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "orjupyter")
recorder = shell.magics_manager.registry["OrJupyterMagics"].recorder
info = type("Info", (), {"raw_cell": "x = 1", "silent": False, "store_history": True})()
result = type("Result", (), {"execution_count": 1, "error_in_exec": None})()
real = sys.stdout
seconds = []
for _ in range(2000):
    start = time.perf_counter()
    recorder.pre_run_cell(info)
    recorder.post_run_cell(result)
    seconds.append(time.perf_counter() - start)
sys.stdout = io.StringIO()
start = time.perf_counter()
for n in range(100_000):
    print("line", n)
plain = time.perf_counter() - start
recorder.pre_run_cell(info)
start = time.perf_counter()
for n in range(100_000):
    print("line", n)
teed = time.perf_counter() - start
recorder.post_run_cell(result)
sys.stdout = real
seconds.sort()
print(json.dumps({"cell": seconds[len(seconds) // 2], "plain": plain, "teed": teed}))
"""


def recorder_rows() -> list[Row]:
    """The recorder's own work, timed in one process (no kernel, so no noise from it)."""
    log("context: the recorder's own time per cell and per printed line")
    result = child(RECORDER)
    cell = float(result["cell"])
    plain, teed = float(result["plain"]), float(result["teed"])
    return [
        Row(
            "Context capture: the recorder's own time per cell",
            f"{cell * 1e6:.0f} µs",
            "-",
            "-",
            "<= 0.5 ms",
            cell <= 0.0005,
            "median of 2,000 pre_run_cell + post_run_cell pairs, in one process",
        ),
        Row(
            "Context capture: 100,000 prints into a fast stream",
            ms(teed),
            f"{ms(plain)} (not captured)",
            signed_ms(teed - plain),
            "-",
            None,
            "print() into io.StringIO with and without the recorder's tee in between (the "
            "path of terminal IPython; in ipykernel printed text is taken where the kernel "
            "flushes it, so a print costs nothing more there)",
        ),
    ]


def measure(runs: int, server: FakeServer) -> list[Row]:
    with sandbox(server.url) as env:
        return describe_rows(runs) + recorder_rows() + capture_rows(runs, env)


if __name__ == "__main__":
    with FakeServer() as local:
        for row in measure(3, local):
            print(json.dumps(row.__dict__))
