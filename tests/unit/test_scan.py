"""/v1/scan and server/scan.py with a scripted engine: offsets, labels at the thresholds, event
order, segment ids, the cache, batching windows, cancellation and the request errors. The real
model runs the same route in tests/integration/test_scan_model.py."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from srllm import contract
from srllm.errors import Code, SrllmError
from srllm.server import scan
from srllm.server.openapi import openapi_spec
from srllm.server.settings import ServerSettings
from tests.standin import STANDIN_TOKEN, ScriptedEngine, app_client, sse_events

TOKEN = STANDIN_TOKEN
OLD = "Old people 👴🏻 are slow with technology."
FAIR = "The meeting starts at noon."
EDGE = "Women are too emotional to lead."  # exactly at the threshold (0.5)
NEAR = "The proposal seems rushed."  # just under it: review
LOW = "Tall people like basketball."  # under the review band


def scored(p: float) -> contract.Flag:
    return contract.Flag(contract.Label.SLIGHTLY_BIASED, p_biased=p)


class BatchedEngine(ScriptedEngine):
    """The stand-in with the real engine's batched entry point, recording each batch."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.batches: list[list[str]] = []

    def label_probabilities_many(self, texts, cancel=None):
        self.batches.append(list(texts))
        time.sleep(self.delay)
        return [self.label_probabilities(t) for t in texts]


def make_engine(cls=ScriptedEngine, delay: float = 0.0) -> ScriptedEngine:
    return cls(
        flags={OLD: scored(0.9), EDGE: scored(0.5), NEAR: scored(0.4999), LOW: scored(0.3499)},
        delay=delay,
    )


@pytest.fixture
def engine():
    return make_engine()


@pytest.fixture
def client(engine):
    with app_client(engine) as c:
        yield c


events = sse_events


def model_reads(engine) -> list[str]:
    return [c[1] for c in engine.calls if c[0] == "score"]


def test_every_sentence_with_code_point_offsets_after_emoji(client, engine):
    first = f"👍🏽 {OLD}"
    engine.flags[first] = scored(0.9)
    text = f"{first} {FAIR}\n\n🙂\n{FAIR}"
    body = client.post("/v1/scan", json={"text": text}).json()
    got = [(s["start"], s["end"], s["label"], s["score"]) for s in body["sentences"]]
    assert got == [  # code points: 👍🏽 and 👴🏻 are two each (UTF-16 would count four)
        (0, 42, "biased", 0.9),
        (43, 70, "neutral", 0.1),
        (72, 73, "neutral", 0.0),  # "🙂" alone: no letters, no model call
        (74, 101, "neutral", 0.1),
    ]
    assert [text[s["start"] : s["end"]] for s in body["sentences"]] == [first, FAIR, "🙂", FAIR]
    assert model_reads(engine) == [first, FAIR]
    assert [s["index"] for s in body["sentences"]] == [0, 1, 2, 3]
    assert all("id" not in s for s in body["sentences"])
    assert body["counts"] == {"biased": 1, "review": 0, "neutral": 3}
    assert body["model"] == "stand-in" and body["thresholds"] == {"biased": 0.5, "review": 0.35}


def test_labels_at_the_thresholds(client, engine):
    assert engine.info.flag_threshold == 0.5
    text = " ".join([EDGE, NEAR, LOW])
    body = client.post("/v1/scan", json={"text": text}).json()
    assert [(s["score"], s["label"]) for s in body["sentences"]] == [
        (0.5, "biased"),  # score >= threshold: biased, as /v1/flag's model verdict
        (0.4999, "review"),
        (0.3499, "neutral"),  # review starts at 0.35
    ]
    assert scan.Thresholds.for_threshold(0.1).review == 0.0


def test_a_sentence_the_cards_text_rules_flag_is_biased_with_the_models_score(engine):
    generalising = "Old people are slow with phones."  # a generalisation the model scores low
    engine.flags[generalising] = scored(0.25)
    engine.flags[FAIR] = scored(0.2)
    with app_client(engine) as client:
        body = client.post("/v1/scan", json={"text": f"{generalising} {FAIR}"}).json()
        assert [(s["score"], s["label"]) for s in body["sentences"]] == [
            (0.25, "biased"),
            (0.2, "neutral"),
        ]
        card = client.post("/v1/flag", json={"text": generalising}).json()
        assert card["biased"] is True  # the card the underline opens agrees
        # The user's muted category mutes the rule in the scan too.
        muted = client.post("/v1/scan", json={"text": generalising, "mute": ["age"]}).json()
        assert muted["sentences"][0]["label"] == "neutral"


