"""`%load_ext orjupyter` stays cheap; the rooms keep their one-way imports and the core
stays pure. The layering is measured on every module's syntax tree (imports inside
functions included, `if TYPE_CHECKING:` blocks excluded)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent.parent / "orjupyter"
HEAVY = ["openai", "PIL", "ipywidgets", "anywidget", "httpx2", "markdown_it", "nh3"]

# Which rooms each room may import (besides itself). The top-level package is the public
# face and may import anything; nothing in the product imports the local server.
ALLOWED = {
    "core": set(),
    "store": {"core"},
    "service": {"core", "store"},
    "render": {"core", "store"},
    "jupyter": {"core", "store", "service", "render"},
    "fakerouter": {"core"},
    "team": {"core", "store", "render"},
}
JUPYTER_LIBRARIES = {"IPython", "ipywidgets", "traitlets", "anywidget", "ipykernel"}
IMPURE = JUPYTER_LIBRARIES | {
    "openai",
    "httpx",
    "sqlite3",
    "socket",
    "asyncio",
    "markdown_it",
    "nh3",
    "pygments",
    "http",
    "urllib.request",
    "subprocess",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imports_of(path: Path, name: str | None = None) -> Iterator[str]:
    """Every module `path` imports, at any depth, outside `if TYPE_CHECKING:` blocks."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def walk(node: ast.AST) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                continue
            if isinstance(child, ast.Import):
                yield from (alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                yield base
                yield from (f"{base}.{alias.name}" for alias in child.names)
            yield from walk(child)

    yield from walk(ast.parse(path.read_text(encoding="utf-8")))


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "orjupyter" and parts[1] in ALLOWED else None


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def internal_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges[name] = {imported for imported in imports_of(path) if imported in MODULES}
        edges[name].discard(name)
    return edges


def test_the_walker_sees_imports_inside_functions_and_skips_type_checking(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import IPython\n"
        "def f():\n    import sqlite3\n    from orjupyter.store import ledger\n"
    )
    seen = set(imports_of(probe, "orjupyter.core.probe"))
    assert {"sqlite3", "orjupyter.store", "orjupyter.store.ledger"} <= seen
    assert "IPython" not in seen


def test_every_module_lives_in_a_room():
    loose = [name for name in MODULES if name != "orjupyter" and room_of(name) is None]
    assert loose == []


def test_imports_point_one_way_between_rooms():
    wrong = []
    for name, path in MODULES.items():
        room = room_of(name)
        if room is None:
            continue
        for imported in imports_of(path):
            target = room_of(imported)
            if imported == "orjupyter" or (
                target and target != room and target not in ALLOWED[room]
            ):
                wrong.append(f"{name} -> {imported}")
    assert wrong == []


def test_only_the_jupyter_room_imports_jupyter_libraries():
    outside = [
        f"{name} -> {imported}"
        for name, path in MODULES.items()
        if room_of(name) not in {"jupyter", None}
        for imported in imports_of(path)
        if imported.split(".")[0] in JUPYTER_LIBRARIES
    ]
    assert outside == []


def test_the_core_imports_no_framework_and_no_io():
    core = [name for name in MODULES if room_of(name) == "core"]
    assert len(core) >= 5
    impure = [
        f"{name} -> {imported}"
        for name in core
        for imported in imports_of(MODULES[name])
        if any(imported == bad or imported.startswith(bad + ".") for bad in IMPURE)
    ]
    assert impure == []


def test_no_import_cycles():
    edges = internal_edges()
    for name in edges:  # package __init__ files import their own modules; that is no cycle
        edges[name] = {m for m in edges[name] if not name.startswith(m + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_product_module_is_over_400_lines():
    long = {
        name: lines
        for name, path in MODULES.items()
        if room_of(name) != "fakerouter"
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}


def modules_after(code: str) -> set[str]:
    script = code + "\nimport sys, json\nprint(); print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_importing_every_module_below_jupyter_loads_no_jupyter_library():
    below = sorted(name for name in MODULES if room_of(name) in {"core", "store", "service"})
    loaded = modules_after("import " + ", ".join(below))
    assert [name for name in ("IPython", "ipywidgets", "traitlets") if name in loaded] == []


def test_the_architecture_map_lists_every_module_and_no_other():
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^- `([\w/]+\.py)`:", text, flags=re.MULTILINE))
    actual = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")}
    assert sorted(actual - listed) == []  # a module the map does not mention
    assert sorted(listed - actual) == []  # the map names a module that is gone


SHELL = (
    "from IPython.core.interactiveshell import InteractiveShell\n"
    "shell = InteractiveShell.instance()\n"
)
LOAD = SHELL + "shell.run_line_magic('load_ext', 'orjupyter')\n"


def test_loading_the_extension_imports_only_what_registering_the_magic_needs():
    """`%load_ext` makes the magic and its hooks: the session, the ledger, the SDK, the
    option grammar, the renderers and the event loop wait for the first call."""
    extra = modules_after(LOAD + "assert 'gpt4o' in shell.magics_manager.magics['cell']\n")
    extra -= modules_after(SHELL)
    assert "orjupyter.jupyter.magic" in extra
    rooms = {"service", "store", "render", "team", "fakerouter"}
    assert sorted(name for name in extra if room_of(name) in rooms) == []
    call_path = {"asking", "grammar", "commands", "execution", "panel", "views", "delivery"}
    assert sorted(n for n in extra if n.startswith("orjupyter.jupyter.") and
                  n.rpartition(".")[2] in call_path) == []  # fmt: skip
    libraries = {*HEAVY, "httpx", "pydantic", "sqlite3", "asyncio", "argparse", "email", "html"}
    assert sorted(name for name in extra if name.split(".")[0] in libraries) == []


def printed_by(kernel: Any, code: str) -> str:
    """What a cell run in `kernel` printed (it must succeed)."""
    printed: list[str] = []
    reply = kernel.execute_interactive(
        code,
        timeout=120,
        output_hook=lambda msg: printed.append(msg["content"].get("text", "")),
    )
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(printed)


def test_the_first_call_in_a_kernel_imports_nothing_the_warm_up_did_not(kernel):
    """In a kernel, `%load_ext` starts importing what the first call needs while the
    person types; once that is done, the call itself imports no library and none of
    orjupyter's modules (only the standard library's odds and ends)."""

    def run(code: str) -> str:
        return printed_by(kernel, code)

    run("%load_ext orjupyter")
    run(
        "import json, sys, threading\n"
        "[t.join() for t in threading.enumerate() if t.name == 'orjupyter-warm-up']\n"
        "before = set(sys.modules)"
    )
    run("%%gpt4o --no-cache -o reply\nHi [[fake words=5]]")
    printed = run("print(reply.outcome, json.dumps(sorted(set(sys.modules) - before)))")
    outcome, names = printed.split(" ", 1)
    assert outcome == "ok"
    imported = json.loads(names)
    # the SDK's own first request loads parts of its stack that the raw SDK pays for too
    sdk = {"openai", "anyio", "httpcore2", "h11", "jiter", "truststore"}
    extra = [n for n in imported if n.split(".")[0] not in {*sys.stdlib_module_names, *sdk}]
    assert extra == []


ONLY_SOME_CELLS = [
    "orjupyter.core.describe",  # a DataFrame, an array, an object in `{value}`
    "orjupyter.core.describe_data",
    "orjupyter.core.describe_polars",
    "orjupyter.core.pdf",  # `{report.pdf}`, `{x:file}`, `--pdf-engine`
    "orjupyter.core.image_sources",  # `{fig}`, `{x:image}`, a picture in the context
    "orjupyter.core.images",
    "orjupyter.core.schema",  # `--schema`
    "orjupyter.core.tools",  # `--tools`
    "orjupyter.core.mapping",  # `--map`
    "orjupyter.jupyter.mapcell",
    "orjupyter.jupyter.compare",  # `--compare`
    "orjupyter.store.team",  # the team ledger
    "orjupyter.store.postgres",
    "psycopg",
    "PIL",
]


def test_a_plain_first_call_in_a_kernel_leaves_what_only_some_cells_need(kernel):
    """`%load_ext`, then at once a question with no placeholders: once it is answered and
    the warm-up is done, nothing is loaded that only a cell with a DataFrame, a PDF, an
    image, `--schema`, `--tools`, `--map`, `--compare` or the team ledger needs."""

    def run(code: str) -> str:
        return printed_by(kernel, code)

    run("%load_ext orjupyter")
    run("%%gpt4o --no-cache -o reply\nHi [[fake words=5]]")
    loaded = run(
        "import json, sys, threading\n"
        "[t.join() for t in threading.enumerate() if t.name == 'orjupyter-warm-up']\n"
        "print(reply.outcome, json.dumps(sorted(sys.modules)))"
    )
    outcome, names = loaded.split(" ", 1)
    assert outcome == "ok"
    assert [name for name in ONLY_SOME_CELLS if name in json.loads(names)] == []


def test_the_first_words_of_an_answer_need_no_markdown_parser():
    """The live answer shows its first words before markdown-it, nh3 or pygments load:
    they are imported at the answer's first line end."""
    code = (
        "import sys\n"
        "from orjupyter.render.live import LiveAnswer\n"
        "live = LiveAnswer()\n"
        "assert live.delta('Lorem ipsum dolor') == {'text': 'Lorem ipsum dolor'}\n"
        "assert live.delta(' sit amet.') == {'text': ' sit amet.'}\n"
    )
    before = modules_after(code)
    assert [name for name in ("markdown_it", "nh3", "pygments") if name in before] == []
    after = modules_after(code + "live.delta('\\n\\nNext paragraph\\n')\n")
    assert {"markdown_it", "nh3"} <= after


def test_a_plain_one_line_question_in_a_terminal_leaves_what_only_some_cells_need(router):
    """Terminal IPython (no kernel, no warm-up): `%gpt4o Hello` answers, and loads nothing
    that only a cell with a value, a PDF, `--schema`, `--tools`, `--map` or `--compare`
    needs."""
    loaded = modules_after(
        LOAD
        + "shell.run_cell('%gpt4o --no-cache -o reply Hello [[fake words=3]]')\n"
        + "assert shell.user_ns['reply'].outcome == 'ok', shell.user_ns.get('reply')\n"
    )
    assert [name for name in ONLY_SOME_CELLS if name in loaded] == []
