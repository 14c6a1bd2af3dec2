"""The fake OpenRouter, driven by the real `openai` SDK over TCP (no mocks)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import io
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, TextIO

import openai
import pytest
from PIL import Image

from orjupyter.fakerouter import FakeRouter
from orjupyter.fakerouter.script import (
    RequestError,
    image_tokens,
    parse_directives,
    split_pieces,
    text_tokens,
)

MODEL = "openai/gpt-4o-2024-11-20"
KEY = "sk-or-v1-0123456789abcdef"


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    with FakeRouter() as server:
        server.keepalive_interval = 0.05
        yield server


@pytest.fixture
def client(router: FakeRouter) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=router.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


def png_url(width: int, height: int, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buf, fmt)
    mime = "image/png" if fmt == "PNG" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode()}"


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def stream(client: openai.OpenAI, messages: list[dict[str, Any]], **kw: Any) -> list[Any]:
    return list(
        client.chat.completions.create(
            model=kw.pop("model", MODEL),
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"usage": {"include": True}},
            **kw,
        )
    )


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def content_chunks(chunks: list[Any]) -> list[Any]:
    return [c for c in chunks if c.choices]


def raw(router: FakeRouter, method: str, path: str, body: object = None, **headers: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=5)
    data = None if body is None else json.dumps(body)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **headers})
    try:
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    return response, payload


def wait_for_event(router: FakeRouter, name: str, timeout: float = 3.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in router.events if e["event"] == name]
        if found:
            return found[-1]
        time.sleep(0.01)
    raise AssertionError(f"no {name} event in {router.events}")


# --- the default answer ---------------------------------------------------------------


def test_default_answer_describes_parts_images_system_and_history(client: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": png_url(64, 48), "detail": "high"}},
                {"type": "text", "text": "Thanks, é"},
            ],
        },
    ]
    chunks = stream(client, messages)
    assert text_of(chunks) == (
        "I received 3 parts:\n"
        "- text: 22 characters\n"
        "- image: 64x48 image/png detail=high\n"
        "- text: 9 characters\n"
        "\n"
        "System: 9 characters\n"
        "History: 2 messages"
    )


def test_plain_string_content_is_one_text_part(client: openai.OpenAI) -> None:
    assert text_of(stream(client, user("hello"))) == "I received 1 part:\n- text: 5 characters"


def test_image_media_type_is_measured_from_the_decoded_bytes(client: openai.OpenAI) -> None:
    jpeg = png_url(30, 20, "JPEG").replace("image/jpeg", "image/png")
    content = [{"type": "image_url", "image_url": {"url": jpeg}}]
    assert "- image: 30x20 image/jpeg detail=auto" in text_of(
        stream(client, [{"role": "user", "content": content}])
    )


# --- the stream on the wire -----------------------------------------------------------


def test_wire_format_keepalives_envelope_usage_and_done(router: FakeRouter) -> None:
    body = {
        "model": MODEL,
        "stream": True,
        "messages": user("[[fake reply=A_red_square. first_delay=0.2]]"),
    }
    response, payload = raw(
        router, "POST", "/api/v1/chat/completions", body, Authorization="Bearer k"
    )
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    gen_id = response.getheader("X-Generation-Id")
    text = payload.decode()
    assert text.startswith(": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n")
    assert text.endswith("\n\ndata: [DONE]\n\n")
    events = [json.loads(e[6:]) for e in text.split("\n\n") if e.startswith("data: {")]
    *content, usage = events
    assert [c["choices"][0]["delta"] for c in content] == [
        {"role": "assistant", "content": "A"},
        {"role": "assistant", "content": " red"},
        {"role": "assistant", "content": " square."},
    ]
    assert [c["choices"][0]["finish_reason"] for c in content] == [None, None, "stop"]
    for chunk in events:
        assert chunk["id"] == gen_id
        assert gen_id.startswith("gen-")
        assert len(gen_id.split("-")[2]) == 20
        assert chunk["provider"] == "OpenAI"
        assert chunk["model"] == MODEL
        assert chunk["object"] == "chat.completion.chunk"
    assert content[-1]["choices"][0]["native_finish_reason"] == "stop"
    assert content[0]["system_fingerprint"].startswith("fp_")
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 3
    assert usage["usage"]["is_byok"] is False
    assert usage["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0


def test_keepalives_during_first_delay_do_not_break_the_sdk(client: openai.OpenAI) -> None:
    chunks = stream(client, user("[[fake reply=late first_delay=0.3]]"))
    assert text_of(chunks) == "late"


def test_chunks_arrive_live(client: openai.OpenAI) -> None:
    start = time.monotonic()
    arrivals = []
    for chunk in client.chat.completions.create(
        model=MODEL, messages=user("[[fake words=4 delay=0.1]]"), stream=True
    ):
        arrivals.append(time.monotonic() - start)
        assert not chunk.choices or chunk.choices[0].delta.role == "assistant"
    assert arrivals[0] < 0.3
    assert arrivals[-1] >= 0.4


def test_usage_cost_is_prompt_and_completion_tokens_at_list_price(
    router: FakeRouter, client: openai.OpenAI
) -> None:
    text = "Describe this."
    content = [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": png_url(1024, 1024)}},
    ]
    chunks = stream(client, [{"role": "user", "content": content}])
    usage = chunks[-1].usage
    assert chunks[-1].choices == []
    assert usage.prompt_tokens == 4 + text_tokens(text) + 765
    assert usage.completion_tokens == len(content_chunks(chunks))
    expected = Decimal("0.0000025") * usage.prompt_tokens + Decimal("0.00001") * (
        usage.completion_tokens
    )
    assert Decimal(str(usage.cost)) == expected
    assert usage.model_extra["cost_details"]["upstream_inference_cost"] is None
    [billed] = router.billed()
    assert (billed["prompt_tokens"], billed["cost"]) == (usage.prompt_tokens, usage.cost)


def test_max_tokens_cuts_the_answer_with_finish_reason_length(client: openai.OpenAI) -> None:
    chunks = stream(client, user("[[fake words=10]]"), max_tokens=3)
    assert text_of(chunks) == "lorem ipsum dolor"
    assert content_chunks(chunks)[-1].choices[0].finish_reason == "length"
    assert chunks[-1].usage.completion_tokens == 3


def test_async_client_streams(router: FakeRouter) -> None:
    async def run() -> list[Any]:
        async with openai.AsyncOpenAI(base_url=router.base_url, api_key=KEY, max_retries=0) as c:
            response = await c.chat.completions.create(
                model="openai/gpt-4o-mini",
                messages=user("[[fake words=5 first_delay=0.1]]"),
                stream=True,
            )
            return [chunk async for chunk in response]

    chunks = asyncio.run(run())
    assert text_of(chunks) == "lorem ipsum dolor sit amet"
    usage = chunks[-1].usage
    assert (
        Decimal(str(usage.cost))
        == Decimal("0.00000015") * usage.prompt_tokens + Decimal("0.0000006") * 5
    )


def test_non_streaming_completion_has_usage(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=user("[[fake reply=Hi]]"))
    assert completion.choices[0].message.content == "Hi"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 1
    assert completion.id.startswith("gen-")


# --- scripted answers -----------------------------------------------------------------


def test_reply_words_and_chunks_directives(client: openai.OpenAI) -> None:
    encoded = base64.b64encode("Ünïcode [[x]] answer\n".encode()).decode()
    assert text_of(stream(client, user(f"[[fake reply_b64={encoded}]]"))) == (
        "Ünïcode [[x]] answer\n"
    )
    assert text_of(stream(client, user("[[fake reply=two_words]]"))) == "two words"
    assert len(content_chunks(stream(client, user("[[fake words=300]]")))) == 300
    chunks = stream(client, user("[[fake reply=abcdefgh chunks=4]]"))
    assert [c.choices[0].delta.content for c in content_chunks(chunks)] == ["ab", "cd", "ef", "gh"]
    assert chunks[-1].usage.completion_tokens == 4


def test_unknown_directive_is_a_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="Unknown fake directive"):
        stream(client, user("[[fake explode=1]]"))


def test_no_cost_and_no_usage(router: FakeRouter, client: openai.OpenAI) -> None:
    usage = stream(client, user("[[fake no_cost]]"))[-1].usage
    assert usage.prompt_tokens > 0
    assert getattr(usage, "cost", None) is None
    chunks = stream(client, user("[[fake no_usage]]"))
    assert all(c.usage is None for c in chunks)
    assert len(router.billed()) == 1
    assert "cost" not in router.billed()[0]


# --- errors before the stream ---------------------------------------------------------


def test_missing_key_is_401(client: openai.OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=user("hi"), extra_headers={"Authorization": openai.Omit()}
        )
    assert caught.value.body == {
        "code": 401,
        "message": "No auth credentials found",
        "metadata": {},
    }
    assert caught.value.response.json()["user_id"] == "user_fake"


def test_wrong_key_is_user_not_found() -> None:
    with (
        FakeRouter(require_key=KEY) as router,
        openai.OpenAI(base_url=router.base_url, api_key="sk-or-v1-wrong", max_retries=0) as sdk,
        openai.OpenAI(base_url=router.base_url, api_key=KEY, max_retries=0) as good,
    ):
        with pytest.raises(openai.AuthenticationError, match="User not found"):
            stream(sdk, user("hi"))
        assert text_of(stream(good, user("hi")))
        assert router.requests[0].headers["authorization"] == "Bearer ***"
        assert KEY not in repr(router.requests)


def test_unknown_model_and_bad_temperature_are_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        stream(client, user("hi"), model="openai/gpt-5-imaginary")
    assert caught.value.body["message"] == "openai/gpt-5-imaginary is not a valid model ID"
    with pytest.raises(openai.BadRequestError, match="temperature"):
        stream(client, user("hi"), temperature=2.5)


def test_text_only_model_refuses_images(client: openai.OpenAI) -> None:
    content = [{"type": "image_url", "image_url": {"url": png_url(8, 8)}}]
    with pytest.raises(openai.NotFoundError, match="support image input"):
        stream(
            client, [{"role": "user", "content": content}], model="meta-llama/llama-3.1-8b-instruct"
        )


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (402, openai.APIStatusError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (408, openai.APIStatusError),
        (413, openai.APIStatusError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (502, openai.InternalServerError),
        (503, openai.InternalServerError),
        (524, openai.InternalServerError),
        (529, openai.InternalServerError),
    ],
)
def test_status_directive_maps_to_sdk_exception(
    client: openai.OpenAI, status: int, error: type[openai.APIStatusError]
) -> None:
    with pytest.raises(error) as caught:
        stream(client, user(f"[[fake status={status}]]"))
    assert type(caught.value) is error
    assert caught.value.status_code == status
    body = caught.value.response.json()
    assert set(body) == {"error", "user_id"}
    assert set(body["error"]) == {"code", "message", "metadata"}
    assert body["error"]["code"] == status


def test_status_messages_are_realistic(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError, match="Insufficient credits"):
        stream(client, user("[[fake status=402]]"))
    with pytest.raises(openai.PermissionDeniedError) as denied:
        stream(client, user("[[fake status=403]] something rude"))
    assert denied.value.body["metadata"]["reasons"] == ["harassment"]
    assert "something rude" in denied.value.body["metadata"]["flagged_input"]
    with pytest.raises(openai.InternalServerError) as bad_gateway:
        stream(client, user("[[fake status=502]]"))
    assert bad_gateway.value.body["message"] == "Provider returned error"
    assert set(bad_gateway.value.body["metadata"]) == {"raw", "provider_name"}
    with pytest.raises(openai.RateLimitError) as limited:
        stream(client, user("[[fake status=429 retry_after=7]]"))
    assert limited.value.response.headers["retry-after"] == "7"


def test_fail_times_lets_sdk_retries_succeed(router: FakeRouter) -> None:
    with openai.OpenAI(base_url=router.base_url, api_key=KEY, max_retries=2) as sdk:
        chunks = stream(sdk, user("[[fake status=503 fail_times=2 retry_after=0.01 reply=ok]]"))
    assert text_of(chunks) == "ok"
    retries = [r.headers["x-stainless-retry-count"] for r in router.requests]
    assert retries == ["0", "1", "2"]
    assert [r.generation_id is None for r in router.requests] == [True, True, False]


def test_html_error_page(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        stream(client, user("[[fake html_error=502]]"))
    assert caught.value.response.headers["content-type"].startswith("text/html")
    assert caught.value.response.text == "<html><body><h1>502 Bad Gateway</h1></body></html>"


# --- faults during the stream ---------------------------------------------------------


def test_midstream_error_raises_api_error(router: FakeRouter, client: openai.OpenAI) -> None:
    received: list[Any] = []
    response = client.chat.completions.create(
        model=MODEL, messages=user("[[fake words=5 midstream_error_after=2]]"), stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        received.extend(response)
    assert not isinstance(caught.value, openai.APIStatusError)
    assert caught.value.message == "Provider returned error"
    assert caught.value.code == "502"
    assert len(received) == 2
    assert router.billed() == []


def test_drop_after_is_a_connection_error(router: FakeRouter, client: openai.OpenAI) -> None:
    received: list[Any] = []
    response = client.chat.completions.create(
        model=MODEL, messages=user("[[fake words=5 drop_after=3]]"), stream=True
    )
    with pytest.raises(openai.APIConnectionError):
        received.extend(response)
    assert len(received) == 3
    assert wait_for_event(router, "dropped")["after_chunks"] == 3


def test_malformed_chunk_fails_json_decoding(client: openai.OpenAI) -> None:
    with pytest.raises(json.JSONDecodeError):
        stream(client, user("[[fake words=5 malformed_after=1]]"))


def test_client_closing_early_is_recorded(router: FakeRouter, client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL, messages=user("[[fake words=50 delay=0.02]]"), stream=True
    )
    chunks = iter(response)
    next(chunks)
    next(chunks)
    response.close()
    event = wait_for_event(router, "client_disconnected")
    assert event["id"] == response.response.headers["x-generation-id"]
    assert 2 <= int(str(event["after_chunks"])) <= 4
    assert not any(e["event"] == "completed" for e in router.events)


def test_stall_sends_only_keepalives_until_the_client_gives_up(router: FakeRouter) -> None:
    async def run() -> list[Any]:
        async with openai.AsyncOpenAI(base_url=router.base_url, api_key=KEY, max_retries=0) as c:
            response = await c.chat.completions.create(
                model=MODEL, messages=user("[[fake words=5 stall_after=2]]"), stream=True
            )
            received = [await anext(response), await anext(response)]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(anext(response), 0.3)
            await response.close()
            return received

    assert len(asyncio.run(run())) == 2
    assert wait_for_event(router, "client_disconnected")["after_chunks"] == 2


def test_a_held_stream_waits_for_release_then_sends_the_rest(router: FakeRouter) -> None:
    async def run() -> str:
        async with openai.AsyncOpenAI(base_url=router.base_url, api_key=KEY, max_retries=0) as c:
            response = await c.chat.completions.create(
                model=MODEL, messages=user("[[fake reply=a_b_c_d_e chunks=5 hold_after=2]]"),
                stream=True,
            )  # fmt: skip
            text = "".join([(await anext(response)).choices[0].delta.content or ""])
            text += (await anext(response)).choices[0].delta.content or ""
            assert wait_for_event(router, "held")["after_chunks"] == 2
            await asyncio.sleep(0.3)
            assert not [e for e in router.events if e["event"] == "completed"]  # still held
            router.release()
            async for chunk in response:
                text += chunk.choices[0].delta.content or "" if chunk.choices else ""
            return text

    assert asyncio.run(run()) == "a b c d e"
    assert wait_for_event(router, "completed")


def test_stop_ends_a_stalled_stream() -> None:
    router = FakeRouter().start()
    conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=5)
    try:
        body = json.dumps(
            {"model": MODEL, "stream": True, "messages": user("[[fake stall_after=0]]")}
        )
        conn.request("POST", "/api/v1/chat/completions", body, {"Authorization": "Bearer k"})
        response = conn.getresponse()
        assert response.status == 200
        start = time.monotonic()
        router.stop()
        assert time.monotonic() - start < 10  # not stuck behind the stalled stream
    finally:
        conn.close()
        router.stop()  # a no-op once stopped


# --- other endpoints ------------------------------------------------------------------


def test_models_parse_with_the_sdk(client: openai.OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert {MODEL, "openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet"} <= set(models)
    gpt4o = models[MODEL].model_extra
    assert gpt4o["name"] == "OpenAI: GPT-4o (2024-11-20)"
    assert gpt4o["context_length"] == 128000
    assert gpt4o["top_provider"]["max_completion_tokens"] == 16384
    assert gpt4o["architecture"]["input_modalities"] == ["text", "image", "file"]
    assert gpt4o["pricing"]["prompt"] == "0.0000025"
    assert gpt4o["pricing"]["image"] == "0.003613"
    llama = models["meta-llama/llama-3.1-8b-instruct"].model_extra
    assert llama["architecture"]["input_modalities"] == ["text"]


def test_key_reflects_billed_usage(router: FakeRouter, client: openai.OpenAI) -> None:
    before: Any = client.get("/key", cast_to=object)
    assert before["data"]["usage"] == 0
    assert before["data"]["label"] == "sk-or-v1-012...def"
    cost = sum(Decimal(str(stream(client, user(f"call {n}"))[-1].usage.cost)) for n in range(2))
    after: Any = client.get("/key", cast_to=object)
    assert Decimal(str(after["data"]["usage"])) == cost
    assert after["data"]["limit_remaining"] == pytest.approx(10 - float(cost))


def test_generation_lookup(client: openai.OpenAI) -> None:
    chunks = stream(client, user("[[fake reply=hello_there]]"))
    with pytest.raises(openai.NotFoundError):  # like OpenRouter: known a moment later
        client.get("/generation", cast_to=object, options={"params": {"id": chunks[0].id}})
    time.sleep(FakeRouter.generation_delay + 0.1)
    record: Any = client.get(
        "/generation", cast_to=object, options={"params": {"id": chunks[0].id}}
    )
    data = record["data"]
    assert data["tokens_completion"] == 2
    assert data["total_cost"] == chunks[-1].usage.cost
    assert data["provider_name"] == "OpenAI"
    with pytest.raises(openai.NotFoundError):
        client.get("/generation", cast_to=object, options={"params": {"id": "gen-0-nope"}})


def test_inspection_endpoints_summarize_images_and_reset(
    router: FakeRouter, client: openai.OpenAI
) -> None:
    content = [{"type": "image_url", "image_url": {"url": png_url(40, 30), "detail": "low"}}]
    stream(client, [{"role": "user", "content": content}])
    _, payload = raw(router, "GET", "/_fake/requests")
    [request] = json.loads(payload)
    image_url = request["body"]["messages"][0]["content"][0]["image_url"]
    assert "url" not in image_url
    assert image_url["detail"] == "low"
    assert image_url["_summary"]["width"] == 40
    assert image_url["_summary"]["height"] == 30
    assert image_url["_summary"]["media_type"] == "image/png"
    assert request["headers"]["authorization"] == "Bearer ***"
    assert request["generation_id"].startswith("gen-")
    _, events = raw(router, "GET", "/_fake/events")
    assert json.loads(events)[-1]["event"] == "completed"
    _, billed = raw(router, "GET", "/_fake/billed")
    assert json.loads(billed) == router.billed()
    raw(router, "POST", "/_fake/reset")
    assert router.requests == []
    assert router.events == []
    assert router.billed() == []


def test_servers_keep_separate_state(router: FakeRouter, client: openai.OpenAI) -> None:
    with FakeRouter() as other:
        stream(client, user("hi"))
        assert len(router.requests) == 1
        assert other.requests == []


def _ctrl_c_as_in_a_terminal() -> None:
    """In the child: SIGINT at its default, as a terminal's foreground command has it. A
    test process may have inherited it ignored (started in the background by a script),
    and a child would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def served_from_the_command_line(*args: str) -> Iterator[TextIO]:
    """`python -m orjupyter.fakerouter ARGS`, and what it prints. Ctrl+C (SIGINT) then
    stops it, and it must exit with status 0; it is killed, and the test fails, if it has
    not ended within a minute."""
    command = [sys.executable, "-m", "orjupyter.fakerouter", *args]
    # preexec_fn only resets a signal (no lock, no import) between fork and exec
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,  # noqa: PLW1509
    ) as process:
        assert process.stdout is not None
        try:
            yield process.stdout
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
    assert process.returncode == 0