def test_the_scan_and_the_flag_give_the_same_score(client):
    flag = client.post("/v1/flag", json={"text": EDGE}).json()
    scanned = client.post("/v1/scan", json={"text": EDGE}).json()
    assert scanned["sentences"][0]["score"] == flag["p_biased"] == 0.5
    assert scanned["sentences"][0]["label"] == "biased" and flag["biased"] is True


class WithScanModel(ScriptedEngine):
    """An engine with a scan model of its own (Engine.scan_engine): another stand-in, with its
    own name, scores and calibrated threshold."""

    def __init__(self, scanner: ScriptedEngine, **kwargs):
        super().__init__(**kwargs)
        self.scanner = scanner

    def scan_engine(self):
        return self.scanner


def test_a_scan_model_scores_the_scan_at_its_own_threshold_and_the_card_stays_the_models():
    cut = make_engine()
    cut.info.name, cut.info.path, cut.info.flag_threshold = "cut", "cut.gguf", 0.3
    cut.flags[FAIR] = scored(0.2)
    engine = WithScanModel(cut, flags={OLD: scored(0.9), LOW: scored(0.1)})
    with app_client(engine) as client:
        body = client.post("/v1/scan", json={"text": f"{LOW} {FAIR}"}).json()
        assert body["model"] == "cut" and body["thresholds"] == {"biased": 0.3, "review": 0.15}
        assert [(s["score"], s["label"]) for s in body["sentences"]] == [
            (0.3499, "biased"),  # the scan model's score, at its threshold
            (0.2, "review"),
        ]
        assert ("score", LOW) in cut.calls and ("score", LOW) not in engine.calls
        card = client.post("/v1/flag", json={"text": LOW}).json()
        assert card["p_biased"] == 0.1 and card["biased"] is False  # the card is the model's


def test_sse_is_start_then_each_sentence_in_order_then_done(client):
    text = " ".join([FAIR, OLD, EDGE, NEAR, LOW, FAIR])
    r = client.post("/v1/scan", json={"text": text, "stream": True})
    assert r.headers["content-type"].startswith("text/event-stream")
    got = events(r)
    names = [n for n, _ in got]
    assert names == ["start"] + ["sentence"] * 6 + ["done"]
    assert got[0][1] == {"sentences": 6, "model": "stand-in",
                         "thresholds": {"biased": 0.5, "review": 0.35}}  # fmt: skip
    assert [d["index"] for n, d in got if n == "sentence"] == list(range(6))
    assert [d for n, d in got if n == "sentence"] == got[-1][1]["sentences"]
    plain = client.post("/v1/scan", json={"text": text}).json()
    assert plain["sentences"] == got[-1][1]["sentences"]


def test_segments_keep_their_ids_and_offsets_are_into_each_segment(client):
    segments = [
        {"id": "p1", "text": f"{FAIR} {OLD}"},
        {"id": 7, "text": ""},
        {"id": "p3", "text": f"  {EDGE} 🙂"},
    ]
    body = client.post("/v1/scan", json={"segments": segments}).json()
    got = [(s["index"], s["id"], s["start"], s["end"], s["label"]) for s in body["sentences"]]
    start = len(FAIR) + 1
    assert got == [
        (0, "p1", 0, len(FAIR), "neutral"),
        (1, "p1", start, start + len(OLD), "biased"),
        (2, "p3", 2, 2 + len(EDGE), "biased"),
        (3, "p3", 3 + len(EDGE), 4 + len(EDGE), "neutral"),
    ]
    texts = {seg["id"]: seg["text"] for seg in segments}
    assert [texts[s["id"]][s["start"] : s["end"]] for s in body["sentences"]] == [
        FAIR,
        OLD,
        EDGE,
        "🙂",
    ]


