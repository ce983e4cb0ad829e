"""Builds the training run's run.json (srllm.manifest.TrainingManifest). Written last, atomically,
into the run folder and into the adapter and merged folders, where convert reads it by path."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

from srllm import contract
from srllm.manifest import TrainingManifest


def git_info(root: Path) -> dict:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(device, dtype, world: int) -> dict:
    import peft
    import torch
    import transformers

    info = {
        "type": device.type,
        "name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "dtype": str(dtype).removeprefix("torch."),
        "world_size": world,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }
    return info


def dir_size(folder: Path | None) -> int | None:
    if folder is None:
        return None
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def write(
    output_dir: Path, cfg, prepared, metrics, adapter_dir, merged_dir, tokens_per_s, wall
) -> Path:
    """tokens_per_s: of this process (a resumed run's earlier part ran at its own speed)."""
    from collections import Counter

    kinds = Counter(ex.kind for ex in prepared.dataset.train)
    record = TrainingManifest(
        contract_version=contract.CONTRACT_VERSION,
        config=cfg.to_dict(),
        data={
            "files_sha256": prepared.dataset.files,
            "train_examples": len(prepared.train),
            "val_examples": len(prepared.val),
            "train_examples_by_kind": dict(sorted(kinds.items())),
            "dropped_too_long": metrics.dropped_too_long,
            "heldout_files_never_trained": list(cfg.heldout_files),
        },
        base_model=prepared.base_identity,
        git=git_info(Path(__file__).resolve().parent.parent),
        metrics={
            "steps": metrics.steps,
            "steps_per_epoch": metrics.steps_per_epoch,
            "epochs_completed": metrics.steps // max(1, metrics.steps_per_epoch),
            "epochs_trained": round(metrics.steps / max(1, metrics.steps_per_epoch), 2),
            "train_loss": metrics.train_loss,
            "val_loss": metrics.val_loss,
            "val_loss_start": metrics.val_loss_start,
            "tokens_trained": metrics.tokens,
            "tokens_per_s": round(tokens_per_s, 1),
            "train_seconds": round(metrics.train_seconds, 1),
            "stopped_by_time_budget": metrics.stopped_by_time_budget,
            "replica_spread": metrics.replica_spread,
            "loss_log": metrics.loss_log,
        },
        outputs={
            "adapter": str(adapter_dir),
            "adapter_bytes": dir_size(adapter_dir),
            "merged": str(merged_dir) if merged_dir else None,
        },
        wall_time_s=round(wall, 1),
        device=device_info(prepared.device, prepared.dtype, prepared.dist.world),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    # Beside the outputs too: `srllm convert runs/X/merged` and `--adapter runs/X/adapter` find
    # the run by path, with no guessing.
    folders = [output_dir, adapter_dir, *([merged_dir] if merged_dir else [])]
    return record.write(*folders)[0]
