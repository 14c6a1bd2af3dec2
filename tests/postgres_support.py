"""A real PostgreSQL server for the tests: Debian's `postgresql` binaries, run by their own
(non-root) user in a temporary folder, on a free port and a unix socket in that folder.

`PostgresServer` starts with `initdb` (password authentication, a random password) and
`pg_ctl`; it can be stopped and started again mid-test (the fault tests). Tests that need it
skip, saying why, only when no PostgreSQL server binaries are installed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

USER = "orjupyter"  # the database's superuser (the tests' admin)

# Stops the cluster and removes its folder if the test process dies without closing it
# (killed by a timeout, say): argv = test process id, pg_ctl command..., folder.
WATCHDOG = """
import os, shutil, subprocess, sys, time
parent, command, folder = int(sys.argv[1]), sys.argv[2:-1], sys.argv[-1]
while True:
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    if sys.stdin.readline() == "":
        break
subprocess.run(command, capture_output=True)
shutil.rmtree(folder, ignore_errors=True)
"""


def server_binaries() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin with initdb and pg_ctl (or $PG_BINDIR)."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


SKIP_REASON = (
    "needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin/initdb, pg_ctl): "
    "apt-get install postgresql"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_user() -> str | None:
    """Who runs the server: ourselves, unless we are root (postgres refuses root): then
    the `postgres` user Debian's package creates (made here if it is missing)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
            check=True,
        )
    return "postgres"


class PostgresServer:
    """One throwaway cluster; `url(db)` names a database in it (its password included)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="orjupyter-pg-"))
        self.data = self.folder / "data"
        self.password = "pw-" + secrets.token_hex(12)
        self.port = 0
        self.runner = _server_user()
        self._made = 0
        self._watchdog: subprocess.Popen[bytes] | None = None
        if self.runner is not None:
            entry = pwd.getpwnam(self.runner)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.runner is not None:
            os.chown(pwfile, pwd.getpwnam(self.runner).pw_uid, -1)
        self._run(
            "initdb", "-D", self.data, "-U", USER, "--auth=scram-sha-256",
            f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        pwfile.unlink()

    def _run(self, tool: str, *args: object) -> None:
        command = [str(self.bindir / tool), *map(str, args)]
        if self.runner is not None:
            command = ["runuser", "-u", self.runner, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.folder)

    def start(self) -> None:
        for _ in range(5):  # a free port can be taken before the server binds it
            self.port = self.port or _free_port()
            options = (
                f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c max_connections=60"
            )
            try:
                self._run("pg_ctl", "-D", self.data, "-l", self.folder / "log", "-o", options,
                          "-w", "-t", "60", "start")  # fmt: skip
                if self._watchdog is None:
                    self._watch()
                return
            except subprocess.CalledProcessError:
                self.port = 0
        raise RuntimeError((self.folder / "log").read_text(errors="replace")[-2000:])

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def _watch(self) -> None:
        """A watchdog that stops the cluster when this process goes (its stdin closes)."""
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
        if self.runner is not None:
            command = ["runuser", "-u", self.runner, "--", *command]
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(os.getpid()), *command, str(self.folder)],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._watchdog is not None:
            self._watchdog.communicate()  # closes its stdin: it ends, and is waited for

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database's name."""
        import psycopg

        self._made += 1
        name = f"team_{os.getpid()}_{self._made}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return name
