"""`%%gpt4o --map`: real kernels and a real shell against the local OpenRouter server,
with its per-request delays and scripted failures."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from decimal import Decimal

import pytest
from jupyter_client.manager import start_new_kernel
from notebook_support import click


def run_quietly(client, code: str) -> None:
    reply = client.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
    assert reply["content"]["status"] == "ok", reply["content"]


def printed(client, code: str) -> str:
    outputs: list[dict] = []
    reply = client.execute_interactive(code, timeout=120, output_hook=outputs.append)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")


def wait_for_reply(client, msg_id: str, timeout: float = 60) -> dict:
    reply = client.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=timeout)
    return reply


def ledger_outcomes(tmp_path) -> dict[str, int]:
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        rows = db.execute("SELECT outcome, count(*) FROM calls GROUP BY outcome").fetchall()
    return dict(rows)


def wait_until_answered(router, rows: int, timeout: float = 30.0) -> None:
    """Until the server has finished answering `rows` requests and is streaming two more
    (the run is under way, with rows in flight)."""
    deadline = time.monotonic() + timeout
    while len(router.billed()) < rows or len(router.requests) < len(router.billed()) + 2:
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.01)


def staggered(rows: int) -> str:
    """Code for rows that take 0.8 to 2 s each, so some are always mid-answer."""
    chunks = "{8 + 4 * (i % 4)}"
    reply = "answer_to_row_{i}"
    return f"[f'row {{i}} [[fake reply={reply} chunks={chunks} delay=0.1]]' for i in range({rows})]"


def b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_answers_keep_the_input_order_and_failures_stay_in_their_rows(router, kernel):
    rows = {
        "a": "[[fake reply=alpha delay=0.3]]",  # slowest: finishes last
        "b": "[[fake reply=beta status=429 retry_after=0.2 fail_times=1]]",  # retried
        "c": "[[fake reply=gamma status=503 retry_after=0.1 fail_times=1]]",  # retried
        "d": "[[fake reply=delta chunks=3 midstream_error_after=1]]",  # breaks mid-stream
        "e": "[[fake status=400]]",  # refused: not retried
        "f": "[[fake reply=zeta]]",
    }
    run_quietly(
        kernel,
        "%load_ext orjupyter\nimport pandas as pd\n"
        f"tickets = pd.DataFrame({{'text': {list(rows.values())!r}}}, index={list(rows)!r})",
    )
    run_quietly(kernel, "%%gpt4o --map tickets -o labels --concurrency 3\n{text}")
    text = printed(
        kernel,
        "print(labels.index.tolist(), labels.tolist())\n"
        "print(sorted(labels_errors), sorted(labels.attrs['errors']))\n"
        "print(labels_errors['d'][:60]); print(labels_errors['e'][:40])",
    )
    lines = text.splitlines()
    assert lines[0] == (
        "['a', 'b', 'c', 'd', 'e', 'f'] ['alpha', 'beta', 'gamma', None, None, 'zeta']"
    )
    assert lines[1] == "['d', 'e'] ['d', 'e']"
    assert "stream" in lines[2] or "error" in lines[2].lower()
    assert lines[3].startswith("HTTP 400")
    # six rows, two of them retried once: eight requests, each a ledger row of its own
    assert len(router.requests) == 8
    assert [r.body["messages"][-1]["content"] for r in router.requests].count(rows["b"]) == 2


def test_the_kernel_interrupt_keeps_finished_rows_and_a_rerun_sends_only_the_rest(router, tmp_path):
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        run_quietly(
            client,
            "%load_ext orjupyter\nitems = " + staggered(40),
        )
        cell = "%%gpt4o --map items -o out --concurrency 4\n{item}"
        msg_id = client.execute(cell)
        wait_until_answered(router, 3)
        manager.interrupt_kernel()  # the toolbar's ■
        assert wait_for_reply(client, msg_id)["content"]["status"] == "ok"
        text = printed(
            client,
            "answered = [i for i, v in enumerate(out) if v is not None]\n"
            "own = all(out[i] == f'answer to row {i}' for i in answered)\n"
            "print(len(out), len(answered), own)\n"
            "print(sorted(set(out_errors.values())))",
        )
        total, answered, in_place = text.splitlines()[0].split()
        assert (total, in_place) == ("40", "True")  # every answer in its own row
        assert 0 < int(answered) < 36
        assert "stopped before the answer was complete" in text
        assert "not sent" in text
        time.sleep(0.3)
        # the server saw the answered rows and at most the four in flight, which were closed
        sent = len(router.requests)
        assert int(answered) < sent <= int(answered) + 4
        assert any(e["event"] == "client_disconnected" for e in router.events)
        # every spent cent is in the ledger: the answered rows and each stopped one the server
        # saw (a row stopped while its request was still being sent is there too, at $0)
        outcomes = ledger_outcomes(tmp_path)
        assert set(outcomes) == {"ok", "stopped"}
        assert outcomes["ok"] == int(answered)
        assert sent - int(answered) <= outcomes["stopped"] <= 4
        # a re-run answers the finished rows from the cache and sends only the rest
        run_quietly(client, cell)
        assert len(router.requests) - sent == 40 - int(answered)
        assert printed(client, "print(sum(v is not None for v in out), out_errors)") == "40 {}\n"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def find_button(client, description: str, deadline: float) -> str:
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=5)
        if msg["msg_type"] != "comm_open":
            continue
        state = msg["content"]["data"].get("state", {})
        if state.get("_model_name") == "ButtonModel" and state.get("description") == description:
            return str(msg["content"]["comm_id"])
    raise AssertionError(f"no {description} button appeared")


def test_the_panels_stop_button_ends_the_run(router, kernel):
    run_quietly(
        kernel,
        "%load_ext orjupyter\nitems = " + staggered(30),
    )
    msg_id = kernel.execute("%%gpt4o --map items -o out --concurrency 3\n{item}")
    comm_id = find_button(kernel, "Stop", time.monotonic() + 30)
    wait_until_answered(router, 3)
    click(kernel, comm_id)
    assert wait_for_reply(kernel, msg_id)["content"]["status"] == "ok"
    answered = int(printed(kernel, "print(sum(v is not None for v in out))"))
    assert 0 < answered < 30
    assert len(router.requests) < 30


def test_schema_rows_become_a_dataframe_with_one_column_per_field(router, kernel):
    good = [{"kind": "bug", "score": 3}, {"kind": "question", "score": 1}]
    texts = [f"[[fake reply_b64={b64(good[0])}]]", "[[fake reply=not_json]]"]
    texts.append(f"[[fake reply_b64={b64(good[1])}]]")
    run_quietly(
        kernel,
        "%load_ext orjupyter\nimport pandas as pd\nfrom dataclasses import dataclass\n"
        "@dataclass\nclass Label:\n    kind: str\n    score: int\n"
        f"s = pd.Series({texts!r}, index=[10, 20, 30])",
    )
    run_quietly(kernel, "%%gpt4o --map s --schema Label --retries 0 -o labels\nLabel this: {item}")
    text = printed(
        kernel,
        "print(list(labels.columns), labels.index.tolist())\n"
        "print(labels['kind'].tolist(), labels['score'].tolist())\n"
        "print(labels_errors[20][:39])",
    )
    assert text.splitlines() == [
        "['kind', 'score'] [10, 20, 30]",
        "['bug', nan, 'question'] [3.0, nan, 1.0]",
        "the answer is not valid JSON (Expecting",
    ]
    body = router.requests[0].body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["kind", "score"]
    assert body["provider"] == {"require_parameters": True}


# --- in a plain shell (the text line) ------------------------------------------------


def run(shell, source: str):
    return shell.run_cell(source, store_history=True)


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("%%gpt4o --map tikets\n{item}", "--map tikets: no such variable"),
        ("%%gpt4o --map 7\n{item}", "--map 7: a int is not rows to map over"),
        ("%%gpt4o --map number\n{item}", "--map number: a int is not rows to map over"),
        ("%%gpt4o --map nothing\n{item}", "--map nothing is empty"),
        ("%%gpt4o --map frame\n{titel}", "frame has no column 'titel' (columns: title, n)"),
        ("%%gpt4o --map frame --concurrency 0\n{title}", "'0' is not a number of requests"),
        ("%%gpt4o --map frame --bg\n{title}", "--map runs in its cell"),
        ("%%gpt4o --map frame --thread t\n{title}", "drop --thread"),
        ("%%gpt4o --map frame --context 2\n{title}", "drop --context"),
        ("%%gpt4o --map frame --schema number\n{title}", "--schema number: a int is not"),
        ("%%gpt4o --concurrency 4\nhello", "--concurrency works with --map SOURCE"),
        ("%%gpt4o --map frame --budget nothing\n{title}", "is not an amount of dollars"),
        ("%%gpt4o --map frame -m no/such-model\n{title}", "'no/such-model' is not a valid model"),
    ],
)
def test_bad_input_is_one_line_and_sends_nothing(shell, router, capsys, cell, says):
    import pandas as pd

    shell.user_ns.update(number=5, nothing=[], frame=pd.DataFrame({"title": ["a"], "n": [1]}))
    assert not run(shell, cell).success
    err = capsys.readouterr().err
    assert says in err
    assert "Traceback" not in err
    assert router.requests == []  # no chat request: nothing was sent


def test_dry_run_shows_the_first_row_and_the_whole_runs_estimate(shell, router, capsys):
    shell.user_ns["cities"] = ["Lyon", "Oslo", "Lima"]
    assert run(shell, "%%gpt4o --map cities --dry-run\nDescribe {item}.").success
    out = capsys.readouterr().out
    assert '"Describe Lyon."' in out
    assert "The whole run: 3 rows, about $" in out
    assert router.requests == []


def test_the_budget_cap_stops_sending_and_says_what_was_left(shell, router, capsys):
    shell.user_ns["items"] = {f"k{i}": f"row {i} [[fake words=40]]" for i in range(12)}
    # each row's worst case is its prompt and 60 answer tokens: about $0.0006
    assert run(shell, "%%gpt4o --map items -o out --budget 0.002 --max-tokens 60\n{item}").success
    out = capsys.readouterr().out
    answers, errors = shell.user_ns["out"], shell.user_ns["out_errors"]
    assert list(answers) == [f"k{i}" for i in range(12)]
    sent = len(router.requests)
    assert 1 <= sent < 12
    assert sum(value is not None for value in answers.values()) == sent
    assert sum(Decimal(str(bill["cost"])) for bill in router.billed()) <= Decimal("0.002")
    unsent = 12 - sent
    assert f"--budget $0.002 reached: {unsent} rows not sent (about $" in out
    assert list(errors.values()) == ["not sent"] * unsent
    # under a cap too small for any new row, the answered rows still come from the cache
    cell = "%%gpt4o --map items -o again --budget 0.0000001 --max-tokens 60\n{item}"
    assert run(shell, cell).success
    assert len(router.requests) == sent
    assert shell.user_ns["again"] == answers
    assert f"{sent} from the cache" in capsys.readouterr().out


def test_the_notebook_budget_still_applies_to_every_row(shell, router, capsys):
    shell.run_line_magic("gpt4o", "budget 0.01")
    shell.user_ns["items"] = ["a", "b", "c"]
    assert run(shell, "%%gpt4o --map items -o out\nSay {item}").success
    out = capsys.readouterr().out
    assert "0 answered" in out
    assert "3 not sent" in out
    assert "refused (nothing was sent): $0.00 spent of the $0.01 budget" in out
    assert shell.user_ns["out"] == [None, None, None]
    assert router.requests == []


def test_a_list_answers_as_a_list_and_json_rows_are_parsed(shell, router):
    shell.user_ns["items"] = [f"[[fake reply_b64={b64({'n': i})}]]" for i in range(5)]
    assert run(shell, "%%gpt4o --map items -f json -o out --concurrency 2\n{item}").success
    assert shell.user_ns["out"] == [{"n": i} for i in range(5)]
    assert shell.user_ns["out_errors"] == {}


def test_the_usage_dashboard_shows_a_run_as_one_group(shell, router, capsys, tmp_path):
    shell.user_ns["items"] = [f"row {i}" for i in range(5)]
    assert run(shell, "%%gpt4o --map items -o out --concurrency 2\nSay {item}").success
    assert run(shell, "%%gpt4o\nSay hello").success
    capsys.readouterr()
    shell.run_line_magic("gpt4o", "usage")
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "--map items" in line)
    assert "5 rows · 5 answered · 0 failed" in row
    assert "--map" not in out.replace(row, "")
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        runs = db.execute("SELECT run, count(*) FROM calls GROUP BY run ORDER BY run").fetchall()
    assert runs[0] == (None, 1)
    assert runs[1][0].startswith("--map items ")
    assert runs[1][1] == 5


def test_a_resumed_run_is_one_line_and_its_answers_from_the_cache_are_no_calls(
    shell, router, capsys
):
    import orjupyter

    shell.user_ns["items"] = [f"row {i}" for i in range(6)]
    assert run(shell, "%%gpt4o --map items -o out --concurrency 3\nSay {item}").success
    shell.user_ns["items"].append("row 6")  # one more row: the rest come from the cache
    assert run(shell, "%%gpt4o --map items -o out --concurrency 3\nSay {item}").success
    capsys.readouterr()
    totals = orjupyter.usage()
    assert (totals.calls, totals.from_cache) == (7, 6)
    assert totals.cost == sum(Decimal(str(bill["cost"])) for bill in router.billed())
    shell.run_line_magic("gpt4o", "usage")
    out = capsys.readouterr().out
    assert "7 calls · 6 answers from the cache ·" in out
    rerun = [line for line in out.splitlines() if "--map items" in line][-1]
    assert "7 rows · 7 answered · 6 from the cache · 0 failed" in rerun
    assert "Calls and runs" in out


def test_a_row_stopped_before_its_request_left_is_no_call(shell, router, capsys, tmp_path):
    """A row whose call is stopped as it starts, before its request leaves (what the run's
    Stop does to each row it reaches after the click), was never sent: the usage view
    counts the calls the server saw, and the row is one to send again."""
    import orjupyter

    magics = shell.magics_manager.registry["OrJupyterMagics"]
    started = []

    def stop_the_third_row(event) -> None:
        if event.kind == "started" and event.call is not None:
            started.append(event.call)
            if len(started) == 3:
                event.call.stopper.stop()

    stop_listening = magics.session.activity.listen(stop_the_third_row)
    try:
        shell.user_ns["items"] = [f"row {i}" for i in range(5)]
        assert run(shell, "%%gpt4o --map items -o out --concurrency 1\nSay {item}").success
    finally:
        stop_listening()
    summary = capsys.readouterr().out
    assert len(router.requests) == 4
    assert shell.user_ns["out"][2] is None
    assert "5 rows · 4 answered · 0 failed · 1 not sent" in summary
    assert shell.user_ns["out_errors"] == {2: "not sent"}
    assert orjupyter.usage().calls == 4
    shell.run_line_magic("gpt4o", "usage")
    out = capsys.readouterr().out
    assert "4 calls ·" in out
    row = next(line for line in out.splitlines() if "--map items" in line)
    assert row.endswith("4 rows · 4 answered · 0 failed · 4 calls")
    # the run's re-run sends that row, and only it
    assert run(shell, "%%gpt4o --map items -o out --concurrency 1\nSay {item}").success
    assert len(router.requests) == 5
    assert None not in shell.user_ns["out"]


def test_the_runs_end_names_where_an_answers_text_is_only_when_a_row_kept_one(
    shell, router, capsys
):
    """A row that failed without an answer has no `.text`; an answer that could not be used
    (empty under -f json, off the --schema) keeps its text, and the run's end says where."""
    shell.user_ns["items"] = ["refused [[fake status=400]]", "full"]
    assert run(shell, "%%gpt4o --map items -o out -f json\n{item}").success
    note = capsys.readouterr().out.splitlines()[-1]
    assert note == (
        "1 row without an answer: why is in out_errors; re-running the cell asks it again "
        "(the answered ones come from the cache)"
    )
    assert shell.user_ns["out_errors"][0].text is None

    shell.user_ns["items"] = ["empty [[fake reply=]]", "full"]
    assert run(shell, "%%gpt4o --map items -o out -f json\n{item}").success
    note = capsys.readouterr().out.splitlines()[-1]
    assert note.startswith(  # an empty answer is never cached: a re-run asks again
        "1 row without an answer: why is in out_errors (an answer that could not be used is "
        "its .text: out_errors[0].text); re-running the cell asks it again"
    )
    assert shell.user_ns["out_errors"][0].text == ""

    shell.run_cell("from dataclasses import dataclass\n@dataclass\nclass Label:\n    kind: str")
    try:
        cell = "%%gpt4o --map items -o out --schema Label --retries 0\nLabel {item}"
        assert run(shell, cell).success
    finally:
        for name in ("Label", "dataclass"):
            shell.user_ns.pop(name, None)
    note = capsys.readouterr().out.splitlines()[-1]
    assert note.startswith(
        "1 row without an answer: why is in out_errors (an answer that could not be used is "
        "its .text: out_errors[0].text); re-running the cell asks it again"
    )
    assert shell.user_ns["out_errors"][0].text == ""


