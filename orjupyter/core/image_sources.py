"""Notebook values → PIL images: which values are images, and how each becomes one.

Pure: PIL only, imported when first needed (numpy and matplotlib are touched only when
the value comes from them); no IPython, no network. `to_image` takes a PIL image as it is,
renders a matplotlib figure, converts a numpy array and decodes a file or bytes (within
PIL's decompression-bomb limit); any other value is not an image and goes as text.
`prepare_image` (in `core/images.py`) then sizes and encodes the image for the model.
"""

from __future__ import annotations

import io
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, cast

from orjupyter.core.domain import Detail, ImagePart
from orjupyter.core.errors import ImageError
from orjupyter.core.files import read_regular
from orjupyter.core.images import GENERIC_VISION, SOURCE_SIZE, one_line

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["SOURCES", "ImageSource", "image_kinds", "image_maker", "source_for", "to_image"]

_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


def to_image(value: object, *, forced: bool = False) -> Image.Image | None:
    """`value` as a PIL image, or None when it is not image-like (send it as text).

    The first row of `SOURCES` that claims the value converts it (with `forced`, also a
    row that `may_claim` it: `{arr:image}` for a float array). Array values: uint8 as
    they are; booleans → 0/255; floats in [0, 1] x 255, other floats by their actual range;
    other integers that fit 0..255 as they are, wider ones scaled from
    min(0, lowest)..max(255, highest) to 0..255. Files and bytes keep PIL's
    decompression-bomb limit (twice `PIL.Image.MAX_IMAGE_PIXELS`). Raises `ImageError`.
    """
    source = source_for(value, forced=forced)
    return source.convert(value) if source else None


def source_for(value: object, *, forced: bool = False) -> ImageSource | None:
    """The row of `SOURCES` that claims `value` (cheap: never imports Pillow). `forced`:
    the user asked for an image (`{value:image}`), so a row's `may_claim` counts too."""
    return next(
        (
            source
            for source in SOURCES
            if source.claims(value) or (forced and source.may_claim(value))
        ),
        None,
    )


def image_maker(
    model: str, *, forced: bool = False
) -> Callable[[object, Detail], ImagePart | None]:
    """What the prompt builder calls for each `{value}`: an image part sized for `model`,
    or None when the value is not an image (it then goes as text). `forced` (for
    `{value:image}`) also takes what a row only `may_claim`, such as a float array."""

    def make(value: object, detail: Detail) -> ImagePart | None:
        if source_for(value, forced=forced) is None:
            return None
        from orjupyter.core.images import limits_for, prepare_image

        image = to_image(value, forced=forced)
        return None if image is None else prepare_image(image, detail, limits_for(model))

    return make


def _module(value: object) -> str:
    return type(value).__module__


def _is_pil(value: object) -> bool:
    pil = sys.modules.get("PIL.Image")  # not imported yet: value cannot be a PIL image
    return pil is not None and isinstance(value, pil.Image)


def _is_array(value: object) -> bool:
    # Scalars and 1-D arrays are numbers, not pictures: even {arr:image} sends them as text.
    return _module(value).startswith("numpy") and len(getattr(value, "shape", ())) >= 2


def _is_image_array(value: object) -> bool:
    """uint8 shaped (H, W), (H, W, 3) or (H, W, 4): pixels. Any other array is data."""
    if not _is_array(value) or str(getattr(value, "dtype", "")) != "uint8":
        return False
    shape = tuple(getattr(value, "shape", ()))
    return 0 not in shape and (len(shape) == 2 or (len(shape) == 3 and shape[2] in (3, 4)))


def _is_image_bytes(value: object) -> bool:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        return False
    head = bytes(value[:12])
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _from_bytes(value: Any) -> Image.Image:
    return _open(io.BytesIO(bytes(value)), "image")


@dataclass(frozen=True)
class ImageSource:
    """One kind of notebook value that travels as an image."""

    name: str
    """What the kind is called in messages, the help (`image_kinds`) and the user guide's table."""
    claims: Callable[[object], bool]
    """Cheap test on the value's type; must not import Pillow, numpy or matplotlib."""
    convert: Callable[[Any], Image.Image | None]
    may_claim: Callable[[object], bool] = lambda _value: False
    """What the row also takes when the user asks for an image (`{value:image}`)."""


