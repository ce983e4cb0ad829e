"""Convert or merge, quantize, rename into place, then write the manifest last."""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import time
from pathlib import Path

from srllm.contract import CONTRACT_VERSION
from srllm.convert.config import ConvertConfig
from srllm.convert.files import check_disk
from srllm.convert.ggufio import GGUFFile
from srllm.convert.naming import OutputMeta, gguf_file_name, size_label
from srllm.errors import Code, SrllmError
from srllm.files import sha256_file, temp_path
from srllm.manifest import ModelManifest, TrainingManifest, training_manifest_beside

log = logging.getLogger("srllm")


def _license_from_readme(folder: Path) -> str | None:
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    match = re.search(
        r"^license:\s*(\S+)", readme.read_text(encoding="utf-8", errors="replace"), re.M
    )
    return match.group(1) if match else None


def training_manifest(cfg: ConvertConfig) -> tuple[TrainingManifest | None, Path | None]:
    """The trainer's run.json, read by path: --training-manifest, else the one the trainer writes
    into the merged folder or the adapter. Without one the output is not a project fine-tune."""
    path = cfg.training_manifest or training_manifest_beside(cfg.adapter or cfg.model_dir)
    if path is None:
        if cfg.merging:
            log.warning(
                "%s has no run.json from `srllm train`: the GGUF is not marked as a srllm "
                "fine-tune (pass --training-manifest RUN_JSON if it has one elsewhere)",
                cfg.adapter,
            )
        return None, None
    return TrainingManifest.read(path), path


def _base_entry(name: str) -> dict:
    org, _, short = name.rpartition("/")
    entry = {"name": short or name}
    if org and not name.startswith(("/", ".")):
        entry |= {"organization": org, "repo_url": f"https://huggingface.co/{name}"}
    return entry


def hf_meta(cfg: ConvertConfig, config: dict, n_params: int) -> OutputMeta:
    folder = cfg.model_dir
    run, run_path = training_manifest(cfg)
    source = str(config.get("_name_or_path") or "")
    base_name = (run.base_name if run else None) or source
    basename = cfg.name or (Path(base_name).name if base_name else folder.name)
    return (
        OutputMeta(
            name=cfg.name or (f"{basename} srllm" if run else basename),
            basename=basename,
            size_label=size_label(n_params),
            finetune="srllm" if run else None,
            license=cfg.license or _license_from_readme(folder) or "unknown",
            base_models=[_base_entry(base_name)] if base_name else [],
            finetuned=run is not None,
            manifest_sha256=sha256_file(run_path) if run_path else None,
            prompt=run.prompt if run else None,
        ),
        run,
        run_path,
    )


CALIBRATION = "calibration.json"


