"""The stage's one error type: its message is shown to the user as one line."""

from __future__ import annotations

from server.errors import SrllmError


class ConvertError(SrllmError):
    status = 400
    code = "convert_failed"
