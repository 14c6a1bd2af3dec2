"""Extension load: `%load_ext orjupyter` against `%load_ext jupyter_ai_magics`.

Each repetition is a fresh process that imports IPython and makes an InteractiveShell
first; only `load_ext` itself is timed (time.perf_counter). orjupyter runs in this
interpreter's environment; jupyter-ai-magics in its own venv (benchmarks/.venv-baseline,
created on first use), because it must not be installed beside orjupyter. The two
alternate, after one untimed run of each to warm the disk cache.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _common import HERE, Row, child, log, median, ms

BASELINE_VENV = HERE / ".venv-baseline"
BASELINE_REQUIREMENT = REQ = "jupyter-ai-magics==2.31.7"  # the newest release when written
TARGET_SECONDS = 0.060

LOAD = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
name, magic = sys.argv[1:3]
start = time.perf_counter()
shell.run_line_magic("load_ext", name)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "loaded": magic in shell.magics_manager.magics["cell"]}))
"""


def baseline_python() -> tuple[Path | None, str]:
    """The baseline venv's interpreter, made on first use; or None and why not."""
    python = BASELINE_VENV / "bin" / "python"
    probe = "import importlib.util as u, sys; sys.exit(u.find_spec('jupyter_ai_magics') is None)"
    if python.exists() and subprocess.run([python, "-c", probe], check=False).returncode == 0:
        return python, ""
    log(f"creating {BASELINE_VENV} with {BASELINE_REQUIREMENT} (first use; takes a minute or two)")
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", BASELINE_VENV], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", REQ],
            check=True,
            timeout=900,
        )
    except subprocess.CalledProcessError as exc:
        return None, f"pip install {REQ} failed with exit status {exc.returncode}"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"cannot install {REQ}: {type(exc).__name__}: {exc}"
    if subprocess.run([python, "-c", probe], check=False).returncode != 0:
        return None, f"{BASELINE_REQUIREMENT} installed but not importable"
    return python, ""


def load_seconds(python: Path | str, name: str, magic: str) -> float:
    result = child(LOAD, name, magic, python=str(python))
    if not result["loaded"]:
        raise RuntimeError(f"%load_ext {name} did not register %%{magic}")
    return float(result["seconds"])


def measure(runs: int) -> list[Row]:
    log(f"extension load: {runs} fresh processes each")
    baseline, why = baseline_python()
    ours_args = (sys.executable, "orjupyter", "gpt4o")
    theirs_args = (str(baseline), "jupyter_ai_magics", "ai")
    try:
        load_seconds(*ours_args)
        if baseline is not None:
            load_seconds(*theirs_args)
    except RuntimeError as exc:  # the baseline failing must not hide our own figure
        if baseline is None or "orjupyter" in str(exc):
            raise
        baseline, why = None, str(exc)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(runs):
        ours.append(load_seconds(*ours_args))
        if baseline is not None:
            theirs.append(load_seconds(*theirs_args))
    mine = median(ours)
    if theirs:
        other = median(theirs)
        base_text, compare = f"{ms(other)} (jupyter_ai_magics)", f"{mine / other:.3f}x"
    else:
        base_text, compare = f"n/a ({why})", "n/a"
    return [
        Row(
            "Extension load (%load_ext, fresh process)",
            ms(mine),
            base_text,
            compare,
            f"<= {ms(TARGET_SECONDS)}",
            mine <= TARGET_SECONDS,
            f"median of {runs}; range {ms(min(ours))}-{ms(max(ours))}"
            + (f", baseline {ms(min(theirs))}-{ms(max(theirs))}" if theirs else ""),
        )
    ]
