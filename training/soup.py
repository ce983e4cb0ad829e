"""Average LoRA adapters in weight space (a model soup) into one exact LoRA adapter.

    srllm soup --adapter training/adapters/default --adapter runs/v11/adapter --out DIR

Each adapter adds scale_i * B_i @ A_i to a base weight; the soup adds sum_i w_i * scale_i * B_i
@ A_i. That sum is itself a LoRA of rank sum(r_i): the A matrices stacked, the B matrices side by
side, each multiplied by w_i * scale_i, and lora_alpha = rank (scale 1). It is exact (no SVD
truncation), so a soup of two r=16 adapters is an r=32 adapter of twice the size. Averaging helps
when the adapters were fine-tuned from the same starting point on different data or seeds: they
lie in one basin, and their mean generalises better than either (Wortsman et al. 2022, "Model
soups"). The soup's run.json names its ingredients and their weights; calibrate it afterwards
(`srllm calibrate`), since its P(biased) is its own.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from srllm import contract
from srllm.convert.hfmodel import load_f32
from srllm.convert.merge import load_adapter
from srllm.errors import Code, SrllmError
from srllm.files import staged_dir
from srllm.manifest import TRAINING_FILE, TrainingManifest
from srllm.training.manifest import git_info

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
# What the soup's run.json keeps of each ingredient's metrics (not its per-step loss log)
INGREDIENT_METRICS = ("steps", "epochs_trained", "val_loss", "tokens_trained", "train_seconds")


def parse_weights(text: str | None, n: int) -> list[float]:
    """'0.5,0.5' -> weights summing to 1 (None: equal weights)."""
    if not text:
        return [1.0 / n] * n
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise SrllmError(
            Code.BAD_INPUT, f"--weights {text!r}: numbers separated by commas"
        ) from None
    if len(weights) != n:
        raise SrllmError(Code.BAD_INPUT, f"--weights has {len(weights)} numbers for {n} adapters")
    if any(not np.isfinite(w) or w <= 0 for w in weights):
        raise SrllmError(Code.BAD_INPUT, f"--weights {text!r}: each weight must be > 0")
    total = sum(weights)
    return [w / total for w in weights]


def _ingredient(folder: Path) -> tuple[dict, dict, TrainingManifest]:
    """An adapter's config, {module: (A, B*scale)} in f32, and its run.json."""
    if not folder.is_dir():
        raise SrllmError(Code.BAD_INPUT, f"adapter folder not found: {folder}")
    run_json = folder / TRAINING_FILE
    if not run_json.is_file():
        raise SrllmError(
            Code.BAD_INPUT,
            f"{folder} has no {TRAINING_FILE}: only adapters `srllm train` wrote can be averaged",
        )
    manifest = TrainingManifest.read(run_json)
    config, pairs = load_adapter(folder)  # the merge's own reader: same ranks, alphas, scales
    tensors = {p.module: (load_f32(p.a), p.scale * load_f32(p.b)) for p in pairs}
    return config, tensors, manifest


def soup_tensors(ingredients: list[dict], weights: list[float]) -> dict[str, np.ndarray]:
    """{module: (A, scaled B)} per ingredient -> peft keys of the summed LoRA (scale 1)."""
    modules = set(ingredients[0])
    for other in ingredients[1:]:
        if set(other) != modules:
            missing = sorted(modules ^ set(other))[:3]
            raise SrllmError(
                Code.BAD_INPUT,
                f"the adapters adapt different layers (e.g. {', '.join(missing)}): "
                "only adapters of the same LoRA targets can be averaged",
            )
    out = {}
    for module in sorted(modules):
        shapes = {(b.shape[0], a.shape[1]) for a, b in (ing[module] for ing in ingredients)}
        if len(shapes) != 1:
            raise SrllmError(Code.BAD_INPUT, f"{module} has different shapes in the adapters")
        a = np.concatenate([ing[module][0] for ing in ingredients], axis=0)
        b = np.concatenate(
            [w * ing[module][1] for ing, w in zip(ingredients, weights, strict=True)], axis=1
        )
        out[f"base_model.model.{module}.lora_A.weight"] = a
        out[f"base_model.model.{module}.lora_B.weight"] = b
    return out