def test_a_repeated_sentence_is_read_once_and_a_repeated_scan_comes_from_the_cache(client, engine):
    text = f"{OLD} {FAIR} {OLD}\n{OLD}"
    first = client.post("/v1/scan", json={"text": text}).json()
    assert model_reads(engine) == [OLD, FAIR] and first["scored"] == 2
    assert [s["score"] for s in first["sentences"]] == [0.9, 0.1, 0.9, 0.9]
    again = client.post("/v1/scan", json={"segments": [{"id": "x", "text": OLD}]}).json()
    assert model_reads(engine) == [OLD, FAIR] and again["scored"] == 0
    assert again["sentences"][0]["score"] == 0.9


def test_cache_size_zero_turns_the_scan_cache_off(engine):
    with app_client(engine, ServerSettings(cache_size=0)) as c:
        c.post("/v1/scan", json={"text": OLD})
        assert c.post("/v1/scan", json={"text": OLD}).json()["scored"] == 1
    assert model_reads(engine) == [OLD, OLD]


def test_the_batched_engine_reads_windows_of_distinct_sentences():
    engine = make_engine(BatchedEngine)
    scanner = scan.Scanner(engine)
    sentences = [f"Sentence number {i} is here." for i in range(40)]
    text = " ".join(sentences[:20] + ["🙂!", sentences[0]] + sentences[20:])
    work = scan.plan([scan.Item(text)], False, engine)
    result = scan.collect(scanner.run(work))
    assert [len(b) for b in engine.batches] == [scan.WINDOW, 40 - scan.WINDOW]
    assert engine.batches[0] + engine.batches[1] == sentences  # in order, each once
    assert len(result["sentences"]) == 42 and result["scored"] == 40
    assert result["sentences"][20]["score"] == 0.0  # the emoji: no model


def test_a_cancelled_scan_stops_before_the_model_reads_more():
    engine = make_engine(BatchedEngine)
    cancel = threading.Event()
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    events = scan.Scanner(engine).run(scan.plan([scan.Item(text)], False, engine), cancel)
    assert isinstance(next(events), scan.Started)
    assert isinstance(next(events), scan.Scored)  # the first window is read
    cancel.set()
    with pytest.raises(SrllmError) as error:
        list(events)
    assert error.value.code is Code.CANCELLED and len(engine.batches) == 1


