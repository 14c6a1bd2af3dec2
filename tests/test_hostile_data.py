"""Hostile answers and hostile data against a real IPython shell: JSON nested past what
Python can read, schemas that never end or weigh a megabyte, a server that names another
model, row values that name columns like builtins or hold maths."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from notebook_support import loaded_shell, point_at

from orjupyter.core.settings import DEFAULT_MODEL
from orjupyter.fakerouter.hostile import HostileRouter


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileRouter]:
    with HostileRouter() as server:
        yield server


@pytest.fixture
def hostile(
    hostile_server: HostileRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> HostileRouter:
    hostile_server.requests.clear()
    point_at(monkeypatch, tmp_path, hostile_server.base_url, "sk-or-v1-" + "0" * 64)
    return hostile_server


@pytest.fixture
def ip(hostile: HostileRouter) -> Iterator[object]:
    yield from loaded_shell()


def run(shell, source: str):
    return shell.run_cell(source, store_history=True)


def billed_calls(tmp_path: Path) -> list[tuple[str, float]]:
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        return db.execute("SELECT outcome, cost FROM calls").fetchall()


def test_json_nested_too_deep_is_one_line_and_the_reply_is_kept(ip, hostile, tmp_path, capsys):
    result = run(ip, "%%gpt4o -f json -o out\n[[hostile deep_json=50000]]")
    message = str(result.error_in_exec)
    assert "nested too deeply to read" in message
    assert "\n" not in message
    assert "Traceback" not in capsys.readouterr().err
    assert ip.user_ns["out"].text.startswith("[[[[")  # the reply, kept
    assert billed_calls(tmp_path) == [("ok", "0.0001")]


def test_map_rows_that_were_sent_and_billed_never_say_not_sent(ip, hostile, tmp_path, capsys):
    ip.user_ns["rows"] = ["a [[hostile deep_json=50000]]", "b [[hostile deep_json=40000]]"]
    assert run(ip, "%%gpt4o --map rows -f json -o out\n{item}").success
    errors = ip.user_ns["out_errors"]
    assert set(errors) == {0, 1}
    assert all("nested too deeply to read" in why for why in errors.values())
    assert errors[0].endswith("; its text is out_errors[0].text")
    assert ip.ev("out_errors[0].text").startswith("[[[[")  # the answer, kept where it says
    out = capsys.readouterr().out
    assert "2 failed" in out
    assert "not sent" not in out
    assert "Task exception was never retrieved" not in out
    assert len(billed_calls(tmp_path)) == 2


def test_a_deep_answer_to_a_recursive_schema_is_one_line():
    from orjupyter.core.errors import FormatError
    from orjupyter.core.schema import schema_for, validated

    tree = {
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/Node"}},
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
    }
    depth = 300  # json reads it; checking it against the schema goes deeper than Python
    answer = '{"root": ' + '{"kids": [' * depth + "]}" * depth + "}"
    with pytest.raises(FormatError, match="nested too deeply to read"):
        validated(schema_for(tree, "Tree"), answer)


def test_a_schema_that_never_ends_is_refused_before_sending(ip, hostile, capsys):
    itself: dict = {"type": "object", "properties": {}}
    itself["properties"]["me"] = itself
    loop = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "$defs": {"A": {"anyOf": [{"$ref": "#/$defs/B"}]}, "B": {"$ref": "#/$defs/A"}},
    }
    deep: dict = {"type": "object", "properties": {}}
    node = deep
    for _ in range(5000):
        node["properties"]["x"] = {"type": "object", "properties": {}}
        node = node["properties"]["x"]
    ip.user_ns.update(itself=itself, loop=loop, deep=deep)
    for name, says in (
        ("itself", "--schema itself contains itself"),
        ("loop", "--schema loop: #/$defs/A → #/$defs/B → #/$defs/A refers to itself"),
        ("deep", "--schema deep is nested over 100 levels deep"),
    ):
        message = str(run(ip, f"%%gpt4o --schema {name} -o out\nHi").error_in_exec)
        assert says in message
        assert "\n" not in message
        assert "nothing was sent" in message
    assert "Traceback" not in capsys.readouterr().err
    assert not hostile.requests


def test_a_schemas_size_counts_in_the_estimate_and_the_budget(ip, hostile, capsys):
    big = {
        "type": "object",
        "properties": {
            f"field_{i}": {"type": "string", "description": "x" * 1000} for i in range(100)
        },
    }
    ip.user_ns["big"] = big
    assert run(ip, "%%gpt4o --schema big --dry-run\nHi").success
    out = capsys.readouterr().out
    estimate = int(out.split("Estimated prompt: about ")[1].split(" tokens")[0].replace(",", ""))
    assert estimate > 10_000  # 100 kB of schema; the question alone is a few tokens
    assert run(ip, "%gpt4o budget 0.02").success
    result = run(ip, "%%gpt4o --schema big --max-tokens 10\nHi")
    assert "budget" in str(result.error_in_exec)  # ~25,000 prompt tokens cost more
    assert not hostile.requests


def test_compare_titles_name_the_model_asked_for_not_the_one_the_server_claims(ip, hostile, capsys):
    models = [DEFAULT_MODEL, "hostile/router"]
    run(ip, f"%%gpt4o --compare {','.join(models)} -o cmp\n[[hostile served=openai/o3-pro]]")
    replies = ip.user_ns["cmp"]
    assert [reply.model for reply in replies.values()] == ["openai/o3-pro"] * 2  # its claim
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("== ")] == [
        f"== {model} ==" for model in models
    ]
    assert out.count("openai/o3-pro · ") == 2  # the served name, as a fact below each
    assert f"cheapest: {DEFAULT_MODEL}" in out or "cheapest: hostile/router" in out
