"""The exact bill of a stopped or failed call, where a person sees it: the `-o` variable
(replaced when its estimate is settled) and `%gpt4o reconcile`."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from orjupyter.core.domain import Reply, format_cost
from orjupyter.core.terminal import printable

if TYPE_CHECKING:
    from orjupyter.jupyter.magic import OrJupyterMagics
    from orjupyter.store.columns import CallRecord


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
    """`%gpt4o reconcile`: settle this notebook's estimated calls with OpenRouter's bill,
    and say what changed, call by call."""
    done = magics._sync(magics.session.reconcile(magics.notebook().key))
    if not (done.settled or done.left):
        print("No estimated calls in this notebook: every cost is OpenRouter's bill.")
        return
    settled, change = len(done.settled), done.change
    sign = "+" if change >= 0 else "-"
    unknown = f" ({done.unknown} unknown to OpenRouter so far)" if done.unknown else ""
    print(
        f"Settled {settled} estimated call{'s' if settled != 1 else ''} with OpenRouter's "
        f"bill ({sign}{format_cost(abs(change))}); {done.left} still estimated{unknown}."
    )
    for call, usage in done.settled:
        print(
            f"  {_call(call)}: {format_cost(call.usage.cost, estimate=True)} → "
            f"{format_cost(usage.cost)}"
        )
    if done.refused:
        print("Not settled (the estimate is kept):")
    for call, why in done.refused:
        print(f"  {_call(call)} {printable(call.generation_id[:60])}: {printable(why)}")


def _call(call: CallRecord) -> str:
    return f"{call.cell or '[?]'} {printable(call.model[:60])}"
