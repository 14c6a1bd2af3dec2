"""Execute notebooks/quickstart.ipynb end to end and say where it ran.

With OPENROUTER_API_KEY set, calls go to OpenRouter (and are billed). Without it, the
project's local OpenRouter-compatible server answers, for free.
The executed notebook is written to .out/quickstart.ipynb and .out/quickstart.html, the
kernel's own stderr (start-up and shutdown messages) to .out/kernel.log.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from traitlets.config import Config

from orjupyter.fakerouter import FakeRouter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
OUT = ROOT / ".out"


def execute(path: Path, kernel_log: Path) -> nbformat.NotebookNode:
    """Run the notebook in a fresh kernel. The kernel's own stderr (its start-up and
    shutdown chatter) goes to `kernel_log`; the cells' outputs are in the notebook."""
    notebook = nbformat.read(path, as_version=4)
    # The kernel is told which notebook it runs, as jupyter-server tells it, so that the
    # calls, the total and a budget are this notebook's and not every unnamed one's.
    os.environ["JPY_SESSION_NAME"] = str(path)
    # Local sockets, where there are any: nothing listens on TCP, and the kernel has no
    # reason to warn that its TCP traffic is unencrypted.
    with (
        tempfile.TemporaryDirectory(prefix="orjupyter-kernel-") as sockets,
        kernel_log.open("w") as log,
    ):
        ipc = {"transport": "ipc", "ip": str(Path(sockets, "kernel"))}
        NotebookClient(
            notebook,
            config=Config(KernelManager=ipc if os.name == "posix" else {}),
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute(stderr=log)
    return notebook


def start_afresh(out: Path) -> None:
    """Forget an earlier run's calls and answers (the local server's ledger and cache in
    `out`): each run's usage and totals are its own, even after a run that failed."""
    for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"):
        (out / name).unlink(missing_ok=True)
    (out / "ledger.sqlite.unrecorded.jsonl").unlink(missing_ok=True)
    shutil.rmtree(out / "cache", ignore_errors=True)


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write (default: .out)")
    out: Path = parser.parse_args(argv).out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    router = None
    if os.environ.get("OPENROUTER_API_KEY"):
        where = os.environ.get("OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1")
        print(f"OPENROUTER_API_KEY is set: calls go to {where} and are billed.")
    else:
        start_afresh(out)
        router = FakeRouter(delay=0.01).start()
        os.environ["OPENROUTER_BASE_URL"] = router.base_url
        os.environ["OPENROUTER_API_KEY"] = "sk-or-local-quickstart"
        # the local server's answers and made-up costs stay out of your real ledger and cache
        os.environ["ORJUPYTER_LEDGER"] = str(out / "ledger.sqlite")
        os.environ["ORJUPYTER_CACHE_DIR"] = str(out / "cache")
        print(
            f"No OPENROUTER_API_KEY: using the local OpenRouter-compatible server at "
            f"{router.base_url} (free; its model describes what it received)."
        )
    kernel_log = out / "kernel.log"
    try:
        notebook = execute(NOTEBOOK, kernel_log)
    except Exception:
        print(f"The run failed; the kernel's own messages are in {shown(kernel_log)}.")
        raise
    finally:
        if router is not None:
            router.stop()
    nbformat.write(notebook, out / "quickstart.ipynb")
    html, _ = HTMLExporter().from_notebook_node(notebook)
    (out / "quickstart.html").write_text(html, encoding="utf-8")
    print(f"Executed {NOTEBOOK.relative_to(ROOT)} top to bottom.")
    print(f"  saved: {shown(out / 'quickstart.ipynb')} and {shown(out / 'quickstart.html')}")
    print("To open a copy of it in JupyterLab:  make lab")
    print(
        "  (without a key, first run: .venv/bin/python -m orjupyter.fakerouter &  and export "
        "OPENROUTER_BASE_URL=http://127.0.0.1:8765/api/v1 OPENROUTER_API_KEY=sk-or-fake)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
