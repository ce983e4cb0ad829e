"""Quantize a GGUF with llama.cpp's own quantizer (llama_model_quantize via llama-cpp-python)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from srllm.errors import Code, SrllmError

# Names accepted by --quant, onto llama.cpp's llama_ftype values.
QUANT_TYPES: dict[str, int] = {
    "f32": 0,
    "f16": 1,
    "q4_0": 2,
    "q4_1": 3,
    "q8_0": 7,
    "q5_0": 8,
    "q5_1": 9,
    "q2_k": 10,
    "q3_k_s": 11,
    "q3_k_m": 12,
    "q3_k_l": 13,
    "q4_k_s": 14,
    "q4_k_m": 15,
    "q5_k_s": 16,
    "q5_k_m": 17,
    "q6_k": 18,
    "bf16": 32,
}


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Capture C-level stderr (llama.cpp logs every tensor); the text is there on failure."""
    out: list[str] = []
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


def quantize(src: Path, dst: Path, quant: str, threads: int | None = None) -> None:
    """Write `src` quantized to `quant` at `dst`; llama.cpp picks fallbacks for odd row widths."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[quant]
    params.nthread = threads or 0  # 0: all cores
    with captured_stderr() as log:
        rc = llama_cpp.llama_model_quantize(
            str(src).encode(), str(dst).encode(), ctypes.byref(params)
        )
    if rc != 0:
        tail = [line for line in "".join(log).splitlines() if line.strip()][-1:] or ["no log"]
        raise SrllmError(
            Code.CONVERT_FAILED, f"llama.cpp failed to quantize to {quant} (code {rc}): {tail[0]}"
        )
