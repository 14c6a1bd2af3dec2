"""The team's spend, as a person reads it: by user and by model (`%gpt4o usage --team`,
`python -m orjupyter.team report`), and as CSV (`user,calls,cost`, one row per user).
"calls" are the calls sent (billed); answers from the cache are counted apart."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from orjupyter.core.budget import PERIODS, dollars
from orjupyter.render.tables import Bundle, bundle, html_table, text_table
from orjupyter.store.team import TeamUsage


def _share(part: Decimal, whole: Decimal) -> str:
    return f"{part * 100 / whole:.0f}%" if whole > 0 else "—"


def _budgets(usage: TeamUsage) -> dict[str | None, str]:
    return {user: f"{dollars(amount)} {PERIODS.get(period, period)}"
            for user, period, amount in usage.budgets}  # fmt: skip


def team_tables(usage: TeamUsage) -> list[tuple[str, list[str], list[list[str]], set[int]]]:
    """(title, headers, rows, numeric columns) of each table: by user, then by model."""
    calls, cost = usage.total
    budgets = _budgets(usage)
    cached = usage.from_cache
    by_user = [
        [user, f"{n:,}", f"{cached.get(user, 0):,}", dollars(spent), _share(spent, cost),
         budgets.get(user, "—")]
        for user, n, spent in usage.by_user
    ]  # fmt: skip
    every = f"{sum(cached.values()):,}"
    by_user.append(
        ["all", f"{calls:,}", every, dollars(cost), _share(cost, cost), budgets.get(None, "—")]
    )
    by_model = [[user, model, f"{n:,}", dollars(spent)] for user, model, n, spent in usage.by_model]
    headers = ["user", "calls", "from cache", "cost", "share", "budget"]
    return [
        ("By user", headers, by_user, {1, 2, 3, 4}),
        ("By user and model", ["user", "model", "calls", "cost"], by_model, {2, 3}),
    ]


def team_view(usage: TeamUsage) -> Bundle:
    """The team's spend since `usage.since`, as a mimebundle (HTML and plain text)."""
    calls, cost = usage.total
    title = f"orjupyter usage: the team since {usage.since:%Y-%m-%d}"
    cached = sum(usage.from_cache.values())
    plural = "s" if cached != 1 else ""
    answers = f" · {cached:,} answer{plural} from the cache" if cached else ""
    people, sent = len(usage.by_user), "call" if calls == 1 else "calls"
    summary = (
        f"{people:,} user{'' if people == 1 else 's'} · {calls:,} {sent}{answers} · {dollars(cost)}"
    )
    sections = [
        (name, html_table(headers, rows, numeric), text_table(headers, rows, numeric))
        for name, headers, rows, numeric in team_tables(usage)
    ]
    return bundle(title, summary, sections)


def team_csv(usage: TeamUsage) -> str:
    """`user,calls,cost`, one row per user; the cost a plain decimal (no $, no rounding)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["user", "calls", "cost"])
    writer.writerows([user, calls, format(cost, "f")] for user, calls, cost in usage.by_user)
    return out.getvalue()