def test_a_row_answering_non_json_keeps_its_text_where_its_error_says(shell, router, capsys):
    """-f json: a row whose answer is not JSON has no value, and its error names where the
    model's text is; that is where it is, for a Series (also in `.attrs`) and a list. The
    answer is cached like any other, so a re-run gives it again; --no-cache asks again."""
    import pandas as pd

    good = f"[[fake reply_b64={b64({'n': 1})}]]"
    shell.user_ns["tickets"] = pd.Series([good, "[[fake reply=not_json]]"], index=["a", "b"])
    assert run(shell, "%%gpt4o --map tickets -f json -o out\n{item}").success
    note = capsys.readouterr().out.splitlines()[-1]
    answers, errors = shell.user_ns["out"], shell.user_ns["out_errors"]
    assert answers.tolist() == [{"n": 1}, None]
    assert errors["b"] == (
        "the answer is not valid JSON (Expecting value at line 1); its text is out_errors['b'].text"
    )
    assert shell.ev(errors["b"].split("its text is ")[1]) == "not json"
    assert answers.attrs["errors"]["b"].text == "not json"
    assert note == (
        "1 row without an answer: why is in out_errors (an answer that could not be used is "
        "its .text: out_errors['b'].text); re-running the cell gives it the same answer from "
        "the cache (an answer that could not be read is cached like any other; --no-cache "
        "asks every row again)"
    )
    assert run(shell, "%%gpt4o --map tickets -f json -o out\n{item}").success
    assert len(router.requests) == 2  # both rows from the cache, as the note said
    assert shell.user_ns["out_errors"]["b"].text == "not json"

    shell.user_ns["items"] = ["[[fake reply=oops]]", good]
    assert run(shell, "%%gpt4o --map items -f json -o listed --no-cache\n{item}").success
    note = capsys.readouterr().out.splitlines()[-1]
    assert shell.user_ns["listed"] == [None, {"n": 1}]
    error = shell.user_ns["listed_errors"][0]
    assert error.endswith("; its text is listed_errors[0].text")
    assert shell.ev("listed_errors[0].text") == "oops"
    assert note.endswith(
        "re-running the cell asks it again (the answered ones come from the cache)"
    )


