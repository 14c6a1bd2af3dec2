"""How long the response cache takes: get() on a hit and a miss, put(), request_key().

    /work/venv/bin/python benchmarks/bench_cache.py [--runs 200] [--entries 1000]

For a small (~200 B) and a 100 kB answer: the median over `--runs` runs, on a warm
folder already holding `--entries` other answers. A hit must stay under 2 ms.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal

from orjupyter.core.cache_key import request_key
from orjupyter.core.domain import Usage
from orjupyter.store.cache import CachedAnswer, ResponseCache


def answer(size: int) -> CachedAnswer:
    line = "The cat sits on the mat, looking at the camera with mild interest.\n"
    return CachedAnswer(
        text=(line * (size // len(line) + 1))[:size],
        model="openai/gpt-4o-2024-11-20",
        generation_id="gen-1234567890",
        usage=Usage(prompt_tokens=1200, completion_tokens=size // 4, cost=Decimal("0.0042")),
        finish_reason="stop",
        created_at=datetime.now(timezone.utc),
    )


def key(i: int | str) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def median_ms(runs: int, action: Callable[[int], object]) -> float:
    times = []
    for i in range(runs):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        cache = ResponseCache(directory)
        filler = answer(2000)
        for i in range(args.entries):
            cache.put(key(f"filler {i}"), filler)
        print(f"{args.entries} entries already in the folder, median of {args.runs} runs\n")
        print(f"{'answer':>8} | {'get hit':>9} | {'get miss':>9} | {'put':>9}")
        print(f"{'-' * 8}-+-{'-' * 9}-+-{'-' * 9}-+-{'-' * 9}")
        for label, size in (("200 B", 200), ("100 kB", 100_000)):
            stored = answer(size)
            put = median_ms(args.runs, lambda i, a=stored, s=size: cache.put(key((s, i)), a))
            hit = median_ms(args.runs, lambda i, s=size: cache.get(key((s, i))))
            miss = median_ms(args.runs, lambda i, s=size: cache.get(key(("miss", s, i))))
            assert cache.get(key((size, 0))) == stored
            print(f"{label:>8} | {hit:6.3f} ms | {miss:6.3f} ms | {put:6.3f} ms")
        image = "data:image/png;base64," + base64.b64encode(bytes(1_500_000)).decode()
        request = {
            "model": "openai/gpt-4o-2024-11-20",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": image, "detail": "auto"}},
                    ],
                }
            ],
        }
        keying = median_ms(args.runs, lambda _: request_key(request))
        print(f"\nrequest_key() with a 1.5 MB image: {keying:.3f} ms")


if __name__ == "__main__":
    main()
