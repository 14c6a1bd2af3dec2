"""`%gpt4o usage | budget | models | credits`: the account views, as glue over the ledger,
OpenRouter's endpoints and the pure dashboards."""

from __future__ import annotations

from argparse import Namespace
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.display import display

from orjupyter.core.budget import MAX_BUDGET, dollars
from orjupyter.core.errors import CallFailed, OptionError

LINES_SHOWN = 100
"""Lines of `%gpt4o usage`'s table: the newest calls and runs (a run is one line)."""

if TYPE_CHECKING:
    from orjupyter.jupyter.magic import OrJupyterMagics
    from orjupyter.store.base import LedgerStore
    from orjupyter.store.usage import ModelUsage


def _ledger(magics: OrJupyterMagics) -> LedgerStore:
    ledger = magics.session.records.ledger
    if ledger is None:
        raise OptionError("the ledger is not available; set ORJUPYTER_LEDGER to a writable file")
    return ledger


def usage(magics: OrJupyterMagics, args: Namespace) -> None:
    from orjupyter.render.dashboard import notebooks_dashboard, usage_dashboard

    ledger = _ledger(magics)
    if args.team:
        display(_team(ledger), raw=True)
        return
    notebook = magics.notebook()
    if args.rename:
        moved = ledger.rename_notebook(args.rename, notebook.key)
        print(f"Moved {moved} calls from {args.rename} to {notebook.label}.")
        return
    scope = None if args.all else notebook.key
    if args.csv or args.frame:
        _export(magics, ledger, scope, args)
        return
    if args.all:
        bundle = notebooks_dashboard(ledger.notebooks())
    else:
        from orjupyter.store.usage import combined

        key = notebook.key
        models = ledger.by_model(key)  # one pass over the ledger gives the totals too
        bundle = usage_dashboard(
            combined(models),
            ledger.entries(key, limit=LINES_SHOWN),
            [(m.model, m.totals.calls, m.totals.cost) for m in models],
            f"orjupyter usage: {notebook.label}",
            spend=ledger.spend(key),
            budget=ledger.budget(key),
            caching_saved=_caching_saved(magics, models),
        )
    display(bundle, raw=True)


def _export(
    magics: OrJupyterMagics, ledger: LedgerStore, scope: str | None, args: Namespace
) -> None:
    """`usage --csv FILE` / `--frame NAME`: every call, one row each."""
    from orjupyter.render.dashboard import calls_csv, calls_frame

    calls = ledger.calls(scope)
    if args.csv:
        _write_new(Path(args.csv).expanduser(), calls_csv(calls))
        print(f"Wrote {len(calls)} calls to {args.csv}.")
        return
    try:
        magics.user_ns[args.frame] = calls_frame(calls)
    except ImportError as exc:
        raise OptionError(str(exc)) from None
    print(f"{args.frame}: a DataFrame of {len(calls)} calls.")


def _team(ledger: LedgerStore) -> dict[str, str]:
    """Every user's spend this month, by user and by model: `%gpt4o usage --team`."""
    from orjupyter.render.team import team_view
    from orjupyter.store.base import TeamLedger
    from orjupyter.store.team import month_start

    if not isinstance(ledger, TeamLedger):
        raise OptionError(
            "usage --team reads a team's shared ledger: set ORJUPYTER_LEDGER to its "
            "postgresql:// URL (see the docs' For teams)"
        )
    return team_view(ledger.team_usage(month_start()))


def _write_new(path: Path, text: str) -> None:
    """Write a new private file (0600: it may hold prompts); never replace one."""
    import os

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OptionError(
            f"{path} already exists; choose another file name, or delete it first"
        ) from None
    except OSError as exc:
        raise OptionError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.write(text)


def _caching_saved(magics: OrJupyterMagics, models: list[ModelUsage]) -> Decimal:
    """What cached prompt tokens cost less than at list price (known prices only), from
    each model's cached tokens."""
    from orjupyter.core.pricing import info_for

    saved = Decimal(0)
    for each in models:
        info = info_for(each.model, magics.session.catalog)
        if info is not None and each.totals.cached_tokens:
            saved += info.caching_saved(each.totals.cached_tokens)
    return saved


def budget(magics: OrJupyterMagics, amount: str | None) -> None:
    from orjupyter.core.budget import budget_warning

    ledger = _ledger(magics)
    notebook = magics.notebook()
    if amount is not None:
        ledger.set_budget(notebook.key, _amount(amount))
    current = ledger.budget(notebook.key)
    spent = ledger.totals(notebook.key).cost
    if current is None:
        print(
            f"No budget for {notebook.label} (spent {dollars(spent)}). "
            "Set one with %gpt4o budget 0.50"
        )
    else:
        print(f"Budget for {notebook.label}: {dollars(current)}; spent {dollars(spent)}.")
        warning = budget_warning(spent, current)
        if warning:
            print(warning)
    _shared_budgets(ledger, notebook.key)


def _shared_budgets(ledger: LedgerStore, notebook: str) -> None:
    """On a team's ledger: the user's and the team's budgets, one line each."""
    from orjupyter.core.budget import shared_budget_line, shared_budget_warning
    from orjupyter.store.base import TeamLedger

    if not isinstance(ledger, TeamLedger):
        return
    shared = ledger.shared_budgets(notebook)
    if not shared:
        print("No budget for you or the team on the team's ledger.")
    for limit in shared:
        whose = limit.user or None
        print(shared_budget_line(whose, limit.period, limit.amount, limit.spent, limit.held))
        warning = shared_budget_warning(whose, limit.period, limit.spent, limit.amount)
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
        raise OptionError(f"{text!r} is not an amount: use dollars, e.g. %gpt4o budget 0.50")
    if amount > MAX_BUDGET:
        raise OptionError(
            f"{text!r} is more than the largest budget, {dollars(MAX_BUDGET)}; for no limit "
            "use %gpt4o budget off"
        )
    return amount


def _client(magics: OrJupyterMagics) -> Any:
    from orjupyter.service.client import ClientSpec

    spec = ClientSpec.from_settings(magics.session.settings)
    if not spec.api_key:  # the model list is public; the SDK insists on some key
        spec = replace(spec, api_key="anonymous")
    return magics.session.clients.get(spec)


async def models(magics: OrJupyterMagics, words: list[str]) -> None:
    from orjupyter.render.catalog import models_table
    from orjupyter.service.faults import describe

    session = magics.session
    try:
        entries = await session.models(_client(magics))
    except Exception as exc:
        spec = session.settings
        line = describe(
            exc,
            None,
            base_url=spec.resolved_base_url(),
            timeout=spec.timeout,
            secrets=(spec.resolved_key(),),
        )
        raise CallFailed(line) from None
    assert session.models_fetched_at is not None
    display(models_table(entries, " ".join(words) or None, session.models_fetched_at), raw=True)


async def credits(magics: OrJupyterMagics) -> None:
    from orjupyter.render.catalog import credits_view
    from orjupyter.service.faults import describe

    session = magics.session
    spec = session.client_spec()
    client = session.clients.get(spec)
    try:
        body = await session.credits(client)
    except Exception as exc:
        raise CallFailed(
            describe(
                exc, None, base_url=spec.base_url, timeout=spec.timeout, secrets=(spec.api_key,)
            )
        ) from None
    display(credits_view(body), raw=True)