def test_cli_prints_url_and_stops_on_interrupt() -> None:
    with served_from_the_command_line("--port", "0", "--delay", "0", "--quiet") as printed:
        line = printed.readline()
        assert line.startswith("Fake OpenRouter listening on http://127.0.0.1:")
        base_url = line.split()[-1]
        assert f"export OPENROUTER_BASE_URL={base_url}" in printed.readline()
        assert printed.readline() == "Answers stream at once (--delay 0).\n"
        with openai.OpenAI(base_url=base_url, api_key="sk-or-fake", max_retries=0) as sdk:
            assert text_of(stream(sdk, user("hi"))).startswith("I received 1 part")


def test_cli_streams_at_a_human_pace_unless_told_otherwise() -> None:
    with served_from_the_command_line("--port", "0", "--quiet") as printed:
        lines = [printed.readline() for _ in range(3)]
        assert lines[2] == "Answers stream one word every 0.05 s.\n"


def test_cli_help_shows_its_defaults_and_where_the_switches_are_documented() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orjupyter.fakerouter", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    text = " ".join(result.stdout.split())
    assert "--port PORT default: 8765" in text
    assert "(default: 0.05" in text
    assert "docs/local-server.md" in text


def test_every_fake_directive_is_documented() -> None:
    from pathlib import Path

    from orjupyter.fakerouter import script

    page = (Path(__file__).parent.parent / "docs" / "local-server.md").read_text()
    keys = (*script._INT_KEYS, *script._FLOAT_KEYS, *script._TEXT_KEYS, *script._FLAGS)
    assert [key for key in keys if f"`{key}" not in page] == []


# --- pure parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "detail", "tokens"),
    [
        ((1024, 1024), "auto", 765),
        ((2048, 4096), "high", 1105),
        ((4096, 8192), "high", 1105),
        ((4000, 3000), "low", 85),
        ((512, 512), "auto", 255),
        ((100, 3000), "high", 85 + 170 * 4),
    ],
)
def test_image_tokens(size: tuple[int, int], detail: str, tokens: int) -> None:
    assert image_tokens(*size, detail) == tokens


def test_split_pieces_rejoin_exactly() -> None:
    for text in ["", "  ", "a", " lead and trail  ", "line\n\n- item\n", "x" * 7]:
        assert "".join(split_pieces(text)) == text
        assert "".join(split_pieces(text, 3)) == text
        assert len(split_pieces(text, 3)) == 3


def test_parse_directives() -> None:
    d = parse_directives("look [[fake words=3 delay=0.5 no_usage]] and [[fake status=429]]")
    assert (d.words, d.delay, d.no_usage, d.status) == (3, 0.5, True, 429)
    assert d.source == "[[fake words=3 delay=0.5 no_usage]] [[fake status=429]]"
    assert parse_directives("no directive").source == ""
    with pytest.raises(RequestError):
        parse_directives("[[fake words=many]]")
