"""`srllm train` and `srllm bench-train`: argument parsing only; the work is imported lazily.

srllm train --config training/configs/default.toml [key=value ...]
srllm bench-train --config training/configs/default.toml [--steps 6]
"""

from __future__ import annotations

import argparse
import os
import sys

from server.errors import SrllmError

DEFAULT_CONFIG = "training/configs/default.toml"


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="LoRA fine-tune on the SR-LLM task contract")
    train.add_argument("--config", default=DEFAULT_CONFIG, help="TOML config file")
    train.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    train.set_defaults(func=_train)

    bench = subparsers.add_parser(
        "bench-train", help="tokens/s of our training loop vs a plain transformers Trainer"
    )
    bench.add_argument("--config", default=DEFAULT_CONFIG, help="TOML config file")
    bench.add_argument("--steps", type=int, default=6, help="optimiser steps timed per loop")
    bench.add_argument("--json", dest="json_out", default="", help="also write the JSON here")
    bench.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    bench.set_defaults(func=_bench)


def _train(args: argparse.Namespace) -> int:
    from training.config import load_config

    try:
        cfg = load_config(args.config, args.overrides)
        from training.train import run

        path = run(cfg)
    except SrllmError as exc:
        print(f"srllm: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("srllm: interrupted; resume with the same command", file=sys.stderr)
        return 130
    if os.environ.get("RANK", "0") == "0":  # one line under torchrun/accelerate, not one per rank
        print(f"wrote {path}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from training.config import load_config

    try:
        cfg = load_config(args.config, args.overrides)
        if args.steps < 1:
            raise SystemExit("srllm: error: --steps must be >= 1")
        from training.bench import run_bench

        run_bench(cfg, args.steps, args.json_out or None)
    except SrllmError as exc:
        print(f"srllm: error: {exc.message}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    merge = sub.add_parser("merge", help="merge a LoRA adapter into its base model")
    merge.add_argument("--base", required=True, help="base HF folder or id, or 'embedded'")
    merge.add_argument("--adapter", required=True)
    merge.add_argument("--out", required=True)
    merge.set_defaults(func=_merge)
    peek = sub.add_parser("sample", help="greedy flag + rewrite of held-out sentences")
    peek.add_argument("--model", required=True, help="merged HF model folder")
    peek.add_argument("--data", default="../shared/data/srllm/infer_50.csv")
    peek.add_argument("--n", type=int, default=3)
    peek.set_defaults(func=_sample)
    args = parser.parse_args(argv)
    return args.func(args)


def _merge(args: argparse.Namespace) -> int:
    from pathlib import Path

    from training.merge import merge_adapter
    from training.model import resolve_base

    try:
        source, _ = resolve_base(args.base)
        print(f"wrote {merge_adapter(source, Path(args.adapter), Path(args.out))}")
    except SrllmError as exc:
        print(f"srllm: error: {exc.message}", file=sys.stderr)
        return 2
    return 0


def _sample(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from training.sample import sample

    for result in sample(args.model, Path(args.data), args.n):
        print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0
