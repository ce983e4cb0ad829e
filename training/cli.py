"""`srllm train`, `srllm bench-train`, `srllm merge`, `srllm sample`, `srllm soup` and `srllm
distill`: argument parsing only; the work (torch, transformers, peft; llama.cpp for distill) is
imported when a command runs.

srllm train --config training/configs/default.toml [key=value ...]
srllm bench-train --config training/configs/default.toml [--steps 6]
srllm merge --base embedded --adapter runs/default/adapter --out merged/
srllm sample --model runs/default/merged --n 3
srllm soup --adapter training/adapters/default --adapter runs/v11/adapter --out runs/soup
srllm distill --model default.gguf --out training/distilled/v5.jsonl --minutes 30
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from srllm import paths
from srllm.errors import Code, SrllmError
from srllm.training.distill import SOURCES as DISTILL_SOURCES  # stdlib-only module

DEFAULT_CONFIG = "training/configs/default.toml"


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="LoRA fine-tune on the SR-LLM task contract")
    train.add_argument("--config", default=DEFAULT_CONFIG, help="TOML config file")
    train.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    train.set_defaults(func=_train, on_interrupt="; resume with the same command")

    bench = subparsers.add_parser(
        "bench-train", help="tokens/s of our training step vs a plain transformers Trainer"
    )
    bench.add_argument("--config", default=DEFAULT_CONFIG, help="TOML config file")
    bench.add_argument("--steps", type=int, default=6, help="optimiser steps timed per loop")
    bench.add_argument("--json", dest="json_out", default="", help="also write the JSON here")
    bench.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    bench.set_defaults(func=_bench)

    merge = subparsers.add_parser(
        "merge", help="merge a LoRA adapter into its Hugging Face base model (torch)"
    )
    merge.add_argument("--base", required=True, help="base HF folder or id, or 'embedded'")
    merge.add_argument("--adapter", required=True, type=Path, help="peft LoRA adapter folder")
    merge.add_argument("--out", required=True, type=Path, help="output folder")
    merge.set_defaults(func=_merge)

    sample = subparsers.add_parser(
        "sample", help="greedy flag + rewrite of held-out sentences by a merged HF model"
    )
    sample.add_argument("--model", required=True, help="merged HF model folder")
    sample.add_argument("--data", type=Path, default=None, help="CSV (default: infer_50.csv)")
    sample.add_argument("--n", type=int, default=3, help="how many rows")
    sample.set_defaults(func=_sample)

    soup = subparsers.add_parser(
        "soup", help="average LoRA adapters in weight space into one adapter (numpy, exact)"
    )
    soup.add_argument(
        "--adapter", action="append", type=Path, required=True, help="an adapter folder (2+)"
    )
    soup.add_argument("--weights", default=None, help="e.g. 0.6,0.4 (default: equal)")
    soup.add_argument("--out", required=True, type=Path, help="output adapter folder")
    soup.set_defaults(func=_soup)

    distill = subparsers.add_parser(
        "distill", help="the pipeline's best rewrites of training texts, as training pairs"
    )
    distill.add_argument("--model", required=True, type=Path, help="fine-tuned GGUF")
    distill.add_argument(
        "--rewriter-model", type=Path, help="a second GGUF that writes the rewrites (a pair)"
    )
    distill.add_argument("--out", required=True, type=Path, help="JSONL (appended; resumes)")
    distill.add_argument("--minutes", type=float, default=30.0, help="time budget")
    distill.add_argument("--limit", type=int, default=0, help="at most this many texts (0: all)")
    distill.add_argument(
        "--sources", default=",".join(DISTILL_SOURCES), help="comma-separated, in this order"
    )
    distill.add_argument("--seed", type=int, default=1, help="the training seed's splits")
    distill.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    distill.set_defaults(func=_distill, on_interrupt="; resume with the same command")


def _train(args: argparse.Namespace) -> int:
    from srllm.training.config import load_config

    cfg = load_config(args.config, args.overrides)
    from srllm.training.train import run

    path = run(cfg)
    if os.environ.get("RANK", "0") == "0":  # one line under torchrun/accelerate, not one per rank
        print(f"wrote {path}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from srllm.training.config import load_config

    if args.steps < 1:
        raise SrllmError(Code.BAD_INPUT, "--steps must be >= 1")
    cfg = load_config(args.config, args.overrides)
    from srllm.training.bench import run_bench

    run_bench(cfg, args.steps, args.json_out or None)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from srllm.convert.build import kept_layers
    from srllm.training.merge import merge_adapter
    from srllm.training.model import resolve_base

    source, _ = resolve_base(args.base)
    keep = kept_layers(args.adapter)  # a cut run's adapter merges cut
    print(f"wrote {merge_adapter(source, args.adapter, args.out, keep)}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from srllm.training.sample import sample

    data = args.data or paths.dataset_path("srllm", "infer_50.csv")
    for result in sample(args.model, data, args.n):
        print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def _soup(args: argparse.Namespace) -> int:
    from srllm.training.soup import make_soup, parse_weights

    weights = parse_weights(args.weights, len(args.adapter))
    out = make_soup(args.adapter, args.out, weights)
    print(f"wrote {out} (rank {json.loads((out / 'adapter_config.json').read_text())['r']})")
    return 0


def _distill(args: argparse.Namespace) -> int:
    from srllm.training.distill import DistillConfig, run

    if args.limit < 0:
        raise SrllmError(Code.BAD_INPUT, "--limit must be >= 0")
    sources = tuple(s.strip() for s in args.sources.split(",") if s.strip())
    cfg = DistillConfig(
        args.model,
        args.out,
        args.minutes,
        args.limit,
        sources,
        args.seed,
        threads=args.threads,
        rewriter=args.rewriter_model,
    )
    counts = run(cfg)
    print(
        f"wrote {args.out}: {counts['texts']} texts ({counts['skipped']} done before), "
        f"{counts['sentences']} rewritten sentences, {counts['accepted']} accepted"
    )
    return 0
