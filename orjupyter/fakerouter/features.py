"""The fake's OpenRouter extras: reasoning, web search, PDF files and prompt caching. Pure.

Rules (deterministic, documented so tests and estimates can rely on them):

- Reasoning: a model whose `/models` entry lists `reasoning` in `supported_parameters`
  thinks when the request has `reasoning` (any effort but `none`, or `enabled`, or
  `max_tokens`): 4/8/16/32 words for minimal/low/medium/high (16 otherwise; the
  `think_words=N` directive overrides), streamed one word a chunk as `delta.reasoning`
  before the answer. Each reasoning chunk is one completion token, counted in
  `completion_tokens_details.reasoning_tokens`. A model that does not reason ignores it.
- Web search (`tools: [{"type": "openrouter:web_search", "parameters": {"max_results": N}}]`):
  the model searches once (`searches=K` makes it want K searches), each search finding N
  results (default 5); `max_uses` caps the searches and `max_total_results` the results
  of the request (default 50), as OpenRouter does. Results cost $4 per 1,000, added to
  the cost; `usage.server_tool_use.web_search_requests` counts the searches; the last
  content chunk carries one `url_citation` annotation per result (or the ones `cite_b64=`
  scripts).
- PDF files (`{"type": "file", "file": {"filename", "file_data": "data:…pdf;base64,…"}}`):
  500 prompt tokens a page (pages are `/Type /Page` objects); with the `file-parser`
  plugin's `mistral-ocr` engine, $2 per 1,000 pages on top. Not a PDF: 400.
- Prompt caching: every prefix of a request's messages is remembered per model; a later
  request that starts with a remembered prefix of at least 1,024 tokens has that many
  tokens cached (rounded down to a multiple of 128), billed at `input_cache_read`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

JSON = dict[str, Any]

REASONING_WORDS = {"minimal": 4, "low": 8, "medium": 16, "high": 32}
WEB_SEARCH_TOOL = "openrouter:web_search"
WEB_RESULTS = 5
WEB_TOTAL_RESULTS = 50
WEB_RESULT_PRICE = Decimal("0.004")
PDF_PAGE_TOKENS = 500
OCR_PAGE_PRICE = {"mistral-ocr": Decimal("0.002")}
CACHE_MINIMUM = 1024
CACHE_STEP = 128

_THOUGHT = ("Let", "me", "think", "about", "what", "is", "being", "asked", "here.")
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


class FeatureError(ValueError):
    """A malformed extra (bad file part, bad tool): the server answers 400."""


# --- reasoning ----------------------------------------------------------------------


def reasoning_words(body: JSON, think_words: int | None) -> int:
    """How many reasoning words the request asks for (0: no reasoning)."""
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict):
        return 0
    effort = reasoning.get("effort")
    if effort == "none" or reasoning.get("enabled") is False or reasoning.get("exclude"):
        return 0
    if think_words is not None:
        return think_words
    return REASONING_WORDS.get(str(effort), 16)


def reasoning_pieces(words: int) -> list[str]:
    return [("" if k == 0 else " ") + _THOUGHT[k % len(_THOUGHT)] for k in range(words)]


# --- web search ---------------------------------------------------------------------


@dataclass(frozen=True)
class WebSearch:
    """What the `openrouter:web_search` server tool did for one request."""

    searches: int = 0
    results: int = 0


def web_search(body: JSON, wanted: int | None = None) -> WebSearch:
    """The searches the model makes (`wanted`, default 1) within the tool's caps."""
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        if isinstance(tool, dict) and tool.get("type") == WEB_SEARCH_TOOL:
            parameters = tool.get("parameters") or {}
            if not isinstance(parameters, dict):
                raise FeatureError("web_search parameters must be an object")
            per_search = _cap(parameters, "max_results", 25) or WEB_RESULTS
            total = _cap(parameters, "max_total_results", 1000) or WEB_TOTAL_RESULTS
            uses = _cap(parameters, "max_uses", 100)
            searches = 1 if wanted is None else wanted
            searches = searches if uses is None else min(searches, uses)
            return WebSearch(searches, min(searches * per_search, total))
    return WebSearch()


