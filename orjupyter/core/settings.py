"""What the service and the store read of the settings, as a protocol.

The settings themselves are traitlets on `orjupyter.jupyter.config.OrJupyter` (so
`%config` works); everything below the Jupyter room sees only this shape, so it can run
and be tested with a plain object.
"""

from __future__ import annotations

from typing import Protocol

DEFAULT_MODEL = "openai/gpt-4o-2024-11-20"
APP_URL = "https://github.com/orjupyter/orjupyter"
APP_TITLE = "orjupyter"
"""Sent as HTTP-Referer and X-Title for OpenRouter's app attribution."""


class Settings(Protocol):
    default_model: str
    timeout: float
    connect_timeout: float
    max_retries: int
    app_url: str
    app_title: str
    max_history_turns: int
    cache: bool
    cache_dir: str
    store_prompts: bool

    def resolved_key(self) -> str: ...

    def resolved_base_url(self) -> str: ...

    def configured_ledger(self) -> str: ...

    def replaying(self) -> bool: ...
