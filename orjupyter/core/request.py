"""Message parts and options → the keyword arguments of `chat.completions.create`.

Pure: the wire shapes are `TypedDict`s; no SDK import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypedDict

from orjupyter.core.domain import FilePart, ImagePart, Part, TextPart, ToolCall
from orjupyter.core.settings import APP_TITLE, APP_URL, DEFAULT_MODEL

WEB_SEARCH_TOOL = "openrouter:web_search"
WEB_RESULTS = 5
"""Results a `--web` search asks for (OpenRouter's default)."""
WEB_SEARCHES = 1
"""Searches a `--web` request may make (the tool's `max_uses`): the model decides how often
to search, and this cap, with `max_total_results`, keeps the search's cost at what the
budget held (one search of `WEB_RESULTS` results), in a tool loop's rounds too."""
REASONING_EFFORTS = ("low", "medium", "high")
PDF_ENGINES = ("native", "mistral-ocr", "cloudflare-ai")


class ImageURL(TypedDict):
    url: str
    detail: str


class TextContent(TypedDict):
    type: Literal["text"]
    text: str


class ImageContent(TypedDict):
    type: Literal["image_url"]
    image_url: ImageURL


class PdfFile(TypedDict):
    filename: str
    file_data: str


class FileContent(TypedDict):
    type: Literal["file"]
    file: PdfFile


Content = TextContent | ImageContent | FileContent


class FunctionCall(TypedDict):
    name: str
    arguments: str


class ToolCallWire(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class _MessageFields(TypedDict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[Content] | None


class Message(_MessageFields, total=False):
    """A chat message. An assistant message may carry `tool_calls` (and a reasoning
    model's `reasoning_details`, passed back unchanged); a `tool` message answers one call
    by its `tool_call_id`."""

    tool_calls: list[ToolCallWire]
    tool_call_id: str
    reasoning_details: list[dict[str, Any]]


@dataclass(frozen=True)
class Wire:
    """Where a `CallOptions` field goes in the request: its name on the wire, among the
    SDK's own arguments or in OpenRouter's `extra_body`, and the shape its value takes."""

    name: str
    body: bool = False
    """Sent in `extra_body` (OpenRouter's own fields) rather than as an SDK argument."""
    shape: Callable[[Any], Any] | None = None
    """The field's value → what is sent (the value itself when None)."""


def sent(
    name: str, *, body: bool = False, shape: Callable[[Any], Any] | None = None, default: Any = None
) -> Any:
    """A `CallOptions` field that travels as `name`: the one place its wire name is said."""
    return field(default=default, metadata={"wire": Wire(name, body, shape)})


def _web_tools(_on: bool) -> list[dict[str, Any]]:
    caps = {
        "max_results": WEB_RESULTS,
        "max_total_results": WEB_RESULTS * WEB_SEARCHES,
        "max_uses": WEB_SEARCHES,
    }
    return [{"type": WEB_SEARCH_TOOL, "parameters": caps}]


def _pdf_plugins(engine: str) -> list[dict[str, Any]]:
    return [{"id": "file-parser", "pdf": {"engine": engine}}]


@dataclass(frozen=True)
class CallOptions:
    """What a cell asked for, beyond its prompt. Every field but the model, the system
    prompt and a tool loop's functions and exchange (which join the `tools` list and the
    messages) is declared with `sent(wire name)`: `build_request` puts it on the wire, and
    the dry run (`sent_options`) and the cache key read it from there, with no list to keep."""

    model: str = DEFAULT_MODEL
    system: str | None = None
    temperature: float | None = sent("temperature")
    max_tokens: int | None = sent("max_tokens")
    seed: int | None = sent("seed")
    response_format: dict[str, Any] | None = sent("response_format")
    fallback_models: tuple[str, ...] = sent("models", body=True, shape=list, default=())
    provider: dict[str, Any] | None = sent("provider", body=True)
    session_id: str | None = sent("session_id", body=True)
    reasoning_effort: str | None = sent(
        "reasoning", body=True, shape=lambda effort: {"effort": effort}
    )
    web_search: bool = sent("tools", body=True, shape=_web_tools, default=False)
    pdf_engine: str | None = sent("plugins", body=True, shape=_pdf_plugins)
    functions: tuple[dict[str, Any], ...] = ()
    """Function tools offered to the model (`--tools`), in OpenAI's wire shape; they go in
    `tools` beside `--web`'s search (`build_request`)."""
    exchange: tuple[Message, ...] = ()
    """A tool loop's rounds so far: the assistant's tool calls and the `tool` messages
    answering them, sent after the question."""


def wires(options: CallOptions) -> list[tuple[str, Wire]]:
    """Each field of `options` that goes on the wire, with where it goes (a subclass's
    own `sent` fields included)."""
    return [(f.name, f.metadata["wire"]) for f in fields(options) if "wire" in f.metadata]


def _given(value: object) -> bool:
    """Whether an option was asked for: None, False and empty values are not sent (0 is)."""
    if value is None or value is False:
        return False
    return not (isinstance(value, str | tuple | list | dict) and not value)


def content_of(part: Part) -> Content:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, FilePart):
        return {"type": "file", "file": {"filename": part.filename, "file_data": part.data_url}}
    return image_content(part)


def image_content(part: ImagePart) -> ImageContent:
    return {"type": "image_url", "image_url": {"url": part.data_url, "detail": part.detail}}


def user_message(parts: Sequence[Part]) -> Message:
    """A user turn; plain text stays a string, anything with images becomes a part list."""
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return {"role": "user", "content": parts[0].text}
    return {"role": "user", "content": [content_of(part) for part in parts]}


def build_messages(
    parts: Sequence[Part],
    system: str | None = None,
    history: Sequence[Message] = (),
    exchange: Sequence[Message] = (),
) -> list[Message]:
    """System prompt, earlier turns (oldest first), this cell's question, then the tool
    loop's rounds so far."""
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.extend(history)
    messages.append(user_message(parts))
    messages.extend(exchange)
    return messages


_ENVELOPE = frozenset({"model", "messages", "stream", "stream_options", "extra_body", "usage"})
"""What `build_request` always writes (`usage` in `extra_body`); the rest are options."""


def assistant_message(
    text: str, tool_calls: Sequence[ToolCall] = (), details: Sequence[dict[str, Any]] = ()
) -> Message:
    """The assistant's turn as it goes back to the model: its text, the functions it
    called, and (a reasoning model) its `reasoning_details`, unchanged."""
    message: Message = {"role": "assistant", "content": text or None}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in tool_calls
        ]
    if details:
        message["reasoning_details"] = [dict(detail) for detail in details]
    return message


def tool_message(call_id: str, content: str | list[Content]) -> Message:
    """What a function returned (or why it did not run), answering the call `call_id`."""
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def build_request(
    parts: Sequence[Part], options: CallOptions, history: Sequence[Message] = ()
) -> dict[str, Any]:
    """Keyword arguments for `client.chat.completions.create`, streaming with usage; every
    option that was asked for goes where its field's `sent` says."""
    extra: dict[str, Any] = {"usage": {"include": True}}
    request: dict[str, Any] = {
        "model": options.model,
        "messages": build_messages(parts, options.system, history, options.exchange),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    for name, wire in wires(options):
        value = getattr(options, name)
        if _given(value):
            (extra if wire.body else request)[wire.name] = (
                wire.shape(value) if wire.shape else value
            )
    if options.functions:  # beside a `--web` search, in the one `tools` list
        extra["tools"] = [*options.functions, *extra.get("tools", ())]
    request["extra_body"] = extra
    return request


def sent_options(request: Mapping[str, Any]) -> dict[str, Any]:
    """What a request carries beyond its model, messages and streaming: every option as it
    goes on the wire (SDK arguments, then `extra_body` fields), for the dry run."""
    extra = request.get("extra_body", {})
    own = {name: value for name, value in request.items() if name not in _ENVELOPE}
    return {**own, **{name: value for name, value in extra.items() if name not in _ENVELOPE}}


def attribution_headers(app_url: str = APP_URL, app_title: str = APP_TITLE) -> dict[str, str]:
    """OpenRouter's app attribution headers (`X-Title` is the legacy name of the title)."""
    return {"HTTP-Referer": app_url, "X-OpenRouter-Title": app_title, "X-Title": app_title}
