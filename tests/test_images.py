"""Image preparation: sizes, modes, formats, sources and errors, on real PIL images."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageDraw, ImageFont

from orjupyter.core import images as _images
from orjupyter.core.domain import ImagePart
from orjupyter.core.image_sources import to_image
from orjupyter.core.images import (
    GENERIC_VISION,
    OPENAI_VISION,
    ImageError,
    VisionLimits,
    image_tokens,
    limits_for,
    prepare_image,
    sent_size,
)

# ---- images ------------------------------------------------------------------------


def gradient(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A smooth colour gradient (cheap: PIL builds 256x256 and resizes)."""
    ramp = Image.linear_gradient("L")
    rgb = Image.merge("RGB", (ramp, ramp.rotate(90), Image.radial_gradient("L")))
    return rgb.resize((width, height), Image.Resampling.BILINEAR).convert(mode)


def photo(width: int, height: int) -> Image.Image:
    """Photo-like: gradients, soft shapes, blotchy texture and fine grain."""
    image = gradient(width, height)
    draw = ImageDraw.Draw(image)
    for i in range(6):
        x, y, r = width * (i + 1) // 8, height * ((i * 3) % 5 + 1) // 7, min(width, height) // 6
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(40 * i, 200 - 30 * i, 90 + 20 * i))
    texture = Image.effect_noise((max(1, width // 24), max(1, height // 24)), 30)
    texture = texture.resize((width, height), Image.Resampling.BICUBIC)
    image = Image.blend(image, Image.merge("RGB", (texture, texture, texture)), 0.25)
    grain = Image.effect_noise((width, height), 5).convert("RGB")
    return ImageChops.add(image, grain, offset=-128)


def chart(width: int, height: int) -> Image.Image:
    """A line chart on white: grid, a thick line, coloured labels in small text."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, height // 40))
    for x in range(0, width, max(1, width // 16)):
        draw.line([(x, 0), (x, height)], fill=(220, 220, 220), width=max(1, width // 1600))
    points = [(x, height / 2 + height / 3 * np.sin(x / width * 12)) for x in range(0, width, 8)]
    draw.line(points, fill=(31, 119, 180), width=max(2, width // 400))
    for i in range(24):
        xy = (width * (0.04 + 0.19 * (i % 5)), height * (0.05 + 0.15 * (i // 5)))
        colour = (214, 39, 40) if i % 2 else (0, 0, 0)
        draw.text(xy, f"label {i}: {i * 37.5:.1f} ms", fill=colour, font=font)
    return image


def decode(part: ImagePart) -> Image.Image:
    """The image a model receives, checked against what the part declares."""
    header, _, payload = part.data_url.partition(",")
    assert header == f"data:{part.media_type};base64"
    image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
    assert Image.MIME[image.format] == part.media_type
    assert image.size == (part.width, part.height)
    assert part.nbytes == len(base64.b64decode(payload))
    image.load()
    return image


def encoded(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def mean_abs_error(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


@pytest.fixture(scope="module")
def photo_12mp() -> Image.Image:
    return photo(4000, 3000)


# ---- sizes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "limits", "detail", "expected"),
    [
        ((4000, 3000), OPENAI_VISION, "auto", (1024, 768)),
        ((3000, 4000), OPENAI_VISION, "high", (768, 1024)),
        ((4000, 3000), GENERIC_VISION, "auto", (2048, 1536)),
        ((3000, 4000), GENERIC_VISION, "auto", (1536, 2048)),
        ((1600, 1200), OPENAI_VISION, "auto", (1024, 768)),
        ((1600, 1200), GENERIC_VISION, "auto", (1600, 1200)),
        ((800, 600), OPENAI_VISION, "auto", (800, 600)),
        ((37, 19), OPENAI_VISION, "auto", (37, 19)),
        ((10000, 1000), OPENAI_VISION, "auto", (2048, 205)),
        ((1000, 10000), GENERIC_VISION, "auto", (205, 2048)),
        ((4000, 3000), OPENAI_VISION, "low", (512, 384)),
        ((4000, 3000), GENERIC_VISION, "low", (512, 384)),
        ((3000, 4000), OPENAI_VISION, "low", (384, 512)),
        ((300, 200), OPENAI_VISION, "low", (300, 200)),
        ((100_000, 3), OPENAI_VISION, "auto", (2048, 1)),
    ],
)
def test_sent_size(size, limits, detail, expected):
    assert sent_size(*size, detail, limits) == expected


@pytest.mark.parametrize(
    ("size", "limits", "detail"),
    [
        ((4000, 3000), OPENAI_VISION, "auto"),
        ((2000, 6000), OPENAI_VISION, "auto"),
        ((5000, 2500), GENERIC_VISION, "auto"),
        ((2500, 1500), OPENAI_VISION, "low"),
        ((640, 480), OPENAI_VISION, "auto"),
        ((640, 480), GENERIC_VISION, "low"),
    ],
)
def test_prepared_image_has_the_sent_size(size, limits, detail):
    part = prepare_image(gradient(*size), detail, limits)
    assert (part.width, part.height) == sent_size(*size, detail, limits)
    assert (part.source_width, part.source_height) == size
    assert part.detail == detail
    decode(part)


def test_a_huge_image_fits_the_limits():
    part = prepare_image(Image.new("L", (12000, 9000), 90))
    assert (part.width, part.height, part.source_width) == (1024, 768, 12000)


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(1, 60_000),
    height=st.integers(1, 60_000),
    detail=st.sampled_from(["auto", "low", "high"]),
    limits=st.sampled_from([OPENAI_VISION, GENERIC_VISION, VisionLimits(1000, 500, 256)]),
)
def test_any_size_fits_without_upscaling_and_keeps_its_shape(width, height, detail, limits):
    w, h = sent_size(width, height, detail, limits)
    assert 1 <= w <= width
    assert 1 <= h <= height
    assert max(w, h) <= (limits.low_detail_side if detail == "low" else limits.max_side)
    if limits.short_side is not None:
        assert min(w, h) <= limits.short_side
    scale = w / width if width >= height else h / height  # set by the long side
    assert abs(min(w, h) - min(width, height) * scale) <= 1


@settings(max_examples=25, deadline=None)
@given(width=st.integers(1, 1500), height=st.integers(1, 1500))
def test_any_small_image_round_trips(width, height):
    part = prepare_image(gradient(width, height), "auto", OPENAI_VISION)
    assert (part.width, part.height) == sent_size(width, height)
    decode(part)


def test_sent_size_rejects_bad_input():
    with pytest.raises(ImageError, match="empty"):
        sent_size(0, 10)
    with pytest.raises(ValueError, match="detail"):
        sent_size(10, 10, "medium")


def test_limits_for():
    assert limits_for("openai/gpt-4o-2024-11-20") is OPENAI_VISION
    assert limits_for("OpenAI/gpt-4.1") is OPENAI_VISION
    assert limits_for("anthropic/claude-3.5-sonnet") is GENERIC_VISION
    assert limits_for("google/gemini-2.0-flash") is GENERIC_VISION


# ---- modes -------------------------------------------------------------------------


def mode_image(mode: str, size: tuple[int, int]) -> Image.Image:
    w, h = size
    if mode == "P":
        return gradient(w, h).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    if mode == "P+transparency":
        image = gradient(w, h).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        image.info["transparency"] = image.getpixel((0, 0))
        return image
    if mode == "P+unused transparency":
        image = Image.new("P", (w, h), 1)
        image.putpalette([0, 0, 0, 200, 30, 30, 250, 250, 250])
        image.info["transparency"] = 2  # no pixel uses index 2
        return image
    if mode in ("RGBA", "LA"):
        image = gradient(w, h, mode)
        alpha = Image.new("L", (w, h), 255)
        ImageDraw.Draw(alpha).rectangle((0, 0, w // 2, h // 2), fill=0)
        image.putalpha(alpha)
        return image
    if mode in ("RGBA opaque", "LA opaque"):
        return gradient(w, h, mode.split(maxsplit=1)[0])
    if mode == "I;16":  # 12-bit data: 0..4095
        return Image.fromarray(np.linspace(0, 4095, w * h).reshape(h, w).astype(np.uint16))
    if mode == "I":
        return Image.fromarray(np.linspace(-1000, 90000, w * h).reshape(h, w).astype(np.int32))
    if mode == "F":
        return Image.fromarray(np.linspace(0.0, 1.0, w * h).reshape(h, w).astype(np.float32))
    return gradient(w, h, mode)


MODES = {  # input mode → (decoded mode, media type or None when it depends on content)
    "RGB": ("RGB", None),
    "RGBA": ("RGBA", "image/png"),
    "RGBA opaque": ("RGB", None),
    "LA": ("LA", "image/png"),
    "LA opaque": ("L", None),
    "P": ("RGB", None),
    "P+transparency": ("RGBA", "image/png"),
    "P+unused transparency": ("RGB", "image/png"),
    "L": ("L", None),
    "1": ("L", None),
    "I;16": ("L", None),
    "I": ("L", None),
    "F": ("L", None),
    "CMYK": ("RGB", None),
    "YCbCr": ("RGB", None),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [(1600, 1200), (2100, 700), (120, 90)])
def test_every_mode(mode, size):
    image = mode_image(mode, size)
    part = prepare_image(image)
    sent = decode(part)
    decoded_mode, media_type = MODES[mode]
    assert sent.mode == decoded_mode
    if media_type:
        assert part.media_type == media_type
    assert (part.width, part.height) == sent_size(*size)
    assert (part.source_width, part.source_height) == size


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_deep_grayscale_maps_its_range_to_8_bits(mode):
    sent = decode(prepare_image(mode_image(mode, (1600, 1200))))
    low, high = sent.getextrema()
    assert low <= 3
    assert high >= 250  # not clipped to white, not left dark
    assert 100 <= np.asarray(sent).mean() <= 155  # a ramp stays a ramp


def test_full_range_16_bit_maps_like_dividing_by_257():
    ramp = np.tile(np.arange(0, 65536, 256, dtype=np.uint16), (64, 1))  # 64x256
    sent = np.asarray(decode(prepare_image(Image.fromarray(ramp))), np.float32)
    assert np.abs(sent - ramp / 257).max() <= 1.5


def test_small_integer_values_stay_as_they_are():
    values = np.tile(np.arange(0, 200, dtype=np.int32), (50, 1))
    sent = np.asarray(decode(prepare_image(Image.fromarray(values))), np.float32)
    assert np.abs(sent - values).max() <= 1


def test_used_transparency_is_kept_and_where_it_was():
    sent = decode(prepare_image(mode_image("RGBA", (1600, 1200))))
    alpha = sent.getchannel("A")
    assert alpha.getpixel((10, 10)) == 0
    assert alpha.getpixel((sent.width - 10, sent.height - 10)) == 255


# ---- formats and quality -----------------------------------------------------------


def test_a_chart_goes_as_png_and_its_text_stays_legible():
    original = chart(2400, 1800)
    part = prepare_image(original)
    assert part.media_type == "image/png"
    sent = decode(part).convert("RGB")
    reference = original.resize(sent.size, Image.Resampling.LANCZOS)
    assert mean_abs_error(sent, reference) < 0.5  # lossless; resampled like LANCZOS
    # Seen at the size a reader would, the text matches the original.
    half = (sent.width // 2, sent.height // 2)
    small = original.resize(half, Image.Resampling.LANCZOS)
    assert mean_abs_error(sent.resize(half, Image.Resampling.LANCZOS), small) < 1.0


def test_a_photo_goes_as_jpeg_close_to_the_original():
    original = photo(2400, 1800)
    part = prepare_image(original)
    assert part.media_type == "image/jpeg"
    sent = decode(part)
    reference = original.resize(sent.size, Image.Resampling.LANCZOS)
    assert mean_abs_error(sent, reference) < 3.0


def test_a_small_screenshot_goes_as_png_unchanged():
    original = chart(600, 400)
    part = prepare_image(original)
    assert part.media_type == "image/png"
    assert mean_abs_error(decode(part), original) == 0


def test_a_photo_on_a_flat_background_goes_as_jpeg():
    image = Image.new("RGB", (1024, 768), "white")
    image.paste(photo(700, 700), (162, 34))  # most pixels are the photo's; ~40 % white
    assert prepare_image(image).media_type == "image/jpeg"


def test_a_graphic_whose_png_is_far_larger_than_its_jpeg_goes_as_jpeg(monkeypatch):
    monkeypatch.setattr(_images, "_looks_like_graphic", lambda image: True)
    assert prepare_image(photo(800, 600)).media_type == "image/jpeg"
    assert prepare_image(chart(800, 600)).media_type == "image/png"


def test_jpeg_keeps_full_colour_resolution():
    data = base64.b64decode(prepare_image(photo(1600, 1200)).data_url.partition(",")[2])
    assert Image.open(io.BytesIO(data)).layers == 3
    from PIL import JpegImagePlugin

    assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(data))) == 0  # 4:4:4


def test_a_12_megapixel_photo_is_a_tenth_of_the_naive_png(photo_12mp):
    part = prepare_image(photo_12mp)
    naive = base64.b64encode(encoded(photo_12mp, "PNG", compress_level=1))
    assert part.media_type == "image/jpeg"
    assert len(part.data_url) <= len(naive) / 10


def test_tokens_of_the_sent_image_equal_those_of_the_source(photo_12mp):
    part = prepare_image(photo_12mp)
    assert image_tokens(part.width, part.height) == image_tokens(4000, 3000) == 765


# ---- tokens ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "detail", "tokens"),
    [
        (1024, 1024, "auto", 765),
        (1024, 1024, "high", 765),
        (2048, 4096, "auto", 1105),
        (4096, 8192, "high", 1105),
        (512, 512, "high", 255),
        (100, 100, "auto", 255),
        (768, 2048, "high", 1445),  # the largest case: 8 tiles
        (4000, 3000, "auto", 765),
        (4000, 3000, "low", 85),
        (10, 10, "low", 85),
    ],
)
def test_image_tokens(width, height, detail, tokens):
    assert image_tokens(width, height, detail) == tokens


# ---- to_image ----------------------------------------------------------------------


def test_a_pil_image_is_itself():
    image = gradient(10, 10)
    assert to_image(image) is image


@pytest.mark.parametrize(
    "value",
    [
        "a string",
        42,
        None,
        b"plain bytes",
        [1, 2],
        {"a": 1},
        np.float64(3.5),
        np.int64(7),
        np.arange(5),
    ],
)
def test_values_that_are_not_images_give_none(value):
    assert to_image(value) is None


def test_a_matplotlib_figure_and_its_axes():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 3), dpi=100)
    axes = figure.add_subplot()
    axes.plot([0, 1, 2], [2, 0, 1])
    axes.set_title("a title")
    image = to_image(figure)
    assert image is not None
    assert 300 <= image.width <= 400  # tight bounding box at the figure's dpi
    assert 200 <= image.height <= 300
    assert prepare_image(image).media_type == "image/png"
    from_axes = to_image(axes)
    assert from_axes is not None
    assert from_axes.size == image.size


@pytest.mark.parametrize(
    ("array", "mode", "expected"),
    [
        (np.full((4, 6), 7, np.uint8), "L", 7),
        (np.full((4, 6, 3), 9, np.uint8), "RGB", (9, 9, 9)),
        (np.full((4, 6, 4), 9, np.uint8), "RGBA", (9, 9, 9, 9)),
        (np.full((4, 6, 1), 9, np.uint8), "L", 9),
        (np.full((4, 6), 0.5), "L", 128),
        (np.full((4, 6, 3), 1.0, np.float32), "RGB", (255, 255, 255)),
        (np.full((4, 6), True), "L", 255),
        (np.full((4, 6), 200, np.int64), "L", 200),
        (np.full((4, 6), 65535, np.uint16), "L", 255),
    ],
)
def test_arrays(array, mode, expected):
    image = to_image(array, forced=True)  # {arr:image}; only uint8 pixels go unasked
    assert image is not None
    assert image.mode == mode
    assert image.size == (6, 4)
    assert image.getpixel((0, 0)) == expected


def pixels(image: Image.Image) -> list[int]:
    return np.asarray(image).ravel().tolist()


def test_array_values_use_their_range():
    floats = to_image(np.array([[-2.0, 0.0, 2.0]]), forced=True)
    assert floats is not None
    assert pixels(floats) == [0, 128, 255]
    wide = to_image(np.array([[0, 500, 1000]]), forced=True)
    assert wide is not None
    assert pixels(wide) == [0, 128, 255]
    sixteen = to_image(np.array([[0, 32768, 65535]], np.uint16), forced=True)
    assert sixteen is not None
    assert pixels(sixteen) == [0, 128, 255]
    with_nan = to_image(np.array([[np.nan, 0.5, 1.0]]), forced=True)
    assert with_nan is not None
    assert pixels(with_nan) == [0, 128, 255]


@pytest.mark.parametrize(
    "array", [np.zeros((4, 6, 2), np.uint8), np.zeros((0, 6)), np.zeros((2, 3, 4, 5))]
)
def test_arrays_of_other_shapes_are_refused(array):
    with pytest.raises(ImageError, match=r"^unsupported array shape .*; pass HxW"):
        to_image(array, forced=True)


def test_a_channels_first_array_gets_a_hint():
    with pytest.raises(ImageError, match=r"channels first\? use array.transpose\(1, 2, 0\)"):
        to_image(np.zeros((3, 40, 60), np.uint8), forced=True)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((500, 400)),  # measurements
        np.zeros((4, 6), np.int64),
        np.zeros((4, 6, 1), np.uint8),
        np.zeros((4, 6, 2), np.uint8),
        np.zeros((3, 40, 60), np.uint8),
        np.zeros((2, 3, 4, 5), np.uint8),
        np.full((4, 6), True),
    ],
)
def test_only_uint8_pixel_arrays_are_images_unasked(array):
    assert to_image(array) is None


def test_a_closed_image_gives_an_image_error():
    image = gradient(50, 40)
    image.close()
    with pytest.raises(ImageError, match="cannot prepare this RGB image"):
        prepare_image(image)


def test_complex_arrays_are_refused():
    with pytest.raises(ImageError, match="dtype"):
        to_image(np.zeros((2, 2), complex), forced=True)


def test_a_path_to_an_image(tmp_path):
    path = tmp_path / "chart.png"
    chart(300, 200).save(path)
    image = to_image(path)
    assert image is not None
    assert image.size == (300, 200)
    assert prepare_image(image).media_type == "image/png"


def test_a_missing_path_says_what_to_do(tmp_path):
    with pytest.raises(ImageError, match=r"no image file at .*missing\.png; check the path"):
        to_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="is a directory"):
        to_image(tmp_path)


def test_a_path_to_something_else(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not an image")
    with pytest.raises(ImageError, match="not an image PIL can read"):
        to_image(path)


@pytest.mark.parametrize(
    ("format", "mime"), [("PNG", "png"), ("JPEG", "jpeg"), ("GIF", "gif"), ("WEBP", "webp")]
)
def test_image_bytes(format, mime):
    data = encoded(gradient(64, 48), format)
    assert to_image(data) is not None
    assert to_image(bytearray(data)) is not None
    assert Image.MIME[format] == f"image/{mime}"


def png_with_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR that announce `width`x`height`, then one empty IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_corrupt_bytes():
    with pytest.raises(ImageError, match=r"^image is corrupt or truncated: .*; re-save it"):
        to_image(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    with pytest.raises(ImageError, match=r"^image is not an image PIL can read \(or is corr"):
        to_image(b"\xff\xd8\xff" + b"\x00" * 50)


@pytest.mark.parametrize("format", ["PNG", "JPEG"])
def test_truncated_bytes(format):
    data = encoded(photo(300, 200), format)
    with pytest.raises(ImageError, match=r"corrupt or truncated: .*; re-save it"):
        to_image(data[: len(data) // 2])


def test_a_decompression_bomb_is_refused():
    with pytest.raises(ImageError, match=r"too large to open safely \(10,000,000,000 pixels"):
        to_image(png_with_header(100_000, 100_000))


def test_an_image_just_over_the_warning_limit_opens_without_a_warning():
    """Between MAX_IMAGE_PIXELS and twice that PIL only warns: not an error here."""
    side = int((Image.MAX_IMAGE_PIXELS or 0) ** 0.5) + 100
    with pytest.raises(ImageError, match="corrupt or truncated"):  # the pixels are missing
        to_image(png_with_header(side, side))


def test_errors_are_one_line():
    for value in (png_with_header(100_000, 100_000), b"\xff\xd8\xff" + b"\x00" * 50):
        with pytest.raises(ImageError) as caught:
            to_image(value)
        assert "\n" not in str(caught.value)


def test_a_truncated_lazy_image_fails_in_prepare():
    data = encoded(photo(300, 200), "JPEG")
    lazy = Image.open(io.BytesIO(data[: len(data) // 2]))
    with pytest.raises(ImageError, match="corrupt or truncated"):
        prepare_image(lazy)


# ---- files: orientation and reduced decoding ---------------------------------------


def test_exif_orientation_is_applied():
    stored = chart(1600, 1200)
    ImageDraw.Draw(stored).rectangle((0, 0, 200, 200), fill=(255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    image = to_image(encoded(stored, "JPEG", quality=95, exif=exif))
    assert image is not None
    part = prepare_image(image)
    assert (part.width, part.height) == (768, 1024)
    assert (part.source_width, part.source_height) == (1200, 1600)
    sent = decode(part).convert("RGB")
    assert sent.getpixel((sent.width - 20, 20))[0] > 200  # the red corner: now top right
    upright = stored.transpose(Image.Transpose.ROTATE_270).resize(sent.size)
    assert mean_abs_error(sent, upright) < 3


def test_a_huge_jpeg_is_decoded_reduced_but_reports_its_size():
    data = encoded(gradient(9000, 6000, "L"), "JPEG", quality=80)
    image = to_image(data)
    assert image is not None
    assert image.size == (4500, 3000)  # libjpeg decoded it at 1/2
    part = prepare_image(image, limits=GENERIC_VISION)
    assert (part.width, part.height) == (2048, 1365)
    assert (part.source_width, part.source_height) == (9000, 6000)
    smaller = image.resize((1000, 667))  # a copy keeps the info, but not the shape claim
    assert prepare_image(smaller).source_width == 1000


# ---- internals that must be exact --------------------------------------------------


def test_banded_conversion_equals_whole(monkeypatch):
    monkeypatch.setattr(_images, "_BAND_PIXELS", 5000)
    image = mode_image("I;16", (333, 251))
    assert _images._convert_reduced(image, "I", 3).tobytes() == (
        image.convert("I").reduce(3).tobytes()
    )
    paletted = mode_image("P+transparency", (333, 251))
    assert _images._convert_reduced(paletted, "RGBA", 2).tobytes() == (
        paletted.convert("RGBA").reduce(2).tobytes()
    )


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "I", "F"])
def test_banded_resampling_equals_whole(monkeypatch, mode):
    monkeypatch.setattr(_images, "_PARALLEL_PIXELS", 0)
    monkeypatch.setattr(_images, "_cores", lambda: 3)
    image = mode_image("RGBA" if mode == "RGBA" else "RGB", (801, 603)).convert(mode)
    whole = image.resize((411, 307), Image.Resampling.LANCZOS)
    banded = _images._lanczos(image, (411, 307))
    difference = np.abs(np.asarray(banded, np.float64) - np.asarray(whole, np.float64))
    assert difference.max() <= (1e-3 if mode == "F" else 0)  # float rounding of the boxes


def test_importing_the_modules_does_not_import_pil():
    import subprocess
    import sys

    code = (
        "import orjupyter.core.images, orjupyter.core.image_sources, sys\n"
        "print('PIL' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_prepared_parts_summarise_without_the_payload():
    part = prepare_image(photo(1600, 1200))
    assert "base64" not in repr(part)
    summary = part.summary().replace("\u00d7", "x")
    assert "1024x768 (from 1600x1200) image/jpeg" in summary
