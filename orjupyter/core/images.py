"""Notebook images → `ImagePart`s a vision model can use, and nothing more.

Pure: PIL only, imported when first needed; no IPython, no network. Notebook values
(figures, arrays, paths, bytes) become PIL images in `core/image_sources.py`.

The sizing and format rules are in `prepare_image`'s docstring.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orjupyter.core.domain import DETAILS, Detail, ImagePart
from orjupyter.core.errors import ImageError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "GENERIC_VISION",
    "OPENAI_VISION",
    "SOURCE_SIZE",
    "ImageError",
    "VisionLimits",
    "image_tokens",
    "limits_for",
    "one_line",
    "prepare_image",
    "sent_size",
]

JPEG_QUALITY = 90
SOURCE_SIZE = "orjupyter_source_size"
"""`Image.info` key: (file size, decoded size) when a file was decoded at a reduced scale."""
_PNG_OVER_JPEG = 2.5  # a graphic whose PNG is larger than this x its JPEG goes as JPEG
_GRAPHIC_COVERAGE = 0.5  # share of pixels the top colours cover in a graphic
_GRAPHIC_DISTINCT = 8  # a graphic has at most 1/this of its sampled pixels distinct
_TOP_COLOURS = 32
_SAMPLE_SIDE = 256
_REDUCING_GAP = 1.5  # box-reduce only while ≥ 1.5x the target remains
_PARALLEL_PIXELS = 2_000_000  # resample in bands on several cores above this
_BAND_PIXELS = 1 << 20  # convert huge images in bands of about this many pixels
_WORKING_MODES = {"1": "L", "I;16": "I", "I;16L": "I", "I;16B": "I", "I;16N": "I"}
_WORKING_MODES |= {"RGBX": "RGB", "RGBa": "RGBA", "La": "LA", "PA": "RGBA", "HSV": "RGB"}
_RESAMPLED_MODES = {"L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F"}
# EXIF orientation → PIL.Image.Transpose value that shows the image upright
_TRANSPOSITIONS = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}


@dataclass(frozen=True)
class VisionLimits:
    """The largest image a model makes use of."""

    max_side: int = 2048  # no side above this, for every model
    short_side: int | None = 768  # OpenAI rule; None for models that use more
    low_detail_side: int = 512


OPENAI_VISION = VisionLimits()
GENERIC_VISION = VisionLimits(short_side=None)


def limits_for(model: str) -> VisionLimits:
    """OpenAI's models (`openai/…`) see at most 768 px on the short side; others more."""
    return OPENAI_VISION if model.lower().startswith("openai/") else GENERIC_VISION


