"""Message parts and options → the keyword arguments of `chat.completions.create`.

Pure: the wire shapes are `TypedDict`s; no SDK import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from orjupyter.core.domain import DEFAULT_MODEL, FilePart, ImagePart, Part, TextPart, ToolCall

APP_URL = "https://github.com/orjupyter/orjupyter"
APP_TITLE = "orjupyter"
WEB_SEARCH_TOOL = "openrouter:web_search"
WEB_RESULTS = 5
"""Results a `--web` search asks for (OpenRouter's default)."""
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
class CallOptions:
    """What a cell asked for, beyond its prompt."""

    model: str = DEFAULT_MODEL
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None
    fallback_models: tuple[str, ...] = ()
    provider: dict[str, Any] | None = None
    session_id: str | None = None
    reasoning_effort: str | None = None
    web_search: bool = False
    pdf_engine: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    """Function tools offered to the model (`--tools`), in OpenAI's wire shape."""
    exchange: tuple[Message, ...] = ()
    """A tool loop's rounds so far: the assistant's tool calls and the `tool` messages
    answering them, sent after the question."""


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
    """Keyword arguments for `client.chat.completions.create`, streaming with usage."""
    extra: dict[str, Any] = {"usage": {"include": True}}
    if options.fallback_models:
        extra["models"] = list(options.fallback_models)
    if options.provider:
        extra["provider"] = options.provider
    if options.session_id:
        extra["session_id"] = options.session_id
    if options.reasoning_effort:
        extra["reasoning"] = {"effort": options.reasoning_effort}
    tools = list(options.tools)
    if options.web_search:
        tools.append({"type": WEB_SEARCH_TOOL, "parameters": {"max_results": WEB_RESULTS}})
    if tools:
        extra["tools"] = tools
    if options.pdf_engine:
        extra["plugins"] = [{"id": "file-parser", "pdf": {"engine": options.pdf_engine}}]
    request: dict[str, Any] = {
        "model": options.model,
        "messages": build_messages(parts, options.system, history, options.exchange),
        "stream": True,
        "stream_options": {"include_usage": True},
        "extra_body": extra,
    }
    optional = {
        "temperature": options.temperature,
        "max_tokens": options.max_tokens,
        "response_format": options.response_format,
    }
    request.update({name: value for name, value in optional.items() if value is not None})
    return request


def attribution_headers(app_url: str = APP_URL, app_title: str = APP_TITLE) -> dict[str, str]:
    """OpenRouter's app attribution headers (`X-Title` is the legacy name of the title)."""
    return {"HTTP-Referer": app_url, "X-OpenRouter-Title": app_title, "X-Title": app_title}
