"""Prices and estimates: used only when OpenRouter sends no cost."""

from __future__ import annotations

from decimal import Decimal

from orjupyter.core.domain import Totals, Usage, format_cost
from orjupyter.core.pricing import catalog_from_models, estimated_usage, price_for, text_tokens
from orjupyter.core.settings import DEFAULT_MODEL

GPT4O_ENTRY = {
    "id": DEFAULT_MODEL,
    "context_length": 128000,
    "top_provider": {"max_completion_tokens": 16384},
    "pricing": {
        "prompt": "0.0000025",
        "completion": "0.00001",
        "image": "0.003613",
        "request": "0",
    },
}


def test_catalog_reads_prices_and_limits():
    catalog = catalog_from_models([GPT4O_ENTRY, {"id": "broken", "pricing": {"prompt": "x"}}])
    info = catalog[DEFAULT_MODEL]
    assert info.price.prompt == Decimal("0.0000025")
    assert info.context_length == 128000
    assert info.max_completion_tokens == 16384
    assert catalog["broken"].price is None


def test_offline_prices_match_the_models_page():
    price = price_for(DEFAULT_MODEL, None)
    # $2.50/M input, $10/M output
    assert price.cost(1_000_000, 0) == Decimal("2.5")
    assert price.cost(0, 1_000_000) == Decimal("10")
    assert price_for("unknown/model", None) is None


def test_catalog_prices_win_over_offline_ones():
    entry = {**GPT4O_ENTRY, "pricing": {"prompt": "0.000001", "completion": "0.000002"}}
    assert price_for(DEFAULT_MODEL, catalog_from_models([entry])).prompt == Decimal("0.000001")


def test_estimates_are_marked():
    usage = estimated_usage(price_for(DEFAULT_MODEL, None), 97, 3)
    assert usage.cost == Decimal("0.0002725")
    assert usage.cost_is_estimate


def test_money_sums_without_drift():
    totals = Totals()
    for _ in range(1000):
        totals = totals.add(Usage(1, 1, Decimal("0.0001")))
    assert totals.cost == Decimal("0.1")
    assert totals.calls == 1000


def test_text_tokens_rule_of_thumb():
    assert text_tokens("") == 0
    assert text_tokens("abcd") == 1
    assert text_tokens("abcde") == 2


def test_costs_read_like_money():
    assert format_cost(Decimal("0.0002725")) == "$0.0002725"
    assert format_cost(Decimal("0.12345")) == "$0.1235"
    assert format_cost(Decimal("1.5")) == "$1.50"
    assert format_cost(Decimal("0.01"), estimate=True) == "~$0.01"
    assert format_cost(Decimal(0)) == "$0"


def test_exact_counts_use_gpt4o_tokenizer_when_installed():
    import pytest

    from orjupyter.core.pricing import has_tokenizer

    if not has_tokenizer():
        # the tokenizer is optional for users; `make test` installs it, so CI runs this
        pytest.skip("bpe-openai (the optional offline tokenizer) is not installed")
    # "hello world" is two tokens in o200k_base; the byte rule says three
    assert text_tokens("hello world", exact=True) == 2
    assert text_tokens("hello world") == 3
    assert text_tokens("<|endoftext|>", exact=True) > 1  # special tokens count as text
