"""The upstream engine (server/upstream.py) against a scripted OpenAI-compatible engine on a
loopback socket (tests/fake_openai.py), and the real app on it: verdicts from logprobs, the
greedy fallback, structured output and its fallback, errors as 502/504 JSON, cancellation and
concurrency. tests/integration/test_upstream.py runs llama-cpp-python's own server."""

from __future__ import annotations

import json
import math
import threading
import time
from types import SimpleNamespace

import pytest

from srllm import contract
from srllm.errors import Code, SrllmError
from srllm.server.launch import free_port
from srllm.server.upstream import (
    UpstreamConfig,
    UpstreamEngine,
    UpstreamInfo,
    config_from,
    label_probabilities_from_logprobs,
)
from tests.fake_openai import Script, create_fake, label_logprobs
from tests.live import serve_app
from tests.standin import app_client

OLD = "Old people are slow with technology."
FAIR = "The meeting starts at noon."
L = contract.Label


@pytest.fixture
def script():
    return Script(p_biased={OLD: 0.8}, rewrites={OLD: "Some older people take longer."})


@pytest.fixture
def url(script):
    with serve_app(create_fake(script)) as base:
        yield base + "/v1"


def engine_at(url: str, **kwargs) -> UpstreamEngine:
    return UpstreamEngine(UpstreamConfig(url=url, **kwargs))


# -- reading logprobs ------------------------------------------------------------------------------


def test_label_probabilities_are_read_at_the_label_and_normalised():
    probs = {"neutral": 0.2, "slightly_biased": 0.5, "highly_biased": 0.1}  # 0.2 elsewhere
    got = label_probabilities_from_logprobs(label_logprobs(probs)["content"])
    assert got is not None
    assert got[L.NEUTRAL] == pytest.approx(0.2 / 0.8)
    assert got[L.SLIGHTLY_BIASED] == pytest.approx(0.5 / 0.8)
    assert sum(got.values()) == pytest.approx(1.0)
    spaced = label_logprobs(probs, spaced=True)["content"]  # { "label" : "... still found
    assert label_probabilities_from_logprobs(spaced) == pytest.approx(got)


def test_a_token_that_spans_the_quote_and_the_label_is_matched():
    content = [
        {"token": '{"label":', "logprob": 0.0, "top_logprobs": []},
        {
            "token": ' "ne',
            "logprob": math.log(0.6),
            "top_logprobs": [
                {"token": ' "ne', "logprob": math.log(0.6)},
                {"token": ' "high', "logprob": math.log(0.3)},
                {"token": ' "', "logprob": math.log(0.1)},  # says nothing of the label
            ],
        },
        {"token": 'utral"}', "logprob": 0.0, "top_logprobs": []},
    ]
    got = label_probabilities_from_logprobs(content)
    assert got[L.NEUTRAL] == pytest.approx(2 / 3) and got[L.HIGHLY_BIASED] == pytest.approx(1 / 3)
    assert got[L.SLIGHTLY_BIASED] == 0.0


def test_no_label_in_the_answer_gives_none():
    content = [{"token": '{"x": 1}', "logprob": 0.0, "top_logprobs": []}]
    assert label_probabilities_from_logprobs(content) is None


# -- the engine on a scripted OpenAI server -----------------------------------------------------


