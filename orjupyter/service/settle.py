"""The exact bill of a stopped or failed call, from OpenRouter's `GET /generation`.

A stream that was stopped or broke off carries no `usage`, so its cost is first recorded
at an estimate. OpenRouter knows the truth a moment later (a cancelled generation is billed
for what was generated before the cancel): `fetch_generation` asks, retrying briefly while
the generation is not yet known (404), and gives up quietly otherwise.
"""

from __future__ import annotations

import asyncio
from typing import Any

from orjupyter.core.domain import Usage
from orjupyter.core.stream import usage_from_generation

RETRY_DELAYS = (0.3, 0.6, 1.2, 2.4, 4.8)
"""Seconds between attempts while OpenRouter does not know the generation yet (~9 s)."""


async def fetch_generation(
    client: Any, generation_id: str, delays: tuple[float, ...] = RETRY_DELAYS
) -> Usage | None:
    """The billed usage of `generation_id`, or None when it cannot be had."""
    for delay in (*delays, None):
        try:
            body = await client.get(
                "/generation", cast_to=object, options={"params": {"id": generation_id}}
            )
        except Exception as exc:  # the bill is a courtesy: any failure keeps the estimate
            if getattr(exc, "status_code", None) != 404 or delay is None:
                return None
            await asyncio.sleep(delay)
            continue
        data = body.get("data") if isinstance(body, dict) else None
        return usage_from_generation(data)
    return None
