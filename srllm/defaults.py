"""Defaults shared by more than one stage, in one place (standard library only, cheap to
import): what the server serves is what the eval measures unless told otherwise."""

from __future__ import annotations

# Context window, in tokens, of the model the server runs (and the eval, and calibration).
DEFAULT_CTX = 4096
