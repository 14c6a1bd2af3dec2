"""The team's view: `python -m orjupyter.team report|budget` and `%gpt4o usage --team`, and a
user's budget refusing a notebook's call, through a real IPython shell, the local OpenRouter
and a real PostgreSQL server; the password shown nowhere."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg

from orjupyter.core.domain import Usage
from orjupyter.store.columns import CallRecord
from orjupyter.store.postgres import Caller, PostgresLedger


def team(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORJUPYTER_LEDGER": url}
    return subprocess.run(
        [sys.executable, "-m", "orjupyter.team", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def spend(
    url: str,
    user: str,
    cost: str,
    *,
    days_ago: int = 0,
    model: str = "openai/gpt-4o",
    from_cache: bool = False,
):
    when = datetime.now(timezone.utc) - timedelta(days=days_ago)
    usage = Usage(prompt_tokens=10, completion_tokens=5, cost=Decimal(cost))
    record = CallRecord(
        "nb.ipynb", None, model, "", usage, "ok", started_at=when, from_cache=from_cache
    )
    with PostgresLedger(url, caller=Caller(user=user)) as ledger:
        ledger.record(record)


def test_the_report_as_csv_is_one_row_per_user_with_the_exact_cost(team_url, postgres):
    spend(team_url, "alice", "0.000123456789")
    spend(team_url, "alice", "0.5", model="anthropic/claude-sonnet-4")
    spend(team_url, "bob", "0.25")
    spend(team_url, "carol", "9", days_ago=400)  # before --since
    spend(team_url, "bob", "0", from_cache=True)  # an answer from the cache: not a call
    since = (datetime.now(timezone.utc) - timedelta(days=2)).date().isoformat()
    done = team(team_url, "report", "--since", since, "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "user,calls,cost"
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows == [
        {"user": "alice", "calls": "2", "cost": "0.500123456789"},
        {"user": "bob", "calls": "1", "cost": "0.25"},
    ]
    table = team(team_url, "report", "--since", since).stdout
    assert "2 users · 3 calls · 1 answer from the cache · $0.7501" in table
    assert "from cache" in table.splitlines()[4]
    assert "By user and model" in table
    assert "anthropic/claude-sonnet-4" in table
    assert "carol" not in table
    assert postgres.password not in done.stdout + done.stderr + table


def test_the_report_counts_billed_calls_not_answers_from_the_cache(team_url):
    spend(team_url, "dana", "0.25")
    spend(team_url, "dana", "0", from_cache=True)
    spend(team_url, "dana", "0", from_cache=True)
    done = team(team_url, "report", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert list(csv.DictReader(io.StringIO(done.stdout))) == [
        {"user": "dana", "calls": "1", "cost": "0.25"}
    ]
    table = team(team_url, "report").stdout
    assert "dana" in table


def test_budgets_are_set_per_user_and_for_the_team(team_url):
    assert team(team_url, "budget", "alice", "5").stdout == "Set alice's monthly budget to $5.00.\n"
    done = team(team_url, "budget", "--all", "50", "--period", "week")
    assert done.stdout == "Set the team's weekly budget to $50.00.\n"
    with psycopg.connect(team_url) as conn:
        found = conn.execute("SELECT user_name, amount, period FROM budgets ORDER BY 1").fetchall()
    assert found == [("", Decimal(50), "week"), ("alice", Decimal(5), "month")]
    assert "$5.00 monthly" in team(team_url, "report").stdout
    assert team(team_url, "budget", "alice", "off").stdout == "Removed alice's monthly budget.\n"


def test_bad_input_and_a_wrong_password_are_one_line_without_the_password(team_url, postgres):
    for args, says in [
        ((), "say report or budget; see python -m orjupyter.team --help"),
        (("budget", "lots"), "give the user and the amount: budget alice 20"),
        (("budget", "alice", "--all", "5"), "with --all, give only the amount"),
        (("budget", "alice", "lots"), "'lots' is not an amount: use dollars, e.g. 50, or off"),
        (("budget", "alice", "-5"), "'-5' is not an amount"),
        (("budget", "alice", "5e9"), "is more than the largest budget"),
        (("budget", "alice", "5", "--period", "year"), "invalid choice: 'year'"),
        (("report", "--since", "last week"), "is not a date: use YYYY-MM-DD"),
        (("report", "--format", "xml"), "invalid choice: 'xml'"),
        (("report", "--frob"), "'--frob' is not understood here"),
    ]:
        done = team(team_url, *args)
        assert (done.returncode, done.stdout) == (2, ""), args
        assert says in done.stderr, args
        assert done.stderr.count("\n") == 1, done.stderr
    wrong = team_url.replace(postgres.password, "not-" + postgres.password)
    for url, says in [
        (wrong, "password authentication failed"),
        (f"postgresql://orjupyter@127.0.0.1:{postgres.port + 1}/db", "check the URL"),
        ("mysql://me:hunter2@db/team", "not mysql://"),
        ("postgresql://me:hunter2@[db/team", "not a postgresql:// URL libpq can read"),
        ("/home/me/ledger.sqlite", "is not a team ledger: set ORJUPYTER_LEDGER (or --ledger)"),
    ]:
        done = team(url, "report")
        assert done.returncode == 2
        assert says in done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        assert postgres.password not in done.stderr
        assert "hunter2" not in done.stderr


def test_without_the_team_extra_the_command_says_what_to_install(team_url):
    no_psycopg = (
        "import runpy, sys; sys.modules['psycopg'] = None; sys.argv[1:] = ['report']; "
        "runpy.run_module('orjupyter.team', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", no_psycopg],
        capture_output=True,
        text=True,
        env={**os.environ, "ORJUPYTER_LEDGER": team_url},
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == (
        'orjupyter.team: a postgresql:// ledger needs psycopg: pip install "orjupyter[team]"\n'
    )


def run(shell, source: str):
    return shell.run_cell(source, store_history=True)


def test_a_notebook_on_the_team_ledger_is_held_to_its_users_budget(
    shell, router, team_url, postgres, monkeypatch, capsys
):
    monkeypatch.setenv("ORJUPYTER_LEDGER", team_url)
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    assert team(team_url, "budget", "alice", "0.02").returncode == 0
    assert run(shell, "%%gpt4o --max-tokens 100\nsmall question").success
    # the worst case of 16,384 tokens at $10/M is $0.16: more than alice's budget
    result = run(shell, "%%gpt4o\nan open-ended question")
    assert not result.success
    err = capsys.readouterr().err
    assert "refused (nothing was sent): alice's monthly budget is $0.02" in err
    assert " left, and this call could cost up to " in err
    shell.run_line_magic("gpt4o", "usage --team")
    shell.run_line_magic("config", "OrJupyter")
    shell.run_line_magic("config", f"OrJupyter.ledger_path = {team_url!r}")
    shell.run_line_magic("config", "OrJupyter")
    out = capsys.readouterr()
    assert "orjupyter usage: the team since" in out.out
    assert "alice" in out.out
    assert "postgresql://orjupyter:***@" in out.out
    assert postgres.password not in out.out + out.err
    with psycopg.connect(team_url) as conn:
        rows = conn.execute("SELECT user_name, notebook FROM calls").fetchall()
    assert len(rows) == 1
    assert rows[0][0] == "alice"
    shell.run_line_magic("config", "OrJupyter.ledger_path = ''")


def test_usage_team_on_a_file_ledger_says_what_to_set(shell, router, capsys):
    assert not run(shell, "%gpt4o usage --team").success
    assert "set ORJUPYTER_LEDGER to its postgresql:// URL" in capsys.readouterr().err


def test_budget_shows_the_users_and_the_teams_budget_and_warns_near_them(
    shell, router, team_url, monkeypatch, capsys
):
    monkeypatch.setenv("ORJUPYTER_LEDGER", team_url)
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    shell.run_line_magic("gpt4o", "budget")
    assert capsys.readouterr().out.splitlines()[1:] == [
        "No budget for you or the team on the team's ledger."
    ]
    assert team(team_url, "budget", "alice", "0.0012").returncode == 0
    assert team(team_url, "budget", "--all", "5", "--period", "week").returncode == 0
    # the answer runs to its 100 tokens: about $0.00103 of alice's $0.0012
    assert run(shell, "%%gpt4o --max-tokens 100\n[[fake words=300]] a long answer").success
    err = capsys.readouterr().err
    assert "of alice's monthly budget of $0.0012 (8" in err
    assert "`python -m orjupyter.team budget alice 0.01`" in err
    assert "the team's weekly budget" not in err  # far from it
    shell.run_line_magic("gpt4o", "budget")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("No budget for ")
    spent = lines[1].split("; ")[1].split(" spent")[0]
    assert lines[1] == f"Alice's monthly budget: $0.0012; {spent} spent, " + lines[1].split(", ")[1]
    assert lines[1].endswith(" left.")
    assert lines[2].startswith(f"orjupyter: {spent} spent of alice's monthly budget of $0.0012")
    assert lines[3] == f"The team's weekly budget: $5.00; {spent} spent, " + lines[3].split(", ")[1]
    assert len(lines) == 4


def test_config_ledger_names_the_team_ledger_and_wins_over_its_older_name(
    shell, router, team_url, postgres, tmp_path, capsys
):
    older = tmp_path / "older.sqlite"
    try:
        shell.run_line_magic("config", f"OrJupyter.ledger = {team_url!r}")
        assert run(shell, "%%gpt4o\nto the team's ledger").success
        shell.run_line_magic("config", f"OrJupyter.ledger_path = {str(older)!r}")
        assert "OrJupyter.ledger (postgresql://orjupyter:***@" in capsys.readouterr().err
        assert run(shell, "%%gpt4o\nstill to the team's ledger").success
        shell.run_line_magic("config", "OrJupyter")
        listing = " ".join(capsys.readouterr().out.split())
        assert "OrJupyter.ledger=<Location> The ledger: a file, or a team's postgres" in listing
        assert "Current: 'postgresql://orjupyter:***@127.0.0.1:" in listing
        assert "OrJupyter.ledger_path=<Location> The older name of ledger" in listing
        assert "ledger wins." in listing
        assert postgres.password not in listing
        assert not older.exists()
        shell.run_line_magic("config", "OrJupyter.ledger = ''")
        assert run(shell, "%%gpt4o\nto the older name's file").success
    finally:
        shell.run_line_magic("config", "OrJupyter.ledger = ''")
        shell.run_line_magic("config", "OrJupyter.ledger_path = ''")
    with psycopg.connect(team_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM calls").fetchall() == [(2,)]
    assert older.exists()
