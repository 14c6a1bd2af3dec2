"""The response cache: keys that mean "the same request", and a folder kernels can share."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import orjupyter.store.cache
from orjupyter.core.cache_key import canonical_request, request_key
from orjupyter.core.domain import Reply, TextPart, Usage
from orjupyter.core.request import CallOptions, build_request
from orjupyter.store.cache import (
    CachedAnswer,
    CacheMiss,
    ResponseCache,
    default_cache_dir,
    replay_miss,
)

PIXELS = bytes(range(256)) * 40  # stands in for an encoded image
PAYLOAD = base64.b64encode(PIXELS).decode()


def image_url(payload: str = PAYLOAD, media: str = "image/png") -> str:
    return f"data:{media};base64,{payload}"


def request(**changes) -> dict:
    """A request as `build_request` makes it, with one image."""
    base = build_request([TextPart("What is this?")], CallOptions(temperature=0.2, max_tokens=50))
    base["messages"][-1]["content"] = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": image_url(), "detail": "auto"}},
    ]
    base.update(changes)
    return base


def answer(text: str = "A cat.\nOn a mat.\n", **changes) -> CachedAnswer:
    fields = {
        "text": text,
        "model": "openai/gpt-4o-2024-11-20",
        "generation_id": "gen-123",
        "usage": Usage(
            prompt_tokens=800,
            completion_tokens=7,
            cost=Decimal("0.00000025"),
            cached_tokens=3,
            reasoning_tokens=1,
        ),
        "finish_reason": "stop",
        "created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    }
    fields.update(changes)
    return CachedAnswer(**fields)


def entry_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("??/*.json"))


# --- keys ----------------------------------------------------------------------------------


def test_the_same_request_has_the_same_key():
    assert request_key(request()) == request_key(request())
    assert len(request_key(request())) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"model": "openai/gpt-4o-mini"},
        {"temperature": 0.3},
        {"max_tokens": 51},
        {"top_p": 0.9},
        {"stop": ["\n"]},
        {"seed": 7},
        {"response_format": {"type": "json_object"}},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"extra_body": {"usage": {"include": True}, "provider": {"order": ["Azure"]}}},
        {"extra_body": {"usage": {"include": True}, "models": ["a/b", "c/d"]}},
    ],
)
def test_a_parameter_that_changes_the_answer_changes_the_key(change):
    assert request_key(request(**change)) != request_key(request())


def test_the_messages_the_image_bytes_and_the_detail_change_the_key():
    base = request_key(request())
    text = request()
    text["messages"][-1]["content"][0]["text"] = "What is that?"
    other_bytes = request()
    other_bytes["messages"][-1]["content"][1]["image_url"]["url"] = image_url(
        base64.b64encode(PIXELS[:-1] + b"\x00").decode()
    )
    detail = request()
    detail["messages"][-1]["content"][1]["image_url"]["detail"] = "low"
    system = request(messages=[{"role": "system", "content": "Be brief."}, *request()["messages"]])
    keys = {request_key(r) for r in (text, other_bytes, detail, system)}
    assert len(keys) == 4
    assert base not in keys


def test_base64_line_wrapping_does_not_change_the_key():
    wrapped = request()
    wrapped["messages"][-1]["content"][1]["image_url"]["url"] = image_url(
        "\n".join(textwrap.wrap(PAYLOAD, 76)) + "\n"
    )
    assert request_key(wrapped) == request_key(request())


def test_delivery_and_accounting_flags_and_headers_do_not_change_the_key():
    plain = request()
    for name in ("stream", "stream_options", "extra_body"):
        plain.pop(name)
    flagged = request(
        stream=False,
        extra_headers={"HTTP-Referer": "https://example.org", "X-Title": "x"},
        timeout=30,
    )
    assert request_key(flagged) == request_key(plain) == request_key(request())


def test_the_key_and_its_material_never_hold_the_image_bytes():
    material = json.dumps(canonical_request(request()))
    assert PAYLOAD[:40] not in material
    digest = hashlib.sha256(PIXELS).hexdigest()
    assert f"sha256:{digest}" in material


def test_extra_body_fields_count_as_body_fields_and_none_as_absent():
    assert request_key(request(top_p=0.5)) == request_key(request(extra_body={"top_p": 0.5}))
    assert request_key(request(seed=None)) == request_key(request())
    assert request_key(request(temperature=1.0)) == request_key(request(temperature=1))


@settings(max_examples=50, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=600),
    width=st.integers(min_value=4, max_value=120),
    newline=st.sampled_from(["\n", "\r\n", " "]),
)
def test_key_stable_under_any_base64_wrapping(data, width, newline):
    payload = base64.b64encode(data).decode()
    wrapped = newline.join(payload[i : i + width] for i in range(0, len(payload), width))
    one, other = request(), request()
    one["messages"][-1]["content"][1]["image_url"]["url"] = image_url(payload)
    other["messages"][-1]["content"][1]["image_url"]["url"] = image_url(wrapped)
    assert request_key(one) == request_key(other)


@settings(max_examples=50, deadline=None)
@given(st.permutations(["model", "messages", "temperature", "max_tokens", "stream"]))
def test_key_stable_under_argument_order(order):
    base = request()
    assert request_key({name: base[name] for name in order}) == request_key(
        {name: base[name] for name in reversed(order)}
    )


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=64), st.binary(max_size=64))
def test_different_image_bytes_give_different_keys(one, other):
    first, second = request(), request()
    first["messages"][-1]["content"][1]["image_url"]["url"] = image_url(
        base64.b64encode(one).decode()
    )
    second["messages"][-1]["content"][1]["image_url"]["url"] = image_url(
        base64.b64encode(other).decode()
    )
    assert (request_key(first) == request_key(second)) == (one == other)


# --- storing -------------------------------------------------------------------------------


def test_put_then_get_gives_the_same_answer_with_the_exact_cost(tmp_path):
    cache = ResponseCache(tmp_path)
    key = request_key(request())
    assert cache.get(key) is None
    cache.put(key, answer())
    got = cache.get(key)
    assert got == answer()
    assert got is not None
    assert got.usage.cost == Decimal("0.00000025")
    assert str(got.usage.cost) in {"2.5E-7", "0.00000025"}


def test_the_entry_file_is_readable_json_with_money_as_a_string_and_no_image(tmp_path):
    cache = ResponseCache(tmp_path)
    key = request_key(request())
    cache.put(key, answer(), request=request())
    (path,) = entry_files(tmp_path)
    assert path == tmp_path / key[:2] / f"{key}.json"
    raw = path.read_text()
    entry = json.loads(raw)
    assert entry["usage"]["cost"] == "0.00000025"
    assert entry["text"] == ["A cat.\n", "On a mat.\n"]
    assert entry["request"]["model"] == "openai/gpt-4o-2024-11-20"
    assert PAYLOAD[:40] not in raw
    assert "sha256:" in raw


def test_putting_the_same_answer_again_writes_the_same_bytes(tmp_path):
    cache = ResponseCache(tmp_path)
    key = request_key(request())
    cache.put(key, answer("ünïcode\r\nlines\n\nend"), request=request())
    first = entry_files(tmp_path)[0].read_bytes()
    cache.put(key, answer("ünïcode\r\nlines\n\nend"), request=request())
    assert entry_files(tmp_path)[0].read_bytes() == first
    assert cache.get(key) == answer("ünïcode\r\nlines\n\nend")


def test_empty_answers_are_not_stored(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.put("a" * 64, answer(""))
    cache.put("b" * 64, answer("  \n"))
    assert cache.get("a" * 64) is None
    assert cache.size_bytes() == 0


def test_a_key_that_is_not_a_key_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a cache key"):
        ResponseCache(tmp_path).get("../../etc/passwd")


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{not json",
        b'{"format": 1}',
        b"[1, 2]",
        b"\xff\xfe",
        b'{"format": 1, "key": "KEY", "model": "m", "generation_id": "g", "finish_reason": null,'
        b' "created_at": "yesterday", "usage": {}, "text": []}',
    ],
)
def test_a_damaged_entry_is_a_miss_and_is_removed(tmp_path, damage):
    cache = ResponseCache(tmp_path)
    key = request_key(request())
    cache.put(key, answer())
    path = cache.path_for(key)
    path.write_bytes(damage.replace(b"KEY", key.encode()))
    assert cache.get(key) is None
    assert not path.exists()


def test_an_entry_under_the_wrong_name_is_a_miss(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.put("a" * 64, answer())
    cache.path_for("b" * 64).parent.mkdir()
    cache.path_for("a" * 64).rename(cache.path_for("b" * 64))
    assert cache.get("b" * 64) is None


def test_cached_answer_from_and_to_a_reply():
    reply = Reply("A cat.", "m", "gen-1", Usage(10, 2, Decimal("0.001")), finish_reason="stop")
    stored = CachedAnswer.from_reply(reply)
    assert stored.usage == reply.usage
    assert stored.created_at.tzinfo is not None
    again = stored.to_reply(duration=0.001)
    assert again.text == "A cat."
    assert again.usage.cost == 0
    assert again.cached is True
    assert again.extra["billed_usage"] == reply.usage
    with pytest.raises(ValueError, match="complete"):
        CachedAnswer.from_reply(Reply("A c", "m", "gen-2", Usage(), outcome="stopped"))


# --- sharing -------------------------------------------------------------------------------

WRITER = """
import sys
from datetime import datetime, timezone
from decimal import Decimal
from orjupyter.store.cache import CachedAnswer, ResponseCache
from orjupyter.core.domain import Usage

