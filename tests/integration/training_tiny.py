"""Settings for tiny training runs on the tiny random Llama of convert_tiny (built offline)."""

from __future__ import annotations

from pathlib import Path

from srllm.paths import data_root
from tests.integration.convert_tiny import build_tiny_llama

SRLLM_DATA = data_root() / "srllm"

__all__ = ["SRLLM_DATA", "build_tiny_llama", "tiny_overrides"]


def tiny_overrides(base: Path, out: Path, **extra) -> list[str]:
    values = {
        "base_model": f'"{base}"',
        "init_adapter": '""',  # the default config continues from a SmolLM2 adapter
        "data_dir": f'"{SRLLM_DATA}"',
        "output_dir": f'"{out}"',
        "lora_r": "8",
        "lora_alpha": "16",
        "lora_dropout": "0.0",
        "epochs": "1",
        "max_steps": "8",
        "batch_size": "4",
        "lr": "2e-2",
        "warmup_steps": "0",
        "eval_max_examples": "16",
        "eval_at_start": "true",
        "threads": "2",
        "save_every": "4",
        "log_every": "1",
        "merge": "true",
        "export_dir": '""',
    }
    values.update({k: str(v) for k, v in extra.items()})
    return [f"{k}={v}" for k, v in values.items()]
