"""Token, Host and Origin checks: the server is for this machine and the extension only."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from srllm import paths
from srllm.server.settings import LOOPBACK_HOSTS, check_token

EXTENSION_SCHEMES = ("chrome-extension://", "moz-extension://")


def load_or_create_token(token_file: Path | None = None) -> str:
    """SRLLM_TOKEN when set; else the stored token, created with 0600 permissions on first use.
    A token `srllm serve` would refuse is refused here too, so `srllm token` never prints one."""
    from_env = os.environ.get("SRLLM_TOKEN")
    if from_env:
        check_token(from_env)
        return from_env
    path = token_file or paths.token_file()
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # Create with 0600 from the start: never a moment where another user could read it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def host_name(host_header: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:8765' -> '[::1]', 'localhost' -> 'localhost'."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host_header: str | None, extra_hosts: tuple[str, ...] = ()) -> bool:
    """Only loopback names pass: a DNS-rebinding page arrives with its own host name."""
    if not host_header:
        return False
    name = host_name(host_header)
    if name in LOOPBACK_HOSTS or name in extra_hosts:
        return True
    try:  # any 127.0.0.0/8 address, but never a DNS name that merely starts with "127."
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def origin_allowed(
    origin: str, allowed_origins: tuple[str, ...] = (), extension_origins: tuple[str, ...] = ()
) -> bool:
    """The configured origins, plus: the paired extension's origins when the server was told them
    (`srllm serve --extension-origin`, set by the native host), else any extension origin."""
    origin = origin.strip()
    if origin in allowed_origins:
        return True
    if extension_origins:
        return origin in extension_origins
    return any(origin.startswith(s) and len(origin) > len(s) for s in EXTENSION_SCHEMES)


def token_matches(authorization: str | None, token: str) -> bool:
    if not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())
