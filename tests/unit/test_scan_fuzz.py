"""Fuzzed /v1/scan bodies against the app with the fuzzing stand-in engine: no input may reach
a 500, and a successful answer maps every sentence back into what was sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from srllm.server.app import create_app
from srllm.server.settings import ServerSettings
from tests.unit.test_request_fuzz import (
    FUZZ,
    FuzzEngine,
    encode,
    json_values,
    odd_text,
    plausible,
    post,
)

TOKEN = "fuzz-test-token-0123456789abcdef"

segments = st.lists(
    st.fixed_dictionaries(
        {"id": plausible(st.one_of(odd_text, st.integers())), "text": plausible(odd_text)},
        optional={"extra": json_values},
    ),
    max_size=5,
)
scan_bodies = st.one_of(
    st.fixed_dictionaries(
        {"text": plausible(odd_text)}, optional={"stream": plausible(st.booleans())}
    ),
    st.fixed_dictionaries(
        {"segments": plausible(segments)}, optional={"stream": plausible(st.booleans())}
    ),
    st.fixed_dictionaries(
        {}, optional={"text": json_values, "segments": json_values, "stream": json_values}
    ),
)


@pytest.fixture(scope="module")
def client():
    settings = ServerSettings(max_scan_segments=4)
    app = create_app(settings, TOKEN, model_path=Path("stand-in.gguf"), engine_factory=FuzzEngine)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=headers) as c:
        yield c


@FUZZ
@given(body=scan_bodies, ascii_only=st.booleans())
def test_scan_answers_any_json_object_without_a_500(client, body, ascii_only):
    response = post(client, "/v1/scan", encode(body, ascii_only))
    if response.status_code != 200 or body.get("stream") is True:
        return
    answer = response.json()
    # The texts as the server read them: JSON joins an escaped surrogate pair into one code
    # point ("\\udbff\\udfff" is U+10FFFF), and offsets count the server's code points.
    sent = json.loads(encode(body, ascii_only).decode("utf-8", "surrogatepass"))
    texts = (
        {None: sent["text"]} if "text" in sent else {s["id"]: s["text"] for s in sent["segments"]}
    )
    for sentence in answer["sentences"]:
        text = texts[sentence.get("id")]
        piece = text[sentence["start"] : sentence["end"]]
        assert piece and piece == piece.strip() and 0 <= sentence["score"] <= 1
    assert sum(answer["counts"].values()) == len(answer["sentences"])


def test_a_scan_body_over_its_own_limit_is_refused_before_it_is_read(client):
    limit = ServerSettings().scan_body_bytes
    body = json.dumps({"text": "a" * 10}).encode()
    response = client.post("/v1/scan", content=body, headers={"Content-Length": str(limit + 1)})
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
