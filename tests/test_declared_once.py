"""Each extension is declared once: a request option, an output format, an image kind,
a ledger column. Whatever else lists them (the request, the dry run, the cache key, the
help, the docs, the exports, the messages) derives from that one row, or these tests fail.
(Describers are checked in tests/test_describe.py.)"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path

import pytest

from orjupyter.core.cache_key import request_key
from orjupyter.core.domain import TextPart
from orjupyter.core.dryrun import describe_request
from orjupyter.core.request import CallOptions, build_request, sent, sent_options, wires
from orjupyter.jupyter.call_options import call_options
from orjupyter.jupyter.commands import help_text
from orjupyter.jupyter.grammar import OPTIONS, cell_parser, parse_options

ROOT = Path(__file__).resolve().parent.parent
PARTS = [TextPart("What is 2 + 2?")]


def dry_run(request: dict) -> str:
    return describe_request(
        request,
        prompt_estimate=10,
        cheapest=Decimal("0.001"),
        worst=Decimal("0.01"),
        cached=False,
        format_cost=str,
    )


def asked(value: object) -> dict:
    """A sample value of a field's type that counts as asked for."""
    samples = {bool: True, int: 7, float: 0.5, str: "x", tuple: ("a/b",), dict: {"k": 1}}
    kinds = [typing.get_origin(kind) or kind for kind in typing.get_args(value) or (value,)]
    return next(samples[kind] for kind in kinds if kind in samples)


def documented_flags() -> set[str]:
    guide = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    table = guide.split("### Options", 1)[1].split("\n\n", 2)[1]
    first_cells = [line.split(" | ")[0] for line in table.splitlines()[2:]]
    return {flag for cell in first_cells for flag in re.findall(r"(?<![\w-])(--?[\w-]+)", cell)}


# --- a request option ----------------------------------------------------------------


def test_seed_on_the_line_reaches_the_request_the_dry_run_the_key_the_help_and_the_docs():
    def request_for(line: str) -> dict:
        options, _fmt = call_options(parse_options(line), "openai/gpt-4o", None, "nb")
        return build_request(PARTS, options)

    seeded = request_for("--seed 7")
    assert seeded["seed"] == 7
    assert '"seed": 7' in dry_run(seeded)
    assert request_key(seeded) != request_key(request_for("--seed 8"))
    assert request_key(seeded) != request_key(request_for(""))
    assert "seed" not in request_for("")
    assert "--seed N" in help_text("About.")
    assert "--seed" in documented_flags()


@pytest.mark.parametrize(
    "name", [name for name, _wire in wires(CallOptions())], ids=lambda name: name
)
def test_every_option_field_goes_on_the_wire_into_the_dry_run_and_the_key(name):
    kind = typing.get_type_hints(CallOptions)[name]
    options = CallOptions(**{name: asked(kind)})
    wire = dict(wires(options))[name]
    request = build_request(PARTS, options)
    place = request["extra_body"] if wire.body else request
    assert wire.name in place
    assert wire.name in sent_options(request)
    assert f'"{wire.name}":' in dry_run(request)
    unset = request_key(build_request(PARTS, CallOptions()))
    # `session_id` only groups calls in OpenRouter's logs: the same answer, the same key
    assert (request_key(request) == unset) == (name == "session_id")


def test_seed_reaches_the_local_server_and_the_dry_run_in_a_shell(shell, router, capsys):
    assert shell.run_cell("%%gpt4o --seed 42 -o reply\nPick a number.").success
    assert router.requests[-1].body["seed"] == 42
    assert shell.run_cell("%%gpt4o --seed 42 --dry-run\nPick a number.").success
    assert '"seed": 42' in capsys.readouterr().out
    assert len(router.requests) == 1


def test_an_option_added_as_one_field_reaches_the_request_the_dry_run_and_the_key():
    @dataclass(frozen=True)
    class WithTopK(CallOptions):
        top_k: int | None = sent("top_k")

    request = build_request(PARTS, WithTopK(top_k=40))
    assert request["top_k"] == 40
    assert '"top_k": 40' in dry_run(request)
    assert request_key(request) != request_key(build_request(PARTS, WithTopK(top_k=41)))
    assert "top_k" not in build_request(PARTS, WithTopK())


