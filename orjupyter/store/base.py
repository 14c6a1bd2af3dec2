"""The ledger's seam: what every ledger does, and which one a configured location opens.

`LedgerStore` is everything the rest of orjupyter asks of a ledger; `Ledger` (a SQLite file,
`ledger.py`) and `PostgresLedger` (a team's server, `postgres.py`) implement it, and nothing
outside `store/` knows which one it holds. A second kind of ledger is one module and one row
of `LEDGERS`: a URL scheme, the class that opens it, and what to install for it.

A location without a scheme (`/path/ledger.sqlite`, `~/x.sqlite`) is a SQLite file; any
`scheme://` not in `LEDGERS` is refused in one line, rather than become a folder named
after the URL (password included).
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from orjupyter.core.budget import Reservation
from orjupyter.core.domain import Totals, Usage
from orjupyter.core.errors import LedgerError
from orjupyter.store.columns import CallRecord
from orjupyter.store.usage import Entries, ModelUsage, SpendStep

if TYPE_CHECKING:
    from orjupyter.store.budgets import Limit
    from orjupyter.store.team import TeamUsage

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)[^@/]*@")
_PASSWORD_PARAMETER = re.compile(r"(?i)([?&]password=)[^&#]*")


class LedgerStore(Protocol):
    """One ledger: every call, its tokens and cost; budgets and the holds of calls in flight."""

    path: Path
    """A local file: the SQLite ledger itself, or where a server's ledger keeps rows aside."""

    @property
    def location(self) -> str:
        """Where the ledger is, for a person: a path, or a URL without its password."""
        ...

    def record(self, record: CallRecord, *, release: Reservation | None = None) -> None: ...

    def totals(self, notebook: str | None = None) -> Totals: ...

    def calls(self, notebook: str | None = None, limit: int | None = None) -> list[CallRecord]: ...

    def estimated(self, notebook: str) -> list[CallRecord]: ...

    def settle(self, generation_id: str, usage: Usage, notebook: str) -> bool: ...

    def cost_by_model(self, notebook: str | None = None) -> list[tuple[str, int, Decimal]]: ...

    def notebooks(self) -> list[tuple[str, int, Decimal]]: ...

    def entries(self, notebook: str | None = None, limit: int = 50) -> Entries:
        """The usage view's newest `limit` lines, oldest first: a call, or a run (a
        `--map`, a `--compare`, a tool loop) as one; summed by the database."""
        ...

    def spend(self, notebook: str | None = None, steps: int = 500) -> list[SpendStep]:
        """The spend over time in slices of a second, a minute, an hour or a day (the
        finest that gives at most about `steps`), oldest first; for drawing."""
        ...

    def by_model(self, notebook: str | None = None) -> list[ModelUsage]:
        """Each model's totals (calls, answers from the cache, tokens, cost), dearest
        first: the usage view's totals are their sum."""
        ...

    def budget(self, notebook: str) -> Decimal | None: ...

    def budgeted(self, notebook: str) -> bool:
        """True when any budget (the notebook's, or on a team ledger its user's or the
        team's) bounds this notebook's calls."""
        ...

    def set_budget(self, notebook: str, amount: Decimal | None) -> None: ...

    def reserve(self, notebook: str, worst_case: Decimal) -> Reservation: ...

    def release(self, reservation: Reservation) -> None: ...

    def rename_notebook(self, old: str, new: str) -> int: ...

    def close(self) -> None: ...


@runtime_checkable
class TeamLedger(Protocol):
    """A ledger shared by a team (`postgres.py`): it can show every user's spend."""

    def team_usage(self, since: datetime) -> TeamUsage: ...

    def shared_budgets(self, notebook: str) -> list[Limit]:
        """The user's and the team's budgets that apply to `notebook`, with what is spent
        and held against each."""
        ...


@dataclass(frozen=True)
class Kind:
    """One kind of ledger: the class that opens its locations, and what it needs installed."""

    opener: str
    """`module:Class`, imported when a location of this kind is first opened."""
    needs: str | None = None
    """A module the class needs that orjupyter does not install by itself."""
    extra: str | None = None
    """The `pip install "orjupyter[EXTRA]"` that brings `needs`."""


FILE = Kind("orjupyter.store.ledger:Ledger")
LEDGERS: dict[str, Kind] = {
    "postgresql": Kind("orjupyter.store.postgres:PostgresLedger", "psycopg", "team"),
    "postgres": Kind("orjupyter.store.postgres:PostgresLedger", "psycopg", "team"),
}
"""URL scheme → the kind of ledger it names (a location with no scheme is a SQLite file)."""


def without_password(location: str) -> str:
    """The location as it may be shown: a URL's password replaced by `***`."""
    return _PASSWORD_PARAMETER.sub(r"\1***", _PASSWORD.sub(r"\1***@", location))


def ledger_location(configured: str = "") -> str:
    """The setting, else $ORJUPYTER_LEDGER, else the default SQLite file."""
    chosen = configured.strip() or os.environ.get("ORJUPYTER_LEDGER", "").strip()
    if chosen:
        return chosen
    from orjupyter.store.ledger import default_ledger_path

    return str(default_ledger_path())


def kind_of(location: str) -> Kind:
    """Which kind of ledger `location` names; `LedgerError` for an unknown URL scheme."""
    match = _SCHEME.match(location)
    if match is None:
        return FILE
    scheme = match.group(1).lower()
    if scheme not in LEDGERS:
        known = ", ".join(f"{name}://" for name in LEDGERS)
        raise LedgerError(
            f"the ledger {without_password(location)!r}: orjupyter keeps its ledger in a "
            f"file path or at {known} URL, not {scheme}://"
        )
    return LEDGERS[scheme]


def require(location: str) -> Kind:
    """The kind of ledger `location` names, once what it needs is known to be installed
    (else one line that says what to install)."""
    kind = kind_of(location)
    if kind.needs is not None:
        try:
            importlib.import_module(kind.needs)
        except ImportError:
            raise LedgerError(
                f"a {location.partition(':')[0]}:// ledger needs {kind.needs}: "
                f'pip install "orjupyter[{kind.extra}]"'
            ) from None
    return kind


def open_ledger(location: str) -> LedgerStore:
    """Open the ledger `location` names (see `LEDGERS`); a file path is expanded (`~`)."""
    kind = require(location)
    module, _, name = kind.opener.partition(":")
    opener = getattr(importlib.import_module(module), name)
    target = location if kind is not FILE else Path(location).expanduser()
    return cast(LedgerStore, opener(target))
