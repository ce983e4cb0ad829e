"""The one user-facing error type: a code, a message and structured details.

No HTTP status here: the server maps codes to statuses and builds the JSON body in one place
(server/http_errors.py); the `srllm` command prints the message as one line and maps the error
to an exit code in one place (srllm/cli.py). Anything that is not an SrllmError is a bug and
keeps its traceback.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    # What a client sent over HTTP
    BAD_REQUEST = "bad_request"
    INVALID_REQUEST = "invalid_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    TEXT_TOO_LONG = "text_too_long"
    BODY_TOO_LARGE = "body_too_large"
    CANCELLED = "cancelled"
    UNSUPPORTED_LANGUAGE = "unsupported_language"  # the model reads English only
    # The model
    MODEL_MISSING = "model_missing"
    MODEL_LOAD_FAILED = "model_load_failed"
    MODEL_OUTPUT_INVALID = "model_output_invalid"
    # An inference engine or srllm server reached over HTTP (srllm serve --upstream, srllm batch)
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_BAD_RESPONSE = "upstream_bad_response"
    # A user's setup and input on the command line
    BAD_INPUT = "bad_input"
    BAD_CONFIG = "bad_config"
    DATA_MISSING = "data_missing"
    DATA_INVALID = "data_invalid"
    CONVERT_FAILED = "convert_failed"
    # Ours, never the user's
    INTERNAL = "internal_error"


class SrllmError(Exception):
    def __init__(self, code: Code, message: str, **details):
        """`details` are structured facts a client can act on without parsing the message
        (e.g. limit=4000, unit="characters", field="lr", row=12)."""
        super().__init__(message)
        self.code = Code(code)
        self.message = message
        self.details = details

    def body(self) -> dict:
        """The one JSON error body: {"error": {"code", "message", ...details}}."""
        return {"error": {"code": self.code.value, "message": self.message, **self.details}}
