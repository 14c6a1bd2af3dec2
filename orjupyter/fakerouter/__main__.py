"""`python -m orjupyter.fakerouter`: serve the local OpenRouter on 127.0.0.1."""

from __future__ import annotations

from orjupyter.fakerouter.server import main

raise SystemExit(main())
