"""Compare: `--compare A,B,C` against one call of the same question, wall time.

In a fresh process with a plain InteractiveShell (stdout captured): `%load_ext
orjupyter`, then, alternating, one `--no-cache` call to one model and a `--no-cache
--compare` of three models, each answer 100 words streamed at 10 ms a word by the local
server (about a second). Three calls made one after another would take three times one
call; at the same time they take about one.
"""

from __future__ import annotations

from _common import FakeServer, Row, child, log, median, ms, sandbox

TARGET_RATIO = 1.5
MODELS = "openai/gpt-4o-mini,anthropic/claude-3.5-sonnet,meta-llama/llama-3.1-8b-instruct"
PROMPT = "Say hello. [[fake words=100 delay=0.01]]"

COMPARE = """
import io, json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "orjupyter")
runs, models, prompt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
one = "%%gpt4o --no-cache -m openai/gpt-4o-mini -o reply\\n" + prompt
three = f"%%gpt4o --no-cache --compare {models} -o replies\\n" + prompt
captured = io.StringIO()
sys.stdout = captured

def timed(code):
    start = time.perf_counter()
    result = shell.run_cell(code)
    seconds = time.perf_counter() - start
    if not result.success:
        raise SystemExit(f"cell failed: {result.error_in_exec!r} {captured.getvalue()[-300:]}")
    return seconds

timed(one)  # warm: the SDK imported, the model list fetched
singles, compares = [], []
for _ in range(runs):
    singles.append(timed(one))
    compares.append(timed(three))
sys.stdout = sys.__stdout__
outcomes = sorted(r.outcome for r in shell.user_ns["replies"].values())
print(json.dumps({"one": singles, "three": compares, "outcomes": outcomes}))
"""


def measure(runs: int, server: FakeServer) -> list[Row]:
    log(f"compare: {runs} single calls and {runs} three-model comparisons")
    with sandbox(server.url) as env:
        result = child(COMPARE, str(runs), MODELS, PROMPT, env=env)
    if result["outcomes"] != ["ok", "ok", "ok"]:
        raise RuntimeError(f"the comparison did not complete: {result['outcomes']}")
    one, three = median(result["one"]), median(result["three"])
    return [
        Row(
            "--compare of 3 models vs one call (InteractiveShell)",
            ms(three),
            f"{ms(one)} (one model)",
            f"{three / one:.2f}x",
            f"<= {TARGET_RATIO:.1f}x (3 in turn: 3x)",
            three / one <= TARGET_RATIO,
            f"median of {runs}; each answer 100 words at 10 ms a word",
        )
    ]
