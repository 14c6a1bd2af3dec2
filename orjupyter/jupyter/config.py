"""Settings, the IPython way: traitlets on one configurable.

`%config OrJupyter.default_model = "openai/gpt-4o-mini"` or, in `ipython_config.py`,
`c.OrJupyter.timeout = 1200`. Environment variables give the defaults.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from traitlets import Bool, Dict, Enum, Float, Int, Unicode, Union, observe
from traitlets.config import Configurable

from orjupyter.core.settings import APP_TITLE, APP_URL, DEFAULT_MODEL

OPENROUTER_URL = "https://openrouter.ai/api/v1"


class SecretStr(str):
    """A string whose repr never shows it (`%config OrJupyter` prints reprs)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<hidden>'" if self else "''"


class Secret(Unicode[str, Any]):
    """A Unicode trait holding a `SecretStr`."""

    def validate(self, obj: Any, value: Any) -> SecretStr:
        return SecretStr(super().validate(obj, value))


class LocationStr(str):
    """A ledger location whose repr leaves out a URL's password."""

    __slots__ = ()

    def __repr__(self) -> str:
        from orjupyter.store.base import without_password

        return repr(without_password(str(self)))


class Location(Unicode[str, Any]):
    """A Unicode trait holding a `LocationStr`."""

    def validate(self, obj: Any, value: Any) -> LocationStr:
        return LocationStr(super().validate(obj, value))


class OrJupyter(Configurable):
    """orjupyter's settings."""

    api_key = Secret(
        "",
        help="OpenRouter API key. Default: $OPENROUTER_API_KEY. Prefer the environment "
        "or `%gpt4o key` to writing it into a notebook.",
    ).tag(config=True)
    base_url = Unicode(
        "", help="OpenRouter API base URL. Default: $OPENROUTER_BASE_URL or " + OPENROUTER_URL
    ).tag(config=True)
    default_model = Unicode(
        DEFAULT_MODEL, help="Model slug used by %%gpt4o when no -m/--model is given."
    ).tag(config=True)
    timeout = Float(
        600.0,
        help="Seconds to wait for the response to start (its headers, in all, however "
        "slowly they arrive) and then for each next piece of the answer.",
    ).tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to wait for a connection.").tag(config=True)
    max_retries = Int(
        2,
        help="Retries before the first token (429, 5xx, connection errors), with backoff, "
        "honouring Retry-After.",
    ).tag(config=True)
    app_url = Unicode(APP_URL, help="Sent as HTTP-Referer for OpenRouter's app attribution.").tag(
        config=True
    )
    app_title = Unicode(
        APP_TITLE,
        help="Sent as X-OpenRouter-Title (and the legacy X-Title) for OpenRouter's app "
        "attribution.",
    ).tag(config=True)
    updates_per_second = Float(
        10.0,
        help="Most panel refreshes per second while an answer streams (25 at most; 4 at "
        "most once the answer is longer than a screen).",
    ).tag(config=True)
    max_history_turns = Int(
        10, help="Most earlier turns of a --thread sent as history (also trimmed to fit)."
    ).tag(config=True)
    aliases = Dict(
        value_trait=Unicode(),
        help='Extra cell magics for other models, e.g. {"mini": "openai/gpt-4o-mini"}.',
    ).tag(config=True)
    cache = Bool(True, help="Answer identical requests from the local cache at $0.").tag(
        config=True
    )
    cache_dir = Unicode(
        "", help="Cache folder. Default: $ORJUPYTER_CACHE_DIR, else the user cache dir."
    ).tag(config=True)
    replay = Bool(
        False, help="Every call must come from the cache (also: ORJUPYTER_REPLAY=1)."
    ).tag(config=True)
    ledger = Location(
        "",
        help="The ledger: a file, or a team's postgresql:// URL (its password best in "
        "PGPASSWORD or ~/.pgpass). Default: $ORJUPYTER_LEDGER, else Jupyter's data dir.",
    ).tag(config=True)
    ledger_path = Location(
        "", help="The older name of ledger, read only while ledger is empty: ledger wins."
    ).tag(config=True)
    store_prompts = Bool(
        False, help="Also keep prompts and answers in the ledger (off: only numbers)."
    ).tag(config=True)
    value_tokens = Int(
        1500,
        help="Most tokens one {value} description takes (DataFrames, arrays, containers); "
        "{value:full} sends the whole value.",
    ).tag(config=True)
    context = Union(
        [Int(), Enum(["all"])],
        default_value=0,
        help="Cells run before the question sent with it when a cell has no --context "
        "(0: none; 'all': as many as fit context_tokens).",
    ).tag(config=True)
    context_tokens = Int(
        6000,
        help="Most tokens the --context cells take (images included); oldest cells are "
        "left out first.",
    ).tag(config=True)
    widgets = Bool(
        True,
        help="Chooses the view in a kernel: True shows live widgets (an answer's panel and "
        "action bar, --compare's columns, a --map run's bar, a tool loop's log, %gpt4o "
        "panel); False shows all of them as plain text, as in a terminal.",
    ).tag(config=True)

    def resolved_key(self) -> str:
        """The key to use now: this setting, else $OPENROUTER_API_KEY (read at call time)."""
        return str(self.api_key).strip() or os.environ.get("OPENROUTER_API_KEY", "").strip()

    @observe("ledger", "ledger_path")
    def _one_ledger(self, _change: object) -> None:
        """Both names set, to different ledgers: say once which one is used."""
        new, old = str(self.ledger).strip(), str(self.ledger_path).strip()
        if new and old and new != old:
            from orjupyter.store.base import without_password

            print(
                f"orjupyter: OrJupyter.ledger ({without_password(new)}) wins over its older "
                f"name ledger_path ({without_password(old)}); set only ledger",
                file=sys.stderr,
            )

    def configured_ledger(self) -> str:
        """The ledger set here: `ledger`, else its older name `ledger_path` ('' if neither)."""
        return str(self.ledger).strip() or str(self.ledger_path).strip()

    def replaying(self) -> bool:
        flag = os.environ.get("ORJUPYTER_REPLAY", "").strip().lower()
        return bool(self.replay) or flag in {"1", "true", "yes", "on"}

    def resolved_base_url(self) -> str:
        base = self.base_url.strip() or os.environ.get("OPENROUTER_BASE_URL", "").strip()
        return (base or OPENROUTER_URL).rstrip("/")

    def __repr__(self) -> str:
        return (
            f"OrJupyter(base_url={self.resolved_base_url()!r}, "
            f"default_model={self.default_model!r})"
        )
