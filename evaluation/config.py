"""The evaluation config: which models, which data, and how much of each section to run.

The defaults size a full run of two models to roughly 15-20 minutes on two CPU cores; `limit`
caps every section at once (the integration test runs with limit 3).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from srllm import paths
from srllm.defaults import DEFAULT_CTX
from srllm.errors import Code, SrllmError

DEFAULT_OUT = Path("runs") / "eval"

# The validation sets `srllm calibrate` reads (evaluation/calibrate.py, Item.source).
CALIBRATION_SOURCES = ("srllm-val", "toxigen-tail", "holistic")
# The validation specificity `srllm calibrate` keeps by default: precision on fair text first.
FLOOR_SPECIFICITY = 0.9
# Fields that count items per section; `limit` caps each of them.
SECTION_FIELDS = (
    "rewrite_items",
    "neutral_originals",
    "flag_items",
    "counterfactual_rows",
    "injection_items",
    "perplexity_texts",
    "stereoset_items",
    "stereotype_items",
    "group_statement_items",
    "group_rewrite_items",
    "passage_items",
    "preserve_items",
)


@dataclass(frozen=True)
class System:
    """What one row of the tables runs: a GGUF, the GGUF that writes its rewrites when that is
    another one (server.engine.EngineConfig.rewriter_path), and the one that scores its scans
    when that is another one (EngineConfig.scan_path: the scan section reads it)."""

    model: Path
    rewriter: Path | None = None
    scan: Path | None = None

    @property
    def name(self) -> str:
        name = self.model.stem + ("" if self.rewriter is None else f"+{self.rewriter.stem}")
        return name + ("" if self.scan is None else f" (scan {self.scan.stem})")


@dataclass(frozen=True)
class EvalConfig:
    models: tuple[Path, ...] = ()
    # (flagger, rewriter) systems, after `models` in the tables.
    pairs: tuple[tuple[Path, Path], ...] = ()
    # The GGUF that scores the scans of those systems (None: each scores its own).
    scan_model: Path | None = None
    # The prompting baseline and the reference of perplexity_ratio (None: no ratio).
    base_model: Path | None = None
    out: Path = DEFAULT_OUT
    data_root: Path | None = None  # None: the one data lookup (srllm.paths.data_root)
    limit: int | None = None
    # Rows of infer_50.csv rewritten (biased inputs); their human rewrites are neutral inputs.
    rewrite_items: int = 53
    # Counterfactual `Original` sentences rewritten as further neutral inputs.
    neutral_originals: int = 40
    # Rows of infer_50.csv flagged twice: the biased text and its human rewrite.
    flag_items: int = 53
    # Counterfactual rows flagged with all eleven variants (original + ten demographic ones).
    counterfactual_rows: int = 20
    injection_items: int = 8
    perplexity_texts: int = 60
    # StereoSet items, half intersentence and half intrasentence, three candidates each.
    stereoset_items: int = 200
    # StereoSet intersentence items flagged: context + stereotype (should be flagged), context +
    # anti-stereotype and context + unrelated sentence (one forward pass per sentence, no text).
    stereotype_items: int = 300
    # ToxiGen's human-written statements about groups, half hateful, half neutral, flagged.
    group_statement_items: int = 300
    # The first hateful ones of those statements, debiased whole and the rewrite flagged again.
    group_rewrite_items: int = 40
    # Passages of 2-5 held-out sentences (server.task splits them) debiased whole.
    passage_items: int = 24
    # infer_50 texts with emoji, a number and a URL around them: are those kept?
    preserve_items: int = 12
    seed: int = 0
    # None: each model's own calibrated threshold (what the server serves)
    flag_threshold: float | None = None
    n_ctx: int = DEFAULT_CTX  # what the server serves
    n_threads: int | None = None
    show_progress: bool = True

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise SrllmError(
                Code.BAD_CONFIG, f"limit must be a positive number of items, got {self.limit}"
            )
        for name in SECTION_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise SrllmError(
                    Code.BAD_CONFIG, f"{name} must be a non-negative integer, got {value!r}"
                )
        if self.n_ctx < 512:
            raise SrllmError(
                Code.BAD_CONFIG, f"n_ctx must be at least 512 tokens, got {self.n_ctx}"
            )
        if self.n_threads is not None and self.n_threads < 1:
            raise SrllmError(Code.BAD_CONFIG, f"n_threads must be at least 1, got {self.n_threads}")
        scan = () if self.scan_model is None else (self.scan_model,)
        for path in (*self.models, *(p for pair in self.pairs for p in pair), *scan):
            if not Path(path).is_file():
                raise SrllmError(Code.BAD_CONFIG, f"models: no such model file: {path}")
        if self.base_model is not None and not Path(self.base_model).is_file():
            raise SrllmError(Code.BAD_CONFIG, f"base_model: no such model file: {self.base_model}")
        out = Path(self.out)
        # The run replaces `out` at the end: only an earlier evaluation may be replaced.
        if out.exists() and not (
            out.is_dir() and (not any(out.iterdir()) or (out / "metrics.json").is_file())
        ):
            raise SrllmError(
                Code.BAD_CONFIG, f"out must be a new folder or an earlier eval's folder: {out}"
            )
        if self.data_root is None:
            object.__setattr__(self, "data_root", paths.data_root())
        if not (self.data_root / "srllm" / "infer_50.csv").is_file():
            raise SrllmError(
                Code.DATA_MISSING,
                f"no srllm/infer_50.csv under {self.data_root}: run `srllm data fetch` "
                "(or pass --data DIR)",
            )

    def count(self, name: str) -> int:
        """Items for one section after `limit`.

        A counterfactual row is ten comparisons (eleven flags), so `limit` caps its rows at
        ceil(limit / 10): `--limit 3` flags one row, not thirty-three texts.
        """
        value = getattr(self, name)
        if self.limit is None:
            return value
        cap = -(-self.limit // 10) if name == "counterfactual_rows" else self.limit
        return min(value, cap)

    def limits(self) -> dict[str, int]:
        return {name: self.count(name) for name in SECTION_FIELDS}

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["models"] = [str(p) for p in self.models]
        data["pairs"] = [[str(p) for p in pair] for pair in self.pairs]
        for key in ("base_model", "out", "data_root", "scan_model"):
            data[key] = None if data[key] is None else str(data[key])
        data["effective_limits"] = self.limits()
        return data
