"""Image preparation: 1, 12 and 48 megapixel PIL images to a request part, against a
naive full-size PNG in base64 (the images and the baseline come from bench_images.py).

The part is what `%%gpt4o` sends for `{image}` with its default model: `prepare_image`
with that model's limits and detail "auto". Bytes are the data URL's length. The two are
timed in turns on the same image object, in this process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from _common import MODEL, Row, log, median, ms, size
from bench_images import naive, photo

from orjupyter.core.images import limits_for, prepare_image

T = TypeVar("T")

CASES = (("1 MP", (1155, 866)), ("12 MP", (4000, 3000)), ("48 MP", (8000, 6000)))
TARGET_SECONDS = 0.150
TARGET_FRACTION = 0.1


def timed(action: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def measure(runs: int, slow_runs: int) -> list[Row]:
    """`slow_runs`: repetitions of the naive 48 MP baseline, which takes ~10 s a run."""
    limits = limits_for(MODEL)
    rows = []
    for name, (width, height) in CASES:
        image = photo(width, height)
        naive_runs = min(runs, slow_runs) if width * height > 20e6 else runs
        log(f"images: {name} photo, {runs} runs ({naive_runs} of the naive baseline)")
        ours: list[float] = []
        theirs: list[float] = []
        url = ""
        for repetition in range(runs):
            seconds, part = timed(lambda image=image: prepare_image(image, "auto", limits))
            ours.append(seconds)
            if repetition < naive_runs:
                seconds, url = timed(lambda image=image: naive(image))
                theirs.append(seconds)
        mine, other = median(ours), median(theirs)
        ours_bytes, naive_bytes = len(part.data_url), len(url)
        fraction = ours_bytes / naive_bytes
        sent = f"{part.width}x{part.height} {part.media_type.split('/')[1].upper()}"
        note = f"median of {runs}" + (f" (naive: {naive_runs})" if naive_runs != runs else "")
        note += f"; {width}x{height} photo-like image, sent as {sent}"
        if name != "12 MP":
            rows.append(
                Row(
                    f"Image {name}: time / bytes",
                    f"{ms(mine)} / {size(ours_bytes)}",
                    f"{ms(other)} / {size(naive_bytes)} (naive)",
                    f"{mine / other:.3f}x / {fraction:.3f}x",
                    "-",
                    None,
                    note,
                )
            )
            continue
        rows.append(
            Row(
                f"Image {name}: time",
                ms(mine),
                f"{ms(other)} (naive PNG+base64)",
                f"{mine / other:.3f}x",
                f"<= {ms(TARGET_SECONDS)}",
                mine <= TARGET_SECONDS,
                note,
            )
        )
        rows.append(
            Row(
                f"Image {name}: bytes",
                size(ours_bytes),
                f"{size(naive_bytes)} (naive PNG+base64)",
                f"{fraction:.3f}x",
                f"<= {TARGET_FRACTION:.1f}x naive",
                fraction <= TARGET_FRACTION,
            )
        )
    return rows
