"""The manifests that hand a model from one stage to the next, typed and read by path.

    srllm train   -> run.json (TrainingManifest) in the run folder, its adapter/ and merged/
    srllm convert -> reads that run.json by path (`<MODEL_DIR or adapter>/run.json`, or
                     --training-manifest) and writes <model>.json (ModelManifest) beside the GGUF
    srllm serve / srllm eval -> read the ModelManifest beside the GGUF they run

Only a model converted from a folder or adapter with a valid run.json is a project fine-tune;
a GGUF without a manifest is served as it is, and says so.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srllm.contract import PROMPT_SCAN
from srllm.errors import Code, SrllmError
from srllm.files import write_json_atomic

TRAINING_FILE = "run.json"


def _load(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SrllmError(Code.BAD_INPUT, f"{what} not found: {path}", path=str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SrllmError(Code.BAD_INPUT, f"{what} is not valid JSON: {path} ({exc})") from None
    if not isinstance(data, dict):
        raise SrllmError(Code.BAD_INPUT, f"{what} is not a JSON object: {path}")
    return data


def _typed(cls, data: dict, path: Path, what: str):
    """Build dataclass `cls` from `data`, naming the first missing or mistyped field."""
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            raise SrllmError(
                Code.BAD_INPUT, f"{what} {path}: missing field {f.name!r}", field=f.name
            )
        value, kind = data[f.name], _KINDS.get(f.type)
        if kind is not None and value is not None and not isinstance(value, kind):
            raise SrllmError(
                Code.BAD_INPUT,
                f"{what} {path}: field {f.name!r} should be {f.type}, got {type(value).__name__}",
                field=f.name,
            )
        values[f.name] = value
    return cls(**values)


_KINDS: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "dict": dict,
    "list": list,
    "float": (int, float),
    "int": int,
    "str | None": str,
    "float | None": (int, float),
    "dict | None": dict,
}


@dataclass(frozen=True)
class TrainingManifest:
    """run.json: what was trained, on what, from what, how it went."""

    contract_version: str
    base_model: dict  # {"base_model": "embedded" | HF id | folder, "hf_id"?, "gguf"?, ...}
    config: dict  # the TrainConfig as trained
    data: dict  # {"files_sha256", "train_examples", "train_examples_by_kind", ...}
    metrics: dict
    outputs: dict  # {"adapter", "adapter_bytes", "merged"}
    git: dict
    device: dict
    wall_time_s: float
    created: str

    @property
    def keep_layers(self) -> int:
        """The base's first layers the run trained on (0: all; TrainConfig.keep_layers)."""
        return int(self.config.get("keep_layers", 0))

    @property
    def prompt(self) -> str | None:
        """contract.PROMPT_SCAN for a run on the scan's own prompt (TrainConfig.scan_prompt),
        None for the contract's chat prompt."""
        return PROMPT_SCAN if self.config.get("scan_prompt") else None

    @property
    def base_name(self) -> str:
        """The base model as a user knows it (an HF id where there is one)."""
        return str(self.base_model.get("hf_id") or self.base_model.get("base_model") or "")

    def data_summary(self) -> dict:
        """Which data the model saw, in a few fields (for /health and the eval tables)."""
        return {
            "extra_sources": list(self.config.get("extra_sources") or []),
            "init_adapter": self.config.get("init_adapter") or None,
            "train_examples": self.data.get("train_examples"),
            "train_examples_by_kind": self.data.get("train_examples_by_kind"),
            "files": sorted(Path(p).name for p in self.data.get("files_sha256") or {}),
        }

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def read(cls, path: Path) -> TrainingManifest:
        manifest = _typed(cls, _load(path, "training manifest"), path, "training manifest")
        if not manifest.contract_version.startswith("srllm-contract/"):
            raise SrllmError(
                Code.BAD_INPUT,
                f"training manifest {path}: contract_version {manifest.contract_version!r} "
                "is not a srllm contract",
            )
        return manifest

    def write(self, *folders: Path) -> list[Path]:
        """run.json into each folder (the run folder, its adapter and merged model), atomically."""
        written = []
        for folder in folders:
            path = Path(folder) / TRAINING_FILE
            write_json_atomic(path, self.to_dict())
            written.append(path)
        return written


def training_manifest_beside(folder: Path) -> Path | None:
    """The run.json the trainer wrote into a merged model or adapter folder, if any."""
    path = Path(folder) / TRAINING_FILE
    return path if path.is_file() else None


@dataclass(frozen=True)
class ModelManifest:
    """<model>.json beside a GGUF that `srllm convert` or `srllm build-model` wrote."""

    output: str  # the GGUF's file name
    sha256: str
    size_bytes: int
    encoding: str  # F16, Q8_0, ...
    tensor_types: dict
    name: str  # general.name, as shown to users
    license: str
    base_models: list
    contract: str | None  # the task contract of a project fine-tune; None for a plain model
    flag_threshold: float | None  # calibrated P(biased) threshold, when there is one
    training: dict | None  # {"manifest", "sha256", "base_model", "data"} of a fine-tune
    source: dict
    config: dict
    stats: dict
    host: dict
    verify: dict | None = None

    @property
    def finetuned(self) -> bool:
        return self.contract is not None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def path_for(gguf: Path) -> Path:
        return Path(gguf).with_suffix(".json")

    def write(self, gguf: Path) -> Path:
        path = self.path_for(gguf)
        write_json_atomic(path, self.to_dict())
        return path

    @classmethod
    def read(cls, path: Path) -> ModelManifest:
        return _typed(cls, _load(path, "model manifest"), path, "model manifest")

    @classmethod
    def for_model(cls, gguf: Path) -> ModelManifest | None:
        """The manifest beside a GGUF, or None for a GGUF that has none (or an unreadable one:
        serving never fails over a sidecar file)."""
        path = cls.path_for(gguf)
        if not path.is_file():
            return None
        try:
            manifest = cls.read(path)
        except SrllmError:
            return None
        # The sidecar must describe this very file (hashing 100 MB at every start is not worth it).
        same = manifest.output == Path(gguf).name and manifest.size_bytes == gguf.stat().st_size
        return manifest if same else None
