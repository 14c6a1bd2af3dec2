"""orjupyter: OpenRouter's models, native to Jupyter.

    %load_ext orjupyter

    %%gpt4o -o review
    What is wrong with this chart? {fig}

Importing this package is cheap: the SDK, Pillow and ipywidgets load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orjupyter.core.domain import Reply, Totals, Usage

__all__ = [
    "Reply",
    "Totals",
    "Usage",
    "load_ipython_extension",
    "tool",
    "unload_ipython_extension",
    "usage",
]
__version__ = "0.1.0"


_DOMAIN = ("Reply", "Totals", "Usage")


def __getattr__(name: str) -> Any:
    """`orjupyter.Reply`, `Totals` and `Usage`, imported when first asked for."""
    if name in _DOMAIN:
        from orjupyter.core import domain

        return getattr(domain, name)
    raise AttributeError(f"module 'orjupyter' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext orjupyter`: register `%%gpt4o` and its settings."""
    from orjupyter.jupyter.config import OrJupyter
    from orjupyter.jupyter.magic import register

    settings = OrJupyter(parent=ipython)
    ipython.configurables.append(settings)
    register(ipython, settings)
    if getattr(ipython, "kernel", None) is not None:
        _warm_up()


WARM_UP = (
    "openai",
    "openai.resources.chat.chat",  # the SDK's own first request imports these too
    "openai.resources.chat.completions",
    "openai.lib.streaming.chat",
    "httpcore2",
    "anyio._backends._asyncio",
    "truststore",
    "orjupyter.jupyter.execution",
    "orjupyter.jupyter.asking",
    "orjupyter.store.base",
    "orjupyter.store.ledger",
    "orjupyter.store.cache",
    "ipywidgets",
    "anywidget",
    "orjupyter.jupyter.actions",
    "orjupyter.jupyter.panel",
    "orjupyter.jupyter.answer_stream",
    "orjupyter.render.live",
)
"""What the first call in a kernel needs before its first token beyond what `%load_ext`
imports, in the order it needs it: the SDK (with the parts it loads on its first
request), the call path, the ledger, the widgets and the panel. Not what only some cells
need (describing a DataFrame, a PDF, an image, `--schema`, `--tools`, `--map`, the team
ledger): those are imported by the first cell that uses them."""
LATER = ("orjupyter.render.parser", "pygments.lexers", "pygments.formatters")
"""What an answer needs only once its first words are shown: Markdown rendering (at its
first line end) and what a code block needs. Imported while no call is running, one
module at a time, so that it never competes with a call on its way to its first token."""


GC_PAUSE_LIMIT = 10.0
"""Seconds at most that the warm-up keeps Python's cyclic garbage collector paused."""


def _warm_up() -> None:
    """Import what the first call needs in the background, while the person types. A call
    sent before it is done waits only for the module being imported (each import has its
    own lock), so it never imports anything twice.

    The cyclic garbage collector is paused meanwhile (unless it was off already): these
    imports make some 100,000 objects, whose full collections would cost the first call
    tens of milliseconds before its first token. It resumes once the imports are done and
    no call is running (the first call, if one started, has ended), and after
    `GC_PAUSE_LIMIT` seconds at most, with one collection here, in this thread."""
    import gc
    import importlib
    import threading
    import time

    from orjupyter.jupyter.magic import NO_CALL_RUNNING, WARMED

    paused = gc.isenabled()
    if paused:
        gc.disable()
    started = time.monotonic()
    WARMED.clear()

    def load() -> None:
        try:
            try:
                _import_all(importlib, WARM_UP)
            finally:
                WARMED.set()
            NO_CALL_RUNNING.wait(max(0.0, GC_PAUSE_LIMIT - (time.monotonic() - started)))
        finally:
            if paused:
                gc.enable()
                gc.collect()
        for name in LATER:
            NO_CALL_RUNNING.wait()
            _import_all(importlib, (name,))

    threading.Thread(target=load, name="orjupyter-warm-up", daemon=True).start()


def _import_all(importlib: Any, names: tuple[str, ...]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # the call itself will report a broken install
            continue


def unload_ipython_extension(ipython: Any) -> None:
    from orjupyter.jupyter.magic import unregister

    unregister(ipython)


def tool(function: Any = None, *, approve: bool = False) -> Any:
    """Mark a function offered with `--tools`: `@orjupyter.tool(approve=True)` makes each
    of its calls wait for a person's Approve (or y in a terminal). The function itself is
    returned unchanged, so it still works as before."""

    def mark(target: Any) -> Any:
        target.__orjupyter_approve__ = approve
        return target

    return mark if function is None else mark(function)


def usage() -> Totals:
    """This notebook's running totals (calls, tokens, US dollars), from the ledger: they
    survive kernel restarts."""
    from IPython import get_ipython

    shell = get_ipython()
    magics = shell.magics_manager.registry.get("OrJupyterMagics") if shell else None
    if magics is None:
        from orjupyter.core.domain import Totals

        return Totals()
    totals: Totals = magics.session.totals(magics.notebook().key)
    return totals
