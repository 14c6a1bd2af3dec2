"""The fake OpenRouter's pure parts: models, token counting, directives and reply text.

No sockets here. `orjupyter.fakerouter` does the HTTP; this module decides what to say.

Token rule (deterministic, an approximation of a real tokenizer):

    prompt_tokens = sum over messages of
        4
        + ceil(utf-8 bytes / 4) for each text part (a string content is one text part)
        + image tokens for each image part

Image tokens follow OpenAI's GPT-4o rule, measured on the decoded image: `detail: low`
costs 85; `high` and `auto` scale the image (only down) to fit 2048x2048, then (only
down) so its shortest side is 768, and cost 85 + 170 per 512-pixel tile. Scaling is
exact (fractions, no rounding). A remote `https://` image cannot be fetched offline and
is counted as 1024x1024. Completion tokens are the number of content chunks streamed.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from orjupyter.core.settings import DEFAULT_MODEL
from orjupyter.fakerouter.features import FeatureError, FileInfo, decode_file
from orjupyter.fakerouter.tools import PlannedCall, call_deltas, question_index, whole_calls

JSON = dict[str, Any]


class RequestError(Exception):
    """A request the fake refuses, with the HTTP status and OpenRouter's message."""

    def __init__(self, status: int, message: str, metadata: JSON | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.metadata: JSON = metadata or {}
        self.headers: dict[str, str] = {}


# --- models -------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeModel:
    """One model the fake serves: what `/models` lists and what a call costs."""

    id: str
    name: str
    provider_name: str
    created: int
    description: str
    prompt: str
    completion: str
    image: str = "0"
    input_cache_read: str | None = None
    context_length: int = 128000
    max_completion_tokens: int = 16384
    sees_images: bool = True
    reasons: bool = False

    def cost(
        self, prompt_tokens: int, completion_tokens: int, cached: int = 0
    ) -> tuple[Decimal, Decimal]:
        """Prompt and completion cost in US dollars (image tokens are prompt tokens;
        `cached` of the prompt tokens at the cache-read price)."""
        cache_read = Decimal(self.input_cache_read or self.prompt)
        prompt = Decimal(self.prompt) * (prompt_tokens - cached) + cache_read * cached
        return prompt, Decimal(self.completion) * completion_tokens

    def parameters(self) -> list[str]:
        common = ["max_tokens", "temperature", "top_p", "stop", "seed", "tools"]
        return common + (["reasoning", "include_reasoning"] if self.reasons else [])

    def to_wire(self) -> JSON:
        inputs = ["text", "image", "file"] if self.sees_images else ["text"]
        pricing = {"prompt": self.prompt, "completion": self.completion, "image": self.image}
        pricing |= {"request": "0", "web_search": "0", "internal_reasoning": "0"}
        if self.input_cache_read is not None:
            pricing["input_cache_read"] = self.input_cache_read
        return {
            "id": self.id,
            "canonical_slug": self.id,
            "name": self.name,
            "created": self.created,
            "description": self.description,
            "context_length": self.context_length,
            "architecture": {
                "input_modalities": inputs,
                "output_modalities": ["text"],
                "modality": "text+image->text" if self.sees_images else "text->text",
                "tokenizer": "GPT" if self.provider_name == "OpenAI" else "Other",
                "instruct_type": None,
            },
            "pricing": pricing,
            "top_provider": {
                "context_length": self.context_length,
                "max_completion_tokens": self.max_completion_tokens,
                "is_moderated": self.provider_name == "OpenAI",
            },
            "per_request_limits": None,
            "supported_parameters": self.parameters(),
        }


MODELS: dict[str, FakeModel] = {
    m.id: m
    for m in (
        FakeModel(
            id=DEFAULT_MODEL,
            name="OpenAI: GPT-4o (2024-11-20)",
            provider_name="OpenAI",
            created=1732127594,
            description="GPT-4o 2024-11-20: better creative writing, reads files and images.",
            prompt="0.0000025",
            completion="0.00001",
            image="0.003613",
            input_cache_read="0.00000125",
        ),
        FakeModel(
            id="openai/gpt-4o-mini",
            name="OpenAI: GPT-4o-mini",
            provider_name="OpenAI",
            created=1721260800,
            description="GPT-4o mini: small, cheap, multimodal.",
            prompt="0.00000015",
            completion="0.0000006",
            image="0.000217",
            input_cache_read="0.000000075",
        ),
        FakeModel(
            id="anthropic/claude-3.5-sonnet",
            name="Anthropic: Claude 3.5 Sonnet",
            provider_name="Anthropic",
            created=1729555200,
            description="Claude 3.5 Sonnet: strong at coding, reads images.",
            prompt="0.000003",
            completion="0.000015",
            image="0.0048",
            context_length=200000,
            max_completion_tokens=8192,
        ),
        FakeModel(
            id="meta-llama/llama-3.1-8b-instruct",
            name="Meta: Llama 3.1 8B Instruct",
            provider_name="DeepInfra",
            created=1721692800,
            description="Llama 3.1 8B Instruct: small, fast, text only.",
            prompt="0.00000002",
            completion="0.00000003",
            context_length=131072,
            max_completion_tokens=8192,
            sees_images=False,
        ),
        FakeModel(
            id="openai/o4-mini",
            name="OpenAI: o4 Mini",
            provider_name="OpenAI",
            created=1744820942,
            description="o4-mini: a small reasoning model.",
            prompt="0.0000011",
            completion="0.0000044",
            input_cache_read="0.000000275",
            context_length=200000,
            max_completion_tokens=100000,
            reasons=True,
        ),
        FakeModel(
            id="google/gemini-2.5-flash",
            name="Google: Gemini 2.5 Flash",
            provider_name="Google AI Studio",
            created=1750172488,
            description="Gemini 2.5 Flash: fast, thinks, reads images and files.",
            prompt="0.0000003",
            completion="0.0000025",
            input_cache_read="0.000000075",
            context_length=1048576,
            max_completion_tokens=65535,
            reasons=True,
        ),
    )
}


# --- images and tokens --------------------------------------------------------------


def text_tokens(text: str) -> int:
    return -(-len(text.encode()) // 4)


def image_tokens(width: int, height: int, detail: str) -> int:
    """OpenAI's GPT-4o image tokens (see the module docstring)."""
    if detail == "low":
        return 85
    w, h = Fraction(width), Fraction(height)
    fit = min(Fraction(1), Fraction(2048) / w, Fraction(2048) / h)
    w, h = w * fit, h * fit
    shrink = min(Fraction(1), Fraction(768) / min(w, h))
    w, h = w * shrink, h * shrink
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


@dataclass(frozen=True)
class ImageInfo:
    """An image part as the fake decoded it; width 0 means a remote URL it did not fetch."""

    width: int
    height: int
    media_type: str
    nbytes: int
    detail: str

    @property
    def tokens(self) -> int:
        if self.width == 0:
            return image_tokens(1024, 1024, self.detail)
        return image_tokens(self.width, self.height, self.detail)

    def summary(self) -> JSON:
        return {
            "width": self.width,
            "height": self.height,
            "media_type": self.media_type,
            "bytes": self.nbytes,
        }

    def describe(self) -> str:
        if self.width == 0:
            return f"image: remote URL detail={self.detail}"
        return f"image: {self.width}x{self.height} {self.media_type} detail={self.detail}"


def decode_image(image_url: object) -> ImageInfo:
    """Decode an `image_url` object ({"url": "data:…", "detail": …}) and measure it."""
    if not isinstance(image_url, dict) or not isinstance(image_url.get("url"), str):
        raise RequestError(400, "Invalid image_url: expected an object with a url")
    url: str = image_url["url"]
    detail = str(image_url.get("detail") or "auto")
    if not url.startswith("data:"):
        return ImageInfo(0, 0, "remote", 0, detail)
    header, _, payload = url.partition(",")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise RequestError(400, f"Invalid image data URL ({header}): bad base64") from err
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as img:
            mime = Image.MIME.get(img.format or "", "application/octet-stream")
            return ImageInfo(img.width, img.height, mime, len(raw), detail)
    except (UnidentifiedImageError, OSError) as err:
        raise RequestError(400, f"Invalid image data URL ({header}): not an image") from err


# --- what a request contains --------------------------------------------------------


@dataclass(frozen=True)
class TextInfo:
    chars: int

    def describe(self) -> str:
        return f"text: {self.chars} characters"


@dataclass(frozen=True)
class OtherInfo:
    type: str

    def describe(self) -> str:
        return f"{self.type}: not read by the fake"


PartInfo = TextInfo | ImageInfo | FileInfo | OtherInfo


@dataclass(frozen=True)
class Received:
    """What the fake saw in one chat request."""

    parts: tuple[PartInfo, ...]  # of the last user message
    last_user_text: str
    system_chars: int | None
    history: int
    prompt_tokens: int
    has_images: bool
    message_tokens: tuple[int, ...] = ()

    @property
    def pages(self) -> int:
        return sum(p.pages for p in self.parts if isinstance(p, FileInfo))


def _parts(content: object) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if content is None:
        return []
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        return content
    raise RequestError(400, "Invalid message content: expected a string or a list of parts")


def _part_info(part: JSON) -> PartInfo:
    kind = str(part.get("type"))
    if kind == "text":
        return TextInfo(len(str(part.get("text", ""))))
    if kind == "image_url":
        return decode_image(part.get("image_url"))
    if kind == "file":
        try:
            return decode_file(part.get("file"))
        except FeatureError as err:
            raise RequestError(400, str(err)) from err
    return OtherInfo(kind)


def _part_tokens(part: JSON, info: PartInfo) -> int:
    if isinstance(info, ImageInfo | FileInfo):
        return info.tokens
    return text_tokens(str(part.get("text", ""))) if isinstance(info, TextInfo) else 0


def analyse(messages: object) -> Received:
    """Measure the messages: parts of the last user message, system, history, tokens."""
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "Input required: specify 'messages' (a non-empty list)")
    if not all(isinstance(m, dict) for m in messages):
        raise RequestError(400, "Invalid messages: each message must be an object")
    tokens, infos, cumulative = 0, [], []
    for message in messages:
        parts = _parts(message.get("content"))
        info = [_part_info(p) for p in parts]
        tokens += 4 + sum(_part_tokens(p, i) for p, i in zip(parts, info, strict=True))
        infos.append((message, parts, info))
        cumulative.append(tokens)
    question = question_index(messages)
    last = question if question is not None else len(messages) - 1
    _, last_parts, last_info = infos[last]
    system = [i for m, _, i in infos if m.get("role") in ("system", "developer")]
    history = sum(
        1
        for k, m in enumerate(messages)
        if k != last and m.get("role") not in ("system", "developer")
    )
    return Received(
        parts=tuple(last_info),
        last_user_text="\n".join(str(p.get("text", "")) for p in last_parts),
        system_chars=sum(i.chars for s in system for i in s if isinstance(i, TextInfo))
        if system
        else None,
        history=history,
        prompt_tokens=tokens,
        has_images=any(isinstance(i, ImageInfo) for _, _, info in infos for i in info),
        message_tokens=tuple(cumulative),
    )


def part_description(part: JSON) -> str:
    """One content part as the default answer describes it (`image: 640x480 …`)."""
    return _part_info(part).describe()


def describe(received: Received) -> str:
    """The default answer: what arrived, one list item per part of the last user message."""
    n = len(received.parts)
    lines = [f"I received {n} part{'' if n == 1 else 's'}:"]
    lines += [f"- {p.describe()}" for p in received.parts]
    tail = []
    if received.system_chars is not None:
        tail.append(f"System: {received.system_chars} characters")
    if received.history:
        tail.append(f"History: {received.history} messages")
    return "\n".join(lines + (["", *tail] if tail else []))


def summarize_body(body: JSON) -> JSON:
    """A copy of a request body with every `data:` image replaced by a summary."""

    def part(p: object) -> object:
        if isinstance(p, dict) and p.get("type") == "file" and isinstance(p.get("file"), dict):
            try:
                summary = decode_file(p["file"]).summary()
            except FeatureError as err:
                summary = {"error": str(err)}
            rest = {k: v for k, v in p["file"].items() if k != "file_data"}
            return {**p, "file": {**rest, "_summary": summary}}
        if not (isinstance(p, dict) and p.get("type") == "image_url"):
            return p
        image_url = p.get("image_url")
        if not (isinstance(image_url, dict) and str(image_url.get("url")).startswith("data:")):
            return p
        try:
            summary = decode_image(image_url).summary()
        except RequestError as err:
            summary = {"error": err.message}
        rest = {k: v for k, v in image_url.items() if k != "url"}
        return {**p, "image_url": {**rest, "_summary": summary}}

    def message(m: object) -> object:
        if isinstance(m, dict) and isinstance(m.get("content"), list):
            return {**m, "content": [part(p) for p in m["content"]]}
        return m

    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    return {**body, "messages": [message(m) for m in messages]}


# --- directives ---------------------------------------------------------------------

DIRECTIVE = re.compile(r"\[\[fake(?:\s+([^\]]*))?\]\]")
_INT_KEYS = (
    "words",
    "chunks",
    "status",
    "fail_times",
    "midstream_error_after",
    "drop_after",
    "stall_after",
    "hold_after",
    "malformed_after",
    "html_error",
    "think_words",
    "not_json",
    "off_schema",
    "searches",
)
_FLOAT_KEYS = ("delay", "first_delay", "retry_after")
_FLAGS = ("no_cost", "no_usage", "loop_forever")
_TEXT_KEYS = ("reply", "reply_b64", "cite_b64", "call", "args_b64", "calls_b64", "call_unoffered")


@dataclass(frozen=True)
class Directives:
    """Faults and scripted answers asked for by `[[fake key=value flag]]` in the prompt."""

    source: str = ""
    reply: str | None = None
    words: int | None = None
    chunks: int | None = None
    delay: float | None = None
    first_delay: float = 0.0
    status: int | None = None
    retry_after: str | None = None
    fail_times: int | None = None
    midstream_error_after: int | None = None
    drop_after: int | None = None
    stall_after: int | None = None
    hold_after: int | None = None
    malformed_after: int | None = None
    html_error: int | None = None
    no_cost: bool = False
    no_usage: bool = False
    think_words: int | None = None
    searches: int | None = None
    cite_b64: str | None = None
    call: str | None = None
    args_b64: str | None = None
    calls_b64: str | None = None
    loop_forever: bool = False
    call_unoffered: str | None = None
    not_json: int | None = None
    off_schema: int | None = None


def _split_directives(text: str) -> tuple[str, dict[str, str]]:
    blocks = list(DIRECTIVE.finditer(text))
    values: dict[str, str] = {}
    for token in " ".join(b.group(1) or "" for b in blocks).split():
        key, eq, value = token.partition("=")
        known = _INT_KEYS + _FLOAT_KEYS + _TEXT_KEYS
        if (eq and key not in known) or (not eq and key not in _FLAGS):
            raise RequestError(400, f"Unknown fake directive: {token!r}")
        values[key] = value if eq else "1"
    return " ".join(b.group(0) for b in blocks), values


def _number(values: dict[str, str], key: str, kind: type[int] | type[float]) -> Any:
    if key not in values:
        return None
    try:
        number = kind(values[key])
    except ValueError as err:
        raise RequestError(400, f"Fake directive {key} needs a number: {values[key]!r}") from err
    if number < 0:
        raise RequestError(400, f"Fake directive {key} must not be negative")
    return number


def _reply(values: dict[str, str]) -> str | None:
    if "reply_b64" in values:
        encoded = values["reply_b64"]
        try:
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError) as err:
            raise RequestError(400, "Fake directive reply_b64 is not base64 of UTF-8") from err
    return values["reply"].replace("_", " ") if "reply" in values else None