def test_the_scan_runs_in_the_model_queue_and_a_consumer_that_leaves_cancels_it():
    from srllm.server.runner import ModelRunner

    engine = make_engine(BatchedEngine, delay=0.05)  # per window of 32 sentences
    text = " ".join(f"Sentence number {i} is here." for i in range(100))

    async def main():
        runner = ModelRunner(engine)
        scanner = scan.Scanner(engine)
        work = scan.plan([scan.Item(text)], False, engine)
        cancel = threading.Event()
        seen = 0
        async for event in runner.iterate(lambda c: scanner.run(work, c), cancel):
            seen += isinstance(event, scan.Scored)
            if seen == 3:
                break  # the client went away
        await asyncio.sleep(0.2)  # the worker thread notices and releases the model
        await runner._acquire()  # the queue is free again
        return cancel.is_set(), runner.stats

    with ThreadPoolExecutor(1) as pool:
        cancelled, stats = pool.submit(asyncio.run, main()).result()
    assert cancelled and stats["cancelled"] == 1
    assert len(engine.batches) < 4  # 100 sentences would be 4 windows


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "exactly one of 'text' and 'segments'"),
        ({"text": FAIR, "segments": []}, "exactly one"),
        ({"text": "   "}, "must not be empty"),
        ({"text": 3}, "must be a string"),
        ({"segments": []}, "non-empty list"),
        ({"segments": "abc"}, "non-empty list"),
        ({"segments": [FAIR]}, "segments[0] must be an object"),
        ({"segments": [{"id": True, "text": FAIR}]}, "string or an integer"),
        ({"segments": [{"id": "", "text": FAIR}]}, "1 to 256 characters"),
        ({"segments": [{"id": "a", "text": 5}]}, "segments[0].text must be a string"),
        ({"segments": [{"id": "a", "text": FAIR}, {"id": "a", "text": OLD}]}, "not unique"),
        ({"text": FAIR, "stream": "yes"}, "'stream' must be true or false"),
    ],
)
def test_a_malformed_scan_is_a_422(client, body, fragment):
    r = client.post("/v1/scan", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request" and fragment in error["message"]


def test_a_lone_surrogate_in_a_segment_is_a_422(client):
    r = client.post("/v1/scan", content=b'{"segments": [{"id": "a", "text": "\\ud800 old"}]}')
    assert r.status_code == 422 and "surrogate" in r.json()["error"]["message"]


def test_over_the_limits_is_a_413_with_limit_and_unit(engine):
    settings = ServerSettings(max_scan_chars=100, max_scan_segments=2)
    with app_client(engine, settings) as c:
        too_long = c.post("/v1/scan", json={"text": "a" * 101})
        segments = [{"id": i, "text": "x"} for i in range(3)]
        too_many = c.post("/v1/scan", json={"segments": segments})
        split = [{"id": i, "text": "a" * 60} for i in range(2)]
        too_long_together = c.post("/v1/scan", json={"segments": split})
        fits = c.post("/v1/scan", json={"text": "a" * 100})
    for r, limit, unit in (
        (too_long, 100, "characters"),
        (too_many, 2, "segments"),
        (too_long_together, 100, "characters"),
    ):
        assert r.status_code == 413
        error = r.json()["error"]
        assert error["code"] == "text_too_long"
        assert (error["limit"], error["unit"]) == (limit, unit) and str(limit) in error["message"]
    assert fits.status_code == 200


def test_a_sentence_over_the_models_limit_is_a_413_before_any_work(client, engine):
    words = " ".join(["word"] * 1001)  # the stand-in counts words as tokens; limit 1000
    r = client.post("/v1/scan", json={"text": f"{FAIR}\n{words}"})
    assert r.status_code == 413
    error = r.json()["error"]
    assert (error["limit"], error["unit"]) == (1000, "tokens") and "1001 tokens" in error["message"]
    assert model_reads(engine) == []


def test_the_scan_takes_a_body_far_over_the_flag_limit(client):
    text = " ".join([FAIR] * 2500)  # 70 kB: over the 64 KiB every other route takes
    assert len(text.encode()) > ServerSettings().max_body_bytes
    flagged = client.post("/v1/flag", json={"text": text})
    assert flagged.status_code == 413 and flagged.json()["error"]["code"] == "body_too_large"
    body = client.post("/v1/scan", json={"text": text}).json()
    assert len(body["sentences"]) == 2500 and body["scored"] == 1
    settings = ServerSettings()
    assert settings.body_limit("/v1/scan") == 64 * 1024 + 12 * settings.max_scan_chars
    assert settings.body_limit("/v1/flag") == 64 * 1024


def test_the_scan_needs_the_token(client):
    r = client.post("/v1/scan", json={"text": FAIR}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_the_openapi_document_describes_the_scan():
    spec = openapi_spec()
    route = spec["paths"]["/v1/scan"]["post"]
    assert route["security"] == [{"bearer": []}]
    assert set(route["responses"]) == {"200", "400", "401", "403", "413", "422"}
    assert set(route["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    schemas = spec["components"]["schemas"]
    assert schemas["ScanRequest"]["properties"]["text"]["maxLength"] == 200_000
    assert schemas["Scan"]["properties"]["sentences"]["items"]["properties"]["label"]["enum"] == [
        "biased",
        "review",
        "neutral",
    ]


def test_settings_read_the_scan_limits_from_the_environment():
    from srllm.server.settings import from_env

    settings = from_env({"SRLLM_MAX_SCAN_CHARS": "5000", "SRLLM_MAX_SCAN_SEGMENTS": "10"})
    assert (settings.max_scan_chars, settings.max_scan_segments) == (5000, 10)
    with pytest.raises(SrllmError) as error:
        ServerSettings(max_scan_segments=0)
    assert error.value.code is Code.BAD_CONFIG


def test_a_finished_scan_counts_as_a_generation_not_a_cancellation(client):
    before = client.get("/health").json()["stats"]
    client.post("/v1/scan", json={"text": FAIR})
    client.post("/v1/scan", json={"text": OLD, "stream": True})
    after = client.get("/health").json()["stats"]
    assert after["generations"] == before["generations"] + 2
    assert after["cancelled"] == before["cancelled"]