directory, key, text, times = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cache = ResponseCache(directory)
for i in range(times):
    cache.put(key, CachedAnswer(
        text=text * 200, model="m", generation_id=f"gen-{text}", finish_reason="stop",
        usage=Usage(1, 2, Decimal("0.1")), created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
    ))
"""


def write_in_subprocess(directory: Path, key: str, text: str, times: int = 1) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), key, text, str(times)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )


def test_an_answer_written_by_another_process_is_read_here(tmp_path):
    key = request_key(request())
    assert write_in_subprocess(tmp_path, key, "from afar ").wait(timeout=30) == 0
    got = ResponseCache(tmp_path).get(key)
    assert got is not None
    assert got.text == "from afar " * 200
    assert got.usage.cost == Decimal("0.1")


def test_concurrent_writers_of_one_key_leave_one_whole_answer(tmp_path):
    key = request_key(request())
    processes = [write_in_subprocess(tmp_path, key, f"process {i} ", 30) for i in range(4)]
    cache = ResponseCache(tmp_path)
    seen = set()

    def write(i: int) -> None:
        for _ in range(30):
            cache.put(key, answer(f"thread {i} " * 200, generation_id=f"gen-thread {i} "))
            got = cache.get(key)
            assert got is not None  # a reader never sees a half-written file
            seen.add(got.generation_id)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [process.wait(timeout=60) for process in processes] == [0] * 4
    final = cache.get(key)
    assert final is not None
    assert final.text == final.generation_id[4:] * 200
    assert seen <= {f"gen-thread {i} " for i in range(4)} | {f"gen-process {i} " for i in range(4)}
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{key}.json"]


# --- size cap ------------------------------------------------------------------------------


def test_eviction_keeps_the_cap_and_the_recently_read_entries(tmp_path):
    cache = ResponseCache(tmp_path, max_bytes=20_000)
    keys = [f"{i:02x}" * 32 for i in range(8)]
    for age, key in enumerate(keys):
        cache.put(key, answer("x" * 2000))
        old = 1_000_000 + age  # oldest first, distinct whatever the clock's resolution
        os.utime(cache.path_for(key), (old, old))
    assert cache.get(keys[0]) is not None  # read: now the most recently used
    for key in (f"{i:02x}" * 32 for i in range(8, 14)):
        cache.put(key, answer("y" * 2000))
    assert cache.size_bytes() <= 20_000
    assert cache.get(keys[0]) is not None
    assert cache.get(keys[1]) is None
    assert cache.get(f"{13:02x}" * 32) is not None


def test_a_folder_grown_by_another_process_is_recounted(tmp_path, monkeypatch):
    cache = ResponseCache(tmp_path, max_bytes=20_000)
    cache.put("a" * 64, answer("x" * 2000))  # counts the folder: one entry
    other = ResponseCache(tmp_path, max_bytes=10**9)  # another kernel, with a larger cap
    for i in range(12):
        other.put(f"{i:02x}" * 32, answer("y" * 2000))
    assert cache.size_bytes() > 20_000
    monkeypatch.setattr(orjupyter.store.cache, "_RESCAN_SECONDS", 0.0)  # the recount is due
    cache.put("b" * 64, answer("x" * 2000))
    assert cache.size_bytes() <= 20_000
    assert cache.get("b" * 64) is not None


def test_an_answer_larger_than_the_cap_is_not_stored(tmp_path):
    cache = ResponseCache(tmp_path, max_bytes=1000)
    cache.put("a" * 64, answer("z" * 2000))
    assert cache.get("a" * 64) is None


def test_clear_removes_everything_and_says_how_much(tmp_path):
    cache = ResponseCache(tmp_path)
    for i in range(3):
        cache.put(f"{i:02x}" * 32, answer())
    assert cache.size_bytes() > 0
    assert cache.clear() == 3
    assert cache.size_bytes() == 0
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_an_empty_cache(tmp_path):
    cache = ResponseCache(tmp_path / "not" / "yet")
    assert cache.get("a" * 64) is None
    assert cache.size_bytes() == 0
    assert cache.clear() == 0
    cache.put("a" * 64, answer())
    assert cache.get("a" * 64) == answer()


# --- where, and replay ---------------------------------------------------------------------


def test_the_cache_folder_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ORJUPYTER_CACHE_DIR", str(tmp_path / "repo" / ".orjupyter"))
    assert default_cache_dir() == tmp_path / "repo" / ".orjupyter"
    monkeypatch.delenv("ORJUPYTER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_cache_dir() == tmp_path / "xdg" / "orjupyter"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir().name in {"orjupyter", "Cache"}


def test_a_replay_miss_names_the_cell_and_the_folder(tmp_path):
    error = replay_miss("[12]", tmp_path)
    assert isinstance(error, CacheMiss)
    assert str(error) == (
        "cell [12]: no cached answer for this request (replay mode: ORJUPYTER_REPLAY=1); "
        f"run it once with a key and the cache at {tmp_path} to record it"
    )
    assert error.cell_label == "[12]"
    assert error.directory == tmp_path


def test_requests_are_not_changed_by_making_a_key():
    original = request(extra_body={"usage": {"include": True}, "provider": {"order": ["A"]}})
    kept = copy.deepcopy(original)
    request_key(original)
    canonical_request(original)
    assert original == kept


def test_the_cache_and_threads_import_nothing_heavy():
    script = (
        "import sys, orjupyter.store.cache, orjupyter.core.thread\n"
        "print(sorted(m for m in ('IPython', 'ipywidgets', 'openai', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
