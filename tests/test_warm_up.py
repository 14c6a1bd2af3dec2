"""The kernel's warm-up after `%load_ext`: what the first call needs is imported in the
background, with the garbage collector paused meanwhile, and a call sent before it is done
waits for it instead of importing beside it."""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import orjupyter
from orjupyter.jupyter import magic


class Gate:
    """Stands in for the warm-up's imports: they last until the test opens the gate."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.importing = threading.Event()
        self.collector_on_while_importing: bool | None = None

    def import_all(self, _importlib: Any, names: tuple[str, ...]) -> None:
        if names == orjupyter.WARM_UP:
            self.collector_on_while_importing = gc.isenabled()
            self.importing.set()
            assert self.opened.wait(60), "the test never opened the gate"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate()
    monkeypatch.setattr(orjupyter, "_import_all", gate.import_all)
    was_on = gc.isenabled()
    try:
        yield gate
    finally:
        gate.opened.set()
        for thread in threading.enumerate():
            if thread.name == "orjupyter-warm-up":
                thread.join(60)
        magic.WARMED.set()
        if was_on:
            gc.enable()


def warm_up() -> threading.Thread:
    orjupyter._warm_up()
    return next(t for t in threading.enumerate() if t.name == "orjupyter-warm-up")


def test_the_collector_waits_while_the_warm_up_imports_and_resumes_after(gate):
    thread = warm_up()
    assert gate.importing.wait(60)
    assert gate.collector_on_while_importing is False
    assert not magic.WARMED.is_set()
    gate.opened.set()
    assert magic.WARMED.wait(60)
    thread.join(60)  # no call is running: it resumes the collector, then imports LATER
    assert gc.isenabled()


def test_a_collector_someone_turned_off_stays_off(gate):
    gc.disable()
    thread = warm_up()
    gate.opened.set()
    thread.join(60)
    assert not gc.isenabled()


def test_a_call_sent_while_the_warm_up_imports_waits_for_it(gate, shell, router):
    """Nothing is sent until the warm-up's imports are done; then the answer comes."""
    orjupyter._warm_up()
    assert gate.importing.wait(60)
    seen: list[int] = []

    def open_when_the_call_waits() -> None:
        while magic.NO_CALL_RUNNING.is_set():  # the cell has not reached the call yet
            time.sleep(0.01)
        deadline = time.monotonic() + 1.0  # a call that did not wait sends at once
        while not router.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(len(router.requests))
        gate.opened.set()

    opener = threading.Thread(target=open_when_the_call_waits)
    opener.start()
    result = shell.run_cell("%%gpt4o --no-cache -o reply\nHello [[fake words=5]]")
    opener.join(60)
    assert result.success
    assert seen == [0]
    assert len(router.requests) == 1
    assert shell.user_ns["reply"].outcome == "ok"


def test_the_first_call_at_once_after_load_ext_shows_its_answer_and_records_its_cost(kernel):
    def run(code: str) -> str:
        printed: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            content = msg["content"]
            if "text" in content or content.get("data"):
                printed.append(content.get("text") or json.dumps(content["data"]))

        reply = kernel.execute_interactive(code, timeout=120, output_hook=hook)
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(printed)

    run("%load_ext orjupyter")
    shown = run("%%gpt4o --no-cache -o reply\nHello [[fake words=5]]")  # the warm-up still runs
    assert "lorem" in shown.lower()
    checked = run(
        "import gc, threading, orjupyter\n"
        "[t.join() for t in threading.enumerate() if t.name == 'orjupyter-warm-up']\n"
        "print(reply.outcome, orjupyter.usage().calls, gc.isenabled())"
    )
    assert checked.split() == ["ok", "1", "True"]
