"""The one typed training config: a TOML file, then `key=value` overrides from the command line.

    srllm train --config training/configs/default.toml epochs=1 lr=1e-4

Every field is validated in __post_init__ with a message naming the field and the expected value,
so a typo in a config fails before the model loads.
"""

from __future__ import annotations

import ast
import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

from srllm import paths
from srllm.errors import Code, SrllmError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

# The base model value that means "SmolLM2-135M-Instruct from the GGUF shipped with the server".
EMBEDDED = "embedded"
LLAMA_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
EXTRA_SOURCES = (
    "neutral_rewriter_gender", "paradetox", "paradetox_flags", "toxigen", "wnc", "wnc_flags",
    "holisticbias",
)  # fmt: skip


def split_source(item: str, default_cap: int) -> tuple[str, int]:
    """`"toxigen"` or `"toxigen:1600"` (a cap for that source alone) -> (name, cap)."""
    name, sep, cap = item.partition(":")
    if not sep:
        return name, default_cap
    if not cap.isdigit():
        raise SrllmError(
            Code.BAD_CONFIG, f"config field 'extra_sources': {item!r}: expected name or name:N"
        )
    return name, int(cap)


@dataclass(frozen=True)
class TrainConfig:
    # Model
    base_model: str = EMBEDDED  # "embedded", an HF model id (cached offline) or a local folder
    # Only the base's first N decoder layers (0 = all): a shallower model reads prompts N/L of
    # the time, which is what the scan of a whole page needs on 2 cores (issue 14)
    keep_layers: int = 0
    # Data: "" = the datasets found by the one data lookup (srllm.paths.data_root: SRLLM_DATA,
    # `srllm data fetch`, a checkout's ../shared/data); a path = that folder
    data_dir: str = ""
    train_file: str = "train_500.csv"
    heldout_files: tuple[str, ...] = ("infer_50.csv", "counterfactual-inhouse.csv")
    val_fraction: float = 0.1
    neutral_examples: bool = True  # human rewrites as neutral flag + unchanged rewrite examples
    extra_dir: str = ""
    # Any of EXTRA_SOURCES, each optionally "name:N" with its own cap; empty = the SR-LLM-only run
    extra_sources: tuple[str, ...] = ()
    extra_max_pairs: int = 500  # per source without its own cap (toxigen: half toxic, half benign)
    srllm_repeat: int = 1  # each SR-LLM training example this many times per epoch
    # Sentence-level examples of the SR-LLM rows (training.data.sentence_examples), each this
    # many times per epoch; 0 = none (the runs up to v17)
    srllm_sentences: int = 0
    # Every sentence of those rows' human rewrites as a neutral flag
    # (training.data.fair_sentence_examples), this many times per epoch; 0 = none (up to v19)
    srllm_fair_sentences: int = 0
    # `srllm distill` output (a path from the repository root or absolute): its accepted lines,
    # the pipeline's own best rewrites of training texts, as rewrite examples, each this often
    distilled_file: str = ""
    distilled_repeat: int = 1
    # Only the lines of the file's first N texts (0 = all): a resumed distill appends to the
    # file, and a run that trained on part of it names that part
    distilled_texts: int = 0
    max_len: int = 512  # examples longer than this are dropped (never truncated)
    # Flag answers cut right after their verdict: a scorer read only at the label position (the
    # scan's model) learns the decision from a third of the tokens. Needs tasks = ["flag"].
    verdict_only: bool = False
    # The scan's own short prompt (contract.scan_prompt) instead of the chat one: a scan reads
    # each sentence and one line break, not 14 tokens of chat markup after it. Needs
    # verdict_only; the model is then a scorer only (its GGUF says so: srllm.prompt = "scan").
    scan_prompt: bool = False
    # Which of the contract's tasks the run trains ("flag", "rewrite"): a rewriter paired with a
    # separate flagger (EngineConfig.rewriter_path) only ever writes, so it can train on rewrites
    tasks: tuple[str, ...] = ("flag", "rewrite")
    # LoRA; init_adapter: start from this adapter's weights (its LoRA shape wins) instead of zero
    init_adapter: str = ""
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = LLAMA_LINEAR
    # Optimisation
    epochs: int = 2
    max_steps: int = 0  # 0 = run all epochs; otherwise stop after this many optimiser steps
    time_budget_min: float = 0.0  # stop (then evaluate and save) after this many minutes; 0 = off
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 2e-4
    label_weight: float = 1.0  # loss weight of a flag's verdict tokens (see training.batching)
    edit_weight: float = 1.0  # loss weight of the tokens where a rewrite departs from its input
    weight_decay: float = 0.0
    warmup_steps: int = 10
    max_grad_norm: float = 1.0
    seed: int = 0
    eval_max_examples: int = 0  # validation examples scored per epoch; 0 = all
    eval_at_start: bool = False  # also score the validation set before the first step
    # Speed
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
    load_in_4bit: bool = False  # QLoRA; needs bitsandbytes and CUDA
    gradient_checkpointing: bool = False
    share_prefix: bool = True  # run the fixed system prompt once per batch (exact, ~3x on CPU)
    threads: int = 0  # torch CPU threads; 0 = torch's default
    # Outputs
    output_dir: str = "runs/default"
    export_dir: str = ""  # also copy the final adapter + run.json here (the committed default)
    adapter_dtype: str = "fp16"  # dtype of the saved adapter weights: fp16 | bf16 | fp32
    save_every: int = 100  # optimiser steps between checkpoints; 0 = only at epoch ends
    keep_checkpoints: int = 2
    resume: bool = True  # continue from the newest checkpoint in output_dir if there is one
    merge: bool = True  # also write the merged HF model under output_dir/merged
    log_every: int = 10

    def srllm_data(self) -> Path:
        """The SR-LLM dataset folder (train_500.csv and the held-out files)."""
        return Path(self.data_dir) if self.data_dir else paths.dataset_path("srllm")

    def extra_data(self) -> Path:
        """The extra public datasets (extra_sources read from here)."""
        return Path(self.extra_dir) if self.extra_dir else paths.dataset_path("extra")

    def distilled(self) -> Path | None:
        """The distilled rewrites file, relative paths from the repository root."""
        if not self.distilled_file:
            return None
        path = Path(self.distilled_file)
        return path if path.is_absolute() else paths.REPO / path

    def __post_init__(self) -> None:
        _require(self.base_model.strip() != "", "base_model", "a model id, a folder or 'embedded'")
        _require(0.0 < self.val_fraction < 0.5, "val_fraction", "a number in (0, 0.5)")
        _require(self.train_file not in self.heldout_files, "train_file", "not a held-out file")
        for source in self.extra_sources:
            name = split_source(source, self.extra_max_pairs)[0]
            _require(name in EXTRA_SOURCES, "extra_sources", f"items from {list(EXTRA_SOURCES)}")
        _require(1 <= self.srllm_repeat <= 10, "srllm_repeat", "an integer in [1, 10]")
        _require(0 <= self.srllm_sentences <= 10, "srllm_sentences", "an integer in [0, 10]")
        _require(
            0 <= self.srllm_fair_sentences <= 10, "srllm_fair_sentences", "an integer in [0, 10]"
        )
        _require(1 <= self.distilled_repeat <= 10, "distilled_repeat", "an integer in [1, 10]")
        _require(self.distilled_texts >= 0, "distilled_texts", "an integer >= 0 (0 = all)")
        _require(self.extra_max_pairs >= 0, "extra_max_pairs", "an integer >= 0")
        _require(
            len(self.tasks) > 0 and set(self.tasks) <= {"flag", "rewrite"},
            "tasks",
            'a non-empty list of "flag", "rewrite"',
        )
        _require(
            not self.verdict_only or self.tasks == ("flag",),
            "verdict_only",
            'false, or true with tasks = ["flag"]',
        )
        _require(
            not self.scan_prompt or self.verdict_only,
            "scan_prompt",
            "false, or true with verdict_only = true",
        )
        _require(self.keep_layers >= 0, "keep_layers", "an integer >= 0 (0 = all)")
        _require(64 <= self.max_len <= 32768, "max_len", "an integer in [64, 32768]")
        _require(self.lora_r >= 1, "lora_r", "an integer >= 1")
        _require(self.lora_alpha >= 1, "lora_alpha", "an integer >= 1")
        _require(0.0 <= self.lora_dropout < 1.0, "lora_dropout", "a number in [0, 1)")
        _require(len(self.target_modules) > 0, "target_modules", "a non-empty list of names")
        _require(self.epochs >= 1, "epochs", "an integer >= 1")
        _require(self.max_steps >= 0, "max_steps", "an integer >= 0")
        _require(self.time_budget_min >= 0.0, "time_budget_min", "a number >= 0")
        _require(self.eval_max_examples >= 0, "eval_max_examples", "an integer >= 0")
        _require(self.batch_size >= 1, "batch_size", "an integer >= 1")
        _require(self.grad_accum >= 1, "grad_accum", "an integer >= 1")
        _require(0.0 < self.lr < 1.0, "lr", "a number in (0, 1)")
        _require(1.0 <= self.label_weight <= 100.0, "label_weight", "a number in [1, 100]")
        _require(1.0 <= self.edit_weight <= 100.0, "edit_weight", "a number in [1, 100]")
        _require(self.weight_decay >= 0.0, "weight_decay", "a number >= 0")
        _require(self.warmup_steps >= 0, "warmup_steps", "an integer >= 0")
        _require(self.max_grad_norm > 0.0, "max_grad_norm", "a number > 0")
        _require(self.precision in ("auto", "fp32", "bf16"), "precision", "auto, fp32 or bf16")
        _require(self.threads >= 0, "threads", "an integer >= 0")
        _require(self.output_dir.strip() != "", "output_dir", "a folder path")
        _require(self.adapter_dtype in ("fp16", "bf16", "fp32"), "adapter_dtype", "fp16/bf16/fp32")
        _require(self.save_every >= 0, "save_every", "an integer >= 0")
        _require(self.keep_checkpoints >= 1, "keep_checkpoints", "an integer >= 1")
        _require(self.log_every >= 1, "log_every", "an integer >= 1")

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def _require(ok: bool, name: str, expected: str) -> None:
    if not ok:
        raise SrllmError(Code.BAD_CONFIG, f"config field {name!r}: expected {expected}")


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """Check one value against the field's type; TOML arrays become tuples."""
    wanted = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if kind is bool:
        if not isinstance(value, bool):
            raise SrllmError(
                Code.BAD_CONFIG, f"config field {name!r}: expected {wanted[bool]}, got {value!r}"
            )
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SrllmError(
                Code.BAD_CONFIG, f"config field {name!r}: expected {wanted[int]}, got {value!r}"
            )
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SrllmError(
                Code.BAD_CONFIG, f"config field {name!r}: expected {wanted[float]}, got {value!r}"
            )
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise SrllmError(
                Code.BAD_CONFIG, f"config field {name!r}: expected {wanted[str]}, got {value!r}"
            )
        return value
    # tuple[str, ...]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise SrllmError(
            Code.BAD_CONFIG, f"config field {name!r}: expected a list of strings, got {value!r}"
        )
    return tuple(value)


