"""`%%gpt4o --map SOURCE`: the glue between the magic's line and a `MapRun`.

Reads the source and the template (bad input is one line and nothing is sent), builds
each row's question as it is dispatched, shows the run's progress and puts the answers
in `-o NAME` in the input's order: a pandas Series (or, with `--schema`, a DataFrame
with one column per field) on the input's index, a list, or a dict. A row without an
answer is `None`; why is in `NAME_errors` (a dict by row label, also
`NAME.attrs["errors"]` for pandas), where an answer that could not be used keeps its text
(`NAME_errors[label].text`).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import uuid
from argparse import Namespace
from collections import ChainMap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orjupyter.core.domain import format_cost
from orjupyter.core.errors import ImageError, OptionError, PromptError
from orjupyter.core.formats import OUTPUT_FORMATS, Format
from orjupyter.core.image_sources import image_maker
from orjupyter.core.mapping import (
    MapSource,
    check_template,
    expression_names,
    map_source,
    shadowing,
)
from orjupyter.core.pdf import PdfError
from orjupyter.core.prompt import Placeholder, build_parts, parse_template, resolve
from orjupyter.core.question import Question
from orjupyter.core.unanswered import RowResult, errors_by_label
from orjupyter.jupyter.call_options import call_options, schema_named
from orjupyter.jupyter.progress import run_view
from orjupyter.jupyter.views import shows_widgets
from orjupyter.service.mapping import Converter, MapRun, RowBuilder, cost_range, prepare
from orjupyter.service.structured import DEFAULT_RETRIES

if TYPE_CHECKING:
    from orjupyter.core.schema import Schema
    from orjupyter.jupyter.magic import OrJupyterMagics

DEFAULT_CONCURRENCY = 8
_REFUSED = (
    ("bg", "--map runs in its cell, with a progress panel and Stop; drop --bg"),
    ("thread", "--map rows are separate questions, not a conversation; drop --thread"),
    ("new", "--map rows are separate questions, not a conversation; drop --new"),
    ("context", "--map rows carry no notebook context (each would send it); drop --context"),
)


def _refuse_combinations(args: Namespace) -> None:
    for flag, message in _REFUSED:
        if getattr(args, flag):
            raise OptionError(f"{message} (nothing was sent)")
    if OUTPUT_FORMATS[args.format].next_cell:
        raise OptionError(
            f"--map cannot put answers in new cells; drop -f {args.format} (-f json parses "
            "them; nothing was sent)"
        )


def _source(magics: OrJupyterMagics, name: str) -> MapSource:
    try:
        value = resolve(Placeholder(name), magics.user_ns)
    except PromptError:
        raise OptionError(
            f"--map {name}: no such variable in the notebook (nothing was sent)"
        ) from None
    return map_source(value, name)


def _converter(fmt: Format, schema: Schema | None) -> Converter:
    if schema is not None:
        from orjupyter.core.schema import validated

        return lambda reply: validated(schema, reply.text)
    parse = OUTPUT_FORMATS[fmt].parse
    if parse is not None:
        return lambda reply: parse(reply.text)
    return lambda reply: reply.text


async def run_map(
    magics: OrJupyterMagics, args: Namespace, cell: str, default_model: str | None
) -> None:
    """Run the cell's template over every row of `--map SOURCE`."""
    _refuse_combinations(args)
    source = _source(magics, args.map)
    schema = schema_named(args.schema, magics.user_ns)
    model = args.model or default_model or magics.settings.default_model
    options, fmt = call_options(args, model, schema, magics.notebook().key)
    try:
        segments = parse_template(cell)
    except PromptError as exc:
        raise PromptError(f"{exc} (nothing was sent)") from None
    namespace = magics.user_ns
    check_template(segments, source, namespace)
    shadowed = shadowing(segments, source, namespace)
    make_image = image_maker(options.model)
    force_image = image_maker(options.model, forced=True)
    value_tokens = magics.settings.value_tokens
    cell_label, notebook = magics._cell_label(), magics.notebook().key
    run_label = f"--map {source.name} {uuid.uuid4().hex[:8]}"  # the ledger groups its calls

    def build(fields: dict[str, object]) -> Question:
        values = ChainMap(fields, namespace)
        parts = build_parts(
            segments,
            values,
            make_image,
            args.detail,
            force_image=force_image,
            value_tokens=value_tokens,
            text_names_files=False,
            expressions=expression_names(fields, namespace),
        )
        if not parts:
            raise PromptError("this row's question is empty")
        return Question(
            parts,
            options,
            fmt,
            use_cache=not args.no_cache,
            cell=cell_label,
            notebook=notebook,
            run=run_label,
            schema=schema,
        )

    rows = source.rows()
    first_row = next(rows)
    first = await _first_question(build, first_row, dry_run=args.dry_run)
    if args.dry_run and isinstance(first, Question):
        await magics.session.dry_run(first)
        print("\n".join(filter(None, [_run_estimate(magics, first, len(source)), shadowed])))
        return
    await prepare(magics.session, options)
    run = MapRun(
        session=magics.session,
        rows=itertools.chain([first_row], rows),
        labels=source.labels,
        build=_built_once(build, first_row, first),
        convert=_converter(fmt, schema),
        view=run_view(shows_widgets(magics), options.model, magics.settings.updates_per_second),
        concurrency=args.concurrency or DEFAULT_CONCURRENCY,
        cap=args.budget,
        retries=DEFAULT_RETRIES if args.retries is None else args.retries,
        remarks=[shadowed] if shadowed else [],
        errors_in=f"{args.output}_errors" if args.output else None,
    )
    results = await run.run()
    warning = magics.session.records.budget_warning(notebook)
    if warning:
        print(warning, file=sys.stderr)
    if args.output:
        answers, errors = assemble(source, results, schema, args.output)
        namespace[args.output] = answers
        namespace[f"{args.output}_errors"] = errors


