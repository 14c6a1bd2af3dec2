"""Per-notebook budgets: the money a call may hold, the refusal and the warning.

Pure: standard library only, no IPython, no widgets, no SDK. Amounts are exact `Decimal`
US dollars. The ledger (`store/base.py`) stores budgets and holds a `Reservation` for each
call in flight; this module says what a reservation is, when a call is refused
(`BudgetExceeded`, with a budget that would fit) and when a notebook is warned that it is
close to its budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Context, Decimal

from orjupyter.core.domain import format_cost
from orjupyter.core.errors import NotSent

RESERVATION_TTL = 3600.0
"""Seconds after which a budget reservation no call released is ignored (a killed kernel)."""
WARN_AT = Decimal("0.8")
MAX_BUDGET = Decimal(1_000_000)
"""The largest budget a notebook may have, in US dollars: more is a typo, not a limit."""
FAR_ABOVE = Decimal(2)
"""A bill from `GET /generation` above this many times its call's worst case is not booked."""


@dataclass(frozen=True)
class Reservation:
    """Budget held for one call in flight; `id` is None when the notebook has no budget."""

    id: int | None
    notebook: str
    amount: Decimal


class BudgetExceeded(NotSent):
    """A call refused before sending: it could take the notebook over its budget."""

    def __init__(self, spent: Decimal, held: Decimal, worst_case: Decimal, budget: Decimal) -> None:
        self.spent, self.held, self.worst_case, self.budget = spent, held, worst_case, budget
        self.suggested = suggested_budget(spent + held + worst_case)
        in_flight = f" (+ {dollars(held)} held by calls in flight)" if held else ""
        super().__init__(
            f"refused (nothing was sent): {dollars(spent)}{in_flight} spent of the "
            f"{dollars(budget)} budget, and this call could cost up to "
            f"{dollars(worst_case)}; raise it with `%gpt4o budget {self.suggested}`"
        )


class UnboundedCost(NotSent):
    """A call refused before sending: the notebook has a budget, and the model's price is
    unknown, so what the call could cost cannot be bounded."""

    def __init__(self, model: str) -> None:
        super().__init__(
            f"refused (nothing was sent): this notebook has a budget and {model}'s price is "
            "unknown (OpenRouter lists none, or lists -1 for a router), so the budget cannot "
            "bound this call; pick a model with a listed price (-m), or remove the budget "
            "with `%gpt4o budget off`"
        )


def dollars(amount: Decimal) -> str:
    """Like `format_cost`, but whole cents keep both digits (`$0.50`, `$0.0002725`), and a
    dollar or more that is not whole cents is cut (never rounded up) at four places:
    `$9.9972`, so what is left of a budget is never shown as more than it is."""
    if not amount.is_finite() or abs(amount) >= Decimal("1e12"):
        return format_cost(amount)
    wide = Context(prec=100)
    cents = amount.quantize(Decimal("0.01"), context=wide)
    if cents == amount:
        return f"${cents:,.2f}"
    if abs(amount) < 1:
        return format_cost(amount)
    cut = amount.quantize(Decimal("0.0001"), rounding=ROUND_DOWN, context=wide).normalize(wide)
    places = max(2, -int(cut.as_tuple().exponent))
    return f"${cut:,.{places}f}"


def suggested_budget(needed: Decimal) -> str:
    """The smallest of $0.01, 0.02, 0.05, 0.10, … 1.00, 2.00, 5.00, … that covers `needed`."""
    if not needed.is_finite() or needed > MAX_BUDGET:
        return f"{MAX_BUDGET:.2f}"
    step = Decimal("0.01")
    while True:
        for factor in (1, 2, 5):
            if step * factor >= needed:
                return f"{step * factor:.2f}"
        step *= 10


