"""Every route of the real server on the real embedded model: smoke tests of the real engine.
Exact shapes, offsets and event order are tested with a scripted engine in
tests/unit/test_app_routes.py."""

import json
import time

import httpx
import pytest

from srllm import contract

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


def test_health_names_the_model_and_contract(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["contract"] == contract.CONTRACT_VERSION
    assert body["model"]["finetuned"] is False  # the embedded base model, named as the fallback
    assert body["model"]["name"] == "SmolLM2-135M-Instruct (not fine-tuned)"
    assert 0 < body["model"]["flag_threshold"] < 1
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
        assert span["source"] in ("model", "lexicon", "opinion", "generalisation")
    assert isinstance(body["explanation"], str) and body["model"]
    assert 0.0 <= body["p_biased"] <= 1.0 and len(body["sentences"]) == 1


def test_a_streamed_rewrite_and_the_plain_one_agree(client):
    """The stream runs the model (an uncached text); the plain call then answers the same."""
    body = {"text": BIASED, "stream": True, "all": True}
    with client.stream("POST", "/v1/rewrite", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = read_sse(r)
    names = [name for name, _ in events]
    assert names[0] == "progress" and names[-1] == "done" and "delta" in names
    assert set(names) == {"progress", "delta", "sentence", "done"}
    done = events[-1][1]
    [final] = [d for n, d in events if n == "sentence"]
    assert final["rewrite"] == done["rewrite"]  # one sentence: its final text is the answer
    assert "<text>" not in done["rewrite"] and done["rewrite"].strip()
    plain = client.post("/v1/rewrite", json={"text": BIASED, "all": True}).json()
    assert plain == done


def test_debias_answers_the_flag_and_the_rewrite_of_what_it_flags(client):
    text = f"{BIASED}\n\nThe sky is blue."
    body = client.post("/v1/debias", json={"text": text}).json()
    assert set(body) == {"flag", "rewrite", "changed", "still_biased", "model", "sentences"}
    assert len(body["sentences"]) == 2 and len(body["flag"]["sentences"]) == 2
    assert (body["rewrite"] is None) == (not body["flag"]["biased"])
    if body["rewrite"] is not None:  # every sentence the flag left alone comes back as written
        for flag, sentence in zip(body["flag"]["sentences"], body["sentences"], strict=True):
            if not flag["biased"]:
                assert sentence["rewrite"] is None
        assert (
            body["rewrite"].endswith("\n\nThe sky is blue.")
            or body["flag"]["sentences"][1]["biased"]
        )


def test_debias_stream_sends_the_flag_first_and_the_whole_answer_last(client):
    text = "Girls are bad at math, so the team hired only boys."
    with client.stream("POST", "/v1/debias", json={"text": text, "stream": True}) as r:
        events = read_sse(r)
    names = [name for name, _ in events]
    assert names[0] == "progress" and names[-1] == "done"
    flag = dict(events)["flag"]
    assert flag["label"] in contract.LABELS
    done = events[-1][1]
    assert done["flag"] == flag
    deltas = "".join(d["delta"] for name, d in events if name == "delta")
    assert (done["rewrite"] is None) == (not done["flag"]["biased"]) == (deltas == "")


def test_repeated_request_is_answered_from_the_cache(server, client):
    text = "A repeated sentence about nurses and their husbands."
    first = client.post("/v1/flag", json={"text": text}).json()
    hits = client.get("/health").json()["stats"]["cache_hits"]
    assert client.post("/v1/flag", json={"text": text}).json() == first
    assert client.get("/health").json()["stats"]["cache_hits"] == hits + 1


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
        "/v1/scan",
        "/v1/models",
        "/v1/chat/completions",
    }


def test_a_client_that_disconnects_stops_its_generation(server, client):
    """Leave a streamed rewrite after its first token; the server counts it cancelled and
    serves the next request."""
    before = client.get("/health").json()["stats"]["cancelled"]
    text = "Write this out: " + " ".join(f"word{i}" for i in range(300))
    body = {"text": text, "stream": True, "all": True}
    with client.stream("POST", "/v1/rewrite", json=body) as r:
        for line in r.iter_lines():
            if line.startswith("event: delta"):
                break  # leave with the generation running
    after = None
    for _ in range(600):  # a busy machine may take a while to reach the next token
        after = client.get("/health").json()["stats"]["cancelled"]
        if after > before:
            break
        time.sleep(0.1)
    assert after == before + 1
    ok = client.post("/v1/flag", json={"text": "The sky is blue."})
    assert ok.status_code == 200


@pytest.mark.parametrize("route", ["/v1/flag", "/v1/rewrite", "/v1/debias"])
def test_each_task_route_answers_unicode(client, route):
    text = "Old people 👴🏻 in Zürich never understand technology, the café owner said."
    r = client.post(route, json={"text": text})
    assert r.status_code == 200, r.text


def test_a_job_advert_is_flagged_for_what_it_asks_and_its_rewrite_drops_it(client):
    """Whatever the untuned model scores, the card flags the advert's asks as known terms, and
    the rewrite is the user's words with them put right: the untuned model's score does not
    rank, so it cannot say the edit is still biased."""
    text = "We are looking for a young, energetic salesman to join our team."
    body = client.post("/v1/debias", json={"text": text}).json()
    flag = body["flag"]
    assert flag["biased"] is True and {"age", "gender"} <= set(flag["categories"])
    spans = {(s["text"], s["source"]) for s in flag["spans"]}
    assert {("young", "lexicon"), ("salesman", "lexicon")} <= spans
    [salesman] = [s for s in flag["spans"] if s["text"] == "salesman"]
    assert salesman["alternatives"][0] == "salesperson"
    assert body["rewrite"] == "We are looking for an energetic salesperson to join our team."
    assert body["changed"] is True and body["still_biased"] is False


def test_praise_qualified_by_a_group_is_flagged_and_its_rewrite_drops_the_qualifier(client):
    text = "You are really smart for a girl, honestly."
    body = client.post("/v1/debias", json={"text": text}).json()
    flag = body["flag"]
    assert flag["biased"] is True and flag["categories"][0] == "gender"
    assert ("for a girl", "lexicon") in {(s["text"], s["source"]) for s in flag["spans"]}
    assert "an exception to their gender" in flag["explanation"]
    assert body["rewrite"] == "You are really smart, honestly."
    assert body["changed"] is True and body["still_biased"] is False
