"""Which notebook values travel as images. Pure: plain values never import Pillow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ._domain import Detail, ImagePart
from ._prompt import PromptError

_TEXT_TYPES = (str, int, float, complex, bool, type(None), list, tuple, dict, set)
_IMAGE_MODULES = ("PIL.", "matplotlib.", "numpy")


def _could_be_image(value: object) -> bool:
    """Cheap pre-check so plain values never import Pillow."""
    if isinstance(value, _TEXT_TYPES):
        return False
    if isinstance(value, (bytes, bytearray, Path)):
        return True
    return type(value).__module__.startswith(_IMAGE_MODULES)


def image_maker(model: str) -> Callable[[object, Detail], ImagePart | None]:
    def make(value: object, detail: Detail) -> ImagePart | None:
        if not _could_be_image(value):
            return None
        from ._image_sources import to_image
        from ._images import ImageError, limits_for, prepare_image

        try:
            image = to_image(value)
            return None if image is None else prepare_image(image, detail, limits_for(model))
        except ImageError as exc:
            raise PromptError(str(exc)) from None

    return make