def calibration(adapter: Path) -> dict:
    """The adapter's calibration.json (`srllm calibrate`), or {} when it has none."""
    path = adapter / CALIBRATION
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SrllmError(Code.CONVERT_FAILED, f"{path}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise SrllmError(Code.CONVERT_FAILED, f"{path}: expected a JSON object")
    return data


def calibrated_threshold(adapter: Path) -> float | None:
    """The flag threshold `srllm calibrate` chose for this adapter on validation data."""
    path = adapter / CALIBRATION
    value = calibration(adapter).get("threshold")
    if value is None:
        return None
    if not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise SrllmError(Code.CONVERT_FAILED, f"{path}: 'threshold' must be a number in (0, 1)")
    return float(value)


def merge_meta(cfg: ConvertConfig, base: dict):
    run, run_path = training_manifest(cfg)
    basename = base.get("basename") or base.get("name") or cfg.base.stem
    return (
        OutputMeta(
            name=cfg.name or f"{base.get('name') or basename}" + (" srllm" if run else ""),
            basename=basename,
            size_label=base.get("size_label"),
            finetune="srllm" if run else None,
            license=cfg.license or base.get("license") or "unknown",
            organization=None,
            base_models=[
                {"name": base.get("name") or basename, "organization": base.get("organization")}
            ],
            finetuned=run is not None,
            manifest_sha256=sha256_file(run_path) if run_path else None,
            flag_threshold=calibrated_threshold(cfg.adapter) if run else None,
            prompt=run.prompt if run else None,
        ),
        run,
        run_path,
    )


def resolve_out(out: Path, meta: OutputMeta, encoding: str) -> Path:
    """`--out` is a file, or a folder that gets a convention-named file."""
    if out.is_dir() or str(out).endswith(os.sep):
        out.mkdir(parents=True, exist_ok=True)
        return out / gguf_file_name(meta, encoding)
    if not out.parent.is_dir():
        raise SrllmError(Code.CONVERT_FAILED, f"output folder does not exist: {out.parent}")
    return out


def run(cfg: ConvertConfig) -> tuple[Path, ModelManifest]:
    """Do the conversion described by cfg; returns the GGUF and the manifest written beside it."""
    from srllm.convert import merge, quantize, writer
    from srllm.convert.verify import verify

    started = time.perf_counter()
    if cfg.merging:
        reader = merge.open_base(cfg.base)
        merge.load_adapter(cfg.adapter)  # validate before any disk work
        meta, run, run_path = merge_meta(cfg, merge.base_meta(reader))
        quant = cfg.merge_quant
        needed = merge.merged_bytes(reader)
    else:
        from srllm.convert.hfmodel import index_tensors, load_config
        from srllm.convert.registry import lookup

        config = load_config(cfg.model_dir)
        lookup(config)
        n_params = writer.param_count(index_tensors(cfg.model_dir))
        meta, run, run_path = hf_meta(cfg, config, n_params)
        quant = cfg.quant
        needed = writer.planned_bytes(cfg.model_dir, cfg.float_type)
    out = resolve_out(cfg.out, meta, quant or cfg.float_type)
    check_disk(out.parent, needed * (2 if quant else 1) + (64 << 20))

    with temp_path(out) as stage1:
        if cfg.merging:
            keep = run.keep_layers if run else 0  # a cut run stays cut
            stats = merge.merge_adapter(reader, cfg.adapter, stage1, meta, keep)
        else:
            stats = writer.convert_hf(cfg.model_dir, stage1, cfg.float_type, meta)
        converted = time.perf_counter()
        if quant and quant != ("f32" if cfg.merging else cfg.float_type):
            with temp_path(out) as stage2:
                quantize.quantize(stage1, stage2, quant, cfg.threads)
                os.replace(stage2, out)
        else:
            os.replace(stage1, out)
    done = time.perf_counter()

    manifest = ModelManifest(
        output=out.name,
        sha256=sha256_file(out),
        size_bytes=out.stat().st_size,
        encoding=(quant or cfg.float_type).upper(),
        tensor_types=GGUFFile(out).tensor_types(),
        name=meta.name,
        license=meta.license,
        base_models=meta.base_models,
        contract=CONTRACT_VERSION if meta.finetuned else None,
        flag_threshold=meta.flag_threshold,
        training=None
        if run is None
        else {
            "manifest": str(run_path),
            "sha256": meta.manifest_sha256,
            "base_model": run.base_name,
            "data": run.data_summary(),
        },
        source={
            "model_dir": str(cfg.model_dir) if cfg.model_dir else None,
            "base": str(cfg.base) if cfg.base else None,
            "base_sha256": sha256_file(cfg.base) if cfg.base else None,
            "adapter": str(cfg.adapter) if cfg.adapter else None,
        },
        config={k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.__dict__.items()},
        stats=stats
        | {"convert_s": round(converted - started, 2), "quantize_s": round(done - converted, 2)},
        host={"python": platform.python_version(), "machine": platform.machine()},
        verify=verify(cfg.model_dir, out, threads=cfg.threads) if cfg.verify else None,
    )
    manifest.write(out)
    return out, manifest