def _open(file: io.BytesIO, what: str) -> Image.Image:
    """Decode an image file, keeping PIL's decompression-bomb limit; reduce huge JPEGs."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Between MAX_IMAGE_PIXELS and twice that PIL only warns; it is reduced at once.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(file)
            size = image.size
            if image.format == "JPEG":  # decode at 1/2, 1/4, 1/8 while ≥ 2 x 2048 remains
                fit = min(1.0, 2 * GENERIC_VISION.max_side / max(size))
                image.draft(None, (max(1, int(size[0] * fit)), max(1, int(size[1] * fit))))
                if image.size != size:  # prepare_image reports the file's size
                    image.info[SOURCE_SIZE] = (size, image.size)
            image.load()
    except Image.DecompressionBombError as error:
        found = re.search(r"\((\d+) pixels\)", str(error))
        pixels = f"{int(found[1]):,} pixels" if found else "too many pixels"
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise ImageError(
            f"{what} is too large to open safely ({pixels}; the limit is {limit:,}); "
            "downscale it first, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust it"
        ) from error
    except UnidentifiedImageError as error:
        raise ImageError(
            f"{what} is not an image PIL can read (or is corrupt); "
            "save it as PNG, JPEG, GIF or WebP"
        ) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(
            f"{what} is corrupt or truncated: {one_line(error)}; re-save it or pass a PIL image"
        ) from error
    return image


MAX_IMAGE_FILE_BYTES = 256 * 2**20
"""An image file larger than this is not read (no photo is; a model sees at most 2048 px)."""


def _from_path(path: PurePath) -> Image.Image:
    def too_big(size: int) -> str:
        return f"{path} is {size / 2**20:,.0f} MB, too large for an image file; pass a smaller one"

    data = read_regular(path, MAX_IMAGE_FILE_BYTES, noun="image", error=ImageError, too_big=too_big)
    return _open(io.BytesIO(data), f"image file {path}")


def _from_figure(value: Any) -> Image.Image | None:
    module = type(value).__module__
    if not module.startswith(("matplotlib.figure", "matplotlib.axes")):
        return None
    figure = value.figure.figure  # an Axes's (sub)figure's root figure; a Figure is its own
    if not hasattr(figure, "savefig"):
        return None
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi="figure", bbox_inches="tight")
    buffer.seek(0)
    return _open(buffer, "rendered figure")


def _from_array(array: Any) -> Image.Image:
    import numpy as np
    from PIL import Image

    shape = tuple(int(n) for n in array.shape)
    if len(shape) == 3 and shape[2] == 1:
        array, shape = array[:, :, 0], shape[:2]
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (3, 4))) or 0 in shape:
        hint = " (channels first? use array.transpose(1, 2, 0))" if shape[0] in (3, 4) else ""
        raise ImageError(
            f"unsupported array shape {shape}; pass HxW (grayscale), HxWx3 (RGB) "
            f"or HxWx4 (RGBA){hint}"
        )
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        data = array
    elif kind == "b":
        data = array.astype(np.uint8) * np.uint8(255)
    elif kind == "f":
        finite = array[np.isfinite(array)]
        lowest, highest = (float(finite.min()), float(finite.max())) if finite.size else (0, 1)
        if lowest >= 0 and highest <= 1:
            lowest, highest = 0.0, 1.0
        array = np.nan_to_num(array, nan=lowest, posinf=highest, neginf=lowest)
        data = _scaled(np, array, lowest, highest)
    elif kind in "iu":
        lowest, highest = int(array.min()), int(array.max())
        if lowest >= 0 and highest <= 255:
            data = array.astype(np.uint8)
        else:
            data = _scaled(np, array, min(lowest, 0), max(highest, 255))
    else:
        raise ImageError(
            f"unsupported array dtype {array.dtype}; pass integers, floats or booleans"
        )
    return Image.fromarray(np.ascontiguousarray(data))


def _scaled(np: Any, array: Any, lowest: float, highest: float) -> Any:
    """`lowest..highest` → uint8 0..255 (one float32 copy of an array the user has)."""
    out = array.astype(np.float32)
    out -= lowest
    out *= 255 / (highest - lowest) if highest > lowest else 0.0
    out += 0.5
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


SOURCES: tuple[ImageSource, ...] = (
    ImageSource("a PIL image", _is_pil, lambda image: cast("Image.Image", image)),
    ImageSource(
        "a matplotlib figure or axes", lambda v: _module(v).startswith("matplotlib"), _from_figure
    ),
    ImageSource(
        "a NumPy `uint8` array shaped (H, W), (H, W, 3) or (H, W, 4) (pixels; another 2-D "
        "or 3-D array only as `{arr:image}`)",
        _is_image_array,
        _from_array,
        may_claim=_is_array,
    ),
    ImageSource("a `pathlib.Path` to an image file", lambda v: isinstance(v, PurePath), _from_path),
    ImageSource("the bytes of a PNG, JPEG, GIF or WebP file", _is_image_bytes, _from_bytes),
)
"""Every kind of value that travels as an image, in the order they are tried. A new kind
is one row here: the prompt builder, `to_image`, the `{x:image}` refusal and the help
(`image_kinds`) all read this table. Anything no row claims is described as text
(`core/describe.py`); `{value:image}` also accepts what a row `may_claim`, and
`{value:text}` skips this table."""


def image_kinds() -> str:
    """Every kind of image, as one phrase for messages and the help ("a PIL image, … or …")."""
    names = [source.name for source in SOURCES]
    return ", ".join(names[:-1]) + " or " + names[-1]
