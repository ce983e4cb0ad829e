"""The task routes over HTTP with a scripted engine (create_app's engine_factory): exact shapes,
offsets and event order. The real model runs the same routes in tests/integration."""

import json

import pytest

from srllm.server.settings import ServerSettings
from tests.standin import STANDIN_TOKEN, ScriptedEngine, app_client, biased, sse_events

TOKEN = STANDIN_TOKEN
OLD = "Old people 👴🏻 are slow with technology."
FAIR = "The meeting starts at noon."


@pytest.fixture
def engine():
    return ScriptedEngine(
        flags={OLD: biased(["slow"], ["age"])},
        rewrites={OLD: "Some older people 👴🏻 take longer with new technology."},
    )


@pytest.fixture
def client(engine):
    with app_client(engine) as c:
        yield c


events = sse_events


def test_flag_keeps_its_shape_and_adds_the_sentences(client):
    text = f"{FAIR}\n{OLD}"
    body = client.post("/v1/flag", json={"text": text}).json()
    start = text.index("slow")
    assert body["label"] == "slightly_biased" and body["biased"] is True
    assert body["categories"] == ["age"]
    assert body["spans"] == [{"start": start, "end": start + 4, "text": "slow", "source": "model"}]
    assert body["explanation"] == "Sentence 2: The word 'slow' is somewhat loaded (age bias)."
    assert body["model"] == "stand-in" and body["p_biased"] == 0.9
    assert [(s["start"], s["end"], s["label"]) for s in body["sentences"]] == [
        (0, len(FAIR), "neutral"),
        (len(FAIR) + 1, len(text), "slightly_biased"),
    ]


def test_debias_rewrites_only_the_biased_sentence(client):
    text = f"{FAIR}\n\n{OLD}"
    body = client.post("/v1/debias", json={"text": text}).json()
    assert set(body) == {"flag", "rewrite", "changed", "still_biased", "model", "sentences"}
    assert body["rewrite"] == f"{FAIR}\n\nSome older people 👴🏻 take longer with new technology."
    assert body["changed"] is True
    assert [s["changed"] for s in body["sentences"]] == [False, True]


def test_debias_of_fair_text_has_no_rewrite(client, engine):
    body = client.post("/v1/debias", json={"text": FAIR}).json()
    assert body["rewrite"] is None and body["changed"] is False
    assert body["flag"]["label"] == "neutral" and body["flag"]["spans"] == []
    assert [c[0] for c in engine.calls] == ["warm_up", "flag"]


def test_rewrite_streams_progress_then_deltas_one_by_one_then_the_answer(client):
    text = f"{FAIR} {OLD}"
    r = client.post("/v1/rewrite", json={"text": text, "stream": True})
    assert r.headers["content-type"].startswith("text/event-stream")
    got = events(r)
    names = [n for n, _ in got]
    assert names[:2] == ["progress", "progress"] and names[-1] == "done"
    assert got[0][1] == {
        "phase": "flag",
        "sentence": 0,
        "sentences": 2,
        "start": 0,
        "end": len(FAIR),
    }
    assert [d for n, d in got if n == "progress"][-1]["phase"] == "rewrite"
    deltas = [d for n, d in got if n == "delta"]
    assert deltas[0] == {"delta": FAIR + " ", "sentence": None}
    assert {d["sentence"] for d in deltas[1:]} == {1} and len(deltas) > 3  # token by token
    assert "".join(d["delta"] for d in deltas) == got[-1][1]["rewrite"]
    [final] = [d for n, d in got if n == "sentence"]
    # guided: made with the sentence's highlights pushed down, as every biased sentence's is
    assert final == {"sentence": 1, "rewrite": got[-1][1]["sentences"][1]["rewrite"],
                     "guided": True, "still_biased": False}  # fmt: skip
    plain = client.post("/v1/rewrite", json={"text": text}).json()
    assert plain == got[-1][1]


def test_debias_stream_sends_the_flag_before_any_delta(client):
    r = client.post("/v1/debias", json={"text": OLD, "stream": True})
    got = events(r)
    names = [n for n, _ in got]
    assert names.index("flag") < names.index("delta") < names.index("done") == len(names) - 1
    done = got[-1][1]
    assert done["flag"] == dict(got)["flag"]
    assert done["rewrite"] == "Some older people 👴🏻 take longer with new technology."