def _cap(parameters: JSON, name: str, most: int) -> int | None:
    """A cap the tool was given (None: not given)."""
    value = parameters.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise FeatureError(f"web_search {name} must be an integer from 1 to {most}")
    return value


def citations(count: int, question: str, answer_length: int, scripted: str | None) -> list[JSON]:
    """`url_citation` annotations: scripted (base64 of a JSON list) or `count` made up."""
    if scripted is not None:
        try:
            items = json.loads(base64.b64decode(scripted + "=" * (-len(scripted) % 4)))
        except (binascii.Error, ValueError) as err:
            raise FeatureError("Fake directive cite_b64 is not base64 of a JSON list") from err
        return [{"type": "url_citation", "url_citation": dict(item)} for item in items]
    topic = re.sub(r"[^a-z0-9]+", "-", question.lower()).strip("-")[:40] or "question"
    return [
        {
            "type": "url_citation",
            "url_citation": {
                "url": f"https://example.org/{topic}/{k}",
                "title": f"Source {k} about {topic}",
                "content": f"What source {k} says.",
                "start_index": 0,
                "end_index": answer_length,
            },
        }
        for k in range(1, count + 1)
    ]


# --- PDF files ----------------------------------------------------------------------


@dataclass(frozen=True)
class FileInfo:
    """A `file` part as the fake decoded it."""

    filename: str
    nbytes: int
    pages: int

    @property
    def tokens(self) -> int:
        return self.pages * PDF_PAGE_TOKENS

    def describe(self) -> str:
        pages = f"{self.pages} page{'' if self.pages == 1 else 's'}"
        return f"file: {self.filename}, PDF, {pages}, {self.nbytes} bytes"

    def summary(self) -> JSON:
        return {"filename": self.filename, "bytes": self.nbytes, "pages": self.pages}


def decode_file(file: object) -> FileInfo:
    if not isinstance(file, dict) or not isinstance(file.get("file_data"), str):
        raise FeatureError("Invalid file part: expected an object with file_data")
    header, _, payload = file["file_data"].partition(",")
    if not header.startswith("data:application/pdf"):
        raise FeatureError(f"Unsupported file type ({header[:40]}): send a PDF")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise FeatureError("Invalid file data URL: bad base64") from err
    if not raw.startswith(b"%PDF-"):
        raise FeatureError("Invalid file: the data is not a PDF")
    pages = max(1, len(_PAGE.findall(raw)))
    return FileInfo(str(file.get("filename") or "document.pdf"), len(raw), pages)


def pdf_engine(body: JSON) -> str:
    for plugin in body.get("plugins") or ():
        if isinstance(plugin, dict) and plugin.get("id") == "file-parser":
            pdf = plugin.get("pdf") or {}
            return str(pdf.get("engine", "native")) if isinstance(pdf, dict) else "native"
    return "native"


def ocr_cost(engine: str, pages: int) -> Decimal:
    return OCR_PAGE_PRICE.get(engine, Decimal(0)) * pages


# --- prompt caching -----------------------------------------------------------------


def prefix_keys(model: str, messages: list[JSON]) -> list[str]:
    """One key per prefix of the messages (messages[:1], messages[:2], …)."""
    digest = hashlib.sha256(model.encode())
    keys = []
    for message in messages:
        digest.update(json.dumps(message, sort_keys=True).encode())
        keys.append(digest.copy().hexdigest())
    return keys


def cached_tokens(keys: list[str], cumulative: list[int], seen: set[str]) -> int:
    """Tokens of the longest remembered prefix, if long enough to be cached."""
    for key, tokens in zip(reversed(keys), reversed(cumulative), strict=True):
        if key in seen and tokens >= CACHE_MINIMUM:
            return tokens // CACHE_STEP * CACHE_STEP
    return 0