def _parse_override(item: str) -> tuple[str, Any]:
    """`key=value`: value is read as TOML (numbers, true/false, [lists], "strings"), else text."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise SrllmError(Code.BAD_CONFIG, f"override {item!r}: expected key=value")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        try:  # Python-style lists such as [q_proj,v_proj] without quotes
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = [s.strip() for s in raw.strip("[]").split(",")] if raw.startswith("[") else raw
    return key.strip(), value


def load_config(path: Path | str | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults < TOML file < `key=value` overrides; unknown keys are errors."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SrllmError(Code.BAD_CONFIG, f"config file {path} does not exist")
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise SrllmError(Code.BAD_CONFIG, f"config file {path}: invalid TOML: {exc}") from exc
    values.update(dict(_parse_override(o) for o in overrides or []))
    hints = get_type_hints(TrainConfig)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in values:
        if key not in known:
            raise SrllmError(
                Code.BAD_CONFIG,
                f"config field {key!r}: unknown (known: {', '.join(sorted(known))})",
            )
    kinds = {name: _kind(hints[name]) for name in known}
    return TrainConfig(**{k: _coerce(k, kinds[k], v) for k, v in values.items()})


def _kind(hint: Any) -> Any:
    return hint if hint in (int, float, bool, str) else tuple


def shipped_configs() -> list[Path]:
    return sorted(CONFIG_DIR.glob("*.toml"))
