"""The response cache: keys that mean "the same request", and a folder kernels can share."""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import os
import sqlite3
import stat
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


def stored(directory: Path, sql: str = "SELECT key, entry FROM answers", *args) -> list[tuple]:
    """Rows of the cache's file, read the way any SQLite tool reads them."""
    with contextlib.closing(sqlite3.connect(directory / "answers.sqlite")) as db, db:
        return db.execute(sql, args).fetchall()


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


def test_the_stored_entry_is_readable_json_with_money_as_a_string_and_no_image(tmp_path):
    cache = ResponseCache(tmp_path)
    key = request_key(request())
    cache.put(key, answer(), request=request())
    ((stored_key, raw),) = stored(tmp_path)
    assert stored_key == key
    entry = json.loads(raw)
    assert entry["usage"]["cost"] == "0.00000025"
    assert entry["text"] == ["A cat.\n", "On a mat.\n"]
    assert entry["request"]["model"] == "openai/gpt-4o-2024-11-20"
    assert PAYLOAD[:40] not in raw
    assert "sha256:" in raw


def test_putting_the_same_answer_again_stores_the_same_entry(tmp_path):
    cache = ResponseCache(tmp_path)
    key = request_key(request())
    cache.put(key, answer("ünïcode\r\nlines\n\nend"), request=request())
    first = stored(tmp_path)
    cache.put(key, answer("ünïcode\r\nlines\n\nend"), request=request())
    assert stored(tmp_path) == first
    assert cache.get(key) == answer("ünïcode\r\nlines\n\nend")


def test_the_file_is_private_and_so_is_a_folder_made_for_it(tmp_path):
    cache = ResponseCache(tmp_path / "made")
    cache.put("a" * 64, answer())
    assert stat.S_IMODE((tmp_path / "made").stat().st_mode) == 0o700
    files = sorted(p.name for p in (tmp_path / "made").iterdir())
    assert "answers.sqlite" in files
    for name in files:  # the file, and SQLite's -wal and -shm beside it
        assert stat.S_IMODE((tmp_path / "made" / name).stat().st_mode) == 0o600, name
    cache.close()


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
    damaged = damage.replace(b"KEY", key.encode()).decode(errors="replace")
    stored(tmp_path, "UPDATE answers SET entry = ? WHERE key = ?", damaged, key)
    assert cache.get(key) is None
    assert stored(tmp_path) == []
    assert cache.size_bytes() == 0