def test_images_travel_per_row_from_pil_images_and_asked_for_file_paths(shell, router, tmp_path):
    import pandas as pd
    from conftest import sent_images
    from PIL import Image

    for name, size in (("a.png", (40, 30)), ("b.jpg", (50, 20))):
        Image.new("RGB", size, "red").save(tmp_path / name)
    shell.user_ns["photos"] = pd.DataFrame(
        {
            "picture": [Image.new("RGB", (64, 48), "blue"), Image.new("RGB", (32, 32), "green")],
            "path": [str(tmp_path / "a.png"), str(tmp_path / "b.jpg")],
        }
    )
    cell = "%%gpt4o --map photos -o out --concurrency 1\n"
    cell += "Compare {picture} with {path:image}; file {path}"
    assert run(shell, cell).success
    assert shell.user_ns["out_errors"] == {}
    sent = [r.body["messages"][-1]["content"] for r in router.requests]
    assert [[size[:2] for size in sent_images(content)] for content in sent] == [
        [(64, 48), (40, 30)],
        [(32, 32), (50, 20)],
    ]
    assert sent[0][-1] == {"type": "text", "text": f"; file {tmp_path / 'a.png'}"}


def test_a_missing_image_file_fails_only_its_row(shell, router, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    Image.new("RGB", (10, 10)).save(tmp_path / "here.png")
    shell.user_ns["paths"] = [str(tmp_path / "gone.png"), str(tmp_path / "here.png")]
    assert run(shell, "%%gpt4o --map paths -o out\nWhat is in {item:image}?").success
    out, errors = shell.user_ns["out"], shell.user_ns["out_errors"]
    assert out[0] is None  # the first row, too, fails alone
    assert out[1] is not None
    assert errors[0].startswith(f"no image file at {tmp_path / 'gone.png'}; check the path")
    assert len(router.requests) == 1


PDF = b"%PDF-1.4\n1 0 obj <</Type /Page>>\ntrailer <</Root 1 0 R>>\n%%EOF\n"


def test_row_text_naming_a_file_stays_text_unless_the_template_asks_for_the_file(
    shell, router, tmp_path
):
    from PIL import Image

    (tmp_path / "secret.pdf").write_bytes(PDF)
    Image.new("RGB", (8, 8), "red").save(tmp_path / "secret.png")
    names = [str(tmp_path / "secret.pdf"), str(tmp_path / "secret.png"), "x.jpg"]
    shell.user_ns["tickets"] = names
    assert run(shell, "%%gpt4o --map tickets -o out\nSummarise: {item}").success
    assert shell.user_ns["out_errors"] == {}
    sent = [r.body["messages"][-1]["content"] for r in router.requests]
    assert sorted(sent) == sorted(f"Summarise: {name}" for name in names)

    router.reset()
    shell.user_ns["tickets"] = names[:2]
    assert run(shell, "%%gpt4o --map tickets --concurrency 1\n{item:file} or").success
    assert len(router.requests) == 1  # the image is no PDF: its row fails alone, unsent
    [part] = [p for p in router.requests[0].body["messages"][-1]["content"] if p["type"] == "file"]
    assert part["file"]["filename"] == "secret.pdf"

    router.reset()
    shell.user_ns["papers"] = {"a": tmp_path / "secret.pdf"}  # a Path is a file
    assert run(shell, "%%gpt4o --map papers\nRead {item}").success
    kinds = [p["type"] for p in router.requests[0].body["messages"][-1]["content"]]
    assert kinds == ["text", "file"]


def test_each_rows_expressions_run_once_in_row_order(shell, router):
    shell.user_ns["seen"] = []
    shell.user_ns["rows"] = ["a", "b", "c"]
    cell = "%%gpt4o --map rows -o out --concurrency 1\nRow {item}: {seen.append(item) or len(seen)}"
    assert run(shell, cell).success
    assert shell.user_ns["seen"] == ["a", "b", "c"]
    sent = [r.body["messages"][-1]["content"] for r in router.requests]
    assert sent == ["Row a: 1", "Row b: 2", "Row c: 3"]
    shell.user_ns["seen"] = []
    assert run(shell, cell.replace("-o out", "--dry-run")).success
    assert shell.user_ns["seen"] == ["a"]


def test_columns_named_like_builtins_or_with_spaces_are_reachable_and_hide_nothing(shell, router):
    import pandas as pd

    shell.user_ns["frame"] = pd.DataFrame(
        {"len": ["L1", "L2"], "str": ["S1", "S2"], "my col": ["a b", "c d"]}
    )
    cell = "%%gpt4o --map frame --concurrency 1\n"
    cell += "{len} {str} {my col} {len(row['my col'])} {str(len(row['str'])).zfill(3)}"
    assert run(shell, cell).success
    sent = [r.body["messages"][-1]["content"] for r in router.requests]
    assert sent == ["L1 S1 a b 3 002", "L2 S2 c d 3 002"]
    assert shell.user_ns["frame"].columns.tolist() == ["len", "str", "my col"]


def test_schema_answers_are_a_frame_mathjax_leaves_alone(shell, router):
    import pandas as pd

    answer = b64({"price": "between $5 and $10"})
    shell.user_ns["items"] = pd.Series([f"[[fake reply_b64={answer}]]"])
    shell.user_ns["Price"] = {"type": "object", "properties": {"price": {"type": "string"}}}
    assert run(shell, "%%gpt4o --map items --schema Price -o out\n{item}").success
    frame = shell.user_ns["out"]
    assert isinstance(frame, pd.DataFrame)
    assert frame["price"].tolist() == ["between $5 and $10"]
    for shown in (frame._repr_html_(), frame.head()._repr_html_()):
        assert shown.startswith('<div class="tex2jax_ignore mathjax_ignore">')


# --- --schema rows asked again, failures kept, re-runs (a plain shell) ------------------


def _map_calls(shell) -> list:
    magics = shell.magics_manager.registry["OrJupyterMagics"]
    return magics.session.records.ledger.calls(magics.notebook().key)


def test_schema_rows_are_asked_again_and_a_re_run_sends_only_the_failed_ones(shell, router, capsys):
    from dataclasses import dataclass

    import pandas as pd

    @dataclass
    class Label:
        kind: str
        score: int

    shell.user_ns["Label"] = Label
    rows = ["a [[fake not_json=1]]", "b [[fake off_schema=9]]", "c", "d [[fake status=400]]"]
    shell.user_ns["tickets"] = pd.Series(rows, index=list("wxyz"))
    cell = "%%gpt4o --map tickets --schema Label -o labels\n{item}"
    assert run(shell, cell).success
    labels, errors = shell.user_ns["labels"], shell.user_ns["labels_errors"]
    assert labels["kind"].tolist()[0::2] == ["sample", "sample"]  # w after a re-ask, y
    assert sorted(errors) == ["x", "z"]
    assert errors["x"].startswith("the answer does not match Label: $: missing 'kind' (2 ")
    assert "its text is labels_errors['x'].text; re-run the cell to ask again" in errors["x"]
    assert json.loads(shell.ev("labels_errors['x'].text")) == {"score": 1}  # as given
    assert errors["z"].startswith("HTTP 400")
    assert errors["z"].text is None
    out = capsys.readouterr().out
    assert "4 rows · 2 answered · 2 failed" in out
    assert "2 rows without an answer: why is in labels_errors" in out
    assert len(router.requests) == 6  # w twice, x twice (--retries 1), y, z
    calls = _map_calls(shell)
    assert len({call.run for call in calls}) == 1  # every attempt of every row: one run
    assert sum(call.usage.cost for call in calls) == sum(
        Decimal(str(usage["cost"])) for usage in router.billed()
    )

    router.reset()
    assert run(shell, cell).success
    sent = [request.body["messages"][1]["content"] for request in router.requests]
    assert sorted(sent) == [
        "b [[fake off_schema=9]]",
        "b [[fake off_schema=9]]",
        "d [[fake status=400]]",
    ]
    out = capsys.readouterr().out
    assert "4 rows · 2 answered · 2 from the cache · 2 failed" in out
    # %gpt4o usage: each run one line, counting rows (not attempts) and billed calls
    magics = shell.magics_manager.registry["OrJupyterMagics"]
    first, again = magics.session.records.ledger.entries(magics.notebook().key).shown[-2:]
    counted = ("rows", "answered", "from_cache", "failed", "calls")
    assert [getattr(first, name) for name in counted] == [4, 2, 0, 2, 6]
    assert [getattr(again, name) for name in counted] == [4, 2, 2, 2, 3]
    from orjupyter.render.dashboard import _entry_row

    assert "4 rows · 2 answered · 2 from the cache · 2 failed · 3 calls" in _entry_row(again)


def test_retries_zero_sends_each_row_once(shell, router):
    shell.user_ns["Label"] = {"type": "object", "properties": {"kind": {"type": "string"}}}
    shell.user_ns["items"] = ["a [[fake not_json=1]]", "b"]
    assert run(shell, "%%gpt4o --map items --schema Label --retries 0 -o out\n{item}").success
    assert len(router.requests) == 2
    assert shell.user_ns["out"][1] == {"kind": "sample"}
    assert shell.user_ns["out_errors"][0].startswith("the answer is not valid JSON")


def test_a_column_that_shadows_a_variable_the_template_uses_is_said_once(shell, router, capsys):
    import pandas as pd

    shell.user_ns.update(title="the notebook's title", n=3)
    shell.user_ns["frame"] = pd.DataFrame({"title": ["a", "b"], "body": ["x", "y"]})
    assert run(shell, "%%gpt4o --map frame --dry-run\n{title} {n}").success
    said = "{title}: frame's column, not the notebook variable of the same name"
    assert capsys.readouterr().out.count(said) == 1
    assert run(shell, "%%gpt4o --map frame\n{title} {n}").success
    assert capsys.readouterr().out.count(said) == 1
    assert run(shell, "%%gpt4o --map frame\n{body} {n}").success  # no column shadows n
    assert "column, not the notebook variable" not in capsys.readouterr().out
