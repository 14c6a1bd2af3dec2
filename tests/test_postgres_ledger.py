"""The team ledger on a real PostgreSQL server: rows with who made them, named migrations,
budgets held across kernels (a user's, the team's), libpq's ways of giving the password, and
the password nowhere else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from decimal import Decimal

import psycopg
import pytest

from orjupyter.core.budget import BudgetExceeded, SharedBudgetExceeded
from orjupyter.core.domain import Usage
from orjupyter.core.errors import LedgerError
from orjupyter.store.base import open_ledger
from orjupyter.store.columns import CallRecord
from orjupyter.store.postgres import Caller, PostgresLedger
from orjupyter.store.team import set_shared_budget

NB = "/home/jovyan/analysis.ipynb"


def call(cost: str, notebook: str = NB, generation: str = "", **kw) -> CallRecord:
    usage = Usage(prompt_tokens=97, completion_tokens=3, cost=Decimal(cost))
    return CallRecord(notebook, "In [3]", "openai/gpt-4o", generation, usage, "ok", **kw)


def ledger_for(url: str, user: str, **kw) -> PostgresLedger:
    return PostgresLedger(url, caller=Caller(user=user, host="hub-1"), **kw)


def test_a_call_is_read_back_as_written_with_who_made_it(team_url, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    written = call(
        "0.0002725", generation="gen-1", started_at=datetime(2025, 1, 2, tzinfo=timezone.utc)
    )
    with open_ledger(team_url) as ledger:
        ledger.record(written)
        ledger.record(call("0.1", generation="gen-2"))
        assert ledger.calls(NB)[0] == written
        assert ledger.totals(NB).cost == Decimal("0.1002725")
        assert ledger.cost_by_model() == [("openai/gpt-4o", 2, Decimal("0.1002725"))]
        session = ledger.caller.session
    with psycopg.connect(team_url) as conn:
        rows = conn.execute("SELECT user_name, host, session_id, notebook FROM calls").fetchall()
    assert rows == [("alice", os.uname().nodename, session, NB)] * 2


def test_each_user_sees_their_own_notebooks_and_budgets(team_url):
    with ledger_for(team_url, "alice") as alice, ledger_for(team_url, "bob") as bob:
        alice.record(call("0.25"))
        bob.record(call("0.50"))  # the same path: every Hub user is jovyan
        alice.set_budget(NB, Decimal("1"))
        assert alice.totals(NB).cost == Decimal("0.25")
        assert bob.totals(NB).cost == Decimal("0.50")
        assert (alice.budget(NB), bob.budget(NB)) == (Decimal(1), None)


def test_the_schema_is_named_migrations_and_a_newer_one_is_refused(team_url):
    with open_ledger(team_url):
        pass
    with psycopg.connect(team_url, autocommit=True) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM orjupyter_migrations")]
        assert names == ["m001_team_ledger"]
        conn.execute("INSERT INTO orjupyter_migrations (name) VALUES ('m099_from_the_future')")
    with pytest.raises(LedgerError, match="newer orjupyter"):
        open_ledger(team_url)


def test_two_kernels_of_one_user_cannot_together_cross_the_users_budget(team_url):
    with psycopg.connect(team_url, autocommit=True) as conn:
        open_ledger(team_url).close()
        set_shared_budget(conn, "alice", Decimal("1.00"), "month")
    with ledger_for(team_url, "alice") as one, ledger_for(team_url, "alice") as two:
        held = one.reserve(NB, Decimal("0.60"))
        with pytest.raises(SharedBudgetExceeded) as refused:
            two.reserve("/home/jovyan/other.ipynb", Decimal("0.60"))
        message = str(refused.value)
        assert "alice's monthly budget is $1.00" in message
        assert "$0.40 left" in message
        one.record(call("0.10"), release=held)
        two.reserve("/home/jovyan/other.ipynb", Decimal("0.60"))  # 0.10 spent: it fits now


def test_the_teams_budget_holds_across_users(team_url):
    with psycopg.connect(team_url, autocommit=True) as conn:
        open_ledger(team_url).close()
        set_shared_budget(conn, None, Decimal("0.50"), "day")
    with ledger_for(team_url, "alice") as alice, ledger_for(team_url, "bob") as bob:
        alice.record(call("0.30"))
        with pytest.raises(SharedBudgetExceeded, match=r"the team's daily budget is \$0\.50"):
            bob.reserve(NB, Decimal("0.25"))
        bob.reserve(NB, Decimal("0.20"))


def test_a_notebook_budget_refuses_as_on_sqlite(team_url):
    with ledger_for(team_url, "alice") as ledger:
        ledger.set_budget(NB, Decimal("0.10"))
        assert ledger.budgeted(NB)
        with pytest.raises(BudgetExceeded, match=r"raise it with `%gpt4o budget 0\.20`"):
            ledger.reserve(NB, Decimal("0.15"))


def test_a_crashed_kernels_hold_goes_with_its_connection(team_url):
    with psycopg.connect(team_url, autocommit=True) as conn:
        open_ledger(team_url).close()
        set_shared_budget(conn, "alice", Decimal("1.00"), "month")
    before = backends(team_url)
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from decimal import Decimal
            from orjupyter.store.postgres import Caller, PostgresLedger
            ledger = PostgresLedger(sys.argv[1], caller=Caller(user="alice"))
            ledger.reserve("nb", Decimal("0.90"))
            print("held", flush=True)
            time.sleep(600)
        """), team_url],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout.readline() == "held\n"
        childs = backends(team_url) - before
        with ledger_for(team_url, "alice") as ledger:
            with pytest.raises(SharedBudgetExceeded, match=r"\$0\.90 held"):
                ledger.reserve(NB, Decimal("0.50"))
            child.send_signal(signal.SIGKILL)
            child.wait()
            # the server ends the dead kernel's session once it reads the closed socket (a
            # moment later on a busy machine); from then on its hold no longer counts
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and childs & backends(team_url):
                time.sleep(0.05)
            ledger.reserve(NB, Decimal("0.50"))  # the crashed kernel's hold is gone
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def backends(url: str) -> set[int]:
    """The server's client sessions (their process ids) besides this query's own."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
    return {int(row[0]) for row in rows}


def test_libpq_reads_the_password_from_pgpassword_or_a_pgpass_file(
    team_url, postgres, monkeypatch, tmp_path
):
    bare = team_url.replace(f":{postgres.password}@", "@")
    monkeypatch.setenv("PGPASSWORD", postgres.password)
    with open_ledger(bare) as ledger:
        ledger.record(call("0.01"))
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres.port}:*:orjupyter:{postgres.password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with open_ledger(bare + "?sslmode=disable") as ledger:
        assert ledger.totals().calls == 1


def test_the_password_never_shows(team_url, postgres, capfd):
    with open_ledger(team_url) as ledger:
        shown = [ledger.location, repr(ledger)]
    wrong = team_url.replace(postgres.password, "not-" + postgres.password)
    ledger = open_ledger(wrong)  # a wrong password: the rows wait, one warning says why
    try:
        ledger.record(call("0.01"))
        with pytest.raises(LedgerError) as refused:
            ledger.set_budget(NB, Decimal(1))
        shown += [str(refused.value), repr(ledger), ledger.location]
    finally:
        ledger.close()
    err = capfd.readouterr().err
    assert "password authentication failed" in err
    assert err.count("cannot be reached") == 1
    assert (
        shown[0] == f"postgresql://orjupyter@127.0.0.1:{postgres.port}/{team_url.rsplit('/', 1)[1]}"
    )
    for text in [*shown, err]:
        assert postgres.password not in text
