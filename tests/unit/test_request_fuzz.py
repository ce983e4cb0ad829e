"""Fuzzed request bodies against the app with a stand-in engine: no input may reach a 500.

Every answer is either a success or the standard error body {"error": {"code", "message"}}
with a 4xx status. The bodies are built as raw bytes, so that they can be nested deeper than
json.dumps recurses, carry lone surrogates as `\\ud800` escapes, or not be JSON (or UTF-8) at all.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from srllm import contract
from srllm.server.app import create_app
from srllm.server.settings import ServerSettings
from tests.standin import ScriptedEngine

TOKEN = "fuzz-test-token-0123456789abcdef"
TASK_ROUTES = ("/v1/flag", "/v1/rewrite", "/v1/debias")
ROUTES = (*TASK_ROUTES, "/v1/chat/completions")
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class FuzzEngine(ScriptedEngine):
    """Flags every sentence with a word of its own, so spans, the lexicon merge and the guided
    rewrite all run on the fuzzed text; the chat does with its input what llama.cpp does."""

    def flag(self, text: str, cancel: threading.Event | None = None) -> contract.Flag:
        self._enter("flag", text)
        self.active -= 1
        words = text.split()
        if len(words) % 2 == 0:
            return contract.Flag(contract.Label.NEUTRAL, p_biased=0.1)
        label = contract.Label.SLIGHTLY_BIASED
        picked = [words[len(words) // 2]]
        return contract.Flag(label, ["age"], picked, contract.explain(label, ["age"], picked), 0.9)

    def stream_rewrite(
        self,
        text: str,
        cancel: threading.Event | None = None,
        avoid: list[str] | None = None,
        sample: int = 0,
    ) -> Iterator[str]:
        # Drop every other word (emoji, numbers and all) and swap in the avoided words, so the
        # rewrite differs and restore_protected has work to do.
        words = text.split(" ")
        kept = [w for i, w in enumerate(words) if i % 2 == 0] + list(avoid or [])
        yield from super().stream_rewrite(" ".join(kept) or text, cancel, avoid)

    def label_probabilities(self, text: str) -> dict[contract.Label, float]:
        p = (len(text) % 10) / 10
        return {
            contract.Label.NEUTRAL: 1.0 - p,
            contract.Label.SLIGHTLY_BIASED: p,
            contract.Label.HIGHLY_BIASED: 0.0,
        }

    def count_chat_tokens(self, messages: list[dict[str, str]]) -> int:
        # The real engine renders the chat template and tokenises its UTF-8 bytes.
        return sum(len(m["content"].encode("utf-8").split()) + 4 for m in messages)

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        seed: int | None,
        cancel: threading.Event | None = None,
    ) -> Iterator[tuple[str, str | None]]:
        assert isinstance(max_tokens, int) and isinstance(temperature, float)
        assert isinstance(seed, int)
        # llama_cpp.Llama.create_completion: stop_sequences = [s.encode("utf-8") for s in stop]
        stops = [s.encode("utf-8") for s in stop or []]
        answer = messages[-1]["content"][:max_tokens]
        for word in answer.split(" "):
            if any(s in word.encode("utf-8") for s in stops):
                yield "", "stop"
                return
            yield word + " ", None
        yield "", "length"


@pytest.fixture(scope="module")
def client():
    app = create_app(
        ServerSettings(), TOKEN, model_path=Path("stand-in.gguf"), engine_factory=FuzzEngine
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=headers) as c:
        yield c


def check(response) -> None:
    """< 500, and an error is the standard JSON body."""
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str) and body["error"]["code"]
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    elif response.headers["content-type"].startswith("text/event-stream"):
        assert "internal_error" not in response.text, response.text[:500]
    else:
        response.json()


def post(client: TestClient, route: str, body: bytes, content_type: str | None = None):
    headers = {"Content-Type": content_type} if content_type is not None else {}
    response = client.post(route, content=body, headers=headers)
    check(response)
    return response


# -- strategies -----------------------------------------------------------------------------

ODD_CHARACTERS = [
    "\x00",  # NUL
    "\ufeff",  # BOM / zero-width no-break space
    "\u200f",  # right-to-left mark
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u0301",  # combining acute accent
    "\u0489",  # combining cyrillic millions sign
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\u2028",  # line separator
    "\u2029",  # paragraph separator
    "\x85",  # next line
    "\r",
    "\n",
    "\t",
    "\x0b",
    "\x1b",
    "\ud800",  # lone high surrogate
    "\udfff",  # lone low surrogate
    "\udbff\udfff",  # a surrogate pair, as two code points (not one character)
    "\U0010ffff",  # the last code point, a non-character
    "\ufffd",  # replacement character
    "\ufdd0",  # non-character
    "👴🏻",
    "🇫🇷",
    "👩\u200d💻",
    "中文",
    "é",
    "e\u0301",
    "ß",
    "İ",  # lower-cases to two code points
    "ﬃ",  # ligature: upper-cases to three
    "Σ",
    "\\",
    '"',
    "<|im_start|>",
    "<|im_end|>",
    "<text>",
    "</text>",
    ".",
    "?!",
    "…",
    " ",
    "Dr.",
    "old",
    "people",
]

odd_text = st.lists(
    st.one_of(st.sampled_from(ODD_CHARACTERS), st.characters(codec=None), st.text(max_size=5)),
    max_size=12,
).map("".join)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and ±Infinity, which json.loads accepts
    odd_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12,
)


def plausible(values: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the right type with odd contents; sometimes anything at all."""
    return st.one_of(values, json_values)


