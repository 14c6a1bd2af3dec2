"""Tool loop: `%%gpt4o --tools` over 5 rounds of calls against a hand-written SDK loop.

In a fresh process with a plain InteractiveShell (stdout captured): `%load_ext
orjupyter`, then, alternating, the two loops on the same question: the model (the local
server, no delay) calls `lookup(city=…)` once a round for 5 rounds, then answers in text,
so each loop sends 6 requests and runs the function 5 times. The magic does what a cell
does on each round (the budget held, the cache looked up and written, a ledger row, the
argument check, the log); the baseline is the loop anyone writes with `AsyncOpenAI`:
stream, gather the calls by index, run them, append the messages, ask again. The figure
is the extra time per round.
"""

from __future__ import annotations

import base64
import json

from _common import FakeServer, Row, child, log, median, ms, sandbox, signed_ms

ROUNDS = 5
TARGET_PER_ROUND = 0.025
"""Seconds the magic may add to each round of the loop."""

LOOP = """
import asyncio, io, json, sys, time
import openai
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "orjupyter")
runs, prompt, base_url, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ran = []

def lookup(city: str) -> str:
    \"\"\"The weather in a city.\"\"\"
    ran.append(city)
    return f"{city}: 12 C"

shell.user_ns["lookup"] = lookup
cell = "%%gpt4o --no-cache --tools lookup -o reply\\n" + prompt
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "The weather.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"]}}}]
client = openai.AsyncOpenAI(base_url=base_url, api_key=key)
captured = io.StringIO()

async def sdk_loop():
    messages = [{"role": "user", "content": prompt}]
    requests = 0
    while True:
        requests += 1
        stream = await client.chat.completions.create(
            model="openai/gpt-4o-2024-11-20", messages=messages, tools=TOOLS, stream=True,
            stream_options={"include_usage": True})
        text, calls, finish = [], {}, None
        async for chunk in stream:
            for choice in chunk.choices:
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                for call in delta.tool_calls or ():
                    whole = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    whole["id"] = call.id or whole["id"]
                    if call.function and call.function.name:
                        whole["name"] = call.function.name
                    if call.function and call.function.arguments:
                        whole["arguments"] += call.function.arguments
                finish = choice.finish_reason or finish
        if finish != "tool_calls":
            return requests
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": c["id"], "type": "function",
             "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls.values()]})
        for c in calls.values():
            result = {"lookup": lookup}[c["name"]](**json.loads(c["arguments"]))
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": result})

def magic():
    sys.stdout = captured
    try:
        result = shell.run_cell(cell)
    finally:
        sys.stdout = sys.__stdout__
    reply = shell.user_ns.get("reply")
    if not result.success or reply is None or reply.rounds != 6:
        raise SystemExit(f"the loop failed: {captured.getvalue()[-400:]}")

def timed(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start

loop = asyncio.new_event_loop()
def baseline():
    if loop.run_until_complete(sdk_loop()) != 6:
        raise SystemExit("the SDK loop did not take 6 requests")

timed(magic); timed(baseline)  # warm: imports, the model list, connections
ours, theirs = [], []
for _ in range(runs):
    ran.clear()
    ours.append(timed(magic))
    theirs.append(timed(baseline))
    if len(ran) != 10:
        raise SystemExit(f"the functions ran {len(ran)} times, not 10")
loop.run_until_complete(client.close())
loop.close()
print(json.dumps({"magic": ours, "sdk": theirs}))
"""


def script() -> str:
    """The directive that makes the local server call `lookup` once a round, 5 rounds."""
    rounds = [[{"name": "lookup", "arguments": {"city": f"City {n}"}}] for n in range(ROUNDS)]
    encoded = base64.b64encode(json.dumps(rounds).encode()).decode()
    return f"What is the weather? [[fake calls_b64={encoded}]]"


def measure(runs: int, server: FakeServer) -> list[Row]:
    log(f"tool_loop: {runs} loops of {ROUNDS} rounds through the magic and through the SDK")
    with sandbox(server.url) as env:
        result = child(LOOP, str(runs), script(), server.url, env["OPENROUTER_API_KEY"], env=env)
    ours, sdk = median(result["magic"]), median(result["sdk"])
    per_round = (ours - sdk) / (ROUNDS + 1)
    return [
        Row(
            f"--tools loop of {ROUNDS} rounds of calls vs an AsyncOpenAI loop (InteractiveShell)",
            ms(ours),
            f"{ms(sdk)} (hand-written SDK loop)",
            f"{signed_ms(per_round)} a request",
            f"<= {ms(TARGET_PER_ROUND)} a request",
            per_round <= TARGET_PER_ROUND,
            f"median of {runs}; {ROUNDS} rounds of one call each, then the answer: 6 "
            "requests and 5 function calls a loop, the local server without delay; the "
            "magic's extra is the budget hold, cache lookup and write, ledger row, argument "
            "check and log of each round",
        )
    ]