def parse_directives(text: str) -> Directives:
    """Read every `[[fake …]]` block in `text`; later keys win. Raises RequestError (400)."""
    source, values = _split_directives(text)
    ints = {key: _number(values, key, int) for key in _INT_KEYS}
    floats = {key: _number(values, key, float) for key in _FLOAT_KEYS}
    return Directives(
        source=source,
        reply=_reply(values),
        delay=floats["delay"],
        first_delay=floats["first_delay"] or 0.0,
        retry_after=values.get("retry_after"),
        cite_b64=values.get("cite_b64"),
        call=values.get("call"),
        args_b64=values.get("args_b64"),
        calls_b64=values.get("calls_b64"),
        loop_forever="loop_forever" in values,
        call_unoffered=values.get("call_unoffered"),
        no_cost="no_cost" in values,
        no_usage="no_usage" in values,
        **ints,
    )


# --- reply text ---------------------------------------------------------------------

_VOCABULARY = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")


def lorem(words: int) -> str:
    return " ".join(_VOCABULARY[k % len(_VOCABULARY)] for k in range(words))


def answer_text(directives: Directives, received: Received) -> str:
    if directives.reply is not None:
        return directives.reply
    if directives.words is not None:
        return lorem(directives.words)
    if directives.chunks is not None:
        return lorem(directives.chunks)
    return describe(received)


