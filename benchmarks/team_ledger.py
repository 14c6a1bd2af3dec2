"""The team ledger: what a call spends on its bookkeeping on PostgreSQL against SQLite, and
how many rows four writers put in a second.

A throwaway PostgreSQL cluster (Debian's binaries, `tests/postgres_support.py`) on a
loopback TCP port, and a SQLite file in a temporary folder. "Reserve + record" is one
call's bookkeeping with a budget set (a user's on PostgreSQL, the notebook's on SQLite):
`reserve` the worst case, then `record` the row releasing the hold; median over `runs`
calls in one process, after 20 warm-up calls. "Rows per second, 4 writers" is four
processes, each with its own connection, each writing 250 rows at the same moment; the
rate is 1,000 rows over the time from "go" to the last writer's finish.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from _common import Row, log, median, ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

if TYPE_CHECKING:
    from orjupyter.store.base import LedgerStore

WRITER = textwrap.dedent("""
    import sys
    from decimal import Decimal
    from orjupyter.core.domain import Usage
    from orjupyter.store.base import open_ledger
    from orjupyter.store.columns import CallRecord
    ledger = open_ledger(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(250):
        usage = Usage(prompt_tokens=10, completion_tokens=5, cost=Decimal("0.0001"))
        ledger.record(CallRecord("nb", None, "m", "gen-%s-%d" % (sys.argv[2], i), usage, "ok"))
    ledger.close()
    print("done", flush=True)
""")


def _bookkeeping(ledger: LedgerStore, runs: int, generation: str) -> float:
    from orjupyter.core.domain import Usage
    from orjupyter.store.columns import CallRecord

    seconds = []
    for i in range(runs + 20):
        usage = Usage(prompt_tokens=10, completion_tokens=5, cost=Decimal("0.0001"))
        record = CallRecord("nb", None, "m", f"{generation}-{i}", usage, "ok")
        start = time.perf_counter()
        hold = ledger.reserve("nb", Decimal("0.01"))
        ledger.record(record, release=hold)
        seconds.append(time.perf_counter() - start)
    return median(seconds[20:])


def _writers(location: str) -> float:
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, location, str(k)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    try:
        for writer in writers:
            assert writer.stdout.readline() == "ready\n"
        start = time.perf_counter()
        for writer in writers:
            writer.stdin.write("go\n")
            writer.stdin.flush()
        for writer in writers:
            assert writer.stdout.readline() == "done\n"
        return 1000 / (time.perf_counter() - start)
    finally:
        for writer in writers:
            writer.stdin.close()
            writer.wait()
            writer.stdout.close()


def measure(runs: int) -> list[Row]:
    import psycopg
    from postgres_support import SKIP_REASON, PostgresServer, server_binaries

    from orjupyter.store.ledger import Ledger
    from orjupyter.store.postgres import PostgresLedger
    from orjupyter.store.team import set_shared_budget

    bindir = server_binaries()
    if bindir is None:
        raise RuntimeError(SKIP_REASON)
    server = PostgresServer(bindir)
    try:
        server.start()
        url = server.url(server.new_database())
        with PostgresLedger(url) as pg, psycopg.connect(url, autocommit=True) as admin:
            set_shared_budget(admin, pg.caller.user, Decimal(1000), "month")
            log(f"  team ledger: {runs} calls' bookkeeping on PostgreSQL")
            on_pg = _bookkeeping(pg, runs, "gen-pg")
        with tempfile.TemporaryDirectory() as folder:
            with Ledger(Path(folder) / "ledger.sqlite") as lite:
                lite.set_budget("nb", Decimal(1000))
                log(f"  team ledger: {runs} calls' bookkeeping on SQLite")
                on_sqlite = _bookkeeping(lite, runs, "gen-lite")
            log("  team ledger: 4 writers × 250 rows")
            pg_rate = _writers(server.url(server.new_database()))
            lite_rate = _writers(str(Path(folder) / "writers.sqlite"))
    finally:
        server.close()
    return [
        Row("reserve + record a call, PostgreSQL (loopback) vs SQLite", ms(on_pg),
            ms(on_sqlite), f"{on_pg / on_sqlite:.1f}×", "-", None,
            f"median of {runs} calls after 20 warm-up, a budget set on each"),
        Row("rows per second, 4 writers, PostgreSQL vs SQLite", f"{pg_rate:,.0f}/s",
            f"{lite_rate:,.0f}/s", f"{pg_rate / lite_rate:.1f}×", "-", None,
            "4 processes × 250 rows at once, each its own connection"),
    ]  # fmt: skip
