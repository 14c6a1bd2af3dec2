"""How long image preparation takes and how big the result is, against a naive baseline.

    /work/venv/bin/python benchmarks/bench_images.py [--runs 5] [--no-memory]

For 1, 12 and 48 MP photo-like images and a 12 MP chart: the median time over `--runs`
runs of `prepare_image` (PIL image → data URL, OpenAI limits) and of the naive baseline
(the full-size image as PNG, base64-encoded), the bytes of each data URL, and the
ratios. Then, in a fresh process, the peak memory `prepare_image` adds on a 100 MP photo.
"""

from __future__ import annotations

import argparse
import base64
import io
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from orjupyter._images import OPENAI_VISION, prepare_image

T = TypeVar("T")


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Photo-like: smooth lighting, soft-edged objects, textured surfaces, sensor grain.

    Built small and upscaled (a real photo's content is smooth at the pixel scale), then
    given per-pixel grain of σ≈3 levels, as a camera at low ISO leaves it.
    """
    rng = np.random.default_rng(seed)
    w, h = max(1, width // 4), max(1, height // 4)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 0.6 + 0.4 * np.cos((x / w - 0.3) * 2.2) * np.cos((y / h - 0.4) * 1.7)
    sky = np.stack([90 + 80 * y / h, 140 + 60 * y / h, 220 - 40 * y / h], axis=-1)
    base = sky * light[..., None]
    for _ in range(14):  # soft objects of varied colour
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.25) * min(w, h)
        mask = np.clip((r - np.hypot(x - cx, y - cy)) / (0.08 * r), 0, 1)[..., None]
        base = base * (1 - mask) + rng.uniform(30, 230, 3) * light[..., None] * mask
    texture = rng.normal(0, 1, (h // 8 + 2, w // 8 + 2)).astype(np.float32)
    texture_image = Image.fromarray(np.uint8(np.clip(128 + 40 * texture, 0, 255)))
    texture = np.asarray(texture_image.resize((w, h), Image.Resampling.BICUBIC), np.float32)
    base += (texture[..., None] - 128) * 0.35
    small = Image.fromarray(np.uint8(np.clip(base, 0, 255)))
    image = small.resize((width, height), Image.Resampling.BICUBIC)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    grain = Image.effect_noise((width, height), 3).convert("RGB")  # centred on 128
    return ImageChops.add(image, grain, offset=-128)


def chart(width: int, height: int) -> Image.Image:
    """A chart as matplotlib draws one: white, grid, lines, coloured labels."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, height // 45))
    for x in range(0, width, width // 16):
        draw.line([(x, 0), (x, height)], fill=(225, 225, 225), width=max(1, width // 1600))
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
    for k, colour in enumerate(colours):
        points = [
            (x, height * (0.5 + 0.3 * np.sin(x / width * (6 + 3 * k) + k)))
            for x in range(0, width, 6)
        ]
        draw.line(points, fill=colour, width=max(2, width // 500))
    for i in range(40):
        xy = (width * (0.03 + 0.19 * (i % 5)), height * (0.04 + 0.12 * (i // 5)))
        draw.text(xy, f"series {i}: {i * 37.5:.1f} ms", fill=colours[i % 4], font=font)
    return image


def naive(image: Image.Image) -> str:
    """The baseline: the full-size image as PNG, base64-encoded."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def median_time(action: Callable[[], T], runs: int) -> tuple[float, T]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def table(runs: int) -> None:
    cases = [
        ("photo 1 MP", lambda: photo(1155, 866)),
        ("photo 12 MP", lambda: photo(4000, 3000)),
        ("photo 48 MP", lambda: photo(8000, 6000)),
        ("chart 12 MP", lambda: chart(4000, 3000)),
    ]
    print(f"median of {runs} runs; prepare_image with OpenAI limits; naive = full PNG base64")
    header = (
        f"{'image':<12} {'source':>10} {'sent':>9} {'fmt':>4} {'prepare':>9} {'URL bytes':>10}"
        f" {'naive':>9} {'naive bytes':>12} {'bytes ÷':>8} {'time ÷':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, make in cases:
        image = make()
        ours_s, part = median_time(lambda image=image: prepare_image(image), runs)
        naive_s, url = median_time(lambda image=image: naive(image), runs)
        fmt = part.media_type.split("/")[1]
        print(
            f"{name:<12} {image.width:>5}x{image.height:<4} {part.width:>4}x{part.height:<4}"
            f" {fmt:>4} {ours_s * 1000:>6.0f} ms {len(part.data_url):>10,}"
            f" {naive_s * 1000:>6.0f} ms {len(url):>12,}"
            f" {len(url) / len(part.data_url):>7.0f}x {naive_s / ours_s:>6.0f}x"
        )


def memory() -> None:
    """Peak memory prepare_image adds on a 100 MP photo (run in a fresh process)."""
    image = photo(11548, 8660)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    part = prepare_image(image, limits=OPENAI_VISION)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"100 MP photo ({image.width}x{image.height}, {image.width * image.height * 3 >> 20} MiB"
        f" of pixels) → {part.width}x{part.height} {part.media_type} in {took * 1000:.0f} ms;"
        f" peak memory added: {(after - before) >> 10} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        memory()
        return
    table(args.runs)
    if not args.no_memory:
        print()
        subprocess.run([sys.executable, __file__, "--memory-only"], check=True)


if __name__ == "__main__":
    main()
