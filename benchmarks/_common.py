"""What every benchmark module shares: the local server, a sandboxed environment, child
processes that answer in JSON, medians, and the table row they all return."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
"""The interpreter running the benchmarks: the one orjupyter is installed in."""
MODEL = "openai/gpt-4o-2024-11-20"
"""The default model of %%gpt4o, which the local server also knows."""
API_KEY = "sk-or-fake"


@dataclass
class Row:
    """One line of the table."""

    figure: str
    ours: str
    baseline: str
    compare: str
    target: str
    met: bool | None  # None: no target, or could not be measured
    note: str = ""


def log(message: str) -> None:
    """Progress goes to stderr, so stdout stays the table."""
    print(message, file=sys.stderr, flush=True)


KERNEL_MEMORY = """
import gc
def _status(name):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(name))
def rss():
    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:  # the high-water mark starts again here
        refs.write("5")
    return _status("VmRSS:")
top = lambda: _status("VmHWM:")
"""
"""Code for a kernel: `rss()` its RSS now (and its peak starts again from it), `top()` its
peak RSS since (Linux VmHWM). Not `ru_maxrss`: a kernel started by fork and exec inherits
its parent's there, so a benchmark process holding 170 MB gave every kernel a "peak" of at
least that, and a run that grew the kernel by 60 MB "grew" 0 B."""


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def signed_ms(seconds: float) -> str:
    return f"{seconds * 1000:+.0f} ms" if abs(seconds) >= 0.1 else f"{seconds * 1000:+.1f} ms"


def size(n: float) -> str:
    """Bytes as B, kB, MB (decimal, as the issue counts them)."""
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}" if abs(n) < 100 * scale else f"{n / scale:.0f} {unit}"
    return f"{n:.0f} B"


class FakeServer:
    """`python -m orjupyter.fakerouter` in its own process, on a free loopback port.

    In its own process so that the server does not compete with the measured client
    for the same GIL (in-process, a 40,000-chunk answer took 3x a 20,000-chunk one).
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> FakeServer:
        command = [PYTHON, "-m", "orjupyter.fakerouter", "--port", "0", "--delay", "0", "--quiet"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "Fake OpenRouter listening on URL"
        if "listening on" not in line:
            self.__exit__(None, None, None)
            raise RuntimeError(f"the local server did not start: {line!r}")
        self.url = line.split()[-1]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def requests(self) -> int:
        """How many chat requests the server has received."""
        root = self.url.removesuffix("/api/v1")
        with urllib.request.urlopen(f"{root}/_fake/requests", timeout=10) as response:
            body = json.load(response)
        return len(body)


def child_env() -> dict[str, str]:
    """This environment, with bytecode caching on, as in an installed package.

    An editable checkout under PYTHONDONTWRITEBYTECODE=1 (as on this machine) compiles
    orjupyter from source at every import, while the baseline's site-packages have their
    .pyc files: that would cost orjupyter ~13 ms of load time that no user pays. The
    bytecode goes to benchmarks/.pycache (PYTHONPYCACHEPREFIX), not into the package;
    the untimed warm-up runs fill it.
    """
    env = dict(os.environ)
    for name in ("PYTHONDONTWRITEBYTECODE", "JPY_SESSION_NAME", "PAPERMILL_INPUT_PATH"):
        env.pop(name, None)
    env.pop("ORJUPYTER_REPLAY", None)
    env["PYTHONPYCACHEPREFIX"] = str(HERE / ".pycache")
    return env


@contextmanager
def sandbox(url: str) -> Iterator[dict[str, str]]:
    """An environment pointing at the local server, with the cache and the ledger in a
    fresh temporary folder (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="orjupyter-bench-") as folder:
        env = child_env()
        env.update(
            OPENROUTER_BASE_URL=url,
            OPENROUTER_API_KEY=API_KEY,
            ORJUPYTER_CACHE_DIR=str(Path(folder, "cache")),
            ORJUPYTER_LEDGER=str(Path(folder, "ledger.sqlite")),
            BENCH_FOLDER=folder,
        )
        yield env


def child(
    code: str,
    *args: str,
    python: str = PYTHON,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; it prints its result as JSON on its last line."""
    done = subprocess.run(
        [python, "-c", code, *args],
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=(env or {}).get("BENCH_FOLDER") or None,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"child process failed ({done.returncode}): {' | '.join(tail)}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
