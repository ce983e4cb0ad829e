"""`srllm scan FILE|-` in-process with a scripted engine: the table, --json equal to the HTTP
answer, --flagged, standard input, and a user's mistakes as one line."""

import io
import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from srllm import cli, contract
from srllm.server.app import create_app
from srllm.server.settings import ServerSettings
from tests.standin import ScriptedEngine

OLD = "Old people 👴🏻 are slow with technology."
FAIR = "The meeting starts at noon."
NEAR = "The plan seems rushed."  # under the threshold, no text rule: review
TEXT = f"{FAIR} {OLD}\n\n{NEAR}\n"


def make_engine(*_args) -> ScriptedEngine:
    p = {OLD: 0.9, NEAR: 0.4}
    return ScriptedEngine(
        flags={t: contract.Flag(contract.Label.SLIGHTLY_BIASED, p_biased=v) for t, v in p.items()}
    )


@pytest.fixture
def standin(monkeypatch):
    """The CLI's engine is the scripted one; no model is built or resolved."""
    import srllm.server.engine

    monkeypatch.setattr(srllm.server.engine, "Engine", make_engine)
    monkeypatch.setattr(cli, "ensure_finetuned_default", lambda: None)
    monkeypatch.setattr(cli.paths, "resolve_model", lambda model: Path("stand-in.gguf"))


def test_the_table_lists_every_sentence_with_its_score_and_label(standin, tmp_path, capsys):
    doc = tmp_path / "doc.txt"
    doc.write_text(TEXT, encoding="utf-8")
    assert cli.main(["scan", str(doc)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "chars", "score", "label", "sentence"]
    assert lines[1].split() == ["1", "0-27", "0.100", "neutral", *FAIR.split()]
    assert lines[2].split() == ["2", "28-67", "0.900", "biased", *OLD.split()]
    assert lines[3].split() == ["3", "69-91", "0.400", "review", *NEAR.split()]
    assert lines[-1] == (
        "3 sentences: 1 biased, 1 review, 1 neutral (biased at score >= 0.5 or by a text "
        "rule, review >= 0.35; model stand-in)"
    )


def test_json_is_what_the_route_answers_and_dash_reads_standard_input(standin, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(TEXT))
    assert cli.main(["scan", "-", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    app = create_app(
        ServerSettings(), "t" * 32, model_path=Path("stand-in.gguf"), engine_factory=make_engine
    )
    headers = {"Authorization": "Bearer " + "t" * 32}
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=headers) as client:
        assert client.post("/v1/scan", json={"text": TEXT}).json() == printed


def test_flagged_lists_only_biased_and_review(standin, tmp_path, capsys):
    doc = tmp_path / "doc.txt"
    doc.write_text(TEXT, encoding="utf-8")
    assert cli.main(["scan", str(doc), "--flagged"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:-2]
    assert [row.split()[3] for row in rows] == ["biased", "review"]


def test_a_long_sentence_is_shortened_on_one_line(standin, tmp_path, capsys):
    doc = tmp_path / "doc.txt"
    doc.write_text("word\tword " * 40 + "end.", encoding="utf-8")
    assert cli.main(["scan", str(doc)]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    sentence = row.split("neutral  ", 1)[1]
    assert len(sentence) == 72 and sentence.endswith("…") and "\t" not in row


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "file not found: "),
        (lambda d: d.write_bytes(b"\xff\xfe\x00bad"), "cannot read "),
        (lambda d: d.write_text("  \n\n", encoding="utf-8"), "nothing to scan in "),
    ],
)
def test_a_users_mistake_is_one_line_and_exit_1(standin, tmp_path, capsys, setup, message):
    doc = tmp_path / "doc.txt"
    setup(doc)
    assert cli.main(["scan", str(doc)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"srllm: error: {message}") and err.count("\n") == 1


def test_over_the_scan_limit_is_refused_before_the_model_loads(
    standin, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SRLLM_MAX_SCAN_CHARS", "10")
    doc = tmp_path / "doc.txt"
    doc.write_text(TEXT, encoding="utf-8")
    assert cli.main(["scan", str(doc)]) == 1
    assert "the scan limit is 10" in capsys.readouterr().err