def test_every_option_field_is_set_by_a_row_of_the_grammar_or_by_the_line():
    wire_fields = {name for name, _wire in wires(CallOptions())}
    row_fields = {action.dest for action in cell_parser()._actions} & wire_fields
    # the two no row sets are made by `call_options` from the format and the notebook
    assert wire_fields - row_fields == {"response_format", "session_id"}
    # the model, the system prompt, and a tool loop's functions and rounds (set by the loop)
    # are the envelope, the messages and the `tools` list, not options of their own
    assert {f.name for f in fields(CallOptions)} - wire_fields == {
        "model",
        "system",
        "functions",
        "exchange",
    }
    every = parse_options(
        "--temperature 0.5 --max-tokens 9 --seed 1 --think --web --pdf-engine native "
        '--models a,b --provider \'{"sort": "price"}\''
    )
    options, _fmt = call_options(every, "m", None, "nb")
    assert [name for name in row_fields if getattr(options, name) in (None, False, ())] == []


def test_the_user_guide_lists_exactly_the_options_of_the_table():
    flags = {flag for option in OPTIONS for flag in option.flags}
    assert documented_flags() == flags


def test_a_zero_temperature_is_sent_and_an_unset_option_is_not():
    request = build_request(PARTS, CallOptions(temperature=0.0, seed=0))
    assert request["temperature"] == 0.0
    assert request["seed"] == 0
    assert set(request["extra_body"]) == {"usage"}


# --- an output format ------------------------------------------------------------------


def test_every_format_is_a_choice_in_the_help_and_in_the_user_guide():
    from orjupyter.core.formats import OUTPUT_FORMATS

    help_ = " ".join(help_text("About.").split())
    guide = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    format_row = next(line for line in guide.splitlines() if line.startswith("| `-f`"))
    for name, fmt in OUTPUT_FORMATS.items():
        assert parse_options(f"-f {name}").format == name
        assert f"{name} ({fmt.help})" in help_
        assert f"`{name}`" in format_row


def test_a_format_added_as_one_row_is_parsed_into_o_and_refuses_a_schema(
    shell, router, monkeypatch
):
    from orjupyter.core.errors import FormatError, OptionError
    from orjupyter.core.formats import OUTPUT_FORMATS, OutputFormat
    from orjupyter.core.schema import schema_for

    def pairs(text: str) -> dict[str, str]:
        if "=" not in text:
            raise FormatError("the answer is not key=value lines")
        return dict(line.split("=", 1) for line in text.splitlines() if line)

    row = OutputFormat(
        "key=value lines; -o stores a dict", "Answer as key=value lines.", parse=pairs
    )
    monkeypatch.setitem(OUTPUT_FORMATS, "pairs", row)
    assert shell.run_cell("%%gpt4o -f pairs -o got\n[[fake reply=a=1]]").success
    assert shell.user_ns["got"] == {"a": "1"}
    sent = router.requests[-1].body
    assert sent["messages"][0]["content"] == "Answer as key=value lines."
    assert "response_format" not in sent
    shell.user_ns["items"] = ["x", "y"]
    assert shell.run_cell("%%gpt4o --map items -f pairs -o rows\n[[fake reply=b=2]] {item}").success
    assert shell.user_ns["rows"] == [{"b": "2"}, {"b": "2"}]
    # `--schema` asks for strict JSON: a format that does not answer JSON is refused
    args = parse_options("-f pairs --schema S")
    with pytest.raises(OptionError, match="drop -f pairs"):
        call_options(args, "m", schema_for({"type": "object", "properties": {}}, "S"), "nb")


