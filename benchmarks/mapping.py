"""`%%gpt4o --map`: a run's overhead against a plain `asyncio.gather`, and a long run's cost
in time, memory and browser traffic.

1. 64 rows at `--concurrency 16`, each answered in 0.3 s (`first_delay=0.3`): the cell's
   time against a plain `asyncio.gather` over `AsyncOpenAI` streaming the same 64
   requests with a semaphore of 16, in the same kernel, alternating. Both stream; the
   map also checks the cache, holds the budget, writes the ledger and the cache, and
   draws its panel. Prompts differ per repetition, so nothing comes from the cache.
2. `--budget`'s cost: 1,000 instant rows at `--concurrency 16` with `--budget 100` (a cap
   that never binds: each row is held at its worst case, checked against the cache and
   released) against the same run without it, both at `--max-tokens 200`, alternating in
   one kernel.
3. 10,000 rows answered at once (the local server without delay), at `--concurrency 16`,
   in a kernel: wall time, the kernel's peak-memory growth (its peak RSS during the run
   minus its RSS before, and the same for 2,500 rows in a fresh kernel to show growth
   per row), iopub bytes of the cell, and the progress panel's update messages per
   second (its widgets' `update` comm messages, over the run).
"""

from __future__ import annotations

from _common import KERNEL_MEMORY, FakeServer, Row, log, median, sandbox, size
from _kernel import CellRun, KernelSession

ROWS, CONCURRENCY, ANSWER_SECONDS = 64, 16, 0.3
TARGET_RATIO = 1.15
TARGET_CAP_RATIO = 1.10
LONG_ROWS, SHORT_ROWS = 10_000, 2_500
TARGET_UPDATES = 10.0

BASELINE = """
import asyncio, openai, os
async def _baseline(prompts):
    client = openai.AsyncOpenAI(base_url=os.environ["OPENROUTER_BASE_URL"],
                                api_key=os.environ["OPENROUTER_API_KEY"])
    gate = asyncio.Semaphore({concurrency})
    async def one(prompt):
        async with gate:
            stream = await client.chat.completions.create(
                model="openai/gpt-4o-2024-11-20", stream=True,
                messages=[{{"role": "user", "content": prompt}}],
                stream_options={{"include_usage": True}})
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    try:
        return await asyncio.gather(*(one(p) for p in prompts))
    finally:
        await client.close()
"""


def _prompts(tag: str, rows: int, delay: float) -> str:
    fault = f"[[fake first_delay={delay} words=5]]" if delay else "[[fake words=5]]"
    return f"[f'{tag} row {{i}} {fault}' for i in range({rows})]"


def overhead(kernel: KernelSession, runs: int) -> tuple[list[float], list[float]]:
    kernel.run(BASELINE.format(concurrency=CONCURRENCY))
    ours: list[float] = []
    theirs: list[float] = []
    for rep in range(runs + 1):  # the first pair warms up imports and connections
        kernel.run(f"prompts_a = {_prompts(f'a{rep}', ROWS, ANSWER_SECONDS)}")
        kernel.run(f"prompts_b = {_prompts(f'b{rep}', ROWS, ANSWER_SECONDS)}")
        mine = kernel.run(f"%%gpt4o --map prompts_a -o out --concurrency {CONCURRENCY}\n{{item}}")
        check = kernel.run("n = sum(v is not None for v in out)", {"n": "n"})
        if check.expression("n") != str(ROWS):
            raise RuntimeError(f"the map answered {check.expression('n')} of {ROWS} rows")
        other = kernel.run("answers = await _baseline(prompts_b)")
        if rep:
            ours.append(mine.seconds)
            theirs.append(other.seconds)
    return ours, theirs


CAP_ROWS = 1_000


def cap_overhead(kernel: KernelSession, runs: int) -> tuple[list[float], list[float]]:
    """Seconds of a `--map` with `--budget 100` and without, alternating (a warm-up first)."""
    capped: list[float] = []
    plain: list[float] = []
    for rep in range(runs + 1):
        times = []
        for tag, cap in (("c", " --budget 100"), ("p", "")):
            kernel.run(f"rows_{tag} = {_prompts(f'{tag}{rep}', CAP_ROWS, 0)}")
            cell = f"%%gpt4o --map rows_{tag} -o out --concurrency {CONCURRENCY} --max-tokens 200"
            times.append(kernel.run(f"{cell}{cap}\n{{item}}").seconds)
            check = kernel.run("n = sum(v is not None for v in out)", {"n": "n"})
            if check.expression("n") != str(CAP_ROWS):
                raise RuntimeError(f"the map answered {check.expression('n')} of {CAP_ROWS}")
        if rep:
            capped.append(times[0])
            plain.append(times[1])
    return capped, plain


