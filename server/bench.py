"""Server benchmark: HTTP vs in-process llama-cpp-python vs transformers, in one run.

    just bench                       # 20 texts of infer_50.csv
    python -m srllm.server.bench --limit 50 --json bench.json
    python -m srllm.server.bench --scan-only   # only the 1,000-word /v1/scan row
    python -m srllm.server.bench --batch-only  # only srllm batch, 1 vs 4 workers

Each HTTP call is paired with the same call made in-process through the engine, interleaved
text by text so machine noise hits both alike; the ratio is the server's overhead. The result
cache is off on both sides. Needs the dev extra (httpx, psutil); the transformers row needs the
train extra.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from srllm import contract, paths
from srllm.server import drafting, task
from srllm.server.engine import Engine, EngineConfig


def load_texts(path: Path, limit: int) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [row["debiased_text"] for row in csv.DictReader(fh)][:limit]


def load_passages(path: Path, limit: int) -> list[str]:
    """3-sentence passages: a one-sentence biased text of the file between two one-sentence
    neutral ones (human rewrites of other rows), what a paragraph selection looks like."""
    from srllm.server.segment import split_sentences
    from srllm.training.data import clean_text

    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    biased = [clean_text(r["biased_text"]) for r in rows]
    biased = [t for t in biased if len(split_sentences(t)) == 1]
    neutral = [r["debiased_text"].strip() for r in rows]
    neutral = [t for t in neutral if len(split_sentences(t)) == 1]
    return [
        f"{neutral[i % len(neutral)]} {b} {neutral[(i + 1) % len(neutral)]}"
        for i, b in enumerate(biased[:limit])
    ]


def load_article(path: Path, words: int = 1000) -> str:
    """A deterministic article of at least `words` words from the file's sentences: the biased
    text of one row, then the human rewrite of the next, and so on (cleaned as training cleans
    them), five sentences to a paragraph, paragraphs between blank lines."""
    from srllm.server.segment import split_sentences
    from srllm.training.data import clean_text

    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    sentences: list[str] = []
    count = 0
    for i in range(2 * len(rows)):
        row = rows[i % len(rows)]
        text = clean_text(row["biased_text"]) if i % 2 == 0 else row["debiased_text"].strip()
        for segment in split_sentences(text):
            sentences.append(segment.text)
            count += len(segment.text.split())
        if count >= words:
            break
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5)]
    return "\n\n".join(paragraphs)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Server:
    """`srllm serve` in a subprocess, cache off, on a free port."""

    def __init__(
        self,
        model: Path,
        threads: int | None,
        rewriter: Path | None = None,
        scan_model: Path | None = None,
    ):
        from srllm.server.launch import running_server

        home = Path(os.environ.get("TMPDIR", "/tmp")) / f"srllm-bench-{os.getpid()}"
        home.mkdir(parents=True, exist_ok=True)
        args = ["--threads", str(threads)] if threads else []
        args += ["--rewriter-model", str(rewriter)] if rewriter else []
        args += ["--scan-model", str(scan_model)] if scan_model else []
        os.environ["SRLLM_CACHE_SIZE"] = "0"
        self._cm = running_server(home, *args, model=model)
        self.running = self._cm.__enter__()
        self.client = self.running.client()
        self.process = psutil.Process(self.running.process.pid)

    def call(self, route: str, text: str) -> float:
        start = time.perf_counter()
        r = self.client.post(route, json={"text": text})
        r.raise_for_status()
        return time.perf_counter() - start

    def first_token(self, text: str) -> float:
        start = time.perf_counter()
        body = {"text": text, "stream": True, "all": True}
        with self.client.stream("POST", "/v1/rewrite", json=body) as r:
            for line in r.iter_lines():
                if line == "event: delta":  # after the flag's progress events
                    return time.perf_counter() - start
        raise RuntimeError("stream ended without a token")

    def close(self) -> None:
        self.client.close()
        self._cm.__exit__(None, None, None)


def in_process(engine: Engine, route: str, text: str) -> float:
    """The same task the route runs (server.task), called directly, no cache."""
    start = time.perf_counter()
    task.collect(task.Task(engine, task.Cache(0)).run(text, route.rsplit("/", 1)[-1]))
    return time.perf_counter() - start


def in_process_first_token(engine: Engine, text: str) -> float:
    start = time.perf_counter()
    for event in task.Task(engine, task.Cache(0)).run(text, "rewrite", rewrite_all=True):
        if isinstance(event, task.Delta):
            return time.perf_counter() - start
    raise RuntimeError("no token")


def scan_row(server: Server, engine: Engine, article: str, repeats: int = 3) -> dict:
    """The issue's goal: a 1,000-word article through /v1/scan (no cache), against the same
    sentences sent one by one to /v1/flag in the same run; and, in-process, the scan's batched
    scoring against one forward pass per sentence (prefix reuse alone), and, with a scan model,
    against the flagging model scanning the article itself."""
    from srllm.server import scan
    from srllm.server.segment import split_sentences

    sentences = [s.text for s in split_sentences(article)]
    scorer = engine.scan_engine()

    def http_scan() -> float:
        start = time.perf_counter()
        r = server.client.post("/v1/scan", json={"text": article})
        r.raise_for_status()
        assert len(r.json()["sentences"]) == len(sentences)
        return time.perf_counter() - start

    def local_scan(scoring=scorer) -> float:
        start = time.perf_counter()
        work = scan.plan([scan.Item(article)], False, scoring)
        scan.collect(scan.Scanner(scoring, task.Cache(0)).run(work))
        return time.perf_counter() - start

    first_http, first_local = http_scan(), local_scan()  # each makes its batch context
    http, local = [], []
    for _ in range(repeats):
        http.append(http_scan())
        local.append(local_scan())
    start = time.perf_counter()
    for sentence in sentences:
        scorer.label_probabilities(sentence)
    one_by_one = time.perf_counter() - start
    flagger = None
    if scorer is not engine:
        local_scan(engine)  # its batch context
        flagger = statistics.median(local_scan(engine) for _ in range(repeats))
    flag_s = sum(server.call("/v1/flag", sentence) for sentence in sentences)
    scan_s = statistics.median(http)
    return {
        "words": len(article.split()),
        "sentences": len(sentences),
        "scan_http_s": scan_s,
        "scan_http_first_s": first_http,
        "scan_inproc_s": statistics.median(local),
        "scan_inproc_first_s": first_local,
        "one_pass_per_sentence_inproc_s": one_by_one,
        "flag_sequential_http_s": flag_s,
        "flag_over_scan": flag_s / scan_s,
        "batching_gain": one_by_one / statistics.median(local),
        "scan_model": scorer.info.name if scorer is not engine else None,
        "flagger_scan_inproc_s": flagger,
    }


def throughput(server: Server, texts: list[str], clients: int) -> float:
    def one(text: str) -> None:
        with server.running.client() as c:
            c.post("/v1/flag", json={"text": text}).raise_for_status()

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, [f"{t} ({i})" for i, t in enumerate(texts)]))
    return len(texts) / (time.perf_counter() - start)


def llama_rewrite(engine: Engine, texts: list[str]) -> tuple[float, float]:
    """Median seconds per rewrite and generation tokens/s, in-process through llama.cpp."""
    times, tokens = [], 0
    for text in texts:
        start = time.perf_counter()
        raw = "".join(engine.stream_rewrite(text))
        times.append(time.perf_counter() - start)
        tokens += engine.count_tokens(raw)
    return statistics.median(times), tokens / sum(times)


def transformers_rewrite(
    engine: Engine, texts: list[str], model_path: Path
) -> tuple[float, float] | None:
    """Seconds per rewrite through transformers' generate on the CPU (the paper's stack)."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        return None
    folder, name = str(model_path.parent), model_path.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    times, tokens = [], 0
    for text in texts:
        ids = tok.apply_chat_template(
            contract.messages(contract.Task.REWRITE, text),
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=engine.rewrite_budget(text), do_sample=False)
        times.append(time.perf_counter() - start)
        tokens += out.shape[1] - ids["input_ids"].shape[1]
    return statistics.median(times), tokens / sum(times)