async def _first_question(
    build: RowBuilder, fields: dict[str, object], *, dry_run: bool
) -> Question | PromptError:
    """The first row's question, built before anything is sent: a mistake every row would
    make is refused now; a file that cannot be read fails its row only."""
    try:
        return await asyncio.to_thread(build, fields)
    except PromptError as exc:
        if dry_run or not isinstance(exc, ImageError | PdfError):
            raise PromptError(f"the first row: {exc} (nothing was sent)") from None
        return exc


def _built_once(
    build: RowBuilder, first_row: dict[str, object], first: Question | PromptError
) -> RowBuilder:
    """`build`, except that the first row is the question already built: each row's
    expressions run once."""

    def built(fields: dict[str, object]) -> Question:
        if fields is not first_row:
            return build(fields)
        if isinstance(first, PromptError):
            raise first
        return first

    return built


def _run_estimate(magics: OrJupyterMagics, first: Question, rows: int) -> str:
    costs = cost_range(magics.session, first)
    if costs is None:
        return f"The whole run: {rows:,} rows; cost unknown (no price for this model)."
    cheapest, worst = costs
    return (
        f"The whole run: {rows:,} rows, about {format_cost(cheapest * rows)} (one-token "
        f"answers) to {format_cost(worst * rows)} (longest answers) at the first row's "
        "size; rows already in the cache cost $0."
    )


def assemble(
    source: MapSource,
    results: Sequence[RowResult | None],
    schema: Schema | None,
    name: str | None = None,
) -> tuple[Any, dict[object, str]]:
    """The answers in the input's shape and order, and why each missing one is missing."""
    values = [result.value if result is not None else None for result in results]
    errors = errors_by_label(source, results)
    if source.kind in ("frame", "series"):
        pandas: Any = sys.modules["pandas"]  # the input is a pandas object
        index = source.value.index
        if schema is not None:
            from orjupyter.core.schema import as_record
            from orjupyter.jupyter.frames import AnswerFrame

            records = [as_record(value) if value is not None else {} for value in values]
            answers = AnswerFrame(records, index=index, columns=schema.fields)
        else:
            answers = pandas.Series(values, index=index, dtype=object, name=name)
        answers.attrs["errors"] = errors
        return answers, errors
    if source.kind == "dict":
        return dict(zip(source.labels, values, strict=True)), errors
    return values, errors
