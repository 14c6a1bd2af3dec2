"""`%load_ext orjupyter` stays cheap, and the core stays pure."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["openai", "PIL", "ipywidgets", "anywidget", "httpx2", "markdown_it", "nh3"]


def modules_after(code: str) -> set[str]:
    script = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_loading_the_extension_imports_nothing_heavy():
    loaded = modules_after(
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'orjupyter')\n"
        "assert 'gpt4o' in shell.magics_manager.magics['cell']"
    )
    assert "orjupyter._magic" in loaded
    assert [name for name in HEAVY if name in loaded] == []


def test_the_pure_core_imports_neither_ipython_nor_widgets_nor_the_sdk():
    loaded = modules_after(
        "import orjupyter._prompt, orjupyter._stream, orjupyter._pricing, orjupyter._request\n"
        "import orjupyter._domain, orjupyter._render, orjupyter._images, orjupyter._call\n"
        "import orjupyter._cache, orjupyter._thread, orjupyter._ledger, orjupyter._formats\n"
        "import orjupyter._dashboard, orjupyter._notebook_id, orjupyter._dryrun\n"
        "import orjupyter._budget, orjupyter._cache_key, orjupyter._image_sources\n"
        "import orjupyter._catalog_view, orjupyter._tables"
    )
    assert [name for name in ("IPython", "ipywidgets", "openai") if name in loaded] == []