def split_pieces(text: str, chunks: int | None = None) -> list[str]:
    """Cut `text` into content chunks that join back to it: one per word, or exactly `chunks`."""
    if chunks is not None:
        n = max(chunks, 1)
        return [text[k * len(text) // n : (k + 1) * len(text) // n] for k in range(n)]
    return re.findall(r"\s*\S+(?:\s+$)?", text) or [text]


# --- errors -------------------------------------------------------------------------

_RAW_502 = '{"error":{"message":"The server had an error processing your request."}}'
_RAW_529 = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'


def status_error(status: int, model: str, received: Received) -> RequestError:
    """The error the real OpenRouter would send with this status."""
    flagged = received.last_user_text[:100]
    table: dict[int, tuple[str, JSON]] = {
        400: (
            f"This endpoint's maximum context length is 128000 tokens. However, you "
            f"requested about {received.prompt_tokens + 200000} tokens. Please reduce "
            f'the length of either one, or use the "middle-out" transform.',
            {},
        ),
        401: ("User not found.", {}),
        402: ("Insufficient credits. Add more using https://openrouter.ai/settings/credits", {}),
        403: (
            f'{model} requires moderation on OpenAI. Your input was flagged for "harassment". '
            f"No credits were charged.",
            {"reasons": ["harassment"], "flagged_input": flagged, "provider_name": "OpenAI"},
        ),
        404: (f"No endpoints found for {model}.", {}),
        408: ("Operation timed out. Please try again later.", {}),
        413: ("Request entity too large: reduce the size of your prompt or images.", {}),
        422: ("Unprocessable request: the provider could not handle the input.", {}),
        429: ("Rate limit exceeded", {}),
        500: ("Internal Server Error", {}),
        502: ("Provider returned error", {"raw": _RAW_502, "provider_name": "OpenAI"}),
        503: ("No allowed providers are available for the selected model.", {}),
        524: ("Provider timed out before responding. Please try again later.", {}),
        529: ("Provider returned error", {"raw": _RAW_529, "provider_name": "OpenAI"}),
    }
    message, metadata = table.get(status, (f"Fake error {status}", {}))
    return RequestError(status, message, metadata)


def check_params(body: JSON) -> FakeModel:
    """Validate the request's model and parameters; return the model."""
    model = body.get("model")
    if not isinstance(model, str) or model not in MODELS:
        raise RequestError(400, f"{model} is not a valid model ID")
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        raise RequestError(
            400,
            f"temperature must be a number between 0 and 2, got {temperature!r}",
            {"param": "temperature", "provider_name": None},
        )
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise RequestError(400, f"Invalid request: {key} must be a positive integer")
    return MODELS[model]


def usage_wire(
    model: FakeModel,
    prompt: int,
    completion: int,
    *,
    with_cost: bool,
    cached: int = 0,
    reasoning: int = 0,
    extra_cost: Decimal = Decimal(0),
    web_searches: int = 0,
) -> JSON:
    """The `usage` object OpenRouter puts in the last chunk (cost as a JSON number).
    `completion` includes the `reasoning` tokens; `extra_cost` is web search and OCR."""
    prompt_cost, completion_cost = model.cost(prompt, completion, cached)
    usage: JSON = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if with_cost:
        usage["cost"] = float(prompt_cost + completion_cost + extra_cost)
    usage["is_byok"] = False
    usage["prompt_tokens_details"] = {
        "cached_tokens": cached,
        "cache_write_tokens": 0,
        "audio_tokens": 0,
    }
    if with_cost:
        usage["cost_details"] = {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": float(prompt_cost),
            "upstream_inference_completions_cost": float(completion_cost),
        }
    usage["completion_tokens_details"] = {"reasoning_tokens": reasoning, "image_tokens": 0}
    if web_searches:
        usage["server_tool_use"] = {"web_search_requests": web_searches}
    return usage


# --- wire shapes of one generation --------------------------------------------------


def new_generation_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return f"gen-{int(time.time())}-{''.join(secrets.choice(alphabet) for _ in range(20))}"


def dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def error_body(err: RequestError) -> JSON:
    error = {"code": err.status, "message": err.message, "metadata": err.metadata}
    return {"error": error, "user_id": "user_fake"}


def key_info(
    key: str,
    used: Decimal,
    *,
    daily: Decimal | None = None,
    weekly: Decimal | None = None,
    monthly: Decimal | None = None,
) -> JSON:
    """`GET /key`'s data, with OpenRouter's fields: a masked label, a $10 limit that resets
    monthly, what was charged in all and this UTC day, week and month (all of it, unless
    told), and what is left of the limit this month."""
    label = f"{key[:12]}...{key[-3:]}" if len(key) > 18 else "sk-or-...***"
    this_month = used if monthly is None else monthly
    return {
        "label": label,
        "limit": 10.0,
        "limit_remaining": float(max(Decimal(10) - this_month, Decimal(0))),
        "limit_reset": "monthly",
        "include_byok_in_limit": False,
        "usage": float(used),
        "usage_daily": float(used if daily is None else daily),
        "usage_weekly": float(used if weekly is None else weekly),
        "usage_monthly": float(this_month),
        "byok_usage": 0,
        "byok_usage_daily": 0,
        "byok_usage_weekly": 0,
        "byok_usage_monthly": 0,
        "is_free_tier": False,
        "is_management_key": False,
        "is_provisioning_key": False,
        "creator_user_id": "user_fake",
        "expires_at": None,
        "rate_limit": {
            "requests": -1,
            "interval": "10s",
            "note": "This field is deprecated and safe to ignore.",
        },
    }


@dataclass
class Generation:
    """One scripted answer and the JSON objects that carry it.

    `reasoning` streams before `pieces`; `sent_reasoning` and `sent_pieces` count what was
    generated so far, so a cancelled generation is billed for that much."""

    model: FakeModel
    received: Received
    directives: Directives
    pieces: list[str]
    finish_reason: str
    stream: bool
    fingerprint: str
    id: str = field(default_factory=new_generation_id)
    created: int = field(default_factory=lambda: int(time.time()))
    started: float = field(default_factory=time.monotonic)
    first_chunk: float | None = None
    reasoning: list[str] = field(default_factory=list)
    annotations: list[JSON] = field(default_factory=list)
    extra_cost: Decimal = Decimal(0)
    web_searches: int = 0
    cached: int = 0
    session_id: str | None = None
    sent_reasoning: int | None = None
    sent_pieces: int | None = None
    tool_calls: list[PlannedCall] = field(default_factory=list)
    sent_tools: int | None = None

    @property
    def tool_deltas(self) -> list[JSON]:
        return call_deltas(self.tool_calls)

    def _completion_tokens(self) -> tuple[int, int]:
        """(completion tokens, of which reasoning) generated so far."""
        thought = len(self.reasoning) if self.sent_reasoning is None else self.sent_reasoning
        said = len(self.pieces) if self.sent_pieces is None else self.sent_pieces
        called = len(self.tool_deltas) if self.sent_tools is None else self.sent_tools
        return thought + said + called, thought

    @property
    def cost(self) -> Decimal:
        completion, _ = self._completion_tokens()
        prompt_cost, completion_cost = self.model.cost(
            self.received.prompt_tokens, completion, self.cached
        )
        return prompt_cost + completion_cost + self.extra_cost

    def usage(self) -> JSON | None:
        if self.directives.no_usage:
            return None
        completion, reasoning = self._completion_tokens()
        return usage_wire(
            self.model,
            self.received.prompt_tokens,
            completion,
            with_cost=not self.directives.no_cost,
            cached=self.cached,
            reasoning=reasoning,
            extra_cost=self.extra_cost,
            web_searches=self.web_searches,
        )

    def envelope(self) -> JSON:
        return {
            "id": self.id,
            "provider": self.model.provider_name,
            "model": self.model.id,
            "object": "chat.completion.chunk",
            "created": self.created,
        }

    def _choice(self, delta: JSON, finish: str | None) -> JSON:
        choice = {"index": 0, "delta": {"role": "assistant", **delta}}
        choice |= {"finish_reason": finish, "native_finish_reason": finish, "logprobs": None}
        return {**self.envelope(), "choices": [choice], "system_fingerprint": self.fingerprint}

    def chunk(self, index: int) -> JSON:
        """The content chunk for `pieces[index]`; the last one carries the finish reason
        and the web search's citations."""
        last = index == len(self.pieces) - 1
        delta: JSON = {"content": self.pieces[index]}
        if last and self.annotations:
            delta["annotations"] = self.annotations
        return self._choice(delta, self.finish_reason if last else None)

    def tool_chunk(self, index: int) -> JSON:
        """The `delta.tool_calls` chunk `index`; the last one finishes with `tool_calls`."""
        deltas = self.tool_deltas
        last = index == len(deltas) - 1
        return self._choice({"content": None, "tool_calls": [deltas[index]]},
                            "tool_calls" if last else None)  # fmt: skip

    def reasoning_chunk(self, index: int) -> JSON:
        text = self.reasoning[index]
        detail = {"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}
        return self._choice({"content": "", "reasoning": text, "reasoning_details": [detail]}, None)

    def usage_chunk(self, usage: JSON) -> JSON:
        return {**self.envelope(), "choices": [], "usage": usage}

    def error_chunk(self) -> JSON:
        error = {"code": 502, "message": "Provider returned error"}
        error["metadata"] = {"error_type": "provider_unavailable"}
        choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
        choice["native_finish_reason"] = "error"
        return {**self.envelope(), "error": error, "choices": [choice]}

    def completion(self, usage: JSON | None) -> JSON:
        """The whole answer as one non-streamed `chat.completion`."""
        message: JSON = {"role": "assistant", "content": "".join(self.pieces), "refusal": None}
        if self.reasoning:
            message["reasoning"] = "".join(self.reasoning)
        if self.annotations:
            message["annotations"] = self.annotations
        if self.tool_calls:
            message["content"], message["tool_calls"] = None, whole_calls(self.tool_calls)
        choice = {"index": 0, "message": message, "logprobs": None}
        choice |= {"finish_reason": self.finish_reason, "native_finish_reason": self.finish_reason}
        body = {**self.envelope(), "object": "chat.completion", "choices": [choice]}
        body["system_fingerprint"] = self.fingerprint
        return body | ({"usage": usage} if usage is not None else {})

    def record(self, *, cancelled: bool = False, finish_reason: str | None = None) -> JSON:
        """What `GET /generation?id=` tells about this generation (a cancelled one is
        billed for what was generated before the cancel)."""
        now = time.monotonic()
        prompt = self.received.prompt_tokens
        completion, reasoning = self._completion_tokens()
        return {
            "id": self.id,
            "total_cost": float(self.cost),
            "tokens_prompt": prompt,
            "tokens_completion": completion,
            "native_tokens_prompt": prompt,
            "native_tokens_completion": completion,
            "native_tokens_reasoning": reasoning,
            "native_tokens_cached": self.cached,
            "num_search_results": len(self.annotations) if self.web_searches else None,
            "provider_name": self.model.provider_name,
            "model": self.model.id,
            "streamed": self.stream,
            "cancelled": cancelled,
            "session_id": self.session_id,
            "latency": round(((self.first_chunk or now) - self.started) * 1000),
            "generation_time": round((now - self.started) * 1000),
            "finish_reason": finish_reason or self.finish_reason,
            "created_at": datetime.now(timezone.utc).isoformat(),
        }