def test_an_error_inside_a_stream_becomes_an_error_event(client, engine):
    def broken(*args, **kwargs):
        from srllm.errors import Code, SrllmError

        raise SrllmError(Code.MODEL_OUTPUT_INVALID, "the model did not produce a valid flag")

    engine.flag = broken
    r = client.post("/v1/debias", json={"text": "Something else entirely.", "stream": True})
    got = events(r)
    assert [n for n, _ in got] == ["progress", "error"]
    assert got[-1][1]["error"]["code"] == "model_output_invalid"
    plain = client.post("/v1/flag", json={"text": "Something else entirely."})
    assert plain.status_code == 502 and plain.json()["error"]["code"] == "model_output_invalid"


def test_a_repeated_text_is_a_cache_hit(client, engine):
    first = client.post("/v1/debias", json={"text": OLD}).json()
    calls = len(engine.calls)
    assert client.post("/v1/debias", json={"text": OLD}).json() == first
    assert len(engine.calls) == calls


def test_rewrite_all_rewrites_a_sentence_the_flag_calls_fair(client, engine):
    engine.rewrites[FAIR] = "The meeting begins at noon."
    assert client.post("/v1/rewrite", json={"text": FAIR}).json()["rewrite"] == FAIR
    forced = client.post("/v1/rewrite", json={"text": FAIR, "all": True}).json()
    assert forced["rewrite"] == "The meeting begins at noon." and forced["changed"] is True


def test_odd_json_is_a_clear_400_and_health_hides_details_without_the_token(client):
    surrogate = client.post("/v1/flag", content=b'{"text": "\\ud800 old people"}')
    assert surrogate.status_code == 422 and "surrogate" in surrogate.json()["error"]["message"]
    deep = client.post("/v1/flag", content=b'{"text": ' + b"[" * 20000 + b"]" * 20000 + b"}")
    assert deep.status_code == 400 and deep.json()["error"]["code"] == "bad_request"
    public = client.get("/health", headers={"Authorization": ""}).json()
    assert public == {"status": "ok", "contract": "srllm-contract/1", "model_loaded": True}
    details = client.get("/health").json()
    assert details["model"]["path"] == "stand-in.gguf"
    defaults = ServerSettings()
    assert details["limits"] == {
        "max_text_chars": defaults.max_text_chars,
        "max_text_tokens": 1000,
        "max_scan_chars": defaults.max_scan_chars,
        "max_scan_segments": defaults.max_scan_segments,
    }


def test_a_413_carries_its_limit_as_a_field(client):
    r = client.post("/v1/flag", json={"text": "a " * 4001})
    assert r.status_code == 413
    error = r.json()["error"]
    assert error["code"] == "text_too_long" and error["unit"] == "characters"
    assert (
        error["limit"] == ServerSettings().max_text_chars
        and str(error["limit"]) in error["message"]
    )


def test_a_bug_is_a_500_that_leaks_nothing(engine):
    def broken(*args, **kwargs):
        raise RuntimeError("secret detail at /home/someone/model.gguf")

    engine.flag = broken
    with app_client(engine, raise_server_exceptions=False) as c:
        r = c.post("/v1/flag", json={"text": "Something else entirely."})
    assert r.status_code == 500
    assert r.json() == {
        "error": {"code": "internal_error", "message": "internal error; see the server log"}
    }


def test_every_error_code_has_one_http_status_and_one_body_shape(client):
    from srllm.errors import Code, SrllmError
    from srllm.server.http_errors import STATUS, error_response

    assert set(STATUS) == set(Code)
    unknown = client.get("/v1/nothing-here")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    wrong = client.get("/v1/flag")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    denied = client.post("/v1/flag", json={"text": "x"}, headers={"Authorization": "Bearer no"})
    assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
    response = error_response(SrllmError(Code.TEXT_TOO_LONG, "too long", limit=3))
    assert response.status_code == 413
    assert json.loads(response.body) == {
        "error": {"code": "text_too_long", "message": "too long", "limit": 3}
    }
