"""Stop: from the Stop click (or the kernel's interrupt) to the cell's execute_reply.

In one real kernel, an answer of 400 words at 50 ms a word (20 s in all) is stopped half
a second into its stream, three ways, in turns:

- the panel's Stop button, clicked as the browser's widget manager clicks it (a comm
  message on the shell channel);
- the kernel's interrupt (the toolbar's ■, or I, I) on a `%%gpt4o` cell;
- the same interrupt on the baseline: a bare `async for` loop over the openai SDK's
  stream in the same kernel, printing each chunk.

The clock starts when the click or the interrupt is sent and stops at the cell's
execute_reply. Each stopped answer is checked to be partial (the server saw the client
go before the 400th word).

Then answers that are costly to render live, from `orjupyter.fakerouter.hostile`
(`[[hostile costly=…]]`): 40,000 `[` (no link ever closes) and a one-line JSON array of
1 MB, each streamed for about 6 s and stopped by the panel's button 3 s in, when tens of
thousands of characters are on screen; the clock is the same. Each re-render of the open
block is capped (`TAIL_CAP`), so the kernel is free to read the click.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from _common import API_KEY, MODEL, FakeServer, Row, log, median, ms, sandbox
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from orjupyter.fakerouter.hostile import HostileRouter

TARGET_SECONDS = 1.0
SLOW = "[[fake words=400 delay=0.05]]"

BARE_LOOP = f"""
import asyncio, os, openai
client = openai.AsyncOpenAI(base_url=os.environ["OPENROUTER_BASE_URL"], api_key="{API_KEY}")
async def bare():
    stream = await client.chat.completions.create(
        model="{MODEL}", stream=True,
        messages=[{{"role": "user", "content": "{{question}} {SLOW}"}}],
    )
    async for chunk in stream:
        if chunk.choices:
            print(chunk.choices[0].delta.content or "", end="", flush=True)
await bare()
"""


def _reply_to(client: BlockingKernelClient, msg_id: str) -> dict[str, Any]:
    while True:
        reply: dict[str, Any] = client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def _stop_button(client: BlockingKernelClient) -> str:
    """Read iopub until the cell's panel opens its Stop button; its comm id."""
    while True:
        msg = client.get_iopub_msg(timeout=60)
        state = msg["content"].get("data", {}).get("state", {})
        if msg["msg_type"] == "comm_open" and state.get("description") == "Stop":
            return str(msg["content"]["comm_id"])


def _streaming(server: FakeServer, before: int) -> None:
    """Return half a second after the server has received request number `before + 1`."""
    deadline = time.monotonic() + 60
    while server.requests() <= before:
        if time.monotonic() > deadline:
            raise RuntimeError("the request never reached the server")
        time.sleep(0.02)
    time.sleep(0.5)


def _click(client: BlockingKernelClient, comm_id: str) -> None:
    content = {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}
    client.shell_channel.send(client.session.msg("comm_msg", content))


def _one(
    manager: KernelManager, client: BlockingKernelClient, server: FakeServer, way: str, n: int
) -> float:
    before = server.requests()
    code = (
        BARE_LOOP.replace("{question}", f"bare {n}")
        if way == "bare"
        else f"%%gpt4o --no-cache -o stopped\nstop {way} {n} {SLOW}"
    )
    msg_id = client.execute(code)
    comm_id = _stop_button(client) if way == "button" else ""
    _streaming(server, before)
    started = time.perf_counter()
    if way == "button":
        _click(client, comm_id)
    else:
        manager.interrupt_kernel()
    _reply_to(client, msg_id)
    seconds = time.perf_counter() - started
    if way != "bare":
        check = client.execute_interactive(
            "assert stopped.outcome == 'stopped' and 0 < len(stopped.text.split()) < 400",
            timeout=60,
            output_hook=lambda msg: None,
        )
        if check["content"]["status"] != "ok":
            raise RuntimeError(f"the {way} stop did not leave a partial answer")
    return seconds


