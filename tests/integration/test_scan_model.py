"""The scan on the real embedded model: the batched scores are the one-sequence scores (the same
numbers /v1/flag's p_biased comes from), the route and the CLI answer them, streamed and not.
Shapes, offsets and errors are tested with a scripted engine in tests/unit/test_scan*.py."""

import json
import os
import subprocess
import sys
import threading

import pytest

from srllm import contract
from srllm.errors import Code, SrllmError
from srllm.paths import data_root

SENTENCES = [
    "Old people are useless with computers.",
    "The meeting starts at noon.",
    "Women are too emotional to lead a company, everyone knows that.",
    "Ça va très bien, merci 🙂!",
    "He is a nurse.",
    "Immigrants from that country are all criminals and should be sent back immediately.",
    "The committee approved the budget for the new library after a long debate about costs.",
    "Fat people are lazy.",
    "The weather is nice today.",
    "Girls are bad at math.",
    "Old people are useless with computers.",  # a repeat
]
# Longer than one KV stream of the batch holds (~230 tokens after the prompt): read in the
# main context instead, with the same numbers.
LONG = "The council met again " + "and again " * 120 + "to discuss the plan."


@pytest.fixture(scope="module")
def engine(model_path):
    from srllm.server.engine import Engine, EngineConfig

    engine = Engine(EngineConfig(model_path=model_path))
    yield engine
    engine.close()


def test_batched_scores_are_the_one_sequence_scores(engine):
    texts = SENTENCES + [LONG]
    batched = engine.label_probabilities_many(texts)
    one_by_one = [engine.label_probabilities(t) for t in texts]
    for text, b, s in zip(texts, batched, one_by_one, strict=True):
        for label in contract.Label:
            assert b[label] == pytest.approx(s[label], abs=1e-6), text
    assert batched[0] == batched[-2]  # the repeat, in another batch position
    spread = [1 - b[contract.Label.NEUTRAL] for b in batched]
    assert max(spread) - min(spread) > 0.1  # real scores, not a constant


def test_the_same_text_scored_again_gets_the_same_probability(engine):
    """Scored again right after itself (its whole prompt cached), after another text and after
    a rewrite's prompt: the same numbers every time, so a cached and an uncached flag agree."""
    text = "Fat people are lazy and never exercise."
    first = engine.label_probabilities(text)
    again = engine.label_probabilities(text)
    engine.label_probabilities("The weather is nice today.")
    after_other = engine.label_probabilities(text)
    list(engine.stream_rewrite("Girls are bad at math.", None))
    after_rewrite = engine.label_probabilities(text)
    for label in contract.Label:
        assert again[label] == first[label]
        assert after_other[label] == first[label]
        assert after_rewrite[label] == pytest.approx(first[label], abs=1e-6)


def test_batched_scoring_stops_when_cancelled(engine):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(SrllmError) as error:
        engine.label_probabilities_many(["A fresh sentence nobody scored yet."], cancel)
    assert error.value.code is Code.CANCELLED


def test_the_scan_route_scores_as_the_flag_does(client):
    text = " ".join(SENTENCES[:5])
    body = client.post("/v1/scan", json={"text": text}).json()
    assert [text[s["start"] : s["end"]] for s in body["sentences"]] == SENTENCES[:5]
    threshold = client.get("/health").json()["model"]["flag_threshold"]
    assert body["thresholds"]["biased"] == round(threshold, 4)
    for sentence, s in zip(SENTENCES[:5], body["sentences"], strict=True):
        flag = client.post("/v1/flag", json={"text": sentence}).json()
        assert s["score"] == pytest.approx(flag["p_biased"], abs=1e-4), sentence
        # Biased at the threshold, or where the card's text rules flag it: as the card does.
        assert (s["label"] == "biased") == flag["biased"], sentence
        assert s["score"] < threshold or s["label"] == "biased"
    again = client.post("/v1/scan", json={"text": text}).json()
    assert again["scored"] == 0 and again["sentences"] == body["sentences"]


def test_the_scan_streams_each_sentence_in_order(client):
    from tests.integration.test_server_api import read_sse

    segments = [{"id": "a", "text": " ".join(SENTENCES[5:8])}, {"id": 2, "text": SENTENCES[8]}]
    body = {"segments": segments, "stream": True}
    with client.stream("POST", "/v1/scan", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = read_sse(r)
    names = [n for n, _ in events]
    assert names == ["start"] + ["sentence"] * 4 + ["done"]
    sentences = [d for n, d in events if n == "sentence"]
    assert [(s["index"], s["id"]) for s in sentences] == [(0, "a"), (1, "a"), (2, "a"), (3, 2)]
    assert sentences == events[-1][1]["sentences"]
    assert all(0.0 <= s["score"] <= 1.0 for s in sentences)


def test_the_cli_prints_the_routes_json(client, model_path, tmp_path):
    text = " ".join(SENTENCES[:3])
    doc = tmp_path / "doc.txt"
    doc.write_text(text, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "srllm", "scan", str(doc), "--json", "--model", str(model_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    served = client.post("/v1/scan", json={"text": text}).json()
    assert printed["sentences"] == served["sentences"] and printed["model"] == served["model"]


@pytest.mark.skipif(not (data_root() / "srllm").is_dir(), reason="SR-LLM data not present")
def test_the_eval_reads_the_scan_section_with_a_scan_model(engine, model_path, tmp_path):
    """`srllm eval --scan-model`: the flag rows and passage parts scored by that model, as
    /v1/scan scores them (server.scan.text_scans), and the scan metrics read from them."""
    from srllm.evaluation import runner, scoring
    from srllm.evaluation.config import EvalConfig
    from srllm.server import scan

    config = EvalConfig(limit=3, out=tmp_path / "o", n_threads=2)
    d = runner.load_data(config)
    run = runner.SystemRun("m", "model", info={"flag_threshold": 0.5})
    runner.scan_with_model(run, model_path, d, config)
    assert run.info["scan"]["path"] == str(model_path)
    assert len(run.scan_flags) == len(d.flag_rows) == 3
    assert len(run.scan_parts) == sum(len(p.parts) for p in d.passages)
    row = d.flag_rows[0]
    assert run.scan_flags[0] == tuple(scan.text_scans(engine, [row.text, row.reference]))
    metrics = scoring._scan_metrics(run)
    assert 0.0 <= metrics["scan_auc"] <= 1.0 and 0.0 <= metrics["scan_passage_auc"] <= 1.0