def test_the_verdict_comes_from_logprobs_under_the_verdict_schema(url, script):
    engine = engine_at(url)
    probs = engine.label_probabilities(OLD)
    assert 1 - probs[L.NEUTRAL] == pytest.approx(0.8)
    sent = script.requests[-1]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 20 and sent["temperature"] == 0
    assert sent["model"] == "fake-model"  # the first model the engine lists
    schema = sent["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["label"]["enum"] == list(contract.LABELS)
    assert sent["messages"] == contract.messages(contract.Task.FLAG, OLD)
    engine.close()


def test_flag_generates_a_biased_answer_under_the_fixed_label_schema(url, script):
    engine = engine_at(url)
    flag = engine.flag(OLD)
    assert flag.label is L.SLIGHTLY_BIASED and flag.biased_words == ["slow"]
    assert flag.p_biased == pytest.approx(0.8)
    schema = script.requests[-1]["response_format"]["json_schema"]["schema"]
    assert schema == contract.flag_schema(L.SLIGHTLY_BIASED, contract.candidate_words(OLD))
    assert engine.flag(FAIR).label is L.NEUTRAL
    assert len(script.requests) == 3  # a fair verdict costs one request, no generation
    assert engine.flag(OLD, threshold=0.9).label is L.NEUTRAL  # the threshold decides
    engine.close()


def test_malformed_flag_output_is_retried_once_then_model_output_invalid(url, script):
    script.flag_json = '{"label": "slightly_biased", "categories": '  # cut off
    engine = engine_at(url)
    with pytest.raises(SrllmError) as caught:
        engine.flag(OLD)
    assert caught.value.code is Code.MODEL_OUTPUT_INVALID
    temperatures = [r["temperature"] for r in script.requests[1:]]
    assert temperatures == [0.0, 0.3]
    engine.close()


def test_an_engine_that_refuses_json_schema_gets_json_object_from_then_on(url, script):
    script.refuse_json_schema = True
    engine = engine_at(url)
    assert 1 - engine.label_probabilities(OLD)[L.NEUTRAL] == pytest.approx(0.8)
    kinds = [r["response_format"]["type"] for r in script.requests]
    assert kinds == ["json_schema", "json_object"]
    engine.label_probabilities(FAIR)
    assert script.requests[-1]["response_format"]["type"] == "json_object"
    assert engine.health()["structured_output"] == "json_object"
    engine.close()


def test_without_logprobs_the_verdict_is_the_greedy_label(url, script):
    script.logprobs = False
    engine = engine_at(url)
    assert engine.label_probabilities(OLD) == {
        L.NEUTRAL: 0.0,
        L.SLIGHTLY_BIASED: 1.0,
        L.HIGHLY_BIASED: 0.0,
    }
    assert engine.label_probabilities(FAIR)[L.NEUTRAL] == 1.0
    assert engine.health()["verdict"] == "greedy"
    engine.close()


def rewrite(engine: UpstreamEngine, text: str, avoid: list[str] | None = None) -> str:
    """The rewrite as the task joins and cleans it (server.task.finish_rewrite)."""
    raw = "".join(engine.stream_rewrite(text, avoid=avoid))
    return contract.clean_rewrite(raw, original=text)


def test_rewrite_streams_greedy_until_the_closing_tag(url, script):
    engine = engine_at(url)
    assert rewrite(engine, OLD) == "Some older people take longer."
    sent = script.requests[-1]
    assert sent["stream"] is True and sent["stop"] == [contract.TEXT_CLOSE]
    assert sent["temperature"] == 0.0 and "logit_bias" not in sent
    engine.close()


def test_a_guided_rewrite_pushes_the_highlighted_words_down_by_token_id(url, script):
    engine = engine_at(url)
    rewrite(engine, OLD, avoid=["slow", "the old"])  # "the" is a function word: left alone
    sent = script.requests[-1]
    ids = script.vocabulary
    expected = {ids[w]: -8.0 for w in ("slow", " slow", "Slow", " Slow")}
    expected |= {ids[w]: -8.0 for w in ("old", " old", "Old", " Old")}
    assert {int(k): v for k, v in sent["logit_bias"].items()} == expected
    assert sent["temperature"] == 0.0  # greedy, as the embedded engine
    assert engine.health()["guided_rewrite"] == "logit_bias"
    engine.close()


def test_without_a_tokenize_endpoint_a_guided_rewrite_is_sampled(url, script):
    script.tokenize = False
    engine = engine_at(url)
    rewrite(engine, OLD, avoid=["slow"])
    sent = script.requests[-1]
    assert sent["temperature"] == 0.3 and "logit_bias" not in sent
    assert engine.health()["guided_rewrite"] == "sampled"
    engine.close()


def test_a_stream_cut_short_is_an_error_not_a_shorter_rewrite(url, script):
    script.cut_streams = True
    engine = engine_at(url)
    with pytest.raises(SrllmError) as caught:
        rewrite(engine, OLD)
    assert caught.value.code is Code.UPSTREAM_BAD_RESPONSE and "early" in caught.value.message
    engine.close()


def test_a_cancelled_stream_closes_the_upstream_request(url, script):
    script.rewrites[OLD] = " ".join(["word"] * 200)
    script.delay_s = 0.02
    engine = engine_at(url)
    cancel = threading.Event()
    got = []
    for delta in engine.stream_rewrite(OLD, cancel):
        got.append(delta)
        if len(got) == 3:
            cancel.set()
    assert len(got) == 3
    deadline = time.monotonic() + 5
    while script.disconnected == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert script.disconnected == 1  # the engine saw its client leave mid-stream
    engine.close()


def test_a_cancelled_call_waiting_for_the_engine_ends_at_once(url, script):
    engine = engine_at(url)
    engine.model_name()
    script.delay_s = 3.0
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(SrllmError) as caught:
        engine.label_probabilities(OLD, cancel)
    assert caught.value.code is Code.CANCELLED and time.monotonic() - start < 1.5
    engine.close()


def test_timeouts_and_errors_become_upstream_codes(url, script):
    engine = engine_at(url, timeout_s=0.3)
    engine.model_name()
    script.delay_s = 1.0
    with pytest.raises(SrllmError) as caught:
        engine.label_probabilities(OLD)
    assert caught.value.code is Code.UPSTREAM_TIMEOUT
    script.delay_s, script.status = 0.0, 503
    with pytest.raises(SrllmError) as caught:
        engine.label_probabilities(OLD)
    assert caught.value.code is Code.UPSTREAM_UNAVAILABLE
    assert "engine overloaded" in caught.value.message
    script.status = 500
    with pytest.raises(SrllmError) as caught:
        engine.label_probabilities(OLD)
    assert caught.value.code is Code.UPSTREAM_BAD_RESPONSE
    engine.close()


def test_config_refuses_bad_values_in_one_line(monkeypatch):
    with pytest.raises(SrllmError, match="OpenAI base URL"):
        UpstreamConfig(url="gpu-box:8000")
    with pytest.raises(SrllmError, match="at least 1"):
        UpstreamConfig(url="http://x/v1", concurrency=0)
    with pytest.raises(SrllmError, match="the variable is empty"):
        config_from("http://x/v1", None, "NO_SUCH_KEY_VAR", None, None, 2048, None)
    monkeypatch.setenv("MY_KEY", "sk-123")
    assert config_from("http://x/v1", None, "MY_KEY", 2, 5.0, 2048, 0.59).api_key == "sk-123"


# -- the app on the upstream engine --------------------------------------------------------------


def upstream_client(url: str, **config):
    engine = UpstreamEngine(UpstreamConfig(url=url, **config))
    return app_client(engine), engine


def test_the_routes_run_unchanged_on_the_upstream_engine(url, script):
    client, _ = upstream_client(url)
    with client:
        body = client.post("/v1/debias", json={"text": f"{FAIR} {OLD}"}).json()
        assert body["flag"]["label"] == "slightly_biased" and body["flag"]["p_biased"] == 0.8
        assert body["rewrite"] == f"{FAIR} Some older people take longer."
        assert body["model"] == "fake-model"
        spans = body["flag"]["spans"]
        assert [s["text"] for s in spans if s["source"] == "model"] == ["slow"]
        scan = client.post("/v1/scan", json={"text": f"{FAIR} {OLD}"}).json()
        assert [s["label"] for s in scan["sentences"]] == ["neutral", "biased"]
        health = client.get("/health").json()
        assert health["engine"]["kind"] == "upstream" and health["engine"]["reachable"] is True
        assert health["engine"]["verdict"] == "logprobs"
        assert health["model"]["engine"] == "upstream"


def test_upstream_failures_are_json_errors_never_tracebacks(url, script):
    client, _ = upstream_client(url, timeout_s=0.5)
    with client:
        script.status = 500
        r = client.post("/v1/flag", json={"text": OLD})
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_bad_response"
        script.status, script.delay_s = 200, 1.5
        r = client.post("/v1/flag", json={"text": "Another sentence here."})
        assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
        script.delay_s, script.flag_json = 0.0, "not json"
        r = client.post("/v1/flag", json={"text": OLD})
        assert r.status_code == 502 and r.json()["error"]["code"] == "model_output_invalid"
        r = client.post("/v1/rewrite", json={"text": OLD, "stream": True})
        assert r.status_code == 200  # streams report errors as events; this one succeeds


def test_an_unreachable_engine_gives_502_and_health_says_so():
    url = f"http://127.0.0.1:{free_port()}/v1"
    client, _ = upstream_client(url, model="m")
    with client:  # the server starts anyway: the engine may come up later
        r = client.post("/v1/flag", json={"text": OLD})
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unavailable"
        engine = client.get("/health").json()["engine"]
        assert engine["reachable"] is False and engine["error"]["code"] == "upstream_unavailable"
        assert engine["url"] == url


@pytest.mark.parametrize("bound", [2, 4])
def test_requests_run_concurrently_up_to_the_bound(url, script, bound):
    script.delay_s = 0.3
    client, _ = upstream_client(url, concurrency=bound)
    texts = [f"Sentence number {i} is here." for i in range(4)]
    with client:
        script.requests.clear()
        script.max_in_flight = 0
        results = []

        def one(text: str) -> None:
            results.append(client.post("/v1/flag", json={"text": text}))

        threads = [threading.Thread(target=one, args=(t,)) for t in texts]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
    assert [r.status_code for r in results] == [200] * 4
    assert script.max_in_flight == bound  # as many at once as allowed, never more
    assert 0.3 * 4 / bound <= elapsed < 4 * 0.3  # not one at a time


def test_srllm_serve_upstream_flags_reach_the_engine(monkeypatch):
    from srllm import cli

    seen = {}

    def fake_serve(args, settings):
        seen["args"], seen["ctx"] = args, settings.ctx
        return 0

    import srllm.server.upstream as upstream

    monkeypatch.setattr(upstream, "serve", fake_serve)
    argv = ["serve", "--upstream", "http://gpu:8000/v1", "--upstream-model", "m"]
    argv += ["--upstream-concurrency", "16", "--ctx", "8192", "--flag-threshold", "0.59"]
    assert cli.main(argv) == 0
    args = seen["args"]
    assert args.upstream == "http://gpu:8000/v1" and args.upstream_model == "m"
    assert args.upstream_concurrency == 16 and seen["ctx"] == 8192 and args.flag_threshold == 0.59


def test_request_bodies_are_json_the_engine_can_read(url, script):
    engine = engine_at(url, model="named", seed=7)
    engine.flag(OLD)
    for sent in script.requests:
        assert sent["model"] == "named" and sent["seed"] in (7, 8)
        json.dumps(sent)
    engine.close()


def test_a_client_that_leaves_the_server_cancels_the_upstream_request(url, script):
    """End to end over sockets: a streamed /v1/rewrite whose client hangs up after its first
    token; the engine behind sees its own client (the upstream engine) leave mid-stream."""
    import http.client

    from srllm.server.app import create_app
    from srllm.server.settings import ServerSettings
    from tests.standin import STANDIN_TOKEN

    long_text = "Old people are slow with every single new piece of technology."
    script.p_biased[long_text] = 0.9
    script.rewrites[long_text] = " ".join(["word"] * 300)
    engine = UpstreamEngine(UpstreamConfig(url=url))
    app = create_app(ServerSettings(), STANDIN_TOKEN, engine_factory=lambda _: engine)
    with serve_app(app) as base:
        script.delay_s = 0.02
        port = int(base.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"text": long_text, "stream": True, "all": True})
        headers = {"Authorization": f"Bearer {STANDIN_TOKEN}"}
        conn.request("POST", "/v1/rewrite", body=body, headers=headers)
        response = conn.getresponse()
        while b"event: delta" not in response.readline():
            pass
        conn.close()  # the user closed the card
        deadline = time.monotonic() + 10
        while script.disconnected == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert script.disconnected == 1


def test_the_start_up_line_names_an_upstream_engine_not_a_local_cpu_fallback():
    from srllm.server.app import describe_model

    info = UpstreamInfo("qwen2", "http://127.0.0.1:8080#qwen2", 0.5, 4096)
    line = describe_model(info)
    assert "upstream engine at http://127.0.0.1:8080" in line
    assert "fine-tuned: unknown" in line
    assert "CPU" not in line and "fallback" not in line
    local = SimpleNamespace(
        name="m", file_type="Q8_0", n_gpu_layers=0, finetuned=False, path="/x/m.gguf",
        rewriter=None, scan=None,
    )  # fmt: skip
    assert describe_model(local) == (
        "model m (Q8_0, CPU, fine-tuned: no, the untuned fallback) from /x/m.gguf"
    )
    local.rewriter = {"name": "w", "path": "/x/w.gguf"}
    assert describe_model(local).endswith("from /x/m.gguf; rewrites by w from /x/w.gguf")
    local.scan = {"name": "s", "path": "/x/s.gguf"}
    assert describe_model(local).endswith(
        "; rewrites by w from /x/w.gguf; scans by s from /x/s.gguf"
    )