def test_an_entry_under_the_wrong_key_is_a_miss(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.put("a" * 64, answer())
    stored(tmp_path, "UPDATE answers SET key = ?", "b" * 64)
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
    assert [row[0] for row in stored(tmp_path)] == [key]
    assert len(cache) == 1


# --- size cap ------------------------------------------------------------------------------


def test_eviction_keeps_the_cap_and_the_recently_read_entries(tmp_path):
    cache = ResponseCache(tmp_path, max_bytes=20_000)
    keys = [f"{i:02x}" * 32 for i in range(8)]
    for age, key in enumerate(keys):
        cache.put(key, answer("x" * 2000))
        old = 1_000_000 + age  # oldest first, distinct whatever the clock's resolution
        stored(tmp_path, "UPDATE answers SET used_at = ? WHERE key = ?", old, key)
    assert cache.get(keys[0]) is not None  # read: now the most recently used
    for key in (f"{i:02x}" * 32 for i in range(8, 14)):
        cache.put(key, answer("y" * 2000))
    assert cache.size_bytes() <= 20_000
    assert cache.get(keys[0]) is not None
    assert cache.get(keys[1]) is None
    assert cache.get(f"{13:02x}" * 32) is not None


def test_the_cap_holds_across_kernels_sharing_the_folder(tmp_path):
    cache = ResponseCache(tmp_path, max_bytes=20_000)
    cache.put("a" * 64, answer("x" * 2000))
    other = ResponseCache(tmp_path, max_bytes=10**9)  # another kernel, with a larger cap
    for i in range(12):
        other.put(f"{i:02x}" * 32, answer("y" * 2000))
    assert cache.size_bytes() > 20_000  # what the other kernel stored counts here at once
    cache.put("b" * 64, answer("x" * 2000))
    assert cache.size_bytes() <= 20_000
    assert cache.get("b" * 64) is not None
    other.close()


def test_the_cap_holds_on_disk_and_small_answers_take_about_their_bytes(tmp_path):
    """Many small answers: the file on disk is at most twice their bytes (a file each took
    five times as much), and past the cap the file stays near the cap."""
    cache = ResponseCache(tmp_path / "roomy")
    for i in range(3000):
        cache.put(f"{i:064x}", answer(f"answer {i}: " + "words " * 100))
    data = cache.size_bytes()
    assert data > 3000 * 600
    cache.close()
    assert cache.disk_bytes() <= 2 * data
    capped = ResponseCache(tmp_path / "capped", max_bytes=400_000)
    for i in range(3000):
        capped.put(f"{i:064x}", answer(f"answer {i}: " + "words " * 100))
    assert capped.size_bytes() <= 400_000
    assert capped.get(f"{2999:064x}") is not None
    assert capped.get(f"{0:064x}") is None
    capped.close()
    assert capped.disk_bytes() <= 2 * 400_000


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
    assert cache.get("00" * 32) is None


def test_a_missing_folder_is_an_empty_cache(tmp_path):
    cache = ResponseCache(tmp_path / "not" / "yet")
    assert cache.get("a" * 64) is None
    assert cache.size_bytes() == 0
    assert cache.clear() == 0
    cache.put("a" * 64, answer())
    assert cache.get("a" * 64) == answer()


# --- a folder written by an older orjupyter -----------------------------------------------

OLD_ENTRY = """{
 "format": 1,
 "key": "KEY",
 "model": "openai/gpt-4o-mini",
 "generation_id": "gen-old",
 "finish_reason": "stop",
 "created_at": "2025-03-04T05:06:07+00:00",
 "usage": {
  "prompt_tokens": 12,
  "completion_tokens": 5,
  "cost": "0.0000048",
  "cost_is_estimate": false,
  "cached_tokens": 0,
  "reasoning_tokens": 0
 },
 "text": [
  "Recorded\\n",
  "long ago."
 ]
}
"""


def old_folder(directory: Path, count: int) -> list[str]:
    """A cache folder as orjupyter wrote it before the one-file store: a JSON file per
    answer in `<key[:2]>/<key>.json`, the oldest used first (by mtime), a stray temp file."""
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(count)]
    for age, key in enumerate(keys):
        path = directory / key[:2] / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(OLD_ENTRY.replace("KEY", key).replace("long ago", f"long ago {age}"))
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    (directory / keys[0][:2] / f".{keys[0][:16]}.123.abcdef01.tmp").write_text("{")
    return keys


def test_a_folder_from_an_older_orjupyter_is_moved_into_the_file(tmp_path):
    keys = old_folder(tmp_path, 5)
    cache = ResponseCache(tmp_path)
    got = cache.get(keys[3])
    assert got is not None
    assert got.text == "Recorded\nlong ago 3."
    assert got.usage.cost == Decimal("0.0000048")
    assert got.generation_id == "gen-old"
    assert len(cache) == 5
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == []  # files gone
    cache.close()
    # their order of use came along: the least recently used go first
    order = [row[0] for row in stored(tmp_path, "SELECT key FROM answers ORDER BY used_at")]
    assert order == [keys[0], keys[1], keys[2], keys[4], keys[3]]


def test_a_read_only_older_folder_is_still_read(tmp_path):
    keys = old_folder(tmp_path / "old", 2)
    os.chmod(tmp_path / "old", 0o500)
    try:
        if os.access(tmp_path / "old", os.W_OK):
            pytest.skip("this user writes anywhere (root): a read-only folder cannot be made")
        got = ResponseCache(tmp_path / "old").get(keys[1])
    finally:
        os.chmod(tmp_path / "old", 0o700)
    assert got is not None
    assert got.text == "Recorded\nlong ago 1."


def test_replay_reads_without_writing(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.put("a" * 64, answer())
    cache.close()
    before = (tmp_path / "answers.sqlite").read_bytes()
    replaying = ResponseCache(tmp_path)
    assert replaying.get("a" * 64, touch=False) == answer()
    replaying.close()
    assert (tmp_path / "answers.sqlite").read_bytes() == before


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