task_bodies = st.fixed_dictionaries(
    {"text": plausible(odd_text)},
    optional={
        "stream": plausible(st.booleans()),
        "all": plausible(st.booleans()),
        "extra": json_values,
    },
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": plausible(st.sampled_from(["system", "user", "assistant", "tool", ""])),
            "content": plausible(odd_text),
        },
        optional={"name": json_values},
    ),
    max_size=4,
)
chat_bodies = st.fixed_dictionaries(
    {"messages": plausible(messages)},
    optional={
        "max_tokens": plausible(st.integers(min_value=-5, max_value=5000)),
        "temperature": plausible(st.floats(min_value=-1, max_value=3)),
        "seed": plausible(st.integers(min_value=-1, max_value=2**32)),
        "stop": plausible(st.one_of(odd_text, st.lists(odd_text, max_size=6))),
        "stream": plausible(st.booleans()),
        "model": json_values,
    },
)


def encode(value, ascii_only: bool) -> bytes:
    """JSON bytes; a lone surrogate goes out as a `\\ud800` escape (ascii_only) or as the
    three bytes UTF-8 forbids (surrogatepass), as a careless client might send it."""
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


# -- the properties -------------------------------------------------------------------------


@FUZZ
@given(route=st.sampled_from(TASK_ROUTES), body=task_bodies, ascii_only=st.booleans())
def test_task_routes_answer_any_json_object_without_a_500(client, route, body, ascii_only):
    post(client, route, encode(body, ascii_only))


@FUZZ
@given(body=chat_bodies, ascii_only=st.booleans())
def test_chat_answers_any_json_object_without_a_500(client, body, ascii_only):
    post(client, "/v1/chat/completions", encode(body, ascii_only))


@FUZZ
@given(route=st.sampled_from(ROUTES), value=json_values, ascii_only=st.booleans())
def test_any_json_value_as_the_body_is_refused_cleanly(client, route, value, ascii_only):
    response = post(client, route, encode(value, ascii_only))
    if not isinstance(value, dict):
        assert response.status_code == 422


OPENERS = (b"[", b'{"a":', b'{"":', b'{"text":', b'{"messages":', b'[{"content":')


@settings(FUZZ, max_examples=40)
@given(
    route=st.sampled_from(ROUTES),
    depth=st.one_of(st.integers(1, 2000), st.integers(2000, 70000)),
    openers=st.lists(st.sampled_from(OPENERS), min_size=1, max_size=3),
    closed=st.booleans(),
    field=st.sampled_from([b"text", b"messages", b"stop", b"max_tokens", b"stream"]),
)
def test_deep_nesting_is_refused_cleanly(client, route, depth, openers, closed, field):
    """Nested far past the recursion limit, balanced or not, at the top or inside a field."""
    pattern = b"".join(openers)
    brackets = bytes(reversed([c for c in pattern if c in b"[{"]))
    closer = brackets.translate(bytes.maketrans(b"[{", b"]}"))
    repeat = depth // len(openers) + 1
    inner = pattern * repeat + (b"null" + closer * repeat if closed else b"")
    post(client, route, inner)
    post(client, route, b'{"' + field + b'": ' + inner + (b"}" if closed else b""))


