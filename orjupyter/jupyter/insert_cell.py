"""The "Insert as cell" button: the answer's code as a new code cell below the answer.

The work happens in the browser (`static/insert_cell.js`), so the click needs no kernel
round trip and works while other cells run. The kernel only keeps `code` current.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

from orjupyter.jupyter.lean import LeanState, no_layout, shipped

_MODULE = Path(__file__).parent.parent / "static" / "insert_cell.js"


class InsertCellButton(LeanState, anywidget.AnyWidget):
    """A button that adds `code` as a new code cell right below the cell showing `anchor`."""

    _esm = shipped(_MODULE.read_text(encoding="utf-8"))
    layout = no_layout()
    description = traitlets.Unicode("Insert as cell").tag(sync=True)
    code = traitlets.Unicode("").tag(sync=True)
    anchor = traitlets.Unicode("").tag(sync=True)  # model id of the widget the cell shows