def run(args: argparse.Namespace) -> dict:
    model = paths.resolve_model(args.model)
    rewriter = paths.resolve_rewriter(args.model, args.rewriter_model)  # the default's own
    scan_model = paths.resolve_scan(args.model, args.scan_model)
    texts = load_texts(args.data, args.limit)
    words = statistics.median(len(t.split()) for t in texts)
    engine = Engine(
        EngineConfig(
            model_path=model, n_threads=args.threads, rewriter_path=rewriter, scan_path=scan_model
        )
    )
    server = Server(model, args.threads, rewriter, scan_model)
    results: dict = {"model": engine.info.name, "texts": len(texts), "median_words": words}
    results["rewriter"] = engine.info.rewriter and engine.info.rewriter["name"]
    try:
        for text in texts[:2]:  # warm both: page in weights, evaluate the shared prefix
            in_process(engine, "/v1/debias", text)
            server.call("/v1/debias", text)
        if not args.no_scan:
            results["scan"] = scan_row(server, engine, load_article(args.data))
        if args.scan_only:
            results["server_peak_rss_mib"] = server.process.memory_info().rss / 2**20
            return results
        rows = {}
        passages = load_passages(args.data, args.limit)
        for route, items in (
            ("/v1/debias", texts),
            ("/v1/flag", texts),
            ("/v1/rewrite", texts),
            ("/v1/debias 3-sentence passage", passages),
        ):
            path = route.split()[0]
            http, local = [], []
            for text in items:
                local.append(in_process(engine, path, text))
                http.append(server.call(path, text))
            rows[route] = {
                "http_p50": statistics.median(http),
                "http_p95": pct(http, 0.95),
                "inproc_p50": statistics.median(local),
                "inproc_p95": pct(local, 0.95),
                "overhead_ratio": statistics.median(http) / statistics.median(local),
            }
        http_ttft, local_ttft = [], []
        for text in texts:
            local_ttft.append(in_process_first_token(engine, text + " "))
            http_ttft.append(server.first_token(text + " "))
        rows["first_token"] = {
            "http_p50": statistics.median(http_ttft),
            "http_p95": pct(http_ttft, 0.95),
            "inproc_p50": statistics.median(local_ttft),
            "inproc_p95": pct(local_ttft, 0.95),
            "overhead_ratio": statistics.median(http_ttft) / statistics.median(local_ttft),
        }
        results["latency_s"] = rows
        results["requests_per_s_4_clients"] = throughput(server, texts, 4)
        results["server_peak_rss_mib"] = server.process.memory_info().rss / 2**20
        results["bench_peak_rss_mib"] = psutil.Process().memory_info().rss / 2**20
    finally:
        server.close()
        if args.scan_only:
            engine.close()
    if not args.no_transformers:
        subset = texts[: args.transformers_limit]
        hf = transformers_rewrite(engine, subset, model)
        if hf is not None:
            llama = llama_rewrite(engine, subset)
            results["transformers"] = {
                "rewrite_p50_s": hf[0],
                "tokens_per_s": hf[1],
                "llama_cpp_rewrite_p50_s": llama[0],
                "llama_cpp_tokens_per_s": llama[1],
                "speedup_tokens_per_s": llama[1] / hf[1],
            }
    if not args.no_prompt_lookup:
        results["prompt_lookup"] = prompt_lookup_ratio(engine, model, texts, args.threads)
    engine.close()
    return results