def sent_size(
    width: int, height: int, detail: Detail = "auto", limits: VisionLimits = OPENAI_VISION
) -> tuple[int, int]:
    """The size a `width`x`height` image is sent at: within the limits, never larger."""
    if width < 1 or height < 1:
        raise ImageError(f"image is empty ({width}x{height}); pass an image with pixels")
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}, not {detail!r}")
    scale = min(1.0, limits.max_side / max(width, height))
    if limits.short_side is not None:
        scale = min(scale, limits.short_side / min(width, height))
    if detail == "low":
        scale = min(scale, limits.low_detail_side / max(width, height))
    if scale >= 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def image_tokens(width: int, height: int, detail: Detail = "auto") -> int:
    """Input tokens GPT-4o bills for an image (OpenAI's rule; `auto` counts as `high`).

    `low` → 85. Otherwise fit 2048x2048, scale the shortest side down to 768 and count
    512-px tiles: 85 + 170 x tiles. 1024x1024 → 765; 2048x4096 → 1105.
    """
    if detail == "low":
        return 85
    w, h = sent_size(width, height, "high", OPENAI_VISION)
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def prepare_image(
    image: Image.Image, detail: Detail = "auto", limits: VisionLimits = OPENAI_VISION
) -> ImagePart:
    """Resize and encode `image` for a vision model: all it can use, nothing more.

    Size: no side above `limits.max_side` (2048) for any model; for OpenAI's models also
    the shortest side at most 768 (they scale it down to that and never see more); with
    `detail="low"` within 512x512. Never upscaled; EXIF orientation applied. Large
    reductions box-reduce (`Image.reduce`) while 1.5 times the target remains, then
    resample with LANCZOS, in bands on several cores: within 49 dB PSNR of a pure
    LANCZOS resize, finer than JPEG's own error.

    Format: transparency that is actually used → PNG (RGBA or LA). Otherwise a cheap
    measurement on a ≤256x256 nearest-neighbour sample of the resized image (it adds no
    colours): when at most 1/8 of the sampled pixels have distinct colours and the 32
    most common colours cover at least half of them, the image is a graphic (screenshot,
    chart, line art, text: flat areas, sharp edges) and goes as lossless PNG, unless
    that PNG is over 2.5 times the size of the same image as JPEG (a photo on a flat
    background). Anything else is a photograph and goes as JPEG, quality 90, without
    chroma subsampling (small coloured text keeps half the error 4:2:0 gives it, for
    ~1.5x the bytes), with optimized Huffman tables.

    Deep grayscale (I;16, I, F) maps its actual range to 8 bits: integers that fit
    0..255 stay; wider ones map min(0, lowest)..max(255, highest); floats in [0, 1] are
    x 255, others map lowest..highest. Raises `ImageError` for images PIL cannot decode.
    """
    from PIL import Image

    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}, not {detail!r}")
    with _as_image_error(image):
        image.load()
        orientation = _orientation(image)
        turned = orientation in (5, 6, 7, 8)  # EXIF: shown rotated by 90°
        width, height = (image.height, image.width) if turned else image.size
        sent_w, sent_h = sent_size(width, height, detail, limits)
        prepared = _finish_mode(_resize(image, (sent_h, sent_w) if turned else (sent_w, sent_h)))
    if orientation != 1:
        prepared = prepared.transpose(Image.Transpose(_TRANSPOSITIONS[orientation]))
    media_type, data = _encode(prepared)
    source_w, source_h = _source_size(image)
    return ImagePart(
        data_url=f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}",
        width=prepared.width,
        height=prepared.height,
        media_type=media_type,
        detail=detail,
        source_width=source_h if turned else source_w,
        source_height=source_w if turned else source_h,
    )


@contextmanager
def _as_image_error(image: Image.Image) -> Iterator[None]:
    """PIL's errors while decoding or converting `image` → one-line `ImageError`s."""
    try:
        yield
    except ImageError:
        raise
    except (OSError, SyntaxError, EOFError) as error:
        raise ImageError(
            f"image is corrupt or truncated: {one_line(error)}; re-save it or pass a PIL image"
        ) from error
    except ValueError as error:  # a mode PIL cannot convert, a closed image
        raise ImageError(
            f"cannot prepare this {image.mode} image: {one_line(error)}; pass image.convert('RGB')"
        ) from error


