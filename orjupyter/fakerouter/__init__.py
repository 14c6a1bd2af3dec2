"""The local OpenRouter-compatible server: run notebooks and tests without a key or a bill.

    python -m orjupyter.fakerouter --port 8765

`server` does the HTTP (`FakeRouter`); `script` decides what to say (models, prices, token
counts, `[[fake …]]` directives). Nothing in the product imports this package.
"""

from __future__ import annotations

from orjupyter.fakerouter.server import FakeRouter, RecordedRequest, main

__all__ = ["FakeRouter", "RecordedRequest", "main"]
