"""Every route of the real server on the real embedded model."""

import json
import time

import httpx
import pytest

from server import contract

BIASED = "Old people are useless with computers and should not be hired."


def read_sse(response: httpx.Response) -> list[tuple[str, dict]]:
    events, event = [], "message"
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            events.append((event, json.loads(line[len("data: ") :])))
            event = "message"
    return events


def test_health_names_the_model_and_contract(server):
    body = httpx.get(f"{server.url}/health").json()
    assert body["status"] == "ok"
    assert body["contract"] == contract.CONTRACT_VERSION
    assert body["model"]["finetuned"] is False  # the embedded base model
    assert body["model"]["file_type"] == "Q4_1"
    assert body["limits"]["max_text_chars"] > 0 and body["limits"]["max_text_tokens"] > 0


def test_flag_returns_the_contract_shape_with_spans_inside_the_text(client):
    text = "🙂 Those lazy immigrants are ruining everything."
    body = client.post("/v1/flag", json={"text": text}).json()
    assert body["label"] in contract.LABELS
    assert body["biased"] == (body["label"] != "neutral")
    assert set(body["categories"]) <= set(contract.CATEGORIES)
    for span in body["spans"]:
        assert text[span["start"] : span["end"]] == span["text"]
    assert isinstance(body["explanation"], str) and body["model"]


def test_rewrite_and_its_stream_agree(client):
    plain = client.post("/v1/rewrite", json={"text": BIASED}).json()
    assert plain["rewrite"].strip() and isinstance(plain["changed"], bool)
    assert "<text>" not in plain["rewrite"] and "</text>" not in plain["rewrite"]
    with client.stream("POST", "/v1/rewrite", json={"text": BIASED, "stream": True}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = read_sse(r)
    assert events[-1][0] == "done"
    assert events[-1][1]["rewrite"] == plain["rewrite"]
    assert all(name == "delta" for name, _ in events[:-1]) and len(events) >= 2


def test_debias_flags_then_rewrites_only_biased_text(client):
    body = client.post("/v1/debias", json={"text": BIASED}).json()
    assert set(body) == {"flag", "rewrite", "changed", "model"}
    if body["flag"]["biased"]:
        assert isinstance(body["rewrite"], str) and body["rewrite"]
    else:
        assert body["rewrite"] is None and body["changed"] is False


def test_debias_stream_sends_the_flag_first_and_the_whole_answer_last(client):
    text = "Girls are bad at math, so the team hired only boys."
    with client.stream("POST", "/v1/debias", json={"text": text, "stream": True}) as r:
        events = read_sse(r)
    assert events[0][0] == "flag" and events[0][1]["label"] in contract.LABELS
    assert events[-1][0] == "done"
    done = events[-1][1]
    assert done["flag"] == events[0][1]
    deltas = "".join(d["delta"] for name, d in events if name == "delta")
    assert (done["rewrite"] is None) == (not done["flag"]["biased"]) == (deltas == "")


def test_repeated_request_is_answered_from_the_cache(server, client):
    text = "A repeated sentence about nurses and their husbands."
    first = client.post("/v1/flag", json={"text": text}).json()
    hits = httpx.get(f"{server.url}/health").json()["stats"]["cache_hits"]
    assert client.post("/v1/flag", json={"text": text}).json() == first
    assert httpx.get(f"{server.url}/health").json()["stats"]["cache_hits"] == hits + 1


def test_models_lists_the_running_model(client):
    body = client.get("/v1/models").json()
    assert body["object"] == "list" and body["data"][0]["object"] == "model"


def test_chat_completions_openai_shape(client):
    request = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
    body = client.post("/v1/chat/completions", json=request).json()
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    assert body["usage"]["completion_tokens"] > 0


def test_chat_completions_stream_ends_with_done(client):
    request = {"messages": [{"role": "user", "content": "Count."}], "max_tokens": 6, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=request) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)


def test_openapi_describes_every_route(client):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {
        "/health",
        "/v1/flag",
        "/v1/rewrite",
        "/v1/debias",
        "/v1/models",
        "/v1/chat/completions",
    }


def test_a_client_that_disconnects_stops_its_generation(server, client):
    """Leave a streamed rewrite after the first token; the server counts it cancelled and
    serves the next request."""
    before = httpx.get(f"{server.url}/health").json()["stats"]["cancelled"]
    text = "Write this out: " + " ".join(f"word{i}" for i in range(300))
    with client.stream("POST", "/v1/rewrite", json={"text": text, "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                break  # leave with the generation still running
    after = None
    for _ in range(100):
        after = httpx.get(f"{server.url}/health").json()["stats"]["cancelled"]
        if after > before:
            break
        time.sleep(0.1)
    assert after == before + 1
    ok = client.post("/v1/flag", json={"text": "The sky is blue."})
    assert ok.status_code == 200


@pytest.mark.parametrize("route", ["/v1/flag", "/v1/rewrite", "/v1/debias"])
def test_each_task_route_answers_unicode(client, route):
    text = "Les vieux 👴🏻 ne comprennent rien à la technologie."
    r = client.post(route, json={"text": text})
    assert r.status_code == 200, r.text
