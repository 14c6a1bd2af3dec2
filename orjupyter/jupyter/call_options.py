"""The magic's line → the request's options, shared by a single cell and a `--map` run:
the model, the system prompt and format, and `--schema` (strict JSON)."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from typing import TYPE_CHECKING

from orjupyter.core.errors import OptionError, PromptError
from orjupyter.core.formats import OUTPUT_FORMATS, Format, response_format, system_prompt
from orjupyter.core.notebook_id import session_id
from orjupyter.core.request import CallOptions, wires

if TYPE_CHECKING:
    from orjupyter.core.schema import Schema

MAP_ONLY = ("concurrency", "budget")
"""Options that mean something only with `--map`."""


def refuse_map_only(args: Namespace) -> None:
    """`--concurrency` or `--budget` without `--map` (or `--tools`), and `--max-steps` or
    `--approve` without `--tools`: one line."""
    tools = args.tools is not None
    unused = [flag for flag in MAP_ONLY if getattr(args, flag) is not None]
    if unused and not (tools and unused == ["budget"]):
        raise OptionError(f"--{unused[0]} works with --map SOURCE; add it or drop this one")
    for flag in ("max_steps", "approve"):
        if getattr(args, flag) not in (None, False) and not tools:
            name = flag.replace("_", "-")
            raise OptionError(f"--{name} works with --tools F,G; add it or drop this one")


def schema_named(name: str | None, namespace: Mapping[str, object]) -> Schema | None:
    """`--schema NAME`: the notebook value NAME as a strict schema."""
    if name is None:
        return None
    from orjupyter.core.prompt import Placeholder, resolve
    from orjupyter.core.schema import schema_for

    try:
        value = resolve(Placeholder(name), namespace)
    except PromptError:
        raise OptionError(
            f"--schema {name}: no such variable in the notebook (nothing was sent)"
        ) from None
    return schema_for(value, name)


def call_options(
    args: Namespace, model: str, schema: Schema | None, notebook: str
) -> tuple[CallOptions, Format]:
    """The request's options from the line (every option whose name is a `CallOptions`
    field); `--schema` asks for strict JSON, routed only to providers that honour it
    (`provider.require_parameters`). `notebook` (the ledger's key) becomes the request's
    `session_id`, hashed."""
    fmt: Format = args.format
    if schema is None and getattr(args, "retries", None) is not None:
        raise OptionError("--retries works with --schema NAME; add it or drop this one")
    if schema is not None and fmt != "markdown" and not OUTPUT_FORMATS[fmt].answers_json:
        raise OptionError(f"--schema answers JSON; drop -f {fmt}")
    given = {name: getattr(args, name) for name, _wire in wires(CallOptions()) if name in args}
    if schema is not None:
        fmt = "json"
        given["provider"] = {**(given.get("provider") or {}), "require_parameters": True}
    options = CallOptions(
        model=model,
        system=system_prompt(args.system, fmt),
        response_format=schema.response_format() if schema else response_format(fmt),
        session_id=session_id(notebook),
        **given,
    )
    return options, fmt
