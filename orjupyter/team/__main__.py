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
from typing import TYPE_CHECKING, Any, NoReturn

from orjupyter.core.budget import MAX_BUDGET, PERIODS, dollars
from orjupyter.core.errors import OrJupyterError

if TYPE_CHECKING:
    from psycopg import Connection

_LEDGER_HELP = (
    "the team's postgresql:// URL (default: $ORJUPYTER_LEDGER; the password best in "
    "PGPASSWORD or ~/.pgpass)"
)
_SEE_HELP = "see python -m orjupyter.team --help"
_SINCE_HELP = "from this day (UTC), e.g. 2026-11-01; default: the first of this month"


class _Parser(argparse.ArgumentParser):
    """A mistake on the command line is one line that says what to do (no usage block)."""

    def error(self, message: str) -> NoReturn:
        if "required: command" in message or "argument command" in message:
            message = "say report or budget"
        raise OrJupyterError(f"{message}; {_SEE_HELP}")


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="python -m orjupyter.team", description=__doc__)
    top.formatter_class = argparse.RawDescriptionHelpFormatter
    top.add_argument("--ledger", metavar="URL", help=_LEDGER_HELP)
    commands = top.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="every user's calls and cost")
    report.add_argument("--since", metavar="DATE", help=_SINCE_HELP)
    report.add_argument("--format", choices=["table", "csv"], default="table")
    budget = commands.add_parser(
        "budget",
        help="set a user's (or, with --all, the team's) budget",
        usage="%(prog)s USER AMOUNT|off [--period month|week|day]\n"
        "       %(prog)s --all AMOUNT|off [--period month|week|day]",
    )
    budget.add_argument(
        "words", nargs="*", metavar="USER AMOUNT", help="the user, as JupyterHub names them, "
        "and US dollars per period (off removes the budget)"
    )  # fmt: skip
    budget.add_argument("--all", action="store_true", help="the whole team's budget")
    budget.add_argument("--period", choices=list(PERIODS), default="month")
    return top


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, with `budget`'s words in any order around its options."""
    args, extra = parser().parse_known_args(argv)
    unknown = [word for word in extra if word.startswith("-")]
    if unknown or (extra and args.command != "budget"):
        word = (unknown or extra)[0]
        raise OrJupyterError(f"{word!r} is not understood here; {_SEE_HELP}")
    if args.command != "budget":
        return args
    words = [*args.words, *extra]
    if args.all and len(words) != 1:
        raise OrJupyterError("with --all, give only the amount: budget --all 500 (or off)")
    if not args.all and len(words) != 2:
        raise OrJupyterError(
            "give the user and the amount: budget alice 20 (or budget --all 500 for the team's)"
        )
    args.user, amount = (None, words[0]) if args.all else words
    args.amount = _amount(amount)
    return args


def _amount(text: str) -> Decimal | None:
    if text.lower() in {"off", "none"}:
        return None
    try:
        amount = Decimal(text.lstrip("$"))
    except InvalidOperation:
        raise OrJupyterError(f"{text!r} is not an amount: use dollars, e.g. 50, or off") from None
    if not amount.is_finite() or amount < 0:
        raise OrJupyterError(f"{text!r} is not an amount: use dollars, e.g. 50, or off")
    if amount > MAX_BUDGET:
        raise OrJupyterError(
            f"{text!r} is more than the largest budget, {dollars(MAX_BUDGET)}: use less, or off"
        )
    return amount


def _report(conn: Connection[Any], args: argparse.Namespace) -> str:
    from orjupyter.render.team import team_csv, team_view
    from orjupyter.store.team import month_start, since_date, usage

    try:
        since = since_date(args.since) if args.since else month_start()
    except ValueError:
        raise OrJupyterError(f"--since {args.since!r} is not a date: use YYYY-MM-DD") from None
    found = usage(conn, since)
    return team_csv(found) if args.format == "csv" else team_view(found)["text/plain"] + "\n"


def _budget(conn: Connection[Any], args: argparse.Namespace) -> str:
    from orjupyter.store.team import set_shared_budget

    amount = args.amount
    try:
        set_shared_budget(conn, args.user, amount, args.period)
    except ValueError as exc:
        raise OrJupyterError(str(exc)) from None
    whose = "the team's" if args.all else f"{args.user}'s"
    if amount is None:
        return f"Removed {whose} {PERIODS[args.period]} budget.\n"
    return f"Set {whose} {PERIODS[args.period]} budget to {dollars(amount)}.\n"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse(argv)
        location = (args.ledger or os.environ.get("ORJUPYTER_LEDGER", "")).strip()
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
