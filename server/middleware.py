"""One ASGI middleware for the HTTP boundary's guards, checked before any route runs.

Order: Host (DNS rebinding) -> Origin/CORS -> body size -> bearer token on /v1. Every refusal is
the standard JSON error body, and CORS headers are added for allowed extension origins.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from srllm.errors import Code, SrllmError
from srllm.server import security
from srllm.server.http_errors import error_bytes, error_headers, status_of
from srllm.server.settings import ServerSettings

CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type"


async def send_error(send: Send, error: SrllmError, extra_headers: list | None = None) -> None:
    headers = [*error_headers(error), *(extra_headers or [])]
    await send({"type": "http.response.start", "status": status_of(error), "headers": headers})
    await send({"type": "http.response.body", "body": error_bytes(error)})


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode()),
        (b"vary", b"Origin"),
        (b"access-control-allow-methods", CORS_METHODS.encode()),
        (b"access-control-allow-headers", CORS_HEADERS.encode()),
        (b"access-control-max-age", b"600"),
    ]


class GuardMiddleware:
    def __init__(self, app: ASGIApp, settings: ServerSettings, token: str):
        self.app = app
        self.settings = settings
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not security.host_allowed(headers.get("host"), self.settings.extra_hosts):
            await send_error(
                send, SrllmError(Code.FORBIDDEN, "Host header is not a loopback address")
            )
            return
        origin = headers.get("origin")
        cors: list = []
        if origin is not None:
            if not security.origin_allowed(
                origin, self.settings.allowed_origins, self.settings.extension_origins
            ):
                await send_error(
                    send, SrllmError(Code.FORBIDDEN, f"origin not allowed: {origin[:100]}")
                )
                return
            cors = _cors_headers(origin)
            if scope["method"] == "OPTIONS":  # preflight: answered here, no token needed
                await send({"type": "http.response.start", "status": 204, "headers": cors})
                await send({"type": "http.response.body", "body": b""})
                return
        length = headers.get("content-length")
        limit = self.settings.body_limit(scope["path"])
        if length is not None and length.isdigit() and int(length) > limit:
            await send_error(
                send,
                SrllmError(
                    Code.BODY_TOO_LARGE, f"body over {limit} bytes", limit=limit, unit="bytes"
                ),
                cors,
            )
            return
        if scope["path"].startswith("/v1/") and not security.token_matches(
            headers.get("authorization"), self.token
        ):
            await send_error(
                send,
                SrllmError(
                    Code.UNAUTHORIZED,
                    "missing or wrong token: send 'Authorization: Bearer <token>' "
                    "with the value `srllm token` prints",
                ),
                cors,
            )
            return

        received = 0

        async def limited_receive() -> Message:
            # Chunked bodies carry no Content-Length: count what actually arrives.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise SrllmError(
                        Code.BODY_TOO_LARGE, f"body over {limit} bytes", limit=limit, unit="bytes"
                    )
            return message

        async def send_with_cors(message: Message) -> None:
            if cors and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, limited_receive, send_with_cors)
