"""The stage's typed config: one frozen dataclass, validated where it is built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from srllm.errors import Code, SrllmError

OUTTYPE_NAMES = ("f16", "bf16", "f32")
# Measured on the 135M default (see `just bench-convert`): Q8_0 keeps f16 perplexity and reads
# prompts about twice as fast as Q4_1 on 2 cores; k-quants fall back on 576-wide rows.
DEFAULT_MERGE_QUANT = "q8_0"


@dataclass(frozen=True)
class ConvertConfig:
    out: Path
    model_dir: Path | None = None  # Hugging Face folder to convert, or
    base: Path | None = None  # a GGUF base plus
    adapter: Path | None = None  # a peft LoRA adapter folder to merge into it
    # The trainer's run.json; None: run.json inside model_dir or the adapter folder, if any
    training_manifest: Path | None = None
    # The float type written (HF conversion; default f16). A merge is always written from f32
    # and stored as `quant`; there an outtype is that storage type (f16, bf16, f32).
    outtype: str | None = None
    quant: str | None = None
    verify: bool = False
    threads: int | None = None
    license: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        from srllm.convert.quantize import QUANT_TYPES

        if self.outtype is not None and self.outtype not in OUTTYPE_NAMES:
            raise SrllmError(
                Code.BAD_CONFIG,
                f"outtype must be one of {', '.join(OUTTYPE_NAMES)}, not {self.outtype!r}",
            )
        if self.quant is not None and self.quant not in QUANT_TYPES:
            raise SrllmError(
                Code.BAD_CONFIG,
                f"quant must be one of {', '.join(QUANT_TYPES)}, not {self.quant!r}",
            )
        merging = self.base is not None or self.adapter is not None
        if merging and (self.base is None or self.adapter is None):
            raise SrllmError(
                Code.BAD_CONFIG, "base and adapter go together: pass both --base and --adapter"
            )
        if merging == (self.model_dir is not None):
            raise SrllmError(
                Code.BAD_CONFIG,
                "pass either MODEL_DIR or --base with --adapter, not both or neither",
            )
        if merging and self.outtype is not None and self.quant is not None:
            raise SrllmError(
                Code.BAD_CONFIG,
                "a merge is stored as one type: pass --outtype or --quant, not both",
            )
        if self.verify and merging:
            raise SrllmError(
                Code.BAD_CONFIG, "verify compares against a Hugging Face folder: not with --adapter"
            )
        if self.threads is not None and self.threads < 1:
            raise SrllmError(Code.BAD_CONFIG, f"threads must be >= 1, not {self.threads}")

    @property
    def merging(self) -> bool:
        return self.base is not None

    @property
    def float_type(self) -> str:
        """The float type an HF conversion writes before any quantization."""
        return self.outtype or "f16"

    @property
    def merge_quant(self) -> str:
        """What a merge (written in f32) is stored as."""
        return self.quant or self.outtype or DEFAULT_MERGE_QUANT