def prompt_lookup_ratio(engine: Engine, model: Path, texts: list[str], threads) -> dict:
    """Greedy rewrite tokens/s of the engine as it ships, with prompt-lookup drafts
    (server.drafting), against one without them, interleaved text by text on the same texts,
    and how many outputs are identical (a drafted step reads several tokens per decode, whose
    logits round differently, so a near tie can go the other way)."""
    plain = Engine(
        EngineConfig(
            model_path=model,
            n_threads=threads,
            prompt_lookup=0,
            rewriter_path=engine.config.rewriter_path,
        )
    )
    drafted = engine
    plain_s = draft_s = 0.0
    tokens = same = 0
    try:
        "".join(plain.stream_rewrite(texts[0]))  # evaluate its shared prefix, as the other's
        for text in texts:
            start = time.perf_counter()
            a = "".join(plain.stream_rewrite(text))
            plain_s += time.perf_counter() - start
            start = time.perf_counter()
            b = "".join(drafted.stream_rewrite(text))
            draft_s += time.perf_counter() - start
            tokens += plain.count_tokens(a)
            same += a == b
    finally:
        plain.close()
    return {
        "plain_tokens_per_s": tokens / plain_s,
        "lookup_tokens_per_s": tokens / draft_s,
        "speedup": plain_s / draft_s,
        "identical_outputs": same,
        "texts": len(texts),
    }


def scan_table(row: dict) -> list[str]:
    return [
        "",
        f"| scan {row['words']:,}-word article ({row['sentences']} sentences) | seconds | ratio |",
        "|---|---:|---:|",
        f"| /v1/scan (goal <= 3 s; first call after start {row['scan_http_first_s']:.2f} s) | "
        f"{row['scan_http_s']:.2f} | 1.00 |",
        f"| /v1/flag, sentence by sentence, sequential | {row['flag_sequential_http_s']:.2f} | "
        f"{row['flag_over_scan']:.1f}x |",
        f"| in-process scan, batched | {row['scan_inproc_s']:.2f} | |",
        f"| in-process, one forward pass per sentence (prefix reuse only) | "
        f"{row['one_pass_per_sentence_inproc_s']:.2f} | {row['batching_gain']:.1f}x |",
    ] + (
        [
            "| in-process scan by the flagging model itself (no scan model) | "
            f"{row['flagger_scan_inproc_s']:.2f} | "
            f"{row['flagger_scan_inproc_s'] / row['scan_inproc_s']:.1f}x |"
        ]
        if row.get("flagger_scan_inproc_s")
        else []
    )


