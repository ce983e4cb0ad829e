"""The server's one typed config: defaults < SRLLM_* environment variables < CLI flags."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from srllm.defaults import DEFAULT_CTX
from srllm.errors import Code, SrllmError

if TYPE_CHECKING:  # the engine imports llama_cpp: the native host reads settings without it
    from srllm.server.engine import EngineConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_BODY_BYTES = 64 * 1024

# Names a browser may send in Host for a loopback server (any port).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


@dataclass(frozen=True)
class ServerSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    model: Path | None = None  # None: resolved by srllm.paths.resolve_model
    # A second GGUF for the rewrites (None: srllm.paths.resolve_rewriter decides).
    rewriter_model: Path | None = None
    # A GGUF that scores scans (None: srllm.paths.resolve_scan decides).
    scan_model: Path | None = None
    n_gpu_layers: int | None = None
    threads: int | None = None
    ctx: int = DEFAULT_CTX
    max_text_chars: int = 8000
    # /v1/scan: a whole document, read sentence by sentence (see scan_body_bytes).
    max_scan_chars: int = 200_000
    max_scan_segments: int = 1000
    max_body_bytes: int = MAX_BODY_BYTES
    cache_size: int = 256
    allowed_origins: tuple[str, ...] = ()  # beyond chrome-extension:// and moz-extension://
    # When set (the native host sets it for the extension it paired), the only extension origins
    # accepted: any other chrome-extension:// or moz-extension:// origin is refused.
    extension_origins: tuple[str, ...] = ()
    token: str | None = None  # None: the stored token (created on first start)
    extra_hosts: tuple[str, ...] = field(default=())  # Host names to accept beyond loopback

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise SrllmError(Code.BAD_CONFIG, f"port must be between 1 and 65535, got {self.port}")
        if self.ctx < 512:
            raise SrllmError(Code.BAD_CONFIG, f"ctx must be at least 512 tokens, got {self.ctx}")
        if self.threads is not None and self.threads < 1:
            raise SrllmError(Code.BAD_CONFIG, f"threads must be at least 1, got {self.threads}")
        if self.n_gpu_layers is not None and self.n_gpu_layers < -1:
            raise SrllmError(
                Code.BAD_CONFIG,
                f"n_gpu_layers must be -1 (all), 0 or more, got {self.n_gpu_layers}",
            )
        if self.max_text_chars < 1:
            raise SrllmError(
                Code.BAD_CONFIG, f"max_text_chars must be positive, got {self.max_text_chars}"
            )
        for name in ("max_scan_chars", "max_scan_segments"):
            if getattr(self, name) < 1:
                raise SrllmError(
                    Code.BAD_CONFIG, f"{name} must be positive, got {getattr(self, name)}"
                )
        if self.cache_size < 0:
            raise SrllmError(
                Code.BAD_CONFIG, f"cache_size must be 0 or more, got {self.cache_size}"
            )
        if self.token is not None:
            check_token(self.token)
        for origin in self.extension_origins:
            check_extension_origin(origin)

    def engine_config(self, model_path: Path) -> EngineConfig:
        from srllm import paths
        from srllm.server.engine import EngineConfig

        return EngineConfig(
            model_path=model_path,
            n_ctx=self.ctx,
            n_threads=self.threads,
            n_gpu_layers=self.n_gpu_layers,
            rewriter_path=paths.resolve_rewriter(self.model, self.rewriter_model),
            scan_path=paths.resolve_scan(self.model, self.scan_model),
        )

    @property
    def scan_body_bytes(self) -> int:
        """The body limit of /v1/scan: 12 bytes per allowed character (the longest JSON escape
        of one code point, a surrogate pair) on top of the usual body limit."""
        return self.max_body_bytes + 12 * self.max_scan_chars

    def body_limit(self, path: str) -> int:
        return self.scan_body_bytes if path == "/v1/scan" else self.max_body_bytes

    def with_overrides(self, **overrides) -> ServerSettings:
        """Apply CLI flags; None means 'not given' and keeps the current value."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


_CASTS = {"port": int, "n_gpu_layers": int, "threads": int, "ctx": int, "max_text_chars": int}
_CASTS |= {"max_body_bytes": int, "cache_size": int, "model": Path, "rewriter_model": Path}
_CASTS |= {"max_scan_chars": int, "max_scan_segments": int, "scan_model": Path}


MIN_TOKEN_CHARS = 16


def check_token(token: str) -> None:
    """The one rule for a token from SRLLM_TOKEN: `serve` and `token` refuse the same ones."""
    if len(token) < MIN_TOKEN_CHARS:
        raise SrllmError(
            Code.BAD_CONFIG,
            f"SRLLM_TOKEN is {len(token)} characters; a token needs at least {MIN_TOKEN_CHARS}",
        )


# An extension's origin as a browser sends it: scheme and ID (Chrome's 32 letters a-p, Firefox's
# per-install UUID), nothing else.
EXTENSION_ORIGIN = re.compile(r"(chrome-extension|moz-extension)://[a-z0-9-]{1,64}")


def check_extension_origin(origin: str) -> None:
    if not EXTENSION_ORIGIN.fullmatch(origin):
        raise SrllmError(
            Code.BAD_CONFIG,
            f"extension origin must look like chrome-extension://ID or moz-extension://UUID, "
            f"got {origin[:100]!r}",
        )


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def from_env(environ: dict[str, str] | None = None) -> ServerSettings:
    """Settings from SRLLM_<NAME> variables, e.g. SRLLM_PORT=9000, SRLLM_ALLOWED_ORIGINS=a,b."""
    env = os.environ if environ is None else environ
    values: dict = {}
    for f in fields(ServerSettings):
        raw = env.get(f"SRLLM_{f.name.upper()}")
        if raw is None or raw == "":
            continue
        if f.name in ("allowed_origins", "extension_origins", "extra_hosts"):
            values[f.name] = _split(raw)
        elif f.name in _CASTS:
            try:
                values[f.name] = _CASTS[f.name](raw)
            except ValueError as exc:
                raise SrllmError(
                    Code.BAD_CONFIG, f"SRLLM_{f.name.upper()} must be a number, got {raw!r}"
                ) from exc
        else:
            values[f.name] = raw
    return ServerSettings(**values)
