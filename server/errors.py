"""Typed errors: each carries the HTTP status and the machine-readable code shown to users.

The HTTP layer renders any SrllmError as {"error": {"code", "message"}}; the CLI prints its
message as one line and exits non-zero.
"""

from __future__ import annotations


class SrllmError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, **details):
        """`details` are structured facts a client can act on without parsing the message
        (e.g. limit=4000, unit="characters"); they go into the JSON error body beside it."""
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict:
        """The one JSON error body: {"error": {"code", "message", ...details}}."""
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class BadRequestError(SrllmError):
    status = 400
    code = "bad_request"


class ValidationError(SrllmError):
    status = 422
    code = "invalid_request"


class UnauthorizedError(SrllmError):
    status = 401
    code = "unauthorized"


class ForbiddenError(SrllmError):
    status = 403
    code = "forbidden"


class NotFoundError(SrllmError):
    status = 404
    code = "not_found"


class TextTooLongError(SrllmError):
    status = 413
    code = "text_too_long"


class BodyTooLargeError(SrllmError):
    status = 413
    code = "body_too_large"


class ModelOutputError(SrllmError):
    """The model produced output that breaks the contract, even after a retry."""

    status = 502
    code = "model_output_invalid"


class GenerationCancelled(SrllmError):
    """The client went away (or pressed Stop) while its text was being generated."""

    status = 499
    code = "cancelled"


class ModelLoadError(SrllmError):
    status = 500
    code = "model_load_failed"
