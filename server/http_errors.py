"""The HTTP boundary's one map from error codes to statuses, and its one JSON error response.

Every refusal (guards in the middleware, routes, Starlette's own 404/405, a bug) goes through
`error_response` or `error_bytes`, so the body is always {"error": {"code", "message", ...}}.
"""

from __future__ import annotations

import json

from starlette.responses import JSONResponse

from srllm.errors import Code, SrllmError

STATUS: dict[Code, int] = {
    Code.BAD_REQUEST: 400,
    Code.INVALID_REQUEST: 422,
    Code.UNAUTHORIZED: 401,
    Code.FORBIDDEN: 403,
    Code.NOT_FOUND: 404,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.TEXT_TOO_LONG: 413,
    Code.BODY_TOO_LARGE: 413,
    Code.CANCELLED: 499,  # the client went away or pressed Stop
    Code.UNSUPPORTED_LANGUAGE: 422,
    Code.MODEL_OUTPUT_INVALID: 502,
    Code.UPSTREAM_UNAVAILABLE: 502,  # the inference engine refused or dropped the connection
    Code.UPSTREAM_BAD_RESPONSE: 502,  # it answered, but not in the OpenAI shape
    Code.UPSTREAM_TIMEOUT: 504,
    Code.MODEL_MISSING: 500,
    Code.MODEL_LOAD_FAILED: 500,
    Code.BAD_INPUT: 400,
    Code.BAD_CONFIG: 500,
    Code.DATA_MISSING: 500,
    Code.DATA_INVALID: 500,
    Code.CONVERT_FAILED: 500,
    Code.INTERNAL: 500,
}

# What a client sees of a bug: the details stay in the server log.
INTERNAL = SrllmError(Code.INTERNAL, "internal error; see the server log")


def status_of(error: SrllmError) -> int:
    return STATUS[error.code]


def error_bytes(error: SrllmError) -> bytes:
    return json.dumps(error.body()).encode()


def error_headers(error: SrllmError) -> list[tuple[bytes, bytes]]:
    body = error_bytes(error)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if error.code is Code.UNAUTHORIZED:
        headers.append((b"www-authenticate", b"Bearer"))
    return headers


def error_response(error: SrllmError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.code is Code.UNAUTHORIZED else None
    return JSONResponse(error.body(), status_code=status_of(error), headers=headers)
