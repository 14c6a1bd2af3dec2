"""The exact bill of a stopped or failed call, where a person sees it: the `-o` variable
(replaced when its estimate is settled) and `%gpt4o reconcile`."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from orjupyter.core.domain import Reply, format_cost

if TYPE_CHECKING:
    from orjupyter.jupyter.magic import OrJupyterMagics


def settled_into(
    namespace: MutableMapping[str, Any], output: str | None
) -> Callable[[Reply], None] | None:
    """Put a reply's exact bill into `namespace[output]` while it still holds that reply."""
    if not output:
        return None

    def settled(reply: Reply) -> None:
        held = namespace.get(output)
        if isinstance(held, Reply) and held.id == reply.id and held.usage.cost_is_estimate:
            namespace[output] = replace(held, usage=reply.usage)

    return settled


def reconcile(magics: OrJupyterMagics) -> None:
    """`%gpt4o reconcile`: settle this notebook's estimated calls with OpenRouter's bill."""
    session = magics.session
    settled, left, change = magics._sync(session.reconcile(magics.notebook().key))
    if settled + left == 0:
        print("No estimated calls in this notebook: every cost is OpenRouter's bill.")
        return
    sign = "+" if change >= 0 else "-"
    print(
        f"Settled {settled} estimated call{'s' if settled != 1 else ''} with OpenRouter's "
        f"bill ({sign}{format_cost(abs(change))}); {left} still estimated (OpenRouter "
        "does not know their generation)."
    )
