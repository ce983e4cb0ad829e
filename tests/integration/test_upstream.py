"""`srllm serve --upstream` on a real OpenAI-compatible engine: llama-cpp-python's own server
(`python -m llama_cpp.server`) on the embedded GGUF in a subprocess; plus an unreachable URL and
a scripted engine that returns malformed output (tests/fake_openai.py), each behind a real
`srllm serve` subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from srllm import contract
from srllm.server.launch import answers, free_port, running_server, stop, wait_ready
from srllm.server.upstream import UpstreamConfig, UpstreamEngine
from tests.fake_openai import Script, create_fake
from tests.live import serve_app

pytest.importorskip("fastapi", reason="llama-cpp-python's server extra (the dev extra)")

OLD = "Old people are useless with computers."
FAIR = "The meeting starts at noon."


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory, finetuned_model):
    """llama-cpp-python's OpenAI server on the fine-tuned model; yields its base URL (/v1)."""
    model_path = finetuned_model
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2"]
    # Its default cuts a running stream short ([DONE]) when another request arrives.
    cmd += ["--interrupt_requests", "false"]
    with log.open("w") as fh:
        process = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(process, lambda: answers(f"{url}/models"), 120, log.read_text)
        yield url
    finally:
        stop(process)


def test_the_verdict_matches_the_embedded_engine_on_the_same_model(llama_server, finetuned_model):
    """The same GGUF, prompt and chat template: P(biased) read from the engine's logprobs at
    the label is the embedded engine's one-forward-pass number, within rounding. (The
    fine-tune writes the canonical `{"label": "` tokens with probability ~1 under the grammar;
    a model never trained on the contract's JSON may take other tokens to the label.)"""
    from srllm.server.engine import Engine, EngineConfig

    upstream = UpstreamEngine(UpstreamConfig(url=llama_server))
    local = Engine(EngineConfig(model_path=finetuned_model, n_threads=2))
    try:
        for text in (OLD, FAIR, "Women are too emotional to be good leaders."):
            remote_p = 1 - upstream.label_probabilities(text)[contract.Label.NEUTRAL]
            local_p = 1 - local.label_probabilities(text)[contract.Label.NEUTRAL]
            assert 0.0 < remote_p < 1.0  # a probability, not a greedy 0 or 1
            assert remote_p == pytest.approx(local_p, abs=0.03), (text, remote_p, local_p)
        # A guided rewrite pushes down the same token ids as the embedded engine's.
        words = ["useless", "Old people"]
        assert upstream.avoid_bias(words) == local.avoid_bias(words) != {}
        health = upstream.health()
        assert health["verdict"] == "logprobs" and health["reachable"] is True
        assert health["guided_rewrite"] == "logit_bias"
        # llama-cpp-python 0.3.36 takes {"type": "json_object", "schema": ...} only.
        assert health["structured_output"] == "json_object"
    finally:
        upstream.close()
        local.close()


@pytest.fixture(scope="module")
def upstream_srllm(tmp_path_factory, llama_server):
    home = tmp_path_factory.mktemp("upstream-home")
    with running_server(home, "--upstream", llama_server, "--upstream-concurrency", "2") as s:
        yield s


def test_the_routes_answer_through_the_engine(upstream_srllm, llama_server):
    with upstream_srllm.client() as client:
        health = client.get("/health").json()
        assert health["engine"]["kind"] == "upstream" and health["engine"]["reachable"] is True
        assert health["engine"]["url"] == llama_server
        flag = client.post("/v1/flag", json={"text": f"{FAIR} {OLD}"})
        assert flag.status_code == 200, flag.text
        body = flag.json()
        assert body["label"] in contract.LABELS and 0.0 <= body["p_biased"] <= 1.0
        assert [s["start"] for s in body["sentences"]] == [0, len(FAIR) + 1]
        text = f"{FAIR} {OLD}"
        for span in body["spans"]:  # every highlight is the text's own
            assert text[span["start"] : span["end"]] == span["text"]
        rewrite = client.post("/v1/rewrite", json={"text": OLD, "all": True})
        assert rewrite.status_code == 200 and rewrite.json()["rewrite"].strip()
        stream = client.post("/v1/debias", json={"text": OLD, "stream": True})
        assert "event: done" in stream.text
        scan = client.post("/v1/scan", json={"text": f"{FAIR} {OLD}"}).json()
        assert len(scan["sentences"]) == 2
        chat = client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8},
        ).json()
        assert chat["choices"][0]["message"]["content"] is not None


def test_an_unreachable_engine_is_a_502_and_health_says_so(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    with running_server(tmp_path, "--upstream", url, "--upstream-model", "m") as server:
        with server.client() as client:
            r = client.post("/v1/flag", json={"text": OLD})
            assert r.status_code == 502
            assert r.json()["error"]["code"] == "upstream_unavailable"
            assert client.get("/health").json()["engine"]["reachable"] is False
        assert "Traceback" not in server.log_text()


def test_malformed_engine_output_is_a_502_after_one_retry(tmp_path):
    script = Script(p_biased={OLD: 0.9}, flag_json='{"label": "highly_biased", "categ')
    with (
        serve_app(create_fake(script)) as base,
        running_server(tmp_path, "--upstream", base + "/v1") as server,
    ):
        with server.client() as client:
            r = client.post("/v1/flag", json={"text": OLD})
            assert r.status_code == 502
            assert r.json()["error"]["code"] == "model_output_invalid"
        assert "Traceback" not in server.log_text()
    flags = [r for r in script.requests if "categories" in str(r.get("response_format"))]
    assert [r["temperature"] for r in flags] == [0.0, 0.3]
