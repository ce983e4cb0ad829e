"""srllm batch against the real app (guards, routes, serialisation) on the scripted stand-in
engine, served on a loopback socket: input formats, ids, per-row errors, resume, workers,
the summary and the command line's one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from srllm import batch, cli
from srllm.server.app import create_app
from srllm.server.launch import free_port
from srllm.server.settings import ServerSettings
from tests.live import serve_app
from tests.standin import STANDIN_TOKEN, ScriptedEngine, biased

OLD = "My uncle is slow with technology."
WOMEN = "Women are too emotional to lead."
FAIR = "The meeting starts at noon."
LONG = "word " * 40  # over the test server's 100-character limit: 413


def make_engine(delay: float = 0.0) -> ScriptedEngine:
    return ScriptedEngine(
        flags={OLD: biased(["slow"], ["age"]), WOMEN: biased(["emotional"], ["gender"], True)},
        rewrites={OLD: "Some older people take longer with new technology."},
        delay=delay,
    )


@pytest.fixture
def engine():
    return make_engine()


@pytest.fixture
def url(engine):
    settings = ServerSettings(max_text_chars=100, cache_size=0)
    app = create_app(
        settings, STANDIN_TOKEN, Path("stand-in.gguf"), engine_factory=lambda _: engine
    )
    with serve_app(app) as base:
        yield base


def client(url: str) -> batch.Client:
    return batch.Client(url, STANDIN_TOKEN, timeout=30)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_id(records: list[dict]) -> dict:
    return {json.dumps(r["id"]): r for r in records}


CORPUS = [
    {"doc": "a", "body": OLD},
    {"doc": "b", "body": FAIR},
    {"doc": "c", "body": WOMEN},
    {"doc": "d", "body": LONG},
    {"doc": "e", "body": "   "},
]


def test_jsonl_flag_rows_carry_id_text_and_the_routes_answer(tmp_path, url, engine):
    src = write_jsonl(tmp_path / "in.jsonl", CORPUS)
    out = tmp_path / "out.jsonl"
    rows = batch.read_rows(src, "body", "doc")
    outcome = batch.run_batch(rows, out, client(url), "flag", workers=2)
    got = by_id(lines(out))
    assert sorted(got) == ['"a"', '"b"', '"c"', '"d"', '"e"']
    a = got['"a"']
    assert a["text"] == OLD and a["task"] == "flag"
    assert a["result"]["label"] == "slightly_biased" and a["result"]["categories"] == ["age"]
    assert a["result"]["spans"][0]["text"] == "slow"
    assert got['"b"']["result"]["label"] == "neutral"
    assert got['"c"']["result"]["label"] == "highly_biased"
    # The server refused two rows; the run went on and recorded its code and status.
    assert got['"d"']["error"]["code"] == "text_too_long" and got['"d"']["error"]["status"] == 413
    assert got['"d"']["error"]["limit"] == 100
    assert got['"e"']["error"]["code"] == "invalid_request"
    assert got['"e"']["error"]["status"] == 422
    assert outcome.processed == 5 and outcome.skipped == 0 and outcome.left == 0
    # Only the three texts within limits reached the model.
    assert sorted(c[1] for c in engine.calls if c[0] == "flag") == sorted([OLD, FAIR, WOMEN])


def test_csv_debias_without_an_id_column_numbers_the_rows(tmp_path, url):
    src = write_csv(tmp_path / "in.csv", ["text", "note"], [[FAIR, "x"], [OLD, "y"]])
    out = tmp_path / "out.jsonl"
    outcome = batch.run_batch(batch.read_rows(src), out, client(url), "debias", workers=1)
    got = by_id(lines(out))
    assert set(got) == {"1", "2"}
    assert got["1"]["result"]["rewrite"] is None and got["1"]["result"]["flag"]["biased"] is False
    assert got["2"]["result"]["rewrite"] == "Some older people take longer with new technology."
    summary = outcome.summary()
    assert summary["labels"] == {"neutral": 1, "slightly_biased": 1}
    assert summary["categories"] == {"age": 1} and summary["changed"] == 1
    assert summary["still_biased"] == 0


def test_the_summary_counts_rewrites_still_flagged():
    rows = [
        {"id": 1, "task": "debias", "text": OLD, "result": {"changed": True, "still_biased": True}},
        {
            "id": 2,
            "task": "debias",
            "text": OLD,
            "result": {"changed": True, "still_biased": False},
        },
        {"id": 3, "task": "debias", "text": FAIR, "result": {"changed": False, "rewrite": None}},
    ]
    summary = batch.summarise(rows, "debias")
    assert summary["changed"] == 2 and summary["still_biased"] == 1
    summary.update(rows=3, processed=3, skipped=0, left=0, seconds=1.0)
    text = batch.format_summary(summary, Path("o.jsonl"))
    assert "rewritten: 2 (1 still flagged" in text


def test_rewrite_task_counts_rewritten_rows(tmp_path, url):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": OLD}, {"text": FAIR}])
    out = tmp_path / "out.jsonl"
    outcome = batch.run_batch(batch.read_rows(src), out, client(url), "rewrite")
    summary = outcome.summary()
    assert summary["changed"] == 1 and "labels" not in summary
    assert {r["result"]["changed"] for r in lines(out)} == {True, False}


def test_resume_after_a_crash_skips_the_rows_already_written(tmp_path, url, engine):
    src = write_jsonl(
        tmp_path / "in.jsonl", CORPUS[:3] + [{"doc": "f", "body": "The bus leaves at ten."}]
    )
    rows = batch.read_rows(src, "body", "doc")
    full = tmp_path / "full.jsonl"
    batch.run_batch(rows, full, client(url), "flag", workers=1)
    # A crash after two rows, in the middle of writing the third line.
    out = tmp_path / "out.jsonl"
    text = full.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text(text[0] + text[1] + text[2][:25], encoding="utf-8")
    done_ids = {json.dumps(r["id"]) for r in map(json.loads, text[:2])}
    engine.calls.clear()
    outcome = batch.run_batch(rows, out, client(url), "flag", workers=2)
    assert outcome.skipped == 2 and outcome.processed == 2
    flagged = sorted(c[1] for c in engine.calls if c[0] == "flag")
    assert flagged == sorted(r["text"] for r in map(json.loads, text[2:]))  # only the rest
    assert not {json.dumps(r["id"]) for r in lines(out)[2:]} & done_ids
    # Every line is whole JSON, one per id, and the answers are those of the uninterrupted run.
    assert len(lines(out)) == 4
    assert by_id(lines(out)) == by_id(lines(full))
    # A third run finds nothing to do.
    engine.calls.clear()
    again = batch.run_batch(rows, out, client(url), "flag")
    assert again.processed == 0 and again.skipped == 4 and engine.calls == []


def test_an_interrupted_run_keeps_every_finished_row_and_resumes(tmp_path, url):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": f"{FAIR} Number {i}."} for i in range(8)])
    rows = batch.read_rows(src)
    out = tmp_path / "out.jsonl"
    seen: list[dict] = []

    def crash_after_three(record: dict) -> None:
        seen.append(record)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        batch.run_batch(rows, out, client(url), "flag", workers=2, on_row=crash_after_three)
    assert len(lines(out)) == 3  # flushed as each came back; nothing half-written
    outcome = batch.run_batch(rows, out, client(url), "flag", workers=2)
    assert outcome.skipped == 3 and outcome.processed == 5
    assert sorted(r["id"] for r in lines(out)) == list(range(1, 9))


def test_workers_give_the_same_rows_as_one_worker(tmp_path):
    corpus = [{"id": f"r{i}", "text": t} for i, t in enumerate([OLD, FAIR, WOMEN, LONG] * 3)]
    corpus[5]["text"] = ""
    src = write_jsonl(tmp_path / "in.jsonl", corpus)
    rows = batch.read_rows(src, id_column="id")
    results = {}
    for workers in (1, 4):
        engine = make_engine(delay=0.01)
        settings = ServerSettings(max_text_chars=100, cache_size=0)
        app = create_app(
            settings, STANDIN_TOKEN, Path("x.gguf"), engine_factory=lambda _, e=engine: e
        )
        out = tmp_path / f"out-{workers}.jsonl"
        with serve_app(app) as base:
            batch.run_batch(rows, out, client(base), "debias", workers=workers)
        results[workers] = by_id(lines(out))
        assert len(lines(out)) == len(corpus)
    assert results[1] == results[4]
    assert results[4]['"r5"']["error"]["code"] == "invalid_request"


def test_summary_counts_labels_categories_and_errors(tmp_path, url):
    src = write_jsonl(tmp_path / "in.jsonl", CORPUS)
    outcome = batch.run_batch(
        batch.read_rows(src, "body", "doc"), tmp_path / "o.jsonl", client(url), "flag"
    )
    summary = outcome.summary()
    assert summary["labels"] == {"slightly_biased": 1, "neutral": 1, "highly_biased": 1}
    assert summary["categories"] == {"age": 1, "gender": 1}
    assert summary["errors"] == {"text_too_long": 1, "invalid_request": 1}
    assert summary["ok"] == 3 and summary["rows"] == 5
    text = batch.format_summary(summary, Path("o.jsonl"))
    assert "labels: " in text and "highly_biased 1" in text and "text_too_long 1" in text


def test_the_command_line_runs_resumes_and_prints_the_summary(tmp_path, url, capsys):
    src = write_csv(tmp_path / "in.csv", ["id", "text"], [[7, OLD], [8, FAIR], [9, LONG]])
    out = tmp_path / "out.jsonl"
    summary_path = tmp_path / "summary.json"
    argv = ["batch", str(src), "--out", str(out), "--id-column", "id", "--url", url]
    argv += ["--token", STANDIN_TOKEN, "--workers", "2", "--summary-json", str(summary_path)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr()
    assert "3 rows: 3 done now" in printed.out and "text_too_long 1" in printed.out
    assert "slightly_biased 1" in printed.out and "age 1" in printed.out
    assert "rows/s" in printed.err and "3/3 rows" in printed.err
    assert json.loads(summary_path.read_text())["labels"] == {"slightly_biased": 1, "neutral": 1}
    assert sorted(r["id"] for r in lines(out)) == ["7", "8", "9"]  # CSV ids are strings
    assert cli.main(argv) == 0
    assert "0 done now" in capsys.readouterr().out and len(lines(out)) == 3


def test_the_token_comes_from_srllm_token_env(tmp_path, url, monkeypatch, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": FAIR}])
    monkeypatch.setenv("SRLLM_TOKEN", STANDIN_TOKEN)
    assert cli.main(["batch", str(src), "--out", str(tmp_path / "o.jsonl"), "--url", url]) == 0
    capsys.readouterr()


# -- one-line errors, before any row ---------------------------------------------------------


def one_line_error(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srllm: error: ")
    return err[0]


def test_a_missing_column_names_the_columns_there(tmp_path, capsys):
    src = write_csv(tmp_path / "in.csv", ["body", "id"], [[OLD, 1]])
    err = one_line_error(capsys, ["batch", str(src), "--out", str(tmp_path / "o.jsonl")])
    assert "no column 'text'" in err and "body, id" in err
    err = one_line_error(
        capsys, ["batch", str(src), "--out", "o.jsonl", "--column", "body", "--id-column", "doc"]
    )
    assert "no column 'doc' (--id-column)" in err


def test_unreadable_or_malformed_input_is_one_line(tmp_path, capsys):
    out = str(tmp_path / "o.jsonl")
    assert "not found" in one_line_error(capsys, ["batch", str(tmp_path / "no.csv"), "--out", out])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    assert "line 2: not valid JSON" in one_line_error(capsys, ["batch", str(bad), "--out", out])
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"text\ncaf\xe9\n")
    assert "UTF-8" in one_line_error(capsys, ["batch", str(latin), "--out", out])
    dup = write_jsonl(tmp_path / "dup.jsonl", [{"i": 1, "text": "a"}, {"i": 1, "text": "b"}])
    err = one_line_error(capsys, ["batch", str(dup), "--out", out, "--id-column", "i"])
    assert "appears twice" in err
    odd = tmp_path / "in.txt"
    odd.write_text("x", encoding="utf-8")
    assert "--format" in one_line_error(capsys, ["batch", str(odd), "--out", out])


def test_an_unreachable_server_fails_before_any_row(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": FAIR}])
    out = tmp_path / "o.jsonl"
    url = f"http://127.0.0.1:{free_port()}"
    err = one_line_error(
        capsys, ["batch", str(src), "--out", str(out), "--url", url, "--token", "x"]
    )
    assert "cannot reach" in err and url in err
    assert not out.exists()


def test_a_wrong_token_or_none_fails_before_any_row(tmp_path, url, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": FAIR}])
    out = tmp_path / "o.jsonl"
    argv = ["batch", str(src), "--out", str(out), "--url", url]
    assert "refused the token" in one_line_error(capsys, [*argv, "--token", "wrong-token-0123456"])
    assert "no token" in one_line_error(capsys, argv)
    assert not out.exists()


def test_a_foreign_output_file_is_refused(tmp_path, url, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": FAIR}])
    out = write_jsonl(tmp_path / "o.jsonl", [{"id": 1, "task": "debias", "text": FAIR}])
    argv = ["batch", str(src), "--out", str(out), "--url", url, "--token", STANDIN_TOKEN]
    assert "holds debias rows" in one_line_error(capsys, argv)


def test_a_server_that_stops_answering_ends_the_run_resumably(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "RETRY_BACKOFF_S", 0.0)
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": f"Row {i}."} for i in range(6)])
    dead = batch.Client(f"http://127.0.0.1:{free_port()}", STANDIN_TOKEN, timeout=5)
    out = tmp_path / "o.jsonl"
    with pytest.raises(batch.SrllmError) as caught:
        batch.run_batch(batch.read_rows(src), out, dead, "flag", workers=1)
    assert caught.value.code == batch.Code.UPSTREAM_UNAVAILABLE
    assert "run again to resume" in caught.value.message
    assert out.read_text() == ""  # nothing recorded for rows the server never saw


def test_the_bench_row_measures_both_worker_counts_on_the_same_rows(url):
    from srllm.server import bench_batch

    row = bench_batch.batch_row(url, STANDIN_TOKEN, [OLD, FAIR, WOMEN, LONG], "flag")
    assert row["rows"] == 4 and row["model"] == "stand-in"
    for workers in bench_batch.WORKERS:
        assert row[f"workers_{workers}"]["errors"] == 1  # LONG: 413, recorded like any row
        assert row[f"workers_{workers}"]["rows_per_s"] > 0
    assert row["ratio"] == row["workers_4"]["rows_per_s"] / row["workers_1"]["rows_per_s"]
    assert "ratio 4 / 1 workers" in "\n".join(bench_batch.table(row))


def test_a_jsonl_row_without_the_column_is_recorded_not_sent(tmp_path, url, engine):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": OLD}, {"body": FAIR}, {"text": None}])
    out = tmp_path / "o.jsonl"
    batch.run_batch(batch.read_rows(src), out, client(url), "flag", workers=1)
    got = by_id(lines(out))
    assert got["2"]["error"]["code"] == "bad_input" and got["2"]["text"] is None
    assert got["3"]["error"] == {
        "code": "invalid_request",
        "message": "field 'text' is required",
        "status": 422,
    }
    assert [c[1] for c in engine.calls if c[0] == "flag"] == [OLD]
