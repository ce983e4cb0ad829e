"""Checkpoints (adapter weights + optimiser + position) and resume; the final adapter export.

A checkpoint folder is written under a temporary name and renamed, so a crash mid-save leaves the
previous checkpoint intact. "Newest" is the highest step number, never a file time.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def checkpoint_dirs(output_dir: Path) -> list[Path]:
    found = [p for p in (output_dir / "checkpoints").glob("step-*") if p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(output_dir: Path, model, optimizer, state: dict, keep: int) -> Path:
    final = output_dir / "checkpoints" / f"step-{state['step']}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(trainable_state(model), tmp / "trainable.safetensors")
    torch.save({"optimizer": optimizer.state_dict()}, tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps(state, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in checkpoint_dirs(output_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(folder: Path, model, optimizer) -> dict:
    weights = load_file(folder / "trainable.safetensors")
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise ValueError(f"checkpoint {folder} does not match the model: {missing[:3]}")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    extra = torch.load(folder / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(extra["optimizer"])
    return json.loads((folder / "state.json").read_text())


def save_adapter(model, folder: Path, dtype: str, base_name: str | None = None) -> Path:
    """A standard peft adapter folder (adapter_config.json + adapter_model.safetensors).

    The weights are cast to `dtype` (fp16 halves the file; the merge casts back). `base_name`
    replaces base_model_name_or_path (a local cache path means nothing on another machine).
    """
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    if base_name:
        config_file = tmp / "adapter_config.json"
        config = json.loads(config_file.read_text())
        config["base_model_name_or_path"] = base_name
        config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    weights_file = tmp / "adapter_model.safetensors"
    weights = load_file(weights_file)
    save_file({k: v.to(DTYPES[dtype]).contiguous() for k, v in weights.items()}, weights_file)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def export(adapter_dir: Path, manifest: Path, target: Path) -> None:
    """Copy the adapter and its run.json to `target` (the committed default adapter)."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy2(adapter_dir / name, tmp / name)
    shutil.copy2(manifest, tmp / "run.json")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
