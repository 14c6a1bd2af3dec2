"""orjupyter's benchmarks: every figure of the performance issue against its baseline, in
one run on this machine, as one table.

    python benchmarks/run.py [--quick] [--only load,first_call,...]

Medians over repeated runs; each module's docstring says exactly what it measures. The
jupyter-ai-magics baseline lives in benchmarks/.venv-baseline, made on first use (a minute
or two, once). The local OpenRouter-compatible server runs in its own process; the
cache and the ledger go to temporary folders. Progress goes to stderr, the table to
stdout. Nothing here asserts: the table is the proof; the exit status is 1 only if a
figure could not be measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the modules beside this file

import big_runs
import cache_hit
import compare
import first_call
import floor
import images
import load
import mapping
import memory
import notebook_context
import stopping
import stream_parts
import streaming
import team_ledger
import tool_loop
import traffic
from _common import FakeServer, Row, log

MODULES = (
    "floor",
    "stream_parts",
    "load",
    "first_call",
    "streaming",
    "traffic",
    "images",
    "memory",
    "cache_hit",
    "context",
    "mapping",
    "compare",
    "stopping",
    "tool_loop",
    "team_ledger",
    "big_runs",
)
COLUMNS = ("figure", "orjupyter", "baseline", "ratio/extra", "target", "met?")


def repetitions(quick: bool) -> dict[str, int]:
    """How many times each figure is measured (medians over these)."""
    if quick:
        return dict(
            load=3,
            shell=3,
            kernel=2,
            stream=2,
            image=3,
            slow=1,
            image_mem=1,
            answer=1,
            hit=10,
            context=2,
            map=3,
            compare=2,
            stop=2,
            tools=3,
            ledger=50,
            big=3,
            parts=3,
        )
    return dict(
        load=7,
        shell=5,
        kernel=5,
        stream=3,
        image=5,
        slow=3,
        image_mem=3,
        answer=5,
        hit=20,
        context=5,
        map=7,
        compare=5,
        stop=5,
        tools=7,
        ledger=300,
        big=5,
        parts=7,
    )


def plan(runs: dict[str, int], server: FakeServer) -> dict[str, Callable[[], list[Row]]]:
    return {
        "floor": lambda: floor.measure(runs["stream"], server),
        "stream_parts": lambda: stream_parts.measure(runs["parts"], server.url),
        "load": lambda: load.measure(runs["load"]),
        "first_call": lambda: first_call.measure(runs["shell"], runs["kernel"], server),
        "streaming": lambda: streaming.measure(runs["stream"], server),
        "traffic": lambda: traffic.measure(runs["stream"], server),
        "images": lambda: images.measure(runs["image"], runs["slow"]),
        "memory": lambda: memory.measure(runs["answer"], runs["image_mem"]),
        "cache_hit": lambda: cache_hit.measure(runs["hit"], server),
        "context": lambda: notebook_context.measure(runs["context"], server),
        "mapping": lambda: mapping.measure(runs["map"], server),
        "compare": lambda: compare.measure(runs["compare"], server),
        "stopping": lambda: [
            *stopping.measure(runs["stop"], server),
            *stopping.measure_costly(runs["stop"]),
        ],
        "tool_loop": lambda: tool_loop.measure(runs["tools"], server),
        "team_ledger": lambda: team_ledger.measure(runs["ledger"]),
        "big_runs": lambda: big_runs.measure(runs["big"], server),
    }


def table(rows: list[Row]) -> str:
    cells = [COLUMNS] + [
        (
            row.figure,
            row.ours,
            row.baseline,
            row.compare,
            row.target,
            "-" if row.met is None else "yes" if row.met else "NO",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [
        " | ".join(text.ljust(width) for text, width in zip(line, widths, strict=True))
        for line in cells
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def notes(rows: list[Row]) -> str:
    return "\n".join(f"- {row.figure}: {row.note}" for row in rows if row.note)


def revision() -> str:
    """The commit measured, and whether the package had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--", "orjupyter"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"orjupyter at {head}" + (" with uncommitted changes" if dirty else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (~1.5 min)")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(MODULES)}")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(MODULES)
    unknown = set(chosen) - set(MODULES)
    if unknown:
        parser.error(f"unknown module(s): {', '.join(sorted(unknown))}")
    runs = repetitions(args.quick)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    rows: list[Row] = []
    failed = False
    with FakeServer() as server:
        log(f"local server at {server.url}")
        steps = plan(runs, server)
        for name in chosen:
            begun = time.perf_counter()
            try:
                rows += steps[name]()
                log(f"  ({name}: {time.perf_counter() - begun:.0f} s)")
            except Exception as exc:
                failed = True
                traceback.print_exc()
                rows.append(Row(name, f"n/a ({exc})", "-", "-", "-", None))
    load_after = os.getloadavg()[0]
    elapsed = time.perf_counter() - started
    print(
        f"orjupyter benchmarks{' (--quick)' if args.quick else ''}, {revision()}: Python "
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"load average {load_before:.1f} before, {load_after:.1f} after; {elapsed:.0f} s"
    )
    if max(load_before, load_after) > 1.0:
        print("(other processes were busy on this machine: figures may be noisy)")
    print()
    print(table(rows))
    print()
    print("Notes (repetitions, ranges, what was counted):")
    print(notes(rows))
    missed = [row.figure for row in rows if row.met is False]
    print()
    print(f"targets missed: {len(missed)} of {sum(row.met is not None for row in rows)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
