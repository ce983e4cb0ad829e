"""`srllm eval`: score GGUF models on the held-out data (cheap to import: no llama_cpp here)."""

from __future__ import annotations

import argparse
from pathlib import Path

from srllm.errors import Code, SrllmError
from srllm.evaluation.config import CALIBRATION_SOURCES as SOURCES
from srllm.evaluation.config import DEFAULT_OUT, FLOOR_SPECIFICITY, EvalConfig


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate models: bias removal, meaning kept, flagging, fairness, robustness",
        description=(
            "Run each model through the server's engine over the held-out data and write "
            "metrics.json, metrics.md and charts. Without --model: the fine-tuned default "
            "(when built) and the embedded SmolLM2 prompting baseline. Metrics are defined in "
            "evaluation/METRICS.md."
        ),
    )
    parser.add_argument(
        "--model", action="append", type=Path, default=[], metavar="GGUF",
        help="a GGUF model to evaluate (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--pair", action="append", nargs=2, type=Path, default=[], metavar=("FLAGGER", "REWRITER"),
        help="a system of two GGUFs: one flags, the other writes the rewrites (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--scan-model", type=Path, default=None, metavar="GGUF",
        help="the GGUF that scores the scan section of every --model and --pair system "
        "(default: each scores its own; the fine-tuned default uses its built scan model)",
    )  # fmt: skip
    parser.add_argument(
        "--limit", type=_positive, default=None, metavar="N",
        help="at most N items in every section (a quick smoke run)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
        help=f"output folder, replaced at the end (default {DEFAULT_OUT})",
    )  # fmt: skip
    parser.add_argument(
        "--data", type=Path, default=None, metavar="DIR",
        help="the data folder holding srllm/ and extra/ (default: SRLLM_DATA, the fetched data, "
        "or a checkout's ../shared/data)",
    )  # fmt: skip
    parser.add_argument(
        "--base-model", type=Path, default=None, metavar="GGUF",
        help="reference of perplexity_ratio (default: the embedded SmolLM2)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the item subsets")
    parser.add_argument("--threads", type=_positive, default=None, help="llama.cpp threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)

    cal = subparsers.add_parser(
        "calibrate",
        help="choose a model's flag threshold on validation data",
        description=(
            "Score P(biased) on validation data the model was not trained on and the eval never "
            "reads (see evaluation/calibrate.py), choose the threshold with the best recall + "
            "specificity at specificity >= 0.9 (--min-specificity), and write it to "
            "ADAPTER/calibration.json, which `srllm build-model` puts into the GGUF."
        ),
    )
    cal.add_argument("--model", type=Path, required=True, metavar="GGUF",
                     help="the built model to score (its adapter merged)")  # fmt: skip
    cal.add_argument("--adapter", type=Path, default=None, metavar="DIR",
                     help="write calibration.json into this adapter folder")  # fmt: skip
    cal.add_argument("--config", type=Path, default=Path("training/configs/default.toml"),
                     help="the training config whose validation split is used")  # fmt: skip
    cal.add_argument("--release", default=None, help="a release name for the model's display name")
    cal.add_argument("--sources", type=_sources, default=None, metavar="NAME,...",
                     help="only these validation sources (" + ", ".join(SOURCES) + "); leave "
                     "out srllm-val for a model continued from one trained with another seed, "
                     "whose SR-LLM validation rows it has seen")  # fmt: skip
    cal.add_argument("--min-specificity", type=_share, default=FLOOR_SPECIFICITY, metavar="S",
                     help="the validation specificity the threshold must keep (default "
                     f"{FLOOR_SPECIFICITY}); to compare a new model with the default at the "
                     "same precision, give the default's own (its calibration.json)")  # fmt: skip
    cal.add_argument("--threads", type=_positive, default=None, help="llama.cpp threads")
    cal.set_defaults(func=run_calibrate)


def _share(value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value!r}")
    return share


def _sources(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in SOURCES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown source {', '.join(unknown) or repr(value)}: choose from {', '.join(SOURCES)}"
        )
    return names


def run_calibrate(args: argparse.Namespace) -> int:
    import json

    from srllm.evaluation.calibrate import calibrate
    from srllm.server.engine import check_gguf

    check_gguf(args.model)
    if args.adapter is not None and not (args.adapter / "adapter_config.json").is_file():
        raise SrllmError(Code.BAD_INPUT, f"no adapter at {args.adapter} (adapter_config.json)")
    result = calibrate(
        args.model, args.adapter, args.config, args.threads, args.release, args.sources,
        args.min_specificity,
    )  # fmt: skip
    print(json.dumps(result, indent=2))
    return 0


def run(args: argparse.Namespace) -> int:
    config = EvalConfig(
        models=tuple(args.model),
        pairs=tuple(tuple(pair) for pair in args.pair),
        scan_model=args.scan_model,
        base_model=args.base_model,
        out=args.out,
        data_root=args.data,
        limit=args.limit,
        seed=args.seed,
        n_threads=args.threads,
        show_progress=not args.quiet,
    )
    from srllm.evaluation.pipeline import evaluate  # heavy imports only once we run

    out = evaluate(config)
    print((out / "metrics.md").read_text(encoding="utf-8"))
    print(f"wrote {out}")
    return 0