RAW_BODIES = [
    b"",
    b" ",
    b"null",
    b"\xef\xbb\xbf",  # a UTF-8 BOM alone
    b'\xef\xbb\xbf{"text": "old people"}',  # JSON after a UTF-8 BOM
    '{"text": "old people are slow"}'.encode("utf-16"),  # json.loads sniffs UTF-16/32
    '{"text": "old people are slow"}'.encode("utf-32-le"),
    b'{"text": "\xff\xfe old"}',  # not UTF-8
    b'{"text": "\xc3\x28"}',  # an invalid two-byte sequence
    b'{"text": "\xed\xa0\x80 people"}',  # a UTF-8-encoded surrogate
    b'{"text": "\xf4\x90\x80\x80"}',  # past U+10FFFF
    b'{"text": "\\ud800 people"}',
    b'{"text": "\\udc00\\ud800"}',  # a reversed pair
    b'{"text": "old\\u0000people"}',
    b'{"text": "old people", "text": 1}',  # duplicate keys: the last wins
    b'{"text": "a"' + b" " * 70000 + b"}",  # over the body limit
    b'{"max_tokens": ' + b"9" * 5000 + b', "messages": []}',  # past int's 4300-digit limit
    b'{"text": "x", "all": ' + b"1" * 4301 + b"}",
    b'{"temperature": 1e999, "messages": [{"role": "user", "content": "hi"}]}',
    b'{"temperature": -0.0, "messages": [{"role": "user", "content": "hi"}]}',
    b'{"seed": 1e2, "messages": [{"role": "user", "content": "hi"}]}',
    b'{"temperature": NaN, "messages": [{"role": "user", "content": "hi"}]}',
    b'{"max_tokens": Infinity, "messages": [{"role": "user", "content": "hi"}]}',
    b'{"stop": "", "messages": [{"role": "user", "content": "hi"}]}',
    b'{"stop": "\\ud800", "messages": [{"role": "user", "content": "hi"}]}',
    b'{"stop": ["\\udfff"], "messages": [{"role": "user", "content": "hi"}]}',
    b'{"stop": "\xed\xa0\x80", "messages": [{"role": "user", "content": "hi"}]}',
    b'{"messages": [{"role": "user", "content": "hi \\ud83d"}], "stream": true}',
    b'{"messages": [{"role": "\\ud800", "content": "hi"}]}',
    b'{"messages": [{"role": ["user"], "content": "hi"}]}',
    b'{"messages": [{"role": {"a": 1}, "content": "hi"}]}',
    b'{"text": "old people", "stream": true}garbage',
    b"{'text': 'single quotes'}",
    b'{"text": "old people",}',
    b'{"text": "old people"',
    b"\x00\x00\x00{",
    b"\xff" * 16,
]
CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/octet-stream",
    "",
    "*/*;;;",
]


@pytest.mark.parametrize("body", RAW_BODIES, ids=range(len(RAW_BODIES)))
@pytest.mark.parametrize("route", ROUTES)
def test_odd_raw_bodies_are_refused_cleanly(client, route, body):
    post(client, route, body)


@FUZZ
@given(
    route=st.sampled_from(ROUTES),
    body=st.one_of(
        st.binary(max_size=200),
        st.sampled_from(RAW_BODIES),
        st.builds(lambda b, v: encode(b, v), task_bodies | chat_bodies, st.booleans()),
    ),
    content_type=st.sampled_from(CONTENT_TYPES)
    | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)
def test_any_bytes_with_any_content_type_never_reach_a_500(client, route, body, content_type):
    post(client, route, body, content_type)


def test_known_odd_inputs_get_their_specific_answers(client):
    chat = '"messages": [{"role": "user", "content": "hi"}]'
    digits = post(client, "/v1/chat/completions", b'{"max_tokens": ' + b"9" * 5000 + b"}")
    assert digits.status_code == 400 and digits.json()["error"]["code"] == "bad_request"
    for stop in ('"\\ud800"', '["ok", "\\udfff"]'):
        r = post(client, "/v1/chat/completions", f'{{"stop": {stop}, {chat}}}'.encode())
        assert r.status_code == 422 and "surrogate" in r.json()["error"]["message"]
    empty = post(client, "/v1/chat/completions", f'{{"stop": "", {chat}}}'.encode())
    assert empty.status_code == 422 and "stop" in empty.json()["error"]["message"]
    bom = post(client, "/v1/flag", b'\xef\xbb\xbf{"text": "The meeting starts at noon."}')
    assert bom.status_code == 200
    nul = post(client, "/v1/flag", b'{"text": "old\\u0000people are slow"}')
    assert nul.status_code == 200
