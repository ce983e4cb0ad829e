"""`srllm convert` and `srllm build-model`. Cheap to import: the work is imported lazily."""

from __future__ import annotations

import argparse
from pathlib import Path

from srllm.convert.build import DEFAULT_ADAPTER
from srllm.convert.config import DEFAULT_MERGE_QUANT
from srllm.errors import Code, SrllmError


def _print_result(path: Path, manifest) -> None:
    kind = "srllm fine-tune" if manifest.finetuned else "not a srllm fine-tune"
    print(
        f"srllm: wrote {path} ({manifest.size_bytes / 1e6:.1f} MB, {manifest.encoding}, "
        f"{kind}, tensor types {manifest.tensor_types})"
    )
    if manifest.verify is not None:
        from srllm.convert.verify import format_table

        print(format_table(manifest.verify))


def run_convert(args: argparse.Namespace) -> int:
    from srllm.convert.config import ConvertConfig
    from srllm.convert.pipeline import run

    cfg = ConvertConfig(
        out=args.out,
        model_dir=args.model_dir,
        base=args.base,
        adapter=args.adapter,
        training_manifest=args.training_manifest,
        outtype=args.outtype,
        quant=args.quant,
        verify=args.verify,
        threads=args.threads,
        license=args.license,
        name=args.name,
    )
    path, manifest = run(cfg)
    _print_result(path, manifest)
    if manifest.verify is not None and not manifest.verify["ok"]:
        raise SrllmError(
            Code.CONVERT_FAILED, "verification failed: llama.cpp disagrees with transformers"
        )
    return 0


def run_build_model(args: argparse.Namespace) -> int:
    from srllm.convert.build import build_defaults, build_model, remove_built
    from srllm.paths import default_rewriter_dir, default_scan_dir

    if args.adapter is None and args.base is None:  # the repo's defaults: flag, rewrite, scan
        for path, manifest in build_defaults(args.quant, threads=args.threads):
            _print_result(path, manifest)
        return 0
    # Another adapter or base: it alone serves, rewrites and scans included.
    path, manifest = build_model(
        args.adapter or DEFAULT_ADAPTER, args.quant, base=args.base, threads=args.threads
    )
    remove_built(default_rewriter_dir())
    remove_built(default_scan_dir())
    _print_result(path, manifest)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from srllm.convert.quantize import QUANT_TYPES

    p = subparsers.add_parser(
        "convert",
        help="Hugging Face model or LoRA adapter -> GGUF (optionally quantized)",
        description="Convert a Hugging Face causal LM folder to GGUF, or merge a LoRA adapter "
        "into a GGUF base; quantize with llama.cpp.",
    )
    p.add_argument("model_dir", nargs="?", type=Path, metavar="MODEL_DIR", help="HF model folder")
    p.add_argument("--out", required=True, type=Path, help="output .gguf file, or a folder")
    p.add_argument(
        "--outtype",
        choices=("f16", "bf16", "f32"),
        help="float type (default f16; with --adapter: what the merge is stored as)",
    )
    p.add_argument("--quant", choices=sorted(QUANT_TYPES), help="quantize the result")
    p.add_argument("--verify", action="store_true", help="compare llama.cpp with transformers")
    p.add_argument("--base", type=Path, help="GGUF base to merge --adapter into")
    p.add_argument("--adapter", type=Path, help="peft LoRA adapter folder")
    p.add_argument(
        "--training-manifest", type=Path, metavar="RUN_JSON",
        help="the trainer's run.json (default: run.json in MODEL_DIR or the adapter folder); "
        "only a model with one is marked fine-tuned",
    )  # fmt: skip
    p.add_argument("--threads", type=int, help="quantization threads (default: all cores)")
    p.add_argument("--license", help="general.license (default: from the source)")
    p.add_argument("--name", help="general.name (default: from the source)")
    p.set_defaults(func=run_convert)

    b = subparsers.add_parser(
        "build-model",
        help="merge the repo's default adapter into the embedded SmolLM2 -> the server's default",
    )
    b.add_argument(
        "--adapter", type=Path, default=None,
        help="peft LoRA adapter folder (default: training/adapters/default, and the rewriter "
        "adapter training/adapters/rewriter when the repo has one)",
    )  # fmt: skip
    b.add_argument("--quant", default=DEFAULT_MERGE_QUANT, choices=sorted(QUANT_TYPES))
    b.add_argument("--base", type=Path, help="GGUF base (default: the embedded SmolLM2)")
    b.add_argument("--threads", type=int)
    b.set_defaults(func=run_build_model)
