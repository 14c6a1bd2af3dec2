"""The fake OpenRouter's extras, driven by the real `openai` SDK: several models with
their own prices, reasoning streams, web search citations, PDF files, prompt caching,
`session_id`, and `GET /generation` for finished and cancelled generations."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, cast

import openai
import pydantic
import pytest

from orjupyter.fakerouter import FakeRouter
from orjupyter.fakerouter.script import MODELS

if TYPE_CHECKING:
    from openai.types.chat.completion_create_params import ResponseFormat

KEY = "sk-or-v1-0123456789abcdef"
PDF = (
    b"%PDF-1.4\n1 0 obj <</Type /Pages /Kids [2 0 R 3 0 R]>>\n"
    b"2 0 obj <</Type /Page>>\n3 0 obj <</Type/Page>>\n%%EOF"
)


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    with FakeRouter() as server:
        server.keepalive_interval = 0.05
        yield server


@pytest.fixture
def client(router: FakeRouter) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=router.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


def ask(
    client: openai.OpenAI, content: Any, model: str = "openai/gpt-4o-mini", **extra: Any
) -> list[Any]:
    messages = (
        content
        if isinstance(content, list) and content and "role" in content[0]
        else [{"role": "user", "content": content}]
    )
    return list(
        client.chat.completions.create(
            model=model, messages=messages, stream=True, extra_body=extra
        )
    )


def deltas(chunks: list[Any], name: str) -> str:
    return "".join(
        (c.choices[0].delta.model_extra or {}).get(name, "") for c in chunks if c.choices
    )


def content(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def generation(client: openai.OpenAI, gen_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        try:
            body: Any = client.get(
                "/generation", cast_to=object, options={"params": {"id": gen_id}}
            )
            return dict(body["data"])
        except openai.NotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_models_have_their_own_prices_providers_and_parameters(client: openai.OpenAI) -> None:
    listed = {m.id: m.model_dump() for m in client.models.list().data}
    assert len({m["pricing"]["prompt"] for m in listed.values()}) == len(listed) >= 5
    assert {MODELS[m].provider_name for m in listed} >= {"OpenAI", "Anthropic", "Google AI Studio"}
    assert "reasoning" in listed["openai/o4-mini"]["supported_parameters"]
    assert "reasoning" not in listed["openai/gpt-4o-mini"]["supported_parameters"]
    answer = ask(client, "hi", model="anthropic/claude-3.5-sonnet")
    assert answer[0].provider == "Anthropic"


def test_a_reasoning_model_streams_its_thoughts_before_the_answer(client: openai.OpenAI) -> None:
    chunks = ask(client, "why? [[fake reply=Because.]]", model="openai/o4-mini",
                 reasoning={"effort": "low"})  # fmt: skip
    thoughts = [
        c for c in chunks if c.choices and (c.choices[0].delta.model_extra or {}).get("reasoning")
    ]
    assert len(thoughts) == 8
    assert chunks.index(thoughts[-1]) < next(i for i, c in enumerate(chunks) if content([c]))
    assert deltas(chunks, "reasoning").startswith("Let me think")
    assert content(chunks) == "Because."
    usage = chunks[-1].usage
    assert usage.completion_tokens_details.reasoning_tokens == 8
    assert usage.completion_tokens == 9  # reasoning is billed as output


def test_a_model_that_does_not_reason_ignores_reasoning(client: openai.OpenAI) -> None:
    chunks = ask(client, "why?", reasoning={"effort": "high"})
    assert deltas(chunks, "reasoning") == ""
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == 0


def test_web_search_adds_citations_and_its_cost(client: openai.OpenAI) -> None:
    tool = {"type": "openrouter:web_search", "parameters": {"max_results": 3}}
    plain = ask(client, "news [[fake reply=Today.]]")
    searched = ask(client, "news [[fake reply=Today.]]", tools=[tool])
    notes = [
        a
        for c in searched
        if c.choices
        for a in (c.choices[0].delta.model_extra or {}).get("annotations", [])
    ]
    assert [n["type"] for n in notes] == ["url_citation"] * 3
    assert notes[0]["url_citation"]["url"].startswith("https://")
    extra = Decimal(str(searched[-1].usage.cost)) - Decimal(str(plain[-1].usage.cost))
    assert extra == Decimal("0.012")  # 3 results at $4 per 1,000


def test_a_pdf_file_part_is_counted_and_ocr_is_charged(
    client: openai.OpenAI, router: FakeRouter
) -> None:
    url = "data:application/pdf;base64," + base64.b64encode(PDF).decode()
    part = {"type": "file", "file": {"filename": "report.pdf", "file_data": url}}
    native = ask(client, [{"type": "text", "text": "Sum up"}, part])
    assert "- file: report.pdf, PDF, 2 pages" in content(native)
    assert native[-1].usage.prompt_tokens == 4 + 2 + 1000
    ocr = ask(client, [part], plugins=[{"id": "file-parser", "pdf": {"engine": "mistral-ocr"}}])
    assert Decimal(str(ocr[-1].usage.cost)) > Decimal("0.004")  # 2 pages at $2 per 1,000
    seen = router.requests[-1].to_json()["body"]["messages"][0]["content"][0]["file"]
    assert "file_data" not in seen
    assert seen["_summary"]["pages"] == 2
    bad = "data:application/pdf;base64," + base64.b64encode(b"not a pdf").decode()
    with pytest.raises(openai.BadRequestError, match="not a PDF"):
        ask(client, [{"type": "file", "file": {"filename": "x.pdf", "file_data": bad}}])


def test_a_repeated_long_prefix_is_cached_and_cheaper(client: openai.OpenAI) -> None:
    long = "The same long context. " * 300
    first = ask(client, [{"role": "system", "content": long}, {"role": "user", "content": "one"}])
    again = ask(client, [{"role": "system", "content": long}, {"role": "user", "content": "two"}])
    short = ask(client, "short")
    cached = again[-1].usage.prompt_tokens_details.cached_tokens
    assert first[-1].usage.prompt_tokens_details.cached_tokens == 0
    assert 1024 <= cached <= again[-1].usage.prompt_tokens
    assert cached % 128 == 0
    assert again[-1].usage.cost < first[-1].usage.cost
    assert short[-1].usage.prompt_tokens_details.cached_tokens == 0


def test_session_id_is_recorded(client: openai.OpenAI, router: FakeRouter) -> None:
    chunks = ask(client, "hi", session_id="nb-1234")
    assert router.requests[-1].body["session_id"] == "nb-1234"
    assert generation(client, chunks[0].id)["session_id"] == "nb-1234"


def test_a_cancelled_generation_is_billed_for_what_was_generated(
    client: openai.OpenAI, router: FakeRouter
) -> None:
    with client.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "[[fake words=200 delay=0.02]]"}],
        stream=True,
    ) as response:
        received = 0
        for chunk in response:
            received += bool(chunk.choices and chunk.choices[0].delta.content)
            gen_id = chunk.id
            if received == 10:
                break
    record = generation(client, gen_id)
    assert record["cancelled"] is True
    assert 10 <= record["tokens_completion"] < 200
    price = MODELS["openai/gpt-4o-mini"]
    expected = sum(price.cost(record["tokens_prompt"], record["tokens_completion"]))
    assert Decimal(str(record["total_cost"])) == expected
    key: Any = client.get("/key", cast_to=object)
    assert Decimal(str(key["data"]["usage"])) == expected


def test_a_broken_stream_is_billed_too(client: openai.OpenAI) -> None:
    chunks: list[Any] = []
    response = client.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "[[fake words=20 midstream_error_after=5]]"}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        chunks.extend(response)
    record = generation(client, chunks[0].id)
    assert record["tokens_completion"] == 5
    assert record["finish_reason"] == "error"
    assert json.dumps(record)  # plain JSON


# --- structured output: response_format ----------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 18},
        "score": {"type": "number", "maximum": 1},
        "member": {"type": "boolean"},
        "level": {"enum": ["gold", "silver"]},
        "nickname": {"type": ["string", "null"]},
        "home": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Place"}]},
        "visits": {"type": "array", "items": {"$ref": "#/$defs/Place"}},
        "boss": {"anyOf": [{"$ref": "#/$defs/Person"}, {"type": "null"}]},
    },
    "$defs": {
        "Place": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "integer"}},
            "required": ["city", "zip"],
            "additionalProperties": False,
        },
        "Person": {
            "type": "object",
            "properties": {"boss": {"anyOf": [{"$ref": "#/$defs/Person"}, {"type": "null"}]}},
            "required": ["boss"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "age", "score", "member", "level", "nickname", "home", "visits", "boss"],
    "additionalProperties": False,
}


def json_schema(schema: dict[str, Any], name: str = "Form") -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def answer_of(client: openai.OpenAI, messages: Any, response_format: dict[str, Any]) -> str:
    chunks = list(
        client.chat.completions.create(
            model="openai/gpt-4o-mini",
            messages=messages,
            stream=True,
            # the plain JSON the product sends, which the SDK types as a TypedDict
            response_format=cast("ResponseFormat", response_format),
        )
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_a_json_schema_request_is_answered_with_json_that_fits_it(client):
    from orjupyter.core.schema import problems

    value = json.loads(
        answer_of(client, [{"role": "user", "content": "Fill"}], json_schema(SCHEMA))
    )
    assert problems(SCHEMA, value) == []
    assert value["age"] == 18
    assert value["score"] == 1
    assert value["level"] == "gold"
    assert value["home"] == {"city": "sample", "zip": 1}  # the choice that is not null
    depth, boss = 0, value["boss"]  # a recursive type ends (in null) instead of looping
    while boss is not None:
        depth, boss = depth + 1, boss["boss"]
    assert 0 < depth < 20


def test_a_pydantic_models_strict_schema_is_answered_and_validates(client):
    from orjupyter.core.schema import schema_for, validated

    class Stop(pydantic.BaseModel):
        city: str
        nights: int

    class Trip(pydantic.BaseModel):
        title: str
        kind: Literal["work", "leisure"]
        stops: list[Stop]
        budget: float | None = None

    schema = schema_for(Trip, "Trip")
    text = answer_of(client, [{"role": "user", "content": "Plan"}], schema.response_format())
    assert validated(schema, text) == Trip(
        title="sample", kind="work", stops=[Stop(city="sample", nights=1)], budget=1.5
    )


def test_a_json_object_request_is_answered_with_an_object(client):
    text = answer_of(client, [{"role": "user", "content": "Hi"}], {"type": "json_object"})
    assert json.loads(text) == {"answer": "I received 1 part:\n- text: 2 characters"}


def test_not_json_and_off_schema_fail_the_first_attempts_then_answer_right(client):
    from orjupyter.core.schema import problems

    schema = SCHEMA["$defs"]["Place"]
    for switch, failing in (("not_json=1", 1), ("off_schema=2", 2)):
        messages: list[dict[str, Any]] = [{"role": "user", "content": f"[[fake {switch}]] Go"}]
        for attempt in range(1, failing + 2):
            text = answer_of(client, messages, json_schema(schema))
            if attempt <= failing and switch.startswith("not_json"):
                with pytest.raises(json.JSONDecodeError):
                    json.loads(text)
            elif attempt <= failing:
                assert problems(schema, json.loads(text)) == ["$: missing 'city'"]
            else:
                assert problems(schema, json.loads(text)) == []
            messages += [
                {"role": "assistant", "content": text},
                {"role": "user", "content": "That was wrong; answer again."},
            ]


def test_a_scripted_reply_wins_over_the_schema(client):
    content = "[[fake reply=not_json]] Go"
    text = answer_of(client, [{"role": "user", "content": content}], json_schema(SCHEMA))
    assert text == "not json"
