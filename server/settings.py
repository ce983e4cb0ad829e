"""The server's one typed config: defaults < SRLLM_* environment variables < CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from srllm.defaults import DEFAULT_CTX
from srllm.errors import Code, SrllmError
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
    n_gpu_layers: int | None = None
    threads: int | None = None
    ctx: int = DEFAULT_CTX
    max_text_chars: int = 8000
    max_body_bytes: int = MAX_BODY_BYTES
    cache_size: int = 256
    allowed_origins: tuple[str, ...] = ()  # beyond chrome-extension:// and moz-extension://
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
        if self.cache_size < 0:
            raise SrllmError(
                Code.BAD_CONFIG, f"cache_size must be 0 or more, got {self.cache_size}"
            )
        if self.token is not None:
            check_token(self.token)

    def engine_config(self, model_path: Path) -> EngineConfig:
        return EngineConfig(
            model_path=model_path,
            n_ctx=self.ctx,
            n_threads=self.threads,
            n_gpu_layers=self.n_gpu_layers,
        )

    def with_overrides(self, **overrides) -> ServerSettings:
        """Apply CLI flags; None means 'not given' and keeps the current value."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


_CASTS = {"port": int, "n_gpu_layers": int, "threads": int, "ctx": int, "max_text_chars": int}
_CASTS |= {"max_body_bytes": int, "cache_size": int, "model": Path}


MIN_TOKEN_CHARS = 16


def check_token(token: str) -> None:
    """The one rule for a token from SRLLM_TOKEN: `serve` and `token` refuse the same ones."""
    if len(token) < MIN_TOKEN_CHARS:
        raise SrllmError(
            Code.BAD_CONFIG,
            f"SRLLM_TOKEN is {len(token)} characters; a token needs at least {MIN_TOKEN_CHARS}",
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
        if f.name in ("allowed_origins", "extra_hosts"):
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
