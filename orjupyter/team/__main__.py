"""`python -m orjupyter.team`: the team's spend (`report`) and budgets (`budget`), from the
shared ledger that `ORJUPYTER_LEDGER` (or `--ledger`) names.

    python -m orjupyter.team report [--since DATE] [--format table|csv]
    python -m orjupyter.team budget USER AMOUNT [--period month|week|day]
    python -m orjupyter.team budget --all AMOUNT [--period …]     (the team's; `off` removes)

A failure is one line on stderr (the password never in it) and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from orjupyter.core.budget import PERIODS, dollars
from orjupyter.core.errors import OrJupyterError

_LEDGER_HELP = (
    "the team's postgresql:// URL (default: $ORJUPYTER_LEDGER; the password best in "
    "PGPASSWORD or ~/.pgpass)"
)
_SINCE_HELP = "from this day (UTC), e.g. 2026-11-01; default: the first of this month"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m orjupyter.team", description=__doc__)
    top.formatter_class = argparse.RawDescriptionHelpFormatter
    top.add_argument("--ledger", metavar="URL", help=_LEDGER_HELP)
    commands = top.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="every user's calls and cost")
    report.add_argument("--since", metavar="DATE", help=_SINCE_HELP)
    report.add_argument("--format", choices=["table", "csv"], default="table")
    budget = commands.add_parser("budget", help="set a user's (or, with --all, the team's) budget")
    budget.add_argument(
        "user", nargs="?", metavar="USER", help="the user, as JupyterHub names them"
    )
    budget.add_argument("--all", action="store_true", help="the whole team's budget")
    budget.add_argument("amount", metavar="AMOUNT|off", help="US dollars per period, or off")
    budget.add_argument("--period", choices=list(PERIODS), default="month")
    return top


def _amount(text: str) -> Decimal | None:
    if text.lower() in {"off", "none"}:
        return None
    try:
        amount = Decimal(text.lstrip("$"))
    except InvalidOperation:
        raise OrJupyterError(f"{text!r} is not an amount: use dollars, e.g. 50, or off") from None
    if not amount.is_finite() or amount < 0:
        raise OrJupyterError(f"{text!r} is not an amount: use dollars, e.g. 50, or off")
    return amount


def _report(conn: object, args: argparse.Namespace) -> str:
    from orjupyter.render.team import team_csv, team_view
    from orjupyter.store.team import month_start, since_date, usage

    try:
        since = since_date(args.since) if args.since else month_start()
    except ValueError:
        raise OrJupyterError(f"--since {args.since!r} is not a date: use YYYY-MM-DD") from None
    found = usage(conn, since)  # type: ignore[arg-type]
    return team_csv(found) if args.format == "csv" else team_view(found)["text/plain"] + "\n"


def _budget(conn: object, args: argparse.Namespace) -> str:
    from orjupyter.store.team import set_shared_budget

    if args.all == bool(args.user):
        raise OrJupyterError("name one user, or --all for the team's budget")
    amount = _amount(args.amount)
    try:
        set_shared_budget(conn, None if args.all else args.user, amount, args.period)  # type: ignore[arg-type]
    except ValueError as exc:
        raise OrJupyterError(str(exc)) from None
    whose = "the team's" if args.all else f"{args.user}'s"
    if amount is None:
        return f"Removed {whose} {PERIODS[args.period]} budget.\n"
    return f"Set {whose} {PERIODS[args.period]} budget to {dollars(amount)}.\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    location = (args.ledger or os.environ.get("ORJUPYTER_LEDGER", "")).strip()
    try:
        if not location:
            raise OrJupyterError(
                "name the team's ledger: --ledger postgresql://… or ORJUPYTER_LEDGER"
            )
        from orjupyter.store.team import connect

        with connect(location) as conn:
            out = (_report if args.command == "report" else _budget)(conn, args)
    except OrJupyterError as exc:
        print(f"orjupyter.team: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
