"""Objects that describe themselves: `_repr_llm_()` or a `text/llm+plain` mimebundle entry. Pure.

A library can say what a model should read about its objects, as `_repr_html_` says what
a notebook shows. The convention is the repr_llm proposal's: a `_repr_llm_()` method that
returns plain text (IPython serves it as the `text/llm+plain` mimetype when a formatter
for it is registered, as nteract's kernel launcher does), or a `text/llm+plain` entry in
what `_repr_mimebundle_()` returns. Either is tried before orjupyter's own describers.

The method is looked up on the value's type (as IPython does, so a proxy that answers
every attribute is not taken for one). It may return None to decline (IPython's rule
for formatters): the value is then described as any other. A method that raises, or
returns something that is not text, is not trusted: the value is described by orjupyter
instead, and the note on the status line says why. A description longer than the cap is
cut, with a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from orjupyter.core.describe_data import Description, shortened

LLM_MIMETYPE = "text/llm+plain"
"""The mimetype of a description written for a model (the repr_llm proposal)."""
_INSTEAD = "described by orjupyter instead"


def own_description(value: object, name: str, limit: int) -> tuple[Description | None, str]:
    """The value's own description within `limit` characters, or None and, when its
    method failed, a note saying so (the caller describes the value itself)."""
    try:
        found = _own_text(value)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the library's code: anything, a Rust panic included
        return None, f"{name}: its {_method(value)} raised {type(exc).__name__}; {_INSTEAD}"
    if found is None:
        return None, ""
    if not isinstance(found, str):
        kind = type(found).__name__
        return None, f"{name}: its {_method(value)} returned {kind}, not str; {_INSTEAD}"
    if len(found) > limit:
        return Description(shortened(found, limit), f"{name}: its own description, shortened"), ""
    return Description(found), ""


def _own_text(value: object) -> object:
    """What the value says of itself (None when it says nothing)."""
    kind, speaker = type(value), cast(Any, value)  # its methods are looked up on its type
    if callable(getattr(kind, "_repr_llm_", None)):
        return speaker._repr_llm_()
    if not callable(getattr(kind, "_repr_mimebundle_", None)):
        return None
    bundle: Any = speaker._repr_mimebundle_(include=[LLM_MIMETYPE], exclude=None)
    if isinstance(bundle, tuple) and bundle:  # (data, metadata), as IPython allows
        bundle = bundle[0]
    return bundle.get(LLM_MIMETYPE) if isinstance(bundle, Mapping) else None


def _method(value: object) -> str:
    if callable(getattr(type(value), "_repr_llm_", None)):
        return "_repr_llm_()"
    return f"_repr_mimebundle_() ({LLM_MIMETYPE})"
