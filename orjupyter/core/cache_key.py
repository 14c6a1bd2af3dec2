"""Request keys: which part of a chat request decides its answer, hashed.

Pure: standard library only, no IPython, no widgets, no SDK. `request_key` is the SHA-256
of the canonical JSON of a request (`canonical_request`): delivery options, accounting
flags and None arguments are left out, integral floats count as integers, and every
`data:` URL is replaced by the hash of its bytes, so a key (and the copy of the request
the response cache keeps beside an answer) never holds image bytes. `KEY_VERSION` is
hashed in front of every key: changing it invalidates every key made before.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = ["KEY_VERSION", "canonical_request", "json_default", "request_key"]

KEY_VERSION = "orjupyter-cache-v1"
"""Hashed in front of every key: changing it invalidates every key made before."""

_NOT_IN_KEY = frozenset({"stream", "stream_options", "extra_headers", "timeout"})
"""Request arguments that change how an answer is delivered, not what it is."""
_NOT_IN_KEY_BODY = frozenset({"usage", "session_id"})
"""`extra_body` fields that are accounting flags only (`session_id` groups calls in
OpenRouter's logs and routing; it does not change the answer)."""
_DATA_URL_FIELDS = frozenset({"url", "image_url", "file_data"})


def request_key(request: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of what in `request` decides the answer.

    `request` is the keyword arguments of `chat.completions.create`. See
    `canonical_request` for what counts.
    """
    canonical = json.dumps(
        canonical_request(request),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=json_default,
    )
    return hashlib.sha256(f"{KEY_VERSION}\n{canonical}".encode()).hexdigest()


def canonical_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request body as the model sees it, with every `data:` URL replaced by its hash.

    Counts: every argument (model, messages, temperature, max_tokens, top_p, stop, seed,
    response_format, tools, …) and every `extra_body` field (provider, models, …), merged
    as the SDK merges them. Left out: stream, stream_options, extra_headers, timeout,
    `extra_body.usage`, and arguments that are None (the same as absent). A `data:` URL
    becomes `sha256:<hex of the decoded bytes>`, so base64 line wrapping does not matter
    and the result never holds image bytes. Integral floats count as integers (1.0 == 1).
    """
    body = {name: value for name, value in request.items() if name not in _NOT_IN_KEY}
    extra = body.pop("extra_body", None)
    if isinstance(extra, Mapping):
        body.update((k, v) for k, v in extra.items() if k not in _NOT_IN_KEY_BODY)
    return {name: _canonical(value) for name, value in body.items() if value is not None}


def json_default(value: object) -> object:
    """`json.dumps(default=…)` for a canonical request: pydantic models (a `response_format`,
    say) as their `model_dump()`; anything else raises TypeError."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump()
    raise TypeError(f"cannot make a cache key of {type(value).__name__}: {value!r:.80}")


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            str(name): _data_url_hash(item)
            if name in _DATA_URL_FIELDS and isinstance(item, str) and item.startswith("data:")
            else _canonical(item)
            for name, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _data_url_hash(url: str) -> str:
    header, _, payload = url.partition(",")
    if header.endswith(";base64"):
        try:
            data = binascii.a2b_base64(payload)  # skips newlines, spaces, other non-alphabet
        except (binascii.Error, ValueError):
            data = "".join(payload.split()).encode()
    else:
        data = unquote_to_bytes(payload)
    return "sha256:" + hashlib.sha256(data).hexdigest()