def test_json_is_the_format_that_answers_json_and_parses():
    from orjupyter.core.formats import OUTPUT_FORMATS

    answering = {name for name, fmt in OUTPUT_FORMATS.items() if fmt.answers_json}
    assert answering == {"json"}
    json_row = OUTPUT_FORMATS["json"]
    assert json_row.parse is not None
    assert json_row.parse('```json\n{"a": [1, 2]}\n```') == {"a": [1, 2]}


# --- an image kind ---------------------------------------------------------------------


def image_refusal() -> str:
    from orjupyter.core.errors import PromptError
    from orjupyter.core.image_sources import image_maker
    from orjupyter.core.prompt import build_parts, parse_template

    with pytest.raises(PromptError) as refused:
        build_parts(parse_template("{x:image}"), {"x": 3.5}, image_maker("m", forced=True))
    return str(refused.value)


def test_the_image_refusal_the_help_and_the_user_guide_name_every_image_kind():
    from orjupyter.core.image_sources import SOURCES
    from orjupyter.jupyter.commands import ABOUT

    help_ = " ".join(help_text(ABOUT).split())
    guide = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    images = guide.split("#### Which values are images", 1)[1].split("####", 1)[0]
    for source in SOURCES:
        assert source.name in image_refusal()
        assert source.name in help_
        assert source.name.split(" (")[0] in images


def test_an_image_kind_added_as_one_row_is_named_by_the_refusal(monkeypatch):
    import orjupyter.core.image_sources as image_sources

    before = image_sources.SOURCES
    row = image_sources.ImageSource("an SVG drawing", lambda _v: False, lambda _v: None)
    monkeypatch.setattr(image_sources, "SOURCES", (*before, row))
    assert image_refusal().endswith(f"{before[-2].name}, {before[-1].name} or an SVG drawing")


# --- a ledger column -------------------------------------------------------------------


def test_the_exports_hold_every_column_of_the_ledger_each_under_its_name(tmp_path):
    import csv
    import io
    import sqlite3

    from orjupyter.core.domain import Usage
    from orjupyter.render.dashboard import COLUMNS, calls_csv
    from orjupyter.store.ledger import CallRecord, Ledger

    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        usage = Usage(11, 22, Decimal("0.5"), True, cached_tokens=3, reasoning_tokens=4)
        record = CallRecord(
            "nb", "[7]", "m/x", "gen-1", usage, "stopped", "why", 0.25, 1.5, True, "p", "a", "r1"
        )
        ledger.record(record)
        calls = ledger.calls("nb")
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        table = [row[1] for row in conn.execute("PRAGMA table_info(calls)")]
    conn.close()
    assert set(COLUMNS) == set(table) - {"id"}
    [row] = csv.DictReader(io.StringIO(calls_csv(calls)))
    assert list(row) == list(COLUMNS)
    expected = {
        "notebook": "nb", "cell": "[7]", "model": "m/x", "generation_id": "gen-1",
        "prompt_tokens": "11", "completion_tokens": "22", "cost": "0.5",
        "cost_is_estimate": "true", "cached_tokens": "3", "reasoning_tokens": "4",
        "outcome": "stopped", "error": "why", "time_to_first_token": "0.25",
        "duration": "1.5", "from_cache": "true", "prompt": "p", "answer": "a", "run": "r1",
    }  # fmt: skip
    assert {name: row[name] for name in expected} == expected


def test_a_row_the_ledger_refused_keeps_every_column_but_the_conversation(
    shell, router, tmp_path, capsys
):
    import json

    from orjupyter.render.dashboard import COLUMNS

    (tmp_path / "ledger.sqlite").mkdir()  # a ledger that cannot be opened
    assert shell.run_cell("%%gpt4o --max-tokens 30\nHello").success
    assert "cannot open the ledger" in capsys.readouterr().err
    side = tmp_path / "ledger.sqlite.unrecorded.jsonl"
    [row] = [json.loads(line) for line in side.read_text().splitlines()]
    assert set(row) == set(COLUMNS) - {"prompt", "answer"}
    assert row["outcome"] == "ok"
    assert row["completion_tokens"] == router.billed()[-1]["completion_tokens"]
