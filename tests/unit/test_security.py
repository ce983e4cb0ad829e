import os
import stat
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from srllm.server import security
from srllm.server.app import create_app
from srllm.server.settings import ServerSettings
from tests.standin import ScriptedEngine


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.1:8765", "localhost:8765", "LOCALHOST", "[::1]:8765", "127.5.6.7:80"],
)
def test_loopback_hosts_pass(host):
    assert security.host_allowed(host)


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "evil.com",
        "evil.com:8765",
        "127.0.0.1.evil.com",
        "127.evil.com:8765",
        "192.168.1.5:8765",
        "0.0.0.0:8765",
        "[::2]:8765",
        "localhost.evil.com",
    ],
)
def test_other_hosts_are_refused(host):
    assert not security.host_allowed(host)


def test_extra_hosts_can_be_configured():
    assert security.host_allowed("mybox.local:8765", ("mybox.local",))


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("chrome-extension://abcdefghijklmnop", True),
        ("moz-extension://0b1d2e3f-aaaa", True),
        ("chrome-extension://", False),
        ("https://example.com", False),
        ("null", False),
        ("http://127.0.0.1:8765", False),
    ],
)
def test_only_extension_origins_pass(origin, allowed):
    assert security.origin_allowed(origin) is allowed


def test_configured_origins_pass():
    assert security.origin_allowed("http://localhost:3000", ("http://localhost:3000",))


def test_token_check_needs_the_bearer_scheme_and_exact_value():
    assert security.token_matches("Bearer s3cret-token-value", "s3cret-token-value")
    assert security.token_matches("bearer s3cret-token-value", "s3cret-token-value")
    assert not security.token_matches("Bearer wrong", "s3cret-token-value")
    assert not security.token_matches("Basic s3cret-token-value", "s3cret-token-value")
    assert not security.token_matches(None, "s3cret-token-value")
    assert not security.token_matches("Bearer ", "s3cret-token-value")


def test_token_is_created_once_with_0600_and_reused(isolated_home):
    first = security.load_or_create_token()
    path = isolated_home / "token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first) >= 32
    assert security.load_or_create_token() == first


def test_env_token_overrides_the_stored_one(monkeypatch):
    security.load_or_create_token()
    monkeypatch.setenv("SRLLM_TOKEN", "from-the-environment-123")
    assert security.load_or_create_token() == "from-the-environment-123"


def test_a_short_token_from_the_environment_is_refused_by_token_as_by_serve(monkeypatch, tmp_path):
    from srllm.errors import SrllmError
    from srllm.server.settings import from_env

    monkeypatch.setenv("SRLLM_TOKEN", "short")
    with pytest.raises(SrllmError, match="at least 16"):
        security.load_or_create_token(tmp_path / "token")
    with pytest.raises(SrllmError, match="at least 16"):
        from_env()
    monkeypatch.setenv("SRLLM_TOKEN", "x" * 16)
    assert security.load_or_create_token(tmp_path / "token") == "x" * 16


PAIRED = "chrome-extension://lkobphabohbmaheiglgplodocailahhi"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (PAIRED, True),
        ("chrome-extension://abcdefghijklmnopabcdefghijklmnop", False),
        ("moz-extension://0b1d2e3f-aaaa", False),
        (PAIRED + "x", False),
        ("http://localhost:3000", True),  # configured separately, still allowed
        ("https://example.com", False),
    ],
)
def test_a_paired_server_accepts_only_the_paired_extension(origin, allowed):
    assert security.origin_allowed(origin, ("http://localhost:3000",), (PAIRED,)) is allowed


def test_the_narrowing_reaches_the_http_guard():
    token = "unit-test-token-0123456789abcdef"
    settings = ServerSettings(extension_origins=(PAIRED,))
    app = create_app(settings, token, Path("stand-in.gguf"), lambda _: ScriptedEngine())
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=auth) as client:
        ok = client.get("/v1/models", headers={"Origin": PAIRED})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == PAIRED
        other = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
        refused = client.options("/v1/flag", headers={"Origin": other})
        assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
        assert client.get("/health").status_code == 200  # no Origin: curl, the host's probe
