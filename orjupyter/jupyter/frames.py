"""`--map --schema` answers as a pandas DataFrame that Jupyter never typesets as maths.

Imported only when the answers are a DataFrame (pandas is then loaded already).
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

from orjupyter.render.tables import NO_MATHS

pandas: Any = importlib.import_module("pandas")


class AnswerFrame(pandas.DataFrame):  # type: ignore[misc]  # pandas has no type stubs here
    """A DataFrame whose HTML tells MathJax to leave it alone: a `$` in a model's answer
    is money, not TeX. Frames made from it (`head()`, a filter) are answer frames too."""

    _metadata: ClassVar[list[str]] = []

    @property
    def _constructor(self) -> type[AnswerFrame]:
        return AnswerFrame

    def _repr_html_(self) -> str | None:
        shown: Any = super()._repr_html_()
        return None if shown is None else f'<div class="{NO_MATHS}">{shown}</div>'