# ---- resizing ----------------------------------------------------------------------


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` at `size` in a mode PIL resamples well; box-reduce, then LANCZOS."""
    mode = _working_mode(image)
    ratio = min(image.width / size[0], image.height / size[1])
    factor = max(1, int(ratio / _REDUCING_GAP))
    if mode != image.mode:
        image = _convert_reduced(image, mode, factor)
    elif factor > 1:
        image = image.reduce(factor)
    return image if image.size == size else _lanczos(image, size)


def _working_mode(image: Image.Image) -> str:
    if image.mode == "P":
        return "RGBA" if image.has_transparency_data else "RGB"
    if image.mode in _RESAMPLED_MODES:
        return image.mode
    return _WORKING_MODES.get(image.mode, "RGB")


def _convert_reduced(image: Image.Image, mode: str, factor: int) -> Image.Image:
    """`image.convert(mode).reduce(factor)` in bands, so no full-size copy is made."""
    from PIL import Image

    if factor == 1:
        return image.convert(mode)
    width, height = image.size
    rows = factor * max(1, _BAND_PIXELS // (width * factor))
    reduced = Image.new(mode, (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        band = image.crop((0, top, width, min(height, top + rows)))
        reduced.paste(band.convert(mode).reduce(factor), (0, top // factor))
    return reduced


def _lanczos(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """LANCZOS resampling; large images in horizontal bands, one per core (bit-exact)."""
    from PIL import Image

    premultiplied = {"RGBA": "RGBa", "LA": "La"}.get(image.mode)
    source = image.convert(premultiplied) if premultiplied else image
    bands = min(_cores(), size[1]) if image.width * image.height >= _PARALLEL_PIXELS else 1
    if bands == 1:
        resized = source.resize(size, Image.Resampling.LANCZOS)
    else:
        cuts = [round(size[1] * i / bands) for i in range(bands + 1)]
        step = source.height / size[1]

        def band(i: int) -> Image.Image:
            box = (0.0, cuts[i] * step, float(source.width), cuts[i + 1] * step)
            height = cuts[i + 1] - cuts[i]
            return source.resize((size[0], height), Image.Resampling.LANCZOS, box=box)

        with ThreadPoolExecutor(bands) as pool:  # Pillow resamples without the GIL
            parts = list(pool.map(band, range(bands)))
        resized = Image.new(source.mode, size)
        for top, part in zip(cuts, parts, strict=False):
            resized.paste(part, (0, top))
    return resized.convert(image.mode) if premultiplied else resized


def _cores() -> int:
    available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return min(4, len(available) if available else os.cpu_count() or 1)


def _finish_mode(image: Image.Image) -> Image.Image:
    """L, LA, RGB or RGBA; alpha only when some pixel is not opaque."""
    if image.mode in ("I", "F"):
        return _to_8bit(image)
    if image.mode in ("RGBA", "LA"):
        lowest, _ = _extrema(image.getchannel("A"))
        return image.convert(image.mode[:-1]) if lowest >= 255 else image
    return image if image.mode in ("L", "RGB") else image.convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    """32-bit integer or float grayscale → L, mapping the actual range (zero stays black)."""
    lowest, highest = _extrema(image)
    if image.mode == "F" and lowest >= 0 and highest <= 1:
        lowest, highest = 0.0, 1.0
    elif image.mode != "F":
        lowest, highest = min(lowest, 0.0), max(highest, 255.0)
    scale = 255 / (highest - lowest) if highest > lowest else 0.0
    offset = 0.5 - lowest * scale  # + 0.5: the conversion truncates
    return image.point(lambda value: value * scale + offset).convert("L")


def _extrema(image: Image.Image) -> tuple[float, float]:
    lowest, highest = image.getextrema()
    assert isinstance(lowest, (int, float))
    assert isinstance(highest, (int, float))
    return float(lowest), float(highest)


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)  # EXIF Orientation
    except Exception:  # malformed EXIF: show the pixels as they are stored
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSITIONS else 1  # 1: upright


def _source_size(image: Image.Image) -> tuple[int, int]:
    """The file's size when `to_image` decoded a large JPEG at a reduced scale."""
    sizes = image.info.get(SOURCE_SIZE)
    if isinstance(sizes, tuple) and len(sizes) == 2 and sizes[1] == image.size:
        width, height = sizes[0]  # not resized since (copies keep `info`)
        return int(width), int(height)
    return image.size


# ---- encoding ----------------------------------------------------------------------


def _encode(image: Image.Image) -> tuple[str, bytes]:
    if image.mode in ("RGBA", "LA"):
        return "image/png", _save(image, "PNG")
    if _looks_like_graphic(image):
        png, jpeg = _save(image, "PNG"), _save(image, "JPEG")
        if len(png) <= _PNG_OVER_JPEG * len(jpeg):
            return "image/png", png
        return "image/jpeg", jpeg
    return "image/jpeg", _save(image, "JPEG")


def _looks_like_graphic(image: Image.Image) -> bool:
    """Do a few exact colours cover most of the image (flat areas, sharp edges)?"""
    from PIL import Image

    sample = image
    if image.width * image.height > _SAMPLE_SIDE * _SAMPLE_SIDE:
        scale = _SAMPLE_SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        sample = image.resize(size, Image.Resampling.NEAREST)
    pixels = sample.width * sample.height
    colours = sample.getcolors(maxcolors=max(_TOP_COLOURS, pixels // _GRAPHIC_DISTINCT))
    if colours is None:  # too many distinct colours: a photograph (found early, cheaply)
        return False
    top = sorted((count for count, _ in colours), reverse=True)[:_TOP_COLOURS]
    return sum(top) >= _GRAPHIC_COVERAGE * pixels


def _save(image: Image.Image, format: str) -> bytes:
    buffer = io.BytesIO()
    if format == "JPEG":
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=True)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def one_line(error: BaseException) -> str:
    """An error's message on one line (its type's name when it has no message)."""
    return " ".join(str(error).split()) or type(error).__name__
