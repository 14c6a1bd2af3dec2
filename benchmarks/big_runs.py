"""Big runs: a 100,000-row `--map` against `asyncio.gather`, the answer cache on disk, and
`%gpt4o usage` over a 150,000-row ledger.

1. 100,000 instant rows (`$BENCH_BIG_ROWS` to change) at `--concurrency 16` in a fresh
   kernel: rows per second, the kernel's peak memory (its peak RSS during the run, and
   that minus its RSS before), and the bytes the run's answer cache takes on disk. The
   baseline is a plain `asyncio.gather` over `AsyncOpenAI` with a semaphore of 16, as
   many other prompts, in another fresh kernel, on the same local server.
2. The answer cache alone: 100,000 answers shaped like the local server's (a short answer,
   the request kept beside it) put into a `ResponseCache`: their bytes, and the bytes the
   file takes on disk (allocated blocks, its `-wal` and `-shm` included); the baseline is
   the same entries as an older orjupyter kept them, one JSON file each.
3. `%gpt4o usage` in a kernel whose notebook has 150,000 ledger rows (a 100,000-row run,
   60% of it from the cache, 200 comparisons of two models and 49,600 single calls): the
   cell's time and the kernel's peak-memory growth; `orjupyter.usage()`'s time. The
   baseline is what the view did before, reading every row into the kernel
   (`LedgerStore.calls`), in the same kernel, after ours.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from _common import KERNEL_MEMORY, FakeServer, Row, log, median, ms, sandbox, size
from _kernel import KernelSession
from mapping import BASELINE

if TYPE_CHECKING:
    from orjupyter.store.answers import CachedAnswer

BIG_ROWS = int(os.environ.get("BENCH_BIG_ROWS", "100000"))
CONCURRENCY = 16
CACHE_ANSWERS = 100_000
LEDGER_ROWS = 150_000
TARGET_VIEW_SECONDS = 1.0
TARGET_VIEW_BYTES = 40e6
TARGET_DISK_RATIO = 2.0

GATHER = BASELINE  # asyncio.gather over the SDK, as the --map benchmark runs it
VIEW = """_c0 = time.process_time()
get_ipython().run_line_magic("gpt4o", "usage")
cpu = time.process_time() - _c0"""


def _prompts(tag: str, rows: int) -> str:
    return f"[f'{tag} row {{i}} [[fake words=5]]' for i in range({rows})]"


def big_map(server: FakeServer) -> tuple[float, int, int, float, int, int]:
    """(seconds, peak bytes, growth, gather seconds, cache bytes, cache bytes on disk)."""
    from orjupyter.store.cache import ResponseCache

    with sandbox(server.url) as env, KernelSession(env) as kernel:
        kernel.run(f"%load_ext orjupyter\n{KERNEL_MEMORY}")
        kernel.run(f"warm = {_prompts('warm', 20)}")
        kernel.run("%%gpt4o --map warm -o w\n{item}")
        kernel.run(f"items = {_prompts('big', BIG_ROWS)}")
        kernel.run("before = rss()")
        log(f"  --map of {BIG_ROWS:,} rows…")
        run = kernel.run(
            f"%%gpt4o --map items -o out --concurrency {CONCURRENCY}\n{{item}}", timeout=7200
        )
        check = kernel.run(
            "n = sum(v is not None for v in out)", {"n": "n", "top": "top()", "b": "before"}
        )
        if check.expression("n") != str(BIG_ROWS):
            raise RuntimeError(f"the map answered {check.expression('n')} of {BIG_ROWS} rows")
        top, before = int(check.expression("top")), int(check.expression("b"))
        kernel.close()
        cache = ResponseCache(env["ORJUPYTER_CACHE_DIR"])
        stored, disk = cache.size_bytes(), cache.disk_bytes()
        cache.close()
    with sandbox(server.url) as env, KernelSession(env) as kernel:
        kernel.run(GATHER.format(concurrency=CONCURRENCY))
        kernel.run(f"others = {_prompts('gather', BIG_ROWS)}")
        log(f"  asyncio.gather of {BIG_ROWS:,} prompts…")
        gathered = kernel.run("answers = await _baseline(others)", timeout=7200).seconds
    return run.seconds, top, top - before, gathered, stored, disk


def _answer(i: int) -> tuple[str, CachedAnswer, dict[str, object]]:
    from orjupyter.core.cache_key import request_key
    from orjupyter.core.domain import Usage
    from orjupyter.store.answers import CachedAnswer

    request: dict[str, object] = {
        "model": "openai/gpt-4o-2024-11-20",
        "messages": [{"role": "user", "content": f"Summarise ticket {i}: the printer on floor 3"}],
        "stream": True,
    }
    answer = CachedAnswer(
        text=f"I received 1 part:\n- text: {40 + i % 7} characters\n",
        model="openai/gpt-4o-2024-11-20",
        generation_id=f"gen-{i:012d}",
        usage=Usage(17, 12, Decimal("0.0001625")),
        finish_reason="stop",
        created_at=datetime(2025, 6, 1, tzinfo=timezone.utc),
    )
    return request_key(request), answer, request


def cache_on_disk() -> tuple[int, int, int, float]:
    """(entry bytes, the file's bytes on disk, one file each on disk, seconds to put)."""
    from orjupyter.store.answers import encode
    from orjupyter.store.cache import ResponseCache

    with tempfile.TemporaryDirectory(prefix="orjupyter-bench-cache-") as folder:
        cache = ResponseCache(Path(folder, "one-file"))
        started = time.perf_counter()
        for i in range(CACHE_ANSWERS):
            key, answer, request = _answer(i)
            cache.put(key, answer, request=request)
        seconds = time.perf_counter() - started
        cache.close()
        stored, disk = cache.size_bytes(), cache.disk_bytes()
        files = Path(folder, "files")
        old = 0
        for i in range(CACHE_ANSWERS):
            key, answer, request = _answer(i)
            path = files / key[:2] / f"{key}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode(key, answer, request, indent=1))
            old += path.stat().st_blocks * 512
        old += sum(shard.stat().st_blocks * 512 for shard in files.iterdir()) + 4096
    return stored, disk, old, seconds


def _ledger_rows(notebook: str) -> list[dict[str, object]]:
    from orjupyter.core.domain import Usage
    from orjupyter.store.columns import CallRecord, call_row

    start = datetime(2025, 6, 1, tzinfo=timezone.utc)
    rows = []
    for i in range(LEDGER_ROWS):
        when = start + timedelta(seconds=i)
        if i < 100_000:  # one --map run: 60% from the cache, a few failed
            cached, run = i % 5 < 3, "--map tickets 1a2b3c4d"
        elif i < 100_400:  # 200 comparisons of two models
            cached, run = False, f"--compare {(i - 100_000) // 2:08x}"
        else:
            cached, run = False, None
        usage = Usage() if cached else Usage(17, 12, Decimal("0.0001625"), cached_tokens=i % 2)
        outcome = "error" if i % 997 == 0 else "ok"
        record = CallRecord(notebook, f"[{i // 1000}]", "openai/gpt-4o-2024-11-20",
                            "" if cached else f"gen-{i}", usage, outcome, from_cache=cached,
                            run=run, started_at=when)  # fmt: skip
        rows.append(call_row(record))
    return rows


def usage_view(
    server: FakeServer, runs: int
) -> tuple[list[float], list[float], int, list[float], float, int]:
    """(view seconds, its CPU seconds, its peak growth, usage() seconds, every row's
    seconds, their growth)."""
    from orjupyter.store.ledger import Ledger

    with sandbox(server.url) as env, KernelSession(env) as kernel:
        where = "get_ipython().magics_manager.registry['OrJupyterMagics'].notebook().key"
        first = kernel.run("%load_ext orjupyter\n%gpt4o usage", {"key": where})
        notebook = first.expression("key").strip("'\"")
        log(f"  writing {LEDGER_ROWS:,} ledger rows…")
        rows = _ledger_rows(notebook)
        Ledger(env["ORJUPYTER_LEDGER"]).close()  # its schema, as the kernel sees it
        with sqlite3.connect(env["ORJUPYTER_LEDGER"]) as db:
            names = ", ".join(rows[0])
            values = ", ".join(f":{name}" for name in rows[0])
            db.executemany(f"INSERT INTO calls ({names}) VALUES ({values})", rows)
        db.close()
        del rows
        kernel.run(f"import orjupyter, time\n{KERNEL_MEMORY}")
        views, cpu, grew = [], [], []
        for _ in range(runs):
            kernel.run("before = rss()")
            view = kernel.run(VIEW, {"cpu": "cpu", "grew": "top() - before"})
            views.append(view.seconds)
            cpu.append(float(view.expression("cpu")))
            grew.append(int(view.expression("grew")))
        totals = [kernel.run("t = orjupyter.usage()").seconds for _ in range(runs)]
        kernel.run("before = rss()")
        everything = kernel.run(
            "_l = get_ipython().magics_manager.registry['OrJupyterMagics'].session.records.ledger\n"
            f"_calls = _l.calls({notebook!r})",
            {"grew": "top() - before"},
        )
        old = int(everything.expression("grew"))
    return views, cpu, max(grew), totals, everything.seconds, old


def measure(runs: int, server: FakeServer) -> list[Row]:
    log(f"big runs: a {BIG_ROWS:,}-row --map and gather, the cache on disk, the usage view")
    views, cpu, view_growth, totals, everything, old_growth = usage_view(server, runs)
    view = median(views)
    stored, disk, old_disk, put_seconds = cache_on_disk()
    seconds, peak, growth, gathered, run_stored, run_disk = big_map(server)
    ours, theirs = BIG_ROWS / seconds, BIG_ROWS / gathered
    return [
        Row(
            f"--map {BIG_ROWS:,} instant rows: rows/s",
            f"{ours:.0f} rows/s ({seconds:.0f} s)",
            f"{theirs:.0f} rows/s ({gathered:.0f} s, asyncio.gather + AsyncOpenAI)",
            f"{ours / theirs:.2f}x",
            "-",
            None,
            f"--concurrency {CONCURRENCY} and a semaphore of {CONCURRENCY}, each in a fresh "
            "kernel on the same local server; the map also checks the cache, writes the "
            "ledger and the cache and draws its panel",
        ),
        Row(
            f"--map {BIG_ROWS:,} rows: the kernel's peak memory",
            size(peak),
            f"{size(growth)} grown over the run",
            "-",
            "-",
            None,
            "the kernel's peak RSS during the run (VmHWM, reset just before it), and that "
            "minus its RSS before (the rows are made before)",
        ),
        Row(
            f"--map {BIG_ROWS:,} rows: the answer cache on disk",
            size(run_disk),
            f"{size(run_stored)} of answers",
            f"{run_disk / run_stored:.2f}x",
            f"<= {TARGET_DISK_RATIO:.0f}x",
            run_disk <= TARGET_DISK_RATIO * run_stored,
            "allocated blocks of answers.sqlite (and -wal, -shm) after the run",
        ),
        Row(
            f"answer cache, {CACHE_ANSWERS:,} answers: bytes on disk",
            size(disk),
            f"{size(old_disk)} as one JSON file each",
            f"{disk / stored:.2f}x their {size(stored)}",
            f"<= {TARGET_DISK_RATIO:.0f}x",
            disk <= TARGET_DISK_RATIO * stored,
            f"allocated blocks; {CACHE_ANSWERS / put_seconds:,.0f} puts/s into the file",
        ),
        Row(
            f"%gpt4o usage over {LEDGER_ROWS:,} ledger rows: time",
            ms(view),
            f"{ms(everything)} to read every row (the view before)",
            f"orjupyter.usage() {ms(median(totals))}",
            f"< {TARGET_VIEW_SECONDS:.0f} s",
            view < TARGET_VIEW_SECONDS,
            f"median of {runs} cells, execute_request to execute_reply (the kernel's CPU "
            f"time in the cell: median {ms(median(cpu))}); one run of 100,000 rows, 200 "
            "comparisons, 49,600 single calls",
        ),
        Row(
            f"%gpt4o usage over {LEDGER_ROWS:,} ledger rows: memory",
            f"+{size(view_growth)}",
            f"+{size(old_growth)} to read every row (the view before)",
            "-",
            f"< {size(TARGET_VIEW_BYTES)}",
            view_growth < TARGET_VIEW_BYTES,
            "the kernel's peak RSS during the cell (VmHWM, reset before it) minus its RSS "
            "before, the largest of the cells (after a first view of an empty ledger "
            "loaded its modules)",
        ),
    ]
