"""How long image preparation takes and how big the result is, against a naive baseline.

    /work/venv/bin/python benchmarks/bench_images.py [--runs 5] [--no-memory]

For 1, 12 and 48 MP photo-like images and a 12 MP chart: the median time over `--runs`
runs of `prepare_image` (PIL image → data URL, with OpenAI's and the generic limits) and
of the naive baseline (the full-size image as PNG, base64-encoded), the bytes of each
data URL, and the ratios. Then, each in a fresh process, the time and the peak memory
`prepare_image` adds on a 100 MP photo and a 100 MP paletted image.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from orjupyter.core.images import GENERIC_VISION, OPENAI_VISION, prepare_image

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
        ("photo 1 MP", (1155, 866), photo),
        ("photo 12 MP", (4000, 3000), photo),
        ("photo 48 MP", (8000, 6000), photo),
        ("chart 12 MP", (4000, 3000), chart),
    ]
    print(f"median of {runs} runs; naive = the full-size image as PNG, base64")
    header = (
        f"{'image':<12} {'limits':<7} {'source':>10} {'sent':>9} {'fmt':>4} {'prepare':>9}"
        f" {'URL bytes':>10} {'naive':>9} {'naive bytes':>12} {'bytes ÷':>8} {'time ÷':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, size, make in cases:
        image = make(*size)
        naive_s, url = median_time(lambda image=image: naive(image), runs)
        for label, limits in (("openai", OPENAI_VISION), ("generic", GENERIC_VISION)):
            ours_s, part = median_time(
                lambda image=image, limits=limits: prepare_image(image, limits=limits), runs
            )
            print(
                f"{name:<12} {label:<7} {image.width:>5}x{image.height:<4}"
                f" {part.width:>4}x{part.height:<4} {part.media_type.split('/')[1]:>4}"
                f" {ours_s * 1000:>6.0f} ms {len(part.data_url):>10,}"
                f" {naive_s * 1000:>6.0f} ms {len(url):>12,}"
                f" {len(url) / len(part.data_url):>7.0f}x {naive_s / ours_s:>6.0f}x"
            )


def memory(kind: str) -> None:
    """Peak memory prepare_image adds on a 100 MP image (run in a fresh process)."""
    size = (11548, 8660)
    if kind == "photo":  # built without a large peak: a smaller photo, enlarged
        image = photo(size[0] // 4, size[1] // 4).resize(size, Image.Resampling.BICUBIC)
    else:  # paletted: converted to RGB in bands while reducing
        image = Image.linear_gradient("L").convert("P").resize(size)  # P: nearest
        image.putpalette([v for i in range(256) for v in (i, 255 - i, (3 * i) % 256)])
    rss_before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the RSS now
    start = time.perf_counter()
    part = prepare_image(image, limits=OPENAI_VISION)
    took = time.perf_counter() - start
    added_mib = max(0, _status_kib("VmHWM") - rss_before) >> 10
    pixels = len(image.mode) * image.width * image.height
    print(
        f"100 MP {image.mode:<3} ({image.width}x{image.height}, {pixels >> 20} MiB of pixels)"
        f" → {part.width}x{part.height} {part.media_type} in {took * 1000:.0f} ms;"
        f" peak memory above the image: {added_mib} MiB"
    )


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (Linux), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-only", choices=["photo", "paletted"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        memory(args.memory_only)
        return
    table(args.runs)
    if not args.no_memory:
        print()
        for kind in ("photo", "paletted"):
            subprocess.run([sys.executable, __file__, "--memory-only", kind], check=True)


if __name__ == "__main__":
    main()
