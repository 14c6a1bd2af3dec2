"""`%gpt4o usage | budget | models | credits`: the account views, as glue over the ledger,
OpenRouter's endpoints and the pure dashboards."""

from __future__ import annotations

import argparse
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.display import display

from ._ledger import Ledger

if TYPE_CHECKING:
    from ._magic import OrJupyterMagics


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"{message}; see %gpt4o help")


def _usage_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%gpt4o usage", add_help=False)
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--csv", metavar="FILE")
    parser.add_argument("--frame", metavar="NAME")
    parser.add_argument("--rename", metavar="OLD")
    return parser


def _ledger(magics: OrJupyterMagics) -> Ledger:
    ledger = magics.session.book.ledger
    if ledger is None:
        raise UsageError("the ledger is not available; set ORJUPYTER_LEDGER to a writable file")
    return ledger


def usage(magics: OrJupyterMagics, words: list[str]) -> None:
    from ._dashboard import calls_csv, calls_frame, notebooks_dashboard, usage_dashboard

    args = _usage_parser().parse_args(words)
    ledger = _ledger(magics)
    notebook = magics.notebook()
    if args.rename:
        moved = ledger.rename_notebook(args.rename, notebook.key)
        print(f"Moved {moved} calls from {args.rename} to {notebook.label}.")
        return
    scope = None if args.all else notebook.key
    calls = ledger.calls(scope)
    if args.csv:
        Path(args.csv).write_text(calls_csv(calls), encoding="utf-8")
        print(f"Wrote {len(calls)} calls to {args.csv}.")
        return
    if args.frame:
        try:
            magics.user_ns[args.frame] = calls_frame(calls)
        except ImportError as exc:
            raise UsageError(str(exc)) from None
        print(f"{args.frame}: a DataFrame of {len(calls)} calls.")
        return
    if args.all:
        bundle = notebooks_dashboard(ledger.notebooks())
    else:
        bundle = usage_dashboard(
            ledger.totals(notebook.key),
            calls,
            ledger.cost_by_model(notebook.key),
            f"orjupyter usage: {notebook.label}",
            budget=ledger.budget(notebook.key),
        )
    display(bundle, raw=True)


def budget(magics: OrJupyterMagics, words: list[str]) -> None:
    from ._budget import budget_warning, dollars

    ledger = _ledger(magics)
    notebook = magics.notebook()
    if words:
        ledger.set_budget(notebook.key, _amount(words[0]))
    current = ledger.budget(notebook.key)
    spent = ledger.totals(notebook.key).cost
    if current is None:
        print(
            f"No budget for {notebook.label} (spent {dollars(spent)}). "
            "Set one with %gpt4o budget 0.50"
        )
        return
    print(f"Budget for {notebook.label}: {dollars(current)}; spent {dollars(spent)}.")
    warning = budget_warning(spent, current)
    if warning:
        print(warning)


def _amount(text: str) -> Decimal | None:
    if text.lower() in {"off", "none", "0"}:
        return None
    try:
        amount = Decimal(text.lstrip("$"))
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount <= 0:
        raise UsageError(f"{text!r} is not an amount: use dollars, e.g. %gpt4o budget 0.50")
    return amount


def _client(magics: OrJupyterMagics) -> Any:
    from ._client import ClientSpec

    spec = ClientSpec.from_settings(magics.session.settings)
    if not spec.api_key:  # the model list is public; the SDK insists on some key
        spec = replace(spec, api_key="anonymous")
    return magics.session.clients.get(spec)


async def models(magics: OrJupyterMagics, words: list[str]) -> None:
    from ._catalog_view import models_table
    from ._errors import describe

    session = magics.session
    try:
        entries = await session.models(_client(magics))
    except Exception as exc:
        spec = session.settings
        line = describe(exc, None, base_url=spec.resolved_base_url(), timeout=spec.timeout)
        raise UsageError(line) from None
    assert session.models_fetched_at is not None
    display(models_table(entries, " ".join(words) or None, session.models_fetched_at), raw=True)


async def credits(magics: OrJupyterMagics) -> None:
    from ._catalog_view import credits_view
    from ._errors import describe

    session = magics.session
    spec = session.client_spec()
    client = session.clients.get(spec)
    try:
        body = await session.credits(client)
    except Exception as exc:
        raise UsageError(
            describe(exc, None, base_url=spec.base_url, timeout=spec.timeout)
        ) from None
    display(credits_view(body), raw=True)