def long_run(server: FakeServer, rows: int, gather: bool = False) -> tuple[CellRun, int, float]:
    """A fresh kernel maps `rows` instant rows: the run, its peak-memory growth (bytes)
    and, with `gather`, the seconds `asyncio.gather` takes over as many other prompts."""
    with sandbox(server.url) as env, KernelSession(env) as kernel:
        kernel.run(f"%load_ext orjupyter\n{KERNEL_MEMORY}")
        kernel.run(f"warm = {_prompts('warm', 20, 0)}")
        kernel.run("%%gpt4o --map warm -o w\n{item}")  # imports, connections, widgets
        kernel.run(f"items = {_prompts(f'long{rows}', rows, 0)}")
        kernel.run("rss0 = rss()")
        run = kernel.run(f"%%gpt4o --map items -o out --concurrency {CONCURRENCY}\n{{item}}")
        check = kernel.run(
            "grew = top() - rss0\nn = sum(v is not None for v in out)",
            {"grew": "grew", "n": "n"},
        )
        if check.expression("n") != str(rows):
            raise RuntimeError(f"the map answered {check.expression('n')} of {rows} rows")
        seconds = 0.0
        if gather:
            kernel.run(BASELINE.format(concurrency=CONCURRENCY))
            kernel.run(f"others = {_prompts(f'other{rows}', rows, 0)}")
            seconds = kernel.run("answers = await _baseline(others)").seconds
        return run, int(check.expression("grew")), seconds


def panel_updates(run: CellRun) -> tuple[int, float]:
    """The panel's widget updates, and the run's length by the kernel's clock."""
    opened = {m.content["comm_id"] for m in run.messages if m.msg_type == "comm_open"}
    times = [
        m.sent.timestamp()
        for m in run.messages
        if m.msg_type == "comm_msg"
        and m.content.get("data", {}).get("method") == "update"
        and m.content["comm_id"] in opened
        and m.sent is not None
    ]
    stamps = [m.sent.timestamp() for m in run.messages if m.sent is not None]
    return len(times), (max(stamps) - min(stamps)) if stamps else 0.0


def measure(runs: int, server: FakeServer) -> list[Row]:
    log(f"map: {ROWS} rows x {runs} against asyncio.gather; then {LONG_ROWS:,} instant rows")
    with sandbox(server.url) as env, KernelSession(env) as kernel:
        kernel.run("%load_ext orjupyter")
        ours, theirs = overhead(kernel, runs)
        capped, plain = cap_overhead(kernel, runs)
    mine, other = median(ours), median(theirs)
    cap_ratio = median(capped) / median(plain)
    ratio = mine / other
    short, short_growth, gathered = long_run(server, SHORT_ROWS, gather=True)
    run, growth, _ = long_run(server, LONG_ROWS)
    updates, seconds = panel_updates(run)
    rate = updates / seconds if seconds else 0.0
    per_row = (growth - short_growth) / (LONG_ROWS - SHORT_ROWS)
    return [
        Row(
            f"--map {ROWS} rows, --concurrency {CONCURRENCY}, {ANSWER_SECONDS} s answers",
            f"{mine:.2f} s",
            f"{other:.2f} s (asyncio.gather + AsyncOpenAI, semaphore {CONCURRENCY})",
            f"{ratio:.2f}x",
            f"<= {TARGET_RATIO:.2f}x",
            ratio <= TARGET_RATIO,
            f"median of {runs} alternating pairs in one kernel; ours "
            f"{min(ours):.2f}-{max(ours):.2f} s, gather {min(theirs):.2f}-{max(theirs):.2f} s",
        ),
        Row(
            f"--map {CAP_ROWS:,} instant rows with --budget (never reached)",
            f"{median(capped):.2f} s",
            f"{median(plain):.2f} s without --budget",
            f"{cap_ratio:.2f}x",
            f"<= {TARGET_CAP_RATIO:.2f}x",
            cap_ratio <= TARGET_CAP_RATIO,
            f"median of {runs} alternating pairs in one kernel, --concurrency {CONCURRENCY} "
            f"--max-tokens 200; capped {min(capped):.2f}-{max(capped):.2f} s, plain "
            f"{min(plain):.2f}-{max(plain):.2f} s",
        ),
        Row(
            f"--map {LONG_ROWS:,} instant rows: wall time",
            f"{run.seconds:.1f} s",
            f"{short.seconds:.1f} s for {SHORT_ROWS:,} rows; gather {gathered:.1f} s for as many",
            f"{LONG_ROWS / run.seconds:.0f} rows/s",
            "-",
            None,
            "one run per size, each in a fresh kernel, after a 20-row warm-up; the gather "
            "(same kernel as the 2,500 rows) shows what the SDK and the local server cost alone",
        ),
        Row(
            f"--map {LONG_ROWS:,} rows: peak memory growth",
            size(growth),
            f"{size(short_growth)} for {SHORT_ROWS:,} rows",
            f"{size(per_row)}/row",
            "linear, small",
            None,
            "the kernel's peak RSS during the run (VmHWM, reset just before it) minus its "
            "RSS before (the rows themselves are made before)",
        ),
        Row(
            f"--map {LONG_ROWS:,} rows: progress panel",
            f"{rate:.1f} updates/s",
            f"{updates:,} updates in {seconds:.1f} s",
            f"iopub {size(run.wire_bytes)} ({len(run.messages):,} messages)",
            f"<= {TARGET_UPDATES:.0f}/s",
            rate <= TARGET_UPDATES,
            "widget `update` comm messages of the cell's panel over the run, by the "
            "kernel's timestamps; iopub bytes are the cell's raw ZMQ frames",
        ),
    ]
