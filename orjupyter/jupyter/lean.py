"""Widgets that cost the browser less: each opens with what differs from the browser's
defaults, and has no layout or style model unless it is given one.

Every ipywidgets model is a comm the browser is sent whole when it opens, though the
browser's model of the same kind starts from the same defaults (an embedded widget
relies on that: `ipywidgets.embed` drops them). A widget's state is mostly such defaults
(a layout is 36 unset CSS properties), and every widget brings a layout model and often
a style model: each is a message with its own envelope when the panel opens, and one
more when it closes. These widgets leave out what the browser knows already; the
panel's look comes from its stylesheet (`static/answer.css`), so a widget needs a layout
only to be hidden (`hidden()`).

`LeanState` is also what the answer's anywidgets use (`AnswerStream`, `ActionBar`): the
browser knows the base defaults of those (no class, tooltip or layout) and the defaults
their own module assumes (`_module_defaults`).
"""

from __future__ import annotations

import re
from typing import Any

import ipywidgets as widgets
import traitlets
from ipywidgets.widgets.widget import widget_serialization

_IDENTITY = ("_model_name", "_model_module", "_model_module_version")
"""What the browser's widget manager reads to make the model: always sent."""
_CORE = "@jupyter-widgets/"
"""The module of the models whose browser side has every default of the Python side."""
_BASE_DEFAULTS = frozenset({"_dom_classes", "_view_count", "layout", "tabbable", "tooltip"})
"""The defaults every widget model's browser side has (`DOMWidgetModel`'s)."""


class LeanState:
    """A widget whose model opens with the traits that differ from the browser's
    defaults (`Widget.open` sends `get_state()`). A state asked for by name (an update)
    is sent as asked."""

    _always_sent: tuple[str, ...] = ()
    """Traits sent even when they hold their default (some frontends read them)."""
    _module_defaults: tuple[str, ...] = ()
    """Traits whose default the widget's own module assumes when they are not sent."""

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        parent: Any = super()  # the widget class this is mixed into
        state: dict[str, Any] = parent.get_state(key, drop_defaults)
        if key is not None:
            return state
        widget: Any = self
        core = str(widget._model_module).startswith(_CORE)
        for name in list(state):
            kept = name in _IDENTITY or name in self._always_sent
            known = core or name in _BASE_DEFAULTS or name in self._module_defaults
            if not kept and known and _is_default(widget, name, state[name]):
                del state[name]
        return state


def _is_default(widget: Any, name: str, value: Any) -> bool:
    """Whether `value` (as sent) is the trait's default (as it would be sent)."""
    trait = widget.traits()[name]
    default = trait.default_value
    if default is traitlets.Undefined and isinstance(trait, traitlets.Container):
        default = trait.default()  # an empty tuple or list
    elif default is traitlets.Undefined:
        return isinstance(trait, traitlets.Instance) and value is None  # no model given
    if isinstance(default, tuple | list) and isinstance(value, tuple | list):
        return list(default) == list(value)  # a tuple trait may be sent as a list
    to_json = widget.trait_metadata(name, "to_json", widget._trait_to_json)
    return bool(to_json(default, widget) == value)


_COMMENT = re.compile(r"//.*|/\*.*\*/")


def shipped(source: str) -> str:
    """A module as it is sent to the browser: without its comment lines, indentation and
    blank lines, which each answer's model would otherwise carry again. A module whose
    code has a template literal or a block comment over several lines (whose lines are
    not all code) is sent as written."""
    lines = (line.strip() for line in source.splitlines())
    code = [line for line in lines if line and not _COMMENT.fullmatch(line)]
    if any("`" in line or "/*" in line for line in code):
        return source
    return "\n".join(code)


def _lean(base: Any, always_sent: tuple[str, ...] = ()) -> Any:
    """`base` with `LeanState`, and a layout (and style) that is None unless given."""
    optional = {
        name: traitlets.Instance(trait.klass, allow_none=True)
        for name, trait in base.class_traits().items()
        if name in ("layout", "style")
    }
    for trait in optional.values():
        trait.tag(sync=True, **widget_serialization)
    own = {"__module__": __name__, "_always_sent": always_sent, **optional}
    return type(base.__name__, (LeanState, base), own)


HBox = _lean(widgets.HBox)
VBox = _lean(widgets.VBox)
HTML = _lean(widgets.HTML)
Button = _lean(widgets.Button)
Text = _lean(widgets.Text)
Output = _lean(widgets.Output, ("outputs",))  # nbclient's output widget reads its outputs
Layout = _lean(widgets.Layout)


def no_layout() -> Any:
    """A widget's `layout` trait that is None unless a layout is given (for anywidgets,
    which the browser styles from the stylesheet too)."""
    trait = traitlets.Instance(widgets.Layout, allow_none=True)
    return trait.tag(sync=True, **widget_serialization)


def hidden() -> Any:
    """A layout that hides the widgets that share it (one model for all of them)."""
    return Layout(display="none")


def shown(widget: Any, plain: str) -> dict[str, Any]:
    """The output that shows `widget`, and says `plain` where no widget can be drawn."""
    view = {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}
    return {"application/vnd.jupyter.widget-view+json": view, "text/plain": plain}
