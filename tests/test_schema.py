"""`--schema`: Python types and JSON Schema dicts → strict schemas; answers → values."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Literal, TypedDict

import pydantic
import pytest

from orjupyter.core.domain import format_cost
from orjupyter.core.errors import FormatError, OptionError
from orjupyter.core.schema import as_record, schema_for, strict_schema, validated


class Priority(Enum):
    LOW = "low"
    HIGH = "high"


@dataclass
class Place:
    city: str
    country: str


@dataclass
class Ticket:
    label: Literal["bug", "question"]
    priority: Priority
    score: float
    tags: list[str]
    place: Place
    note: str | None = None


class Reading(TypedDict):
    title: str
    pages: int


class Invoice(pydantic.BaseModel):
    number: str
    total: float
    paid: bool = False


def test_a_dataclass_becomes_a_strict_schema():
    schema = schema_for(Ticket, "Ticket")
    body = schema.json_schema
    assert schema.response_format()["json_schema"]["strict"] is True
    assert schema.response_format()["json_schema"]["name"] == "Ticket"
    assert body["required"] == ["label", "priority", "score", "tags", "place", "note"]
    assert body["additionalProperties"] is False
    assert body["properties"]["label"] == {"enum": ["bug", "question"]}
    assert body["properties"]["priority"] == {"enum": ["low", "high"]}
    assert body["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert body["properties"]["place"]["additionalProperties"] is False
    assert body["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}


def test_a_valid_answer_becomes_nested_dataclasses():
    answer = {
        "label": "bug",
        "priority": "high",
        "score": 0.5,
        "tags": ["ui"],
        "place": {"city": "Lyon", "country": "FR"},
        "note": None,
    }
    ticket = validated(schema_for(Ticket, "Ticket"), "```json\n" + json.dumps(answer) + "\n```")
    assert ticket == Ticket("bug", Priority.HIGH, 0.5, ["ui"], Place("Lyon", "FR"))
    assert as_record(ticket)["place"] == Place("Lyon", "FR")


def test_an_answer_that_does_not_match_names_what_is_wrong():
    schema = schema_for(Reading, "Reading")
    with pytest.raises(FormatError) as caught:
        validated(schema, '{"title": "Dune", "pages": "many", "extra": 1}')
    message = str(caught.value)
    assert message.startswith("the answer does not match Reading: ")
    assert "$.pages: expected integer" in message
    assert "unexpected 'extra'" in message
    assert "the text is kept in the reply" in message
    with pytest.raises(FormatError, match="not valid JSON"):
        validated(schema, "Dune, 412 pages")


def test_a_typeddict_answer_is_a_dict():
    assert validated(schema_for(Reading, "R"), '{"title": "Dune", "pages": 412}') == {
        "title": "Dune",
        "pages": 412,
    }


def test_a_pydantic_model_is_validated_by_pydantic():
    schema = schema_for(Invoice, "Invoice")
    props = schema.json_schema["properties"]
    assert schema.json_schema["required"] == ["number", "total", "paid"]
    assert props["paid"] == {"title": "Paid", "type": "boolean"}  # answered, default dropped
    invoice = validated(schema, '{"number": "A-1", "total": 12.5, "paid": true}')
    assert invoice == Invoice(number="A-1", total=12.5, paid=True)
    with pytest.raises(FormatError, match=r"does not match Invoice: .*total") as caught:
        validated(schema, '{"number": "A-1", "total": "twelve", "paid": true}')
    assert "errors.pydantic.dev" not in str(caught.value)


def test_a_json_schema_dict_is_made_strict_without_changing_the_original():
    original = {
        "type": "object",
        "title": "city facts",
        "properties": {"name": {"type": "string"}, "people": {"type": "integer"}},
        "required": ["name"],
    }
    schema = schema_for(original, "facts")
    assert schema.name == "city_facts"
    assert schema.json_schema["required"] == ["name", "people"]
    assert schema.json_schema["properties"]["people"] == {"type": ["integer", "null"]}
    assert "additionalProperties" not in original
    assert validated(schema, '{"name": "Lyon", "people": null}') == {"name": "Lyon", "people": None}


def test_nested_objects_and_defs_are_strict_too():
    strict = strict_schema(
        {
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/A"}},
            "$defs": {"A": {"type": "object", "properties": {"x": {"type": "string"}}}},
        }
    )
    assert strict["$defs"]["A"] == {
        "type": "object",
        "properties": {"x": {"type": ["string", "null"]}},
        "required": ["x"],
        "additionalProperties": False,
    }


@pytest.mark.parametrize("value", [42, "Ticket", {"type": "string"}, Place("a", "b"), dict])
def test_what_is_not_a_schema_is_one_line(value):
    with pytest.raises(OptionError, match=r"^--schema S: a \w+ is not a schema; pass a pydantic"):
        schema_for(value, "S")


def test_a_field_type_without_a_strict_form_is_named():
    @dataclass
    class Loose:
        extra: dict[str, int]

    with pytest.raises(OptionError, match=r"--schema Loose.extra: dict\[str, int\] has no strict"):
        schema_for(Loose, "Loose")


def test_the_schema_module_never_imports_pydantic():
    code = (
        "import sys; from dataclasses import dataclass\n"
        "from orjupyter.core.schema import schema_for, validated\n"
        "@dataclass\nclass A:\n    x: int\n"
        "print(validated(schema_for(A, 'A'), '{\"x\": 1}'), 'pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "A(x=1) False"


# --- in a real shell, against the local server ---------------------------------------


def _reply_b64(value: object) -> str:
    import base64

    return base64.b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_cell_with_schema_stores_the_validated_object(shell, router):
    shell.user_ns["Invoice"] = Invoice
    answer = _reply_b64({"number": "A-7", "total": 3.5, "paid": True})
    cell = f"%%gpt4o --schema Invoice -o invoice\nRead this: [[fake reply_b64={answer}]]"
    assert shell.run_cell(cell).success
    assert shell.user_ns["invoice"] == Invoice(number="A-7", total=3.5, paid=True)
    body = router.requests[-1].body
    assert body["response_format"]["json_schema"]["name"] == "Invoice"
    assert body["provider"] == {"require_parameters": True}


def test_an_answer_that_does_not_validate_fails_the_cell_and_keeps_the_text(shell, router, capsys):
    shell.user_ns["Reading"] = Reading
    answer = _reply_b64({"title": "Dune"})
    cell = f"%%gpt4o --schema Reading -o book --retries 0\n[[fake reply_b64={answer}]]"
    assert not shell.run_cell(cell).success
    assert "does not match Reading: $: missing 'pages' (1 attempt)" in capsys.readouterr().err
    assert json.loads(shell.user_ns["book"].text) == {"title": "Dune"}
    assert shell.user_ns["book"].outcome == "invalid"
    assert len(router.requests) == 1


# --- asked again, in a real shell, against the local server ---------------------------


def _calls(shell) -> list:
    magics = shell.magics_manager.registry["OrJupyterMagics"]
    return magics.session.records.ledger.calls(magics.notebook().key)


def _billed(router) -> list[Decimal]:
    return [Decimal(str(usage["cost"])) for usage in router.billed()]


class Place2(pydantic.BaseModel):
    city: str
    country: str | None


class Booking(pydantic.BaseModel):
    guest: str
    nights: int
    kind: Literal["single", "double"]
    places: list[Place2]
    paid: bool = False


def test_the_local_server_answers_a_pydantic_schema_with_a_valid_value(shell, router):
    shell.user_ns["Booking"] = Booking
    assert shell.run_cell("%%gpt4o --schema Booking -o b\nBook a room").success
    booking = shell.user_ns["b"]
    assert isinstance(booking, Booking)
    assert booking.kind == "single"
    assert booking.nights == 1
    assert len(booking.places) == 1
    assert len(router.requests) == 1


def test_an_answer_that_is_not_json_is_asked_again_with_the_error(shell, router, capsys):
    shell.user_ns["Booking"] = Booking
    cell = "%%gpt4o --schema Booking -o b\n[[fake not_json=1]] Book a room"
    assert shell.run_cell(cell).success
    assert isinstance(shell.user_ns["b"], Booking)
    first, second = (request.body["messages"] for request in router.requests)
    assert second[: len(first)] == first  # the question, as first asked
    wrong, told = second[len(first) :]
    assert wrong["role"] == "assistant"
    assert not _is_json(wrong["content"])
    assert told["role"] == "user"
    assert "the answer is not valid JSON" in told["content"]
    calls = _calls(shell)
    assert [call.outcome for call in calls] == ["error", "ok"]
    assert len({call.run for call in calls}) == 1
    assert calls[0].run.startswith("--schema Booking")
    billed = _billed(router)
    assert [call.usage.cost for call in calls] == billed
    out = capsys.readouterr().out
    assert "Asking again with the validation error (attempt 2 of 2)." in out
    assert f"Valid on attempt 2; billed {format_cost(sum(billed))} for the 2 attempts." in out


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_a_final_failure_is_invalid_billed_in_full_never_cached_and_asked_again(
    shell, router, capsys
):
    shell.user_ns["Booking"] = Booking
    cell = "%%gpt4o --schema Booking -o b --retries 2\n[[fake off_schema=9]] Book a room"
    assert not shell.run_cell(cell).success
    err = capsys.readouterr().err
    assert "does not match Booking" in err
    assert "(3 attempts)" in err
    assert "re-run the cell to ask again" in err
    reply = shell.user_ns["b"]
    assert reply.outcome == "invalid"
    assert "guest" not in json.loads(reply.text)  # the raw answer, as the model gave it
    assert reply.usage.cost == sum(_billed(router))  # every attempt, exactly
    assert len(router.requests) == 3
    assert not shell.run_cell(cell).success  # re-running asks again: nothing was cached
    assert len(router.requests) == 6
    assert shell.user_ns["b"].usage.cost > 0
    assert not shell.user_ns["b"].cached
    assert [call.outcome for call in _calls(shell)] == ["error"] * 6


def test_a_valid_answer_after_a_re_ask_replays_for_free(shell, router):
    shell.user_ns["Booking"] = Booking
    cell = "%%gpt4o --schema Booking -o b\n[[fake not_json=1]] Book a room"
    assert shell.run_cell(cell).success
    assert shell.run_cell(cell).success
    assert len(router.requests) == 2  # the second run asked nothing
    assert isinstance(shell.user_ns["b"], Booking)
    assert _calls(shell)[-1].from_cache


def test_retries_without_a_schema_is_one_line(shell, router, capsys):
    assert not shell.run_cell("%%gpt4o --retries 2\nhello").success
    assert "--retries works with --schema NAME" in capsys.readouterr().err
    assert not shell.run_cell("%%gpt4o --retries 99 --schema X\nhello").success
    assert "--retries: invalid choice: 99 (choose from 0, 1" in capsys.readouterr().err
    assert router.requests == []


def test_in_a_kernel_each_attempt_shows_its_own_answer(router, tmp_path):
    from notebook_support import execute, streamed

    notebook = execute(
        tmp_path,
        "%load_ext orjupyter\nfrom typing import TypedDict\n"
        "class Reading(TypedDict):\n    title: str\n    pages: int",
        "%%gpt4o --schema Reading -o book\n[[fake off_schema=1]] Dune",
        "print(book)",
    )
    asked = notebook.cells[1]
    shown = [o for o in asked.outputs if "orjupyter" in o.get("metadata", {})]
    assert len(shown) == 2  # the answer that missed, then the valid one
    assert shown[0]["metadata"]["orjupyter"]["outcome"] == "invalid"
    assert shown[1]["metadata"]["orjupyter"]["outcome"] == "ok"
    assert "Valid on attempt 2" in streamed(asked)
    assert streamed(notebook.cells[2]) == "{'title': 'sample', 'pages': 1}\n"
    assert len(router.requests) == 2