def table(results: dict) -> str:
    lines = [
        f"model: {results['model']}"
        + (f"  rewriter: {results['rewriter']}" if results.get("rewriter") else "")
        + f"  texts: {results['texts']} (median {results['median_words']} words)",
    ]
    if "scan" in results:
        lines += scan_table(results["scan"])
    if "latency_s" not in results:
        lines.append(f"\npeak RSS: server {results['server_peak_rss_mib']:.0f} MiB")
        return "\n".join(lines)
    lines += [
        "",
        "| call | HTTP p50 s | HTTP p95 s | in-process p50 s | in-process p95 s | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in results["latency_s"].items():
        lines.append(
            f"| {name} | {row['http_p50']:.3f} | {row['http_p95']:.3f} | "
            f"{row['inproc_p50']:.3f} | {row['inproc_p95']:.3f} | {row['overhead_ratio']:.2f} |"
        )
    lines += [
        "",
        f"requests/s, 4 clients (/v1/flag): {results['requests_per_s_4_clients']:.2f}",
        f"peak RSS: server {results['server_peak_rss_mib']:.0f} MiB",
    ]
    lookup = results.get("prompt_lookup")
    if lookup:
        lines.append(
            f"prompt-lookup drafting ({drafting.DRAFT_TOKENS} tokens): "
            f"{lookup['lookup_tokens_per_s']:.0f} vs "
            f"{lookup['plain_tokens_per_s']:.0f} tok/s plain, {lookup['speedup']:.2f}x; "
            f"identical output {lookup['identical_outputs']}/{lookup['texts']}"
        )
    hf = results.get("transformers")
    if hf:
        lines.append(
            f"rewrite generation: transformers {hf['tokens_per_s']:.0f} tok/s "
            f"(p50 {hf['rewrite_p50_s']:.2f} s) vs llama.cpp {hf['llama_cpp_tokens_per_s']:.0f}"
            f" tok/s (p50 {hf['llama_cpp_rewrite_p50_s']:.2f} s): "
            f"llama.cpp {hf['speedup_tokens_per_s']:.1f}x faster"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srllm.server.bench", description=__doc__)
    parser.add_argument("--model", type=Path, help="GGUF (default: the default model)")
    parser.add_argument(
        "--rewriter-model", type=Path, help="GGUF that writes rewrites (default: as serve)"
    )
    parser.add_argument(
        "--scan-model", type=Path, help="GGUF that scores scans (default: as serve)"
    )
    parser.add_argument("--data", type=Path, help="CSV (default: srllm/infer_50.csv)")
    parser.add_argument("--limit", type=int, default=20, help="texts from the data file")
    parser.add_argument("--threads", type=int, help="CPU threads for both sides")
    parser.add_argument("--transformers-limit", type=int, default=5)
    parser.add_argument("--no-transformers", action="store_true")
    parser.add_argument("--no-prompt-lookup", action="store_true")
    parser.add_argument("--no-scan", action="store_true", help="skip the 1,000-word scan row")
    parser.add_argument("--scan-only", action="store_true", help="only the scan row")
    parser.add_argument(
        "--batch-only", action="store_true", help="only srllm batch with 1 vs 4 workers"
    )
    parser.add_argument("--batch-task", choices=("flag", "rewrite", "debias"), default="debias")
    parser.add_argument("--batch-upstream", metavar="URL", help="batch row: serve --upstream URL")
    parser.add_argument("--json", type=Path, default=Path("bench-server.json"))
    args = parser.parse_args(argv)
    args.data = args.data or paths.dataset_path("srllm", "infer_50.csv")
    if not args.data.is_file():
        print(f"srllm: error: data file not found: {args.data}", file=sys.stderr)
        return 1
    if args.model is None:  # what `srllm serve` would serve: the default, built if stale
        from srllm.cli import ensure_finetuned_default

        ensure_finetuned_default()
    if args.batch_only:  # server/bench_batch.py: its own server, its own table
        from srllm.server import bench_batch

        upstream = ("--upstream", args.batch_upstream) if args.batch_upstream else ()
        row = bench_batch.run(
            paths.resolve_model(args.model), args.data, args.limit, args.batch_task, upstream
        )
        print("\n".join(bench_batch.table(row)))
        args.json.write_text(json.dumps({"batch": row}, indent=2))
        print(f"\nwrote {args.json}")
        return 0
    results = run(args)
    print(table(results))
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