def budget_warning(spent: Decimal, budget: Decimal | None) -> str | None:
    """One line once a notebook has spent 80% of its budget, else None."""
    if budget is None or budget <= 0 or spent < budget * WARN_AT:
        return None
    share = int(spent * 100 / budget)
    return (
        f"orjupyter: {dollars(spent)} spent of the "
        f"{dollars(budget)} budget ({share}%); raise it with "
        f"`%gpt4o budget {suggested_budget(budget * 2)}`"
    )


PERIODS = {"month": "monthly", "week": "weekly", "day": "daily"}
"""How often a user's or the team's budget starts again (at midnight UTC; weeks on Monday)."""


class SharedBudgetExceeded(BudgetExceeded):
    """A call refused before sending: it could take a user (`whose`) or the whole team
    (`whose` None) over a budget kept on a shared ledger."""

    def __init__(
        self,
        whose: str | None,
        period: str,
        *,
        spent: Decimal,
        held: Decimal,
        worst_case: Decimal,
        budget: Decimal,
    ) -> None:
        super().__init__(spent, held, worst_case, budget)
        self.whose, self.period = whose, period
        owner = f"{whose}'s" if whose is not None else "the team's"
        left = max(budget - spent - held, Decimal(0))
        in_flight = f" (+ {dollars(held)} held by calls in flight)" if held else ""
        who = whose if whose is not None else "--all"
        self.args = (
            f"refused (nothing was sent): {owner} {PERIODS.get(period, period)} budget is "
            f"{dollars(budget)}, {dollars(spent)} spent{in_flight}, {dollars(left)} left, and "
            f"this call could cost up to {dollars(worst_case)}; whoever runs the team's "
            f"ledger can raise it with `python -m orjupyter.team budget {who} {self.suggested}`",
        )


def _owner(whose: str | None) -> str:
    return f"{whose}'s" if whose is not None else "the team's"


def shared_budget_line(
    whose: str | None, period: str, budget: Decimal, spent: Decimal, held: Decimal
) -> str:
    """`%gpt4o budget`'s line for a user's (`whose`) or the team's (None) budget."""
    left = max(budget - spent - held, Decimal(0))
    in_flight = f" (+ {dollars(held)} held by calls in flight)" if held else ""
    owner = _owner(whose)
    return (
        f"{owner[0].upper()}{owner[1:]} {PERIODS.get(period, period)} budget: {dollars(budget)}; "
        f"{dollars(spent)} spent{in_flight}, {dollars(left)} left."
    )


def shared_budget_warning(
    whose: str | None, period: str, spent: Decimal, budget: Decimal
) -> str | None:
    """One line once a user (`whose`) or the team (None) has spent 80% of a budget kept on
    a shared ledger, else None."""
    if budget <= 0 or spent < budget * WARN_AT:
        return None
    share = int(spent * 100 / budget)
    who = whose if whose is not None else "--all"
    return (
        f"orjupyter: {dollars(spent)} spent of {_owner(whose)} {PERIODS.get(period, period)} "
        f"budget of {dollars(budget)} ({share}%); whoever runs the team's ledger can raise it "
        f"with `python -m orjupyter.team budget {who} {suggested_budget(budget * 2)}`"
    )


def overbill_warning(cost: Decimal, worst_case: Decimal | None) -> str | None:
    """One line when a call was billed more than it could cost at list prices (its worst
    case): the bill is booked and counts against budgets and caps at once, but a person
    should know that the server charges more than its price list says."""
    if worst_case is None or cost <= worst_case:
        return None
    return (
        f"orjupyter: the server billed {dollars(cost)} for this call, more than its worst "
        f"case at list prices ({dollars(worst_case)}); the bill is booked and counts against "
        "the budget: check the charge at https://openrouter.ai/activity"
    )


def unbelievable_bill(cost: Decimal, worst_case: Decimal | None) -> str | None:
    """Why a bill from `GET /generation` is not booked (far above its call's worst case),
    or None."""
    if worst_case is None or cost <= worst_case * FAR_ABOVE:
        return None
    return f"billed {dollars(cost)}, far above this call's worst case of {dollars(worst_case)}"
