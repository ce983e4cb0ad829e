"""Convert or merge, quantize, rename into place, then write the manifest last."""

from __future__ import annotations

import json
import os
import platform
import re
import time
from pathlib import Path

from convert.config import DEFAULT_MERGE_QUANT, ConvertConfig
from convert.errors import ConvertError
from convert.files import check_disk, read_json, sha256_file, temp_path, write_json_atomic
from convert.ggufio import GGUFFile
from convert.naming import OutputMeta, gguf_file_name, manifest_path, size_label
from server.contract import CONTRACT_VERSION

RUN_MANIFEST = "run.json"


def _license_from_readme(folder: Path) -> str | None:
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    match = re.search(
        r"^license:\s*(\S+)", readme.read_text(encoding="utf-8", errors="replace"), re.M
    )
    return match.group(1) if match else None


def _base_from_run(run: dict) -> str | None:
    """The base model named by a training run.json, wherever the trainer put it."""
    for scope in (run, run.get("config") or {}, run.get("model") or {}):
        if isinstance(scope, dict):
            for key in ("base_model", "base_model_name_or_path", "model_name_or_path", "model"):
                if isinstance(scope.get(key), str):
                    return scope[key]
    return None


def _base_entry(name: str) -> dict:
    org, _, short = name.rpartition("/")
    entry = {"name": short or name}
    if org and not name.startswith(("/", ".")):
        entry |= {"organization": org, "repo_url": f"https://huggingface.co/{name}"}
    return entry


def hf_meta(cfg: ConvertConfig, config: dict, n_params: int) -> tuple[OutputMeta, Path | None]:
    folder = cfg.model_dir
    run_path = folder / RUN_MANIFEST
    run = read_json(run_path, RUN_MANIFEST) if run_path.is_file() else None
    source = str(config.get("_name_or_path") or "")
    base_name = (_base_from_run(run) if run else None) or source
    basename = cfg.name or (Path(base_name).name if base_name else folder.name)
    meta = OutputMeta(
        name=cfg.name or (f"{basename} srllm" if run else basename),
        basename=basename,
        size_label=size_label(n_params),
        finetune="srllm" if run else None,
        license=cfg.license
        or _license_from_readme(folder)
        or (run or {}).get("license")
        or "unknown",
        base_models=[_base_entry(base_name)] if base_name else [],
        finetuned=run is not None,
        manifest_sha256=sha256_file(run_path) if run else None,
    )
    return meta, run_path if run else None


CALIBRATION = "calibration.json"


def calibration(adapter: Path) -> dict:
    """The adapter's calibration.json (`srllm calibrate`), or {} when it has none."""
    path = adapter / CALIBRATION
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConvertError(f"{path}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ConvertError(f"{path}: expected a JSON object")
    return data


def calibrated_threshold(adapter: Path) -> float | None:
    """The flag threshold `srllm calibrate` chose for this adapter on validation data."""
    path = adapter / CALIBRATION
    value = calibration(adapter).get("threshold")
    if value is None:
        return None
    if not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise ConvertError(f"{path}: 'threshold' must be a number in (0, 1)")
    return float(value)


def merge_meta(cfg: ConvertConfig, base: dict) -> tuple[OutputMeta, Path | None]:
    run_path = cfg.adapter / RUN_MANIFEST
    basename = base.get("basename") or base.get("name") or cfg.base.stem
    meta = OutputMeta(
        name=cfg.name or f"{base.get('name') or basename} srllm",
        basename=basename,
        size_label=base.get("size_label"),
        finetune="srllm",
        license=cfg.license or base.get("license") or "unknown",
        organization=None,
        base_models=[
            {"name": base.get("name") or basename, "organization": base.get("organization")}
        ],
        finetuned=True,
        manifest_sha256=sha256_file(run_path) if run_path.is_file() else None,
        flag_threshold=calibrated_threshold(cfg.adapter),
    )
    return meta, run_path if run_path.is_file() else None


def resolve_out(out: Path, meta: OutputMeta, encoding: str) -> Path:
    """`--out` is a file, or a folder that gets a convention-named file."""
    if out.is_dir() or str(out).endswith(os.sep):
        out.mkdir(parents=True, exist_ok=True)
        return out / gguf_file_name(meta, encoding)
    if not out.parent.is_dir():
        raise ConvertError(f"output folder does not exist: {out.parent}")
    return out


def run(cfg: ConvertConfig) -> dict:
    """Do the conversion described by cfg; returns the manifest written next to the output."""
    from convert import merge, quantize, writer

    started = time.perf_counter()
    if cfg.merging:
        reader = merge.open_base(cfg.base)
        merge.load_adapter(cfg.adapter)  # validate before any disk work
        meta, run_path = merge_meta(cfg, merge.base_meta(reader))
        quant = cfg.quant or DEFAULT_MERGE_QUANT
        needed = merge.merged_bytes(reader)
    else:
        from convert.hfmodel import index_tensors, load_config
        from convert.registry import lookup

        config = load_config(cfg.model_dir)
        lookup(config)
        n_params = writer.param_count(index_tensors(cfg.model_dir))
        meta, run_path = hf_meta(cfg, config, n_params)
        quant = cfg.quant
        needed = writer.planned_bytes(cfg.model_dir, cfg.outtype)
    out = resolve_out(cfg.out, meta, quant or cfg.outtype)
    check_disk(out.parent, needed * (2 if quant else 1) + (64 << 20))

    with temp_path(out) as stage1:
        if cfg.merging:
            stats = merge.merge_adapter(reader, cfg.adapter, stage1, meta)
        else:
            stats = writer.convert_hf(cfg.model_dir, stage1, cfg.outtype, meta)
        converted = time.perf_counter()
        if quant and quant != ("f32" if cfg.merging else cfg.outtype):
            with temp_path(out) as stage2:
                quantize.quantize(stage1, stage2, quant, cfg.threads)
                os.replace(stage2, out)
        else:
            os.replace(stage1, out)
    done = time.perf_counter()

    manifest = {
        "output": out.name,
        "sha256": sha256_file(out),
        "size_bytes": out.stat().st_size,
        "encoding": (quant or cfg.outtype).upper(),
        "tensor_types": GGUFFile(out).tensor_types(),
        "general.name": meta.name,
        "license": meta.license,
        "base_models": meta.base_models,
        "contract": CONTRACT_VERSION if meta.finetuned else None,
        "training_manifest": str(run_path) if run_path else None,
        "training_manifest_sha256": meta.manifest_sha256,
        "source": {
            "model_dir": str(cfg.model_dir) if cfg.model_dir else None,
            "base": str(cfg.base) if cfg.base else None,
            "base_sha256": sha256_file(cfg.base) if cfg.base else None,
            "adapter": str(cfg.adapter) if cfg.adapter else None,
        },
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.__dict__.items()},
        "stats": stats
        | {"convert_s": round(converted - started, 2), "quantize_s": round(done - converted, 2)},
        "host": {"python": platform.python_version(), "machine": platform.machine()},
    }
    if cfg.verify:
        from convert.verify import verify

        manifest["verify"] = verify(cfg.model_dir, out, threads=cfg.threads)
    write_json_atomic(manifest_path(out), manifest)
    manifest["path"] = str(out)
    return manifest