def measure(runs: int, server: FakeServer) -> list[Row]:
    log(f"stopping: {runs} stops each by button, by interrupt and of a bare SDK loop")
    times: dict[str, list[float]] = {"button": [], "interrupt": [], "bare": []}
    with sandbox(server.url) as env:
        manager, client = start_new_kernel(
            kernel_name="python3",
            env=env,
            cwd=env["BENCH_FOLDER"],
            startup_timeout=120,
            stderr=subprocess.DEVNULL,  # ipykernel warns about TCP; failures reach the reply
        )
        try:
            for warm_up in ("%load_ext orjupyter", "%%gpt4o --no-cache\nwarm up", "import openai"):
                client.execute_interactive(warm_up, timeout=60, output_hook=lambda msg: None)
            for n in range(runs):
                for way, seconds in times.items():
                    seconds.append(_one(manager, client, server, way, n))
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    bare = median(times["bare"])
    rows = []
    for way, label in (("button", "Stop button"), ("interrupt", "kernel interrupt")):
        ours = median(times[way])
        rows.append(
            Row(
                f"{label} to the cell's reply (real kernel)",
                ms(ours),
                f"{ms(bare)} (interrupting a bare SDK loop)",
                f"{(ours - bare) * 1000:+.0f} ms",
                f"<= {ms(TARGET_SECONDS)}",
                ours <= TARGET_SECONDS,
                f"median of {runs}; range {ms(min(times[way]))}-{ms(max(times[way]))}; "
                "each answer checked to be partial",
            )
        )
    return rows


COSTLY = {
    "40,000 brackets": "costly=brackets size=40000 chunk=64 delay=0.01",
    "1 MB one-line JSON": "costly=json size=1000000 chunk=1600 delay=0.01",
}


def _stop_costly(client: BlockingKernelClient, directive: str, n: int) -> tuple[float, int]:
    """Seconds from the click to the reply, and characters received when stopped."""
    msg_id = client.execute(f"%%gpt4o --no-cache -o stopped\n[[hostile {directive}]] {n}")
    comm_id = _stop_button(client)
    time.sleep(3.0)
    started = time.perf_counter()
    _click(client, comm_id)
    _reply_to(client, msg_id)
    seconds = time.perf_counter() - started
    shown: list[str] = []
    check = client.execute_interactive(
        "assert stopped.outcome == 'stopped', stopped.outcome\nprint(len(stopped.text))",
        timeout=60,
        output_hook=lambda msg: shown.append(msg["content"].get("text", "")),
    )
    if check["content"]["status"] != "ok":
        raise RuntimeError(f"the costly answer {directive!r} was not stopped: {check}")
    return seconds, int("".join(shown).strip() or 0)


def measure_costly(runs: int) -> list[Row]:
    log(f"stopping: {runs} stops each of answers that are costly to render")
    times: dict[str, list[float]] = {name: [] for name in COSTLY}
    sizes: dict[str, list[int]] = {name: [] for name in COSTLY}
    with HostileRouter() as hostile, sandbox(hostile.base_url) as env:
        manager, client = start_new_kernel(
            kernel_name="python3", env=env, cwd=env["BENCH_FOLDER"], startup_timeout=120,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            client.execute_interactive("%load_ext orjupyter", timeout=60)
            for n in range(runs):
                for name, directive in COSTLY.items():
                    seconds, size = _stop_costly(client, directive, n)
                    times[name].append(seconds)
                    sizes[name].append(size)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    return [
        Row(
            f"Stop button on {name} streaming (real kernel)",
            ms(median(times[name])),
            "-",
            "-",
            f"<= {ms(TARGET_SECONDS)}",
            median(times[name]) <= TARGET_SECONDS,
            f"median of {runs}; range {ms(min(times[name]))}-{ms(max(times[name]))}; "
            f"{min(sizes[name]):,}-{max(sizes[name]):,} characters on screen when stopped",
        )
        for name in COSTLY
    ]
