"""Checkpoints (adapter weights + optimiser + RNG + the typed resume state) and resume; the final
adapter export.

A checkpoint folder holds trainable.safetensors (the LoRA weights), optimizer.pt (AdamW's state
and the torch RNG state, so dropout draws the same masks after a resume) and state.json (a
`ResumeState`). It is written under a temporary name and renamed, so a crash mid-save leaves the
previous checkpoint intact. "Newest" is the highest step number, never a file time.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import torch
from safetensors.torch import load_file, save_file

from srllm.errors import Code, SrllmError
from srllm.files import staged_dir

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}

# Bumped whenever ResumeState changes meaning: a checkpoint of another version is refused with a
# clear error rather than resumed at a misread position.
STATE_VERSION = 2


@dataclass
class ResumeState:
    """Where a run stands between optimiser steps: what the loop needs to continue exactly there.

    The losses of an epoch in progress live in epoch_loss / epoch_labels until the epoch ends;
    train_loss and val_loss hold completed epochs only.
    """

    step: int = 0  # optimiser steps done
    epoch: int = 0  # the epoch in progress (== epochs once all are done)
    batch: int = 0  # this rank's next batch in that epoch
    epoch_loss: float = 0.0  # summed weighted loss of that epoch so far
    epoch_labels: int = 0  # label tokens of that epoch so far
    train_loss: list[float] = field(default_factory=list)  # mean per label token, per epoch
    val_loss: list[float] = field(default_factory=list)
    val_loss_start: float | None = None  # before training (eval_at_start)
    tokens: int = 0  # non-padding tokens trained on, all ranks together
    train_seconds: float = 0.0
    loss_log: list[list[float]] = field(default_factory=list)  # [step, mean loss since last log]

    def to_dict(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: Any, source: str) -> ResumeState:
        """The state saved by to_dict; SrllmError(DATA_INVALID) naming `source` otherwise."""
        version = data.get("version") if isinstance(data, dict) else None
        if version != STATE_VERSION:
            raise SrllmError(
                Code.DATA_INVALID,
                f"checkpoint {source}: resume state version {version!r}, this training loop "
                f"reads version {STATE_VERSION}; train with resume=false or another output_dir",
                path=source,
                version=version,
            )
        hints = get_type_hints(cls)
        fields = dict(data)
        fields.pop("version")
        if set(fields) != set(hints):
            raise SrllmError(
                Code.DATA_INVALID,
                f"checkpoint {source}: resume state fields {sorted(fields)}, "
                f"expected {sorted(hints)}",
                path=source,
            )
        for name, value in fields.items():
            if not _fits(value, hints[name]):
                raise SrllmError(
                    Code.DATA_INVALID,
                    f"checkpoint {source}: resume state field {name!r} is {value!r}, "
                    f"expected {hints[name]}",
                    path=source,
                    field=name,
                )
        return cls(**fields)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value has the type a ResumeState field declares (bool is not a number)."""
    if get_origin(hint) is list:
        return isinstance(value, list) and all(_fits(v, get_args(hint)[0]) for v in value)
    if isinstance(hint, types.UnionType):
        return any(_fits(value, h) for h in get_args(hint))
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint)


def checkpoint_dirs(output_dir: Path) -> list[Path]:
    found = [p for p in (output_dir / "checkpoints").glob("step-*") if p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(output_dir: Path, model, optimizer, state: ResumeState, keep: int) -> Path:
    final = output_dir / "checkpoints" / f"step-{state.step}"
    with staged_dir(final) as tmp:
        save_file(trainable_state(model), tmp / "trainable.safetensors")
        torch.save({"optimizer": optimizer.state_dict(), "rng": _rng_state()}, tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps(state.to_dict(), indent=2))
    for old in checkpoint_dirs(output_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(folder: Path, model, optimizer) -> ResumeState:
    """Restore the weights, the optimiser and the RNG; returns where the run stood.

    The state is read first: a checkpoint of another version changes nothing.
    """
    try:
        data = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError) as exc:
        raise SrllmError(
            Code.DATA_INVALID,
            f"checkpoint {folder}: unreadable state.json: {exc}",
            path=str(folder),
        ) from exc
    state = ResumeState.from_dict(data, str(folder))
    weights = load_file(folder / "trainable.safetensors")
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise SrllmError(
            Code.BAD_CONFIG,
            f"checkpoint {folder} does not match the model (another LoRA config?): {missing[:3]}",
            path=str(folder),
        )
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    extra = torch.load(folder / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(extra["optimizer"])
    _set_rng_state(extra["rng"])
    return state


def _rng_state() -> dict[str, torch.Tensor]:
    """The generators dropout draws from: the CPU's and this process's current GPU's."""
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    return rng


def _set_rng_state(rng: dict[str, torch.Tensor]) -> None:
    # Rank 0 saved it; every rank drew the same masks from the same seed before, and still does.
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])


def save_adapter(model, folder: Path, dtype: str, base_name: str | None = None) -> Path:
    """A standard peft adapter folder (adapter_config.json + adapter_model.safetensors).

    The weights are cast to `dtype` (fp16 halves the file; the merge casts back). `base_name`
    replaces base_model_name_or_path (a local cache path means nothing on another machine).
    """
    with staged_dir(folder) as tmp:
        model.save_pretrained(tmp)
        if base_name:
            config_file = tmp / "adapter_config.json"
            config = json.loads(config_file.read_text())
            config["base_model_name_or_path"] = base_name
            config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        weights_file = tmp / "adapter_model.safetensors"
        weights = load_file(weights_file)
        save_file({k: v.to(DTYPES[dtype]).contiguous() for k, v in weights.items()}, weights_file)
    return folder


def export(adapter_dir: Path, manifest: Path, target: Path) -> None:
    """Copy the adapter and its run.json to `target` (the committed default adapter)."""
    with staged_dir(target) as tmp:
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy2(adapter_dir / name, tmp / name)
        shutil.copy2(manifest, tmp / "run.json")