def soup_config(config: dict, tensors: dict[str, np.ndarray]) -> dict:
    """The first ingredient's adapter_config.json with the soup's ranks, each module at scale 1
    (lora_alpha = its rank); modules whose summed rank differs from the most common one (the
    ingredients had a rank_pattern) get their own rank_pattern / alpha_pattern entry."""
    suffix = ".lora_A.weight"
    ranks = {
        k.removeprefix("base_model.model.").removesuffix(suffix): int(v.shape[0])
        for k, v in tensors.items()
        if k.endswith(suffix)
    }
    counts = Counter(ranks.values())
    common = max(counts, key=lambda r: (counts[r], r))  # the most common; on a tie the largest
    pattern = {module: r for module, r in ranks.items() if r != common}
    return {
        **config,
        "r": common,
        "lora_alpha": common,
        "rank_pattern": pattern,
        "alpha_pattern": dict(pattern),
        "use_rslora": False,
    }


def soup_manifest(
    manifests: list[TrainingManifest],
    folders: list[Path],
    weights: list[float],
    out: Path,
    adapter_bytes: int,
) -> TrainingManifest:
    first = manifests[0]
    sources: list[str] = []
    for m in manifests:
        sources += [s for s in m.config.get("extra_sources") or [] if s not in sources]
    ingredients = [
        {
            "adapter": str(folder),
            "weight": w,
            "init_adapter": m.config.get("init_adapter") or None,
            "seed": m.config.get("seed"),
            "created": m.created,
            "metrics": {k: m.metrics.get(k) for k in INGREDIENT_METRICS},
            "data": m.data_summary(),
        }
        for m, folder, w in zip(manifests, folders, weights, strict=True)
    ]
    return TrainingManifest(
        contract_version=contract.CONTRACT_VERSION,
        base_model=first.base_model,
        # data_summary() reads extra_sources (the union here) and init_adapter (none: a soup
        # starts from its ingredients, listed under "soup")
        config={"soup": ingredients, "extra_sources": sources, "init_adapter": None},
        data={
            "train_examples": sum(int(m.data.get("train_examples") or 0) for m in manifests),
            "files_sha256": {
                k: v for m in manifests for k, v in (m.data.get("files_sha256") or {}).items()
            },
        },
        metrics={},
        outputs={"adapter": str(out), "adapter_bytes": adapter_bytes, "merged": None},
        git=git_info(Path(__file__).resolve().parent.parent),
        device={"type": "cpu", "name": "numpy (no training)"},
        wall_time_s=0.0,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )


def make_soup(folders: list[Path], out: Path, weights: list[float] | None = None) -> Path:
    from safetensors.numpy import save_file

    if len(folders) < 2:
        raise SrllmError(Code.BAD_INPUT, "a soup needs at least two --adapter folders")
    weights = weights or parse_weights(None, len(folders))
    if len(weights) != len(folders):
        raise SrllmError(Code.BAD_INPUT, f"{len(weights)} weights for {len(folders)} adapters")
    configs, ingredients, manifests = [], [], []
    for folder in folders:
        config, tensors, manifest = _ingredient(folder)
        configs.append(config)
        ingredients.append(tensors)
        manifests.append(manifest)
    bases = {str(c.get("base_model_name_or_path")) for c in configs}
    if len(bases) != 1:
        raise SrllmError(Code.BAD_INPUT, f"the adapters were trained on different bases: {bases}")
    tensors = soup_tensors(ingredients, weights)
    config = soup_config(configs[0], tensors)
    with staged_dir(out) as tmp:
        weights_file = tmp / ADAPTER_WEIGHTS
        save_file({k: v.astype(np.float16) for k, v in tensors.items()}, str(weights_file))
        (tmp / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        size = weights_file.stat().st_size
        soup_manifest(manifests, folders, weights, out, size).write(tmp)
    return out
