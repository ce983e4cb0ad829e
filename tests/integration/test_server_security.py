"""Security and bad input against the real server: every refusal is a JSON error body."""

from pathlib import Path

import httpx
import pytest

from srllm import contract
from tests.support import running_server


def error_of(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


@pytest.mark.parametrize("route", ["/v1/flag", "/v1/rewrite", "/v1/debias", "/v1/chat/completions"])
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Basic abc"])
def test_v1_routes_need_the_token(server, route, auth):
    headers = {"Authorization": auth} if auth else {}
    r = httpx.post(f"{server.url}{route}", json={"text": "x"}, headers=headers)
    assert r.status_code == 401
    assert error_of(r)["code"] == "unauthorized"
    assert httpx.get(f"{server.url}/v1/models", headers=headers).status_code == 401


def test_health_without_the_token_says_only_that_the_server_is_up(server, client):
    public = httpx.get(f"{server.url}/health")
    assert public.status_code == 200
    assert public.json() == {"status": "ok", "contract": contract.CONTRACT_VERSION,
                             "model_loaded": True}  # fmt: skip
    assert str(Path.home()) not in public.text and "stats" not in public.text
    wrong = httpx.get(f"{server.url}/health", headers={"Authorization": "Bearer nope"})
    assert wrong.json() == public.json()
    details = client.get("/health").json()
    assert details["model"]["path"] and "stats" in details and "limits" in details


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "\\ud800 old people"}',  # a lone surrogate
        b'{"text": "x", "y": ' + b"[" * 20000 + b"]" * 20000 + b"}",  # deep, under 64 KiB
    ],
    ids=["lone-surrogate", "nested-20000"],
)
def test_odd_json_is_a_400_not_a_500(client, body):
    r = client.post("/v1/flag", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert error_of(r)["code"] in ("bad_request", "invalid_request")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.nip.io"])
def test_foreign_host_header_is_refused(server, host):
    r = httpx.get(f"{server.url}/health", headers={"Host": host})
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"


def test_localhost_host_header_is_accepted(server):
    port = server.url.rsplit(":", 1)[1]
    r = httpx.get(f"{server.url}/health", headers={"Host": f"localhost:{port}"})
    assert r.status_code == 200


def test_other_origins_are_refused_and_extension_origins_get_cors(server, client):
    r = client.post("/v1/flag", json={"text": "x"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"
    origin = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
    pre = httpx.options(
        f"{server.url}/v1/debias",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == origin
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    r = client.post("/v1/flag", json={"text": "The sky is blue."}, headers={"Origin": origin})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin
    r = httpx.get(f"{server.url}/health", headers={"Origin": "moz-extension://1234-abcd"})
    assert r.headers["access-control-allow-origin"] == "moz-extension://1234-abcd"


def test_body_over_64_kib_is_refused(client):
    r = client.post("/v1/flag", content=b'{"text": "' + b"a" * (65 * 1024) + b'"}')
    assert r.status_code == 413 and error_of(r)["code"] == "body_too_large"


def test_chunked_body_over_64_kib_is_refused(client):
    def chunks():
        yield b'{"text": "'
        for _ in range(70):
            yield b"a" * 1024
        yield b'"}'

    r = client.post("/v1/flag", content=chunks())
    assert r.status_code == 413 and error_of(r)["code"] == "body_too_large"


def test_text_over_the_character_limit_names_the_limit(server, client):
    limit = client.get("/health").json()["limits"]["max_text_chars"]
    r = client.post("/v1/flag", json={"text": "a " * (limit // 2 + 1)})
    assert r.status_code == 413
    err = error_of(r)
    assert err["code"] == "text_too_long" and str(limit) in err["message"]


def test_text_over_the_model_context_names_the_token_limit(tmp_path, model_path):
    with (
        running_server(tmp_path, "--ctx", "512", model=model_path) as small,
        small.client() as c,
    ):
        limit = c.get("/health").json()["limits"]["max_text_tokens"]
        r = c.post("/v1/rewrite", json={"text": "word " * 400})
    assert r.status_code == 413
    assert str(limit) in error_of(r)["message"] and "token" in error_of(r)["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": ""}, 422, "invalid_request"),
        ({"text": "   "}, 422, "invalid_request"),
        ({"text": 5}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
        (["text"], 422, "invalid_request"),
        ({"text": "ok", "stream": "yes"}, 422, "invalid_request"),
    ],
)
def test_bad_bodies_get_clear_errors(client, body, status, code):
    r = client.post("/v1/rewrite", json=body)
    assert r.status_code == status
    assert error_of(r)["code"] == code and error_of(r)["message"]


def test_malformed_json_is_400(client):
    r = client.post("/v1/flag", content=b'{"text": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error_of(r)["code"] == "bad_request"


def test_bad_chat_requests_are_422(client):
    assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 422
    bad_role = {"messages": [{"role": "robot", "content": "x"}]}
    assert client.post("/v1/chat/completions", json=bad_role).status_code == 422
    bad_tokens = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}
    assert client.post("/v1/chat/completions", json=bad_tokens).status_code == 422


def test_unknown_route_and_wrong_method_are_json(client):
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    r = client.get("/v1/flag")
    assert r.status_code == 405 and error_of(r)["code"] == "method_not_allowed"
