"""Output metadata, GGUF file naming and the JSON manifest written next to every output.

File names follow the GGUF convention `<BaseName>-<SizeLabel>-<FineTune>-<Version>-<ENCODING>`.
`srllm.contract` is written only for project fine-tunes: the server marks a model "finetuned"
when that key is present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import gguf

from srllm.contract import CONTRACT_VERSION

# The keys server/engine.py reads (not imported: that module loads llama.cpp); a test pins them.
META_CONTRACT = "srllm.contract"
META_MANIFEST_SHA = "srllm.training_manifest_sha256"
META_PROMPT = "srllm.prompt"


@dataclass(frozen=True)
class OutputMeta:
    name: str
    basename: str
    size_label: str | None = None
    finetune: str | None = None
    version: str | None = None
    license: str = "unknown"
    organization: str | None = None
    base_models: list[dict] = field(default_factory=list)  # {"name", "organization", "repo_url"}
    finetuned: bool = False  # a project fine-tune: write srllm.contract
    manifest_sha256: str | None = None
    description: str | None = None
    flag_threshold: float | None = None  # from the adapter's calibration.json
    prompt: str | None = None  # the run's prompt when not the chat one (TrainingManifest.prompt)


def write_meta(writer: gguf.GGUFWriter, meta: OutputMeta) -> None:
    writer.add_type("model")
    writer.add_name(meta.name)
    writer.add_basename(meta.basename)
    if meta.size_label:
        writer.add_size_label(meta.size_label)
    if meta.finetune:
        writer.add_finetune(meta.finetune)
    if meta.version:
        writer.add_version(meta.version)
    if meta.organization:
        writer.add_organization(meta.organization)
    if meta.description:
        writer.add_description(meta.description)
    writer.add_license(meta.license)
    if meta.flag_threshold is not None:
        writer.add_float32("srllm.flag_threshold", meta.flag_threshold)
    if meta.base_models:
        writer.add_base_model_count(len(meta.base_models))
        for i, base in enumerate(meta.base_models):
            writer.add_base_model_name(i, base["name"])
            if base.get("organization"):
                writer.add_base_model_organization(i, base["organization"])
            if base.get("repo_url"):
                writer.add_base_model_repo_url(i, base["repo_url"])
    if meta.finetuned:
        writer.add_string(META_CONTRACT, CONTRACT_VERSION)
    if meta.manifest_sha256:
        writer.add_string(META_MANIFEST_SHA, meta.manifest_sha256)
    if meta.prompt:
        writer.add_string(META_PROMPT, meta.prompt)


def _part(text: str | None) -> str | None:
    if not text:
        return None
    cleaned = re.sub(r"[^A-Za-z0-9.]+", "-", text.strip()).strip("-")
    return cleaned or None


def gguf_file_name(meta: OutputMeta, encoding: str) -> str:
    """`<BaseName>-<SizeLabel>-<FineTune>-<Version>-<ENCODING>.gguf`."""
    stem = gguf.utility.naming_convention(
        None,
        _part(meta.basename) or "model",
        _part(meta.finetune),
        _part(meta.version),
        _part(meta.size_label),
        encoding.upper(),
    )
    return f"{stem}.gguf"


def size_label(n_params: int) -> str:
    return gguf.utility.size_label(n_params, 0, 0, 0)
