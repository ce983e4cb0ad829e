"""Benchmark the convert stage on the 135M default (SmolLM2-135M-Instruct).

    python -m srllm.convert.bench [--out artifacts/bench/convert.json] [--threads 2]

The Hugging Face source is rebuilt offline from the embedded Q4_1 GGUF (transformers, gguf_file=),
converted to f16 and quantized to each type. Per type: convert/quantize time, file size, tensors
that fell back to another type, prompt and generation tokens/s, and perplexity on the human
rewrites (`debiased_text`) of infer_50.csv relative to f16. The shipped Q4_1 is a reference row.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from srllm import paths

QUANTS = ("f16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_1")
# The type llama.cpp aims for per --quant; "other" tensors are mixes or width fallbacks.
MAIN_TYPE = {"f16": "F16", "q8_0": "Q8_0", "q6_k": "Q6_K", "q5_k_m": "Q5_K", "q4_k_m": "Q4_K"}
MAIN_TYPE["q4_1"] = "Q4_1"
# SmolLM2's real pre-tokenizer (transformers rebuilds a plain ByteLevel one from the GGUF).
SMOLLM_PRE_TOKENIZER = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    ],
}
PROMPT = (
    "Rewrite the passage so that it is free of bias while keeping its meaning. "
    "The passage: Old people are always slow with technology and should not be hired. " * 4
)


def hf_from_gguf(gguf_path: Path, folder: Path) -> Path:
    """Dequantize the embedded GGUF into a Hugging Face folder (safetensors, f32)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    from safetensors.torch import save_file

    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    # save_pretrained refuses models loaded from GGUF; write the plain f32 tensors ourselves.
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = ["LlamaForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    tok.save_pretrained(folder)
    tj = folder / "tokenizer.json"
    data = json.loads(tj.read_text(encoding="utf-8"))
    data["pre_tokenizer"] = SMOLLM_PRE_TOKENIZER
    tj.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    return folder


def texts(path: Path | None = None) -> list[str]:
    path = path or paths.dataset_path("srllm", "infer_50.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            row["debiased_text"].strip()
            for row in csv.DictReader(fh)
            if row["debiased_text"].strip()
        ]


def perplexity(llm, rows: list[str]) -> float:
    nll, count = 0.0, 0
    for text in rows:
        ids = [llm.token_eos()] + llm.tokenize(text.encode(), add_bos=False, special=False)
        llm.reset()
        llm.eval(ids)
        logits = np.asarray(llm.scores[: len(ids) - 1], dtype=np.float64)
        logz = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
        nll += float((logz - logits[np.arange(len(ids) - 1), ids[1:]]).sum())
        count += len(ids) - 1
    return float(np.exp(nll / count))


def speed(llm, n_gen: int = 64) -> tuple[float, float]:
    ids = llm.tokenize(PROMPT.encode(), add_bos=False)
    llm.reset()
    llm.eval(ids[:8])  # warm-up: first use allocates buffers
    llm.reset()
    start = time.perf_counter()
    llm.eval(ids)
    prompt_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n_gen):
        llm.eval([int(np.argmax(llm.scores[llm.n_tokens - 1]))])
    return len(ids) / prompt_s, n_gen / (time.perf_counter() - start)


def measure_speed(paths: dict[str, Path], threads: int, rounds: int = 3) -> dict[str, tuple]:
    """Best of `rounds`, round-robin over the files: other processes on a shared 2-core
    machine slow single runs down, and interleaving spreads that over all types alike."""
    import llama_cpp

    best: dict[str, tuple[float, float]] = {name: (0.0, 0.0) for name in paths}
    for _ in range(rounds):
        for name, path in paths.items():
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=512,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
            pp, tg = speed(llm)
            llm.close()
            best[name] = (max(best[name][0], pp), max(best[name][1], tg))
    return {name: (round(pp, 1), round(tg, 1)) for name, (pp, tg) in best.items()}


def measure(path: Path, threads: int, rows: list[str]) -> dict:
    import llama_cpp

    from srllm.convert.ggufio import GGUFFile

    info = {
        "size_mb": round(path.stat().st_size / 1e6, 1),
        "tensor_types": GGUFFile(path).tensor_types(),
    }
    llm = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=512,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=True,
        verbose=False,
    )
    info["ppl"] = round(perplexity(llm, rows), 3)
    llm.close()
    return info


def table(results: dict) -> str:
    f16 = results["types"]["f16"]["ppl"]
    lines = [
        "| type | time (s) | size (MB) | other-type tensors | prompt tok/s | gen tok/s | ppl "
        "| ppl vs f16 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results["types"].items():
        rel = 100 * (r["ppl"] / f16 - 1)
        wanted = MAIN_TYPE[name.split()[0]]
        fallback = sum(n for t, n in r["tensor_types"].items() if t not in (wanted, "F32"))
        lines.append(
            f"| {name} | {r.get('time_s', '-')} | {r['size_mb']} | {fallback} | "
            f"{r['prompt_tok_s']} | {r['gen_tok_s']} | {r['ppl']} | {rel:+.2f}% |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from srllm.convert.config import ConvertConfig
    from srllm.convert.pipeline import run
    from srllm.convert.quantize import quantize
    from srllm.paths import embedded_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/convert.json"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    embedded = embedded_model()
    rows = texts()
    results: dict = {
        "model": embedded.name,
        "threads": args.threads,
        "n_texts": len(rows),
        "types": {},
    }
    with tempfile.TemporaryDirectory(prefix="srllm-bench-") as scratch:
        work = Path(scratch)
        start = time.perf_counter()
        hf = hf_from_gguf(embedded, work / "hf")
        results["hf_export_s"] = round(time.perf_counter() - start, 1)
        f16 = work / "model-f16.gguf"
        _, manifest = run(ConvertConfig(out=f16, model_dir=hf, outtype="f16", threads=args.threads))
        results["convert_f16_s"] = manifest.stats["convert_s"]
        for quant in QUANTS:
            path = f16 if quant == "f16" else work / f"model-{quant}.gguf"
            elapsed = manifest.stats["convert_s"]
            if quant != "f16":
                start = time.perf_counter()
                quantize(f16, path, quant, args.threads)
                elapsed = round(time.perf_counter() - start, 2)
            results["types"][quant] = {"time_s": elapsed} | measure(path, args.threads, rows)
            print(f"{quant}: {results['types'][quant]}", file=sys.stderr, flush=True)
        results["types"]["q4_1 (shipped)"] = measure(embedded, args.threads, rows)
        paths = {q: f16 if q == "f16" else work / f"model-{q}.gguf" for q in QUANTS}
        paths["q4_1 (shipped)"] = embedded
        for name, (pp, tg) in measure_speed(paths, args.threads).items():
            results["types"][name] |= {"prompt_tok_s": pp, "gen_tok_s": tg}
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
