"""The batch row of the server benchmark: `srllm batch` throughput with 1 and with 4 workers
against one server, in the same run, as a ratio.

    python -m srllm.server.bench --batch-only [--limit 20] [--batch-task debias]
    python -m srllm.server.bench --batch-only --batch-upstream http://gpu-box:8000/v1

Rows are the biased text and the human rewrite of each infer_50 row (half biased, half fair),
the result cache off. The embedded engine serves one call at a time, so extra workers only hide
HTTP and queueing gaps; an upstream engine (vLLM, llama-server) batches concurrent calls, which
is where the ratio should move.
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

from srllm import batch

WORKERS = (1, 4)


def load_rows(path: Path, limit: int) -> list[str]:
    from srllm.training.data import clean_text

    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:limit]
    texts: list[str] = []
    for row in rows:
        texts += [clean_text(row["biased_text"]), row["debiased_text"].strip()]
    return texts


def batch_row(url: str, token: str, texts: list[str], task: str = "debias") -> dict:
    """rows/s of the same rows with each worker count, 1 worker first, into fresh outputs."""
    client = batch.Client(url, token)
    model = batch.check_server(client)
    rows = [batch.Row(i + 1, i + 1, text) for i, text in enumerate(texts)]
    out: dict = {"model": model, "rows": len(rows), "task": task}
    with tempfile.TemporaryDirectory(prefix="srllm-bench-batch-") as tmp:
        for workers in WORKERS:
            target = Path(tmp) / f"out-{workers}.jsonl"
            start = time.perf_counter()
            outcome = batch.run_batch(rows, target, client, task, workers)
            seconds = time.perf_counter() - start
            errors = sum("error" in r for r in outcome.records)
            out[f"workers_{workers}"] = {
                "seconds": seconds,
                "rows_per_s": len(rows) / seconds,
                "errors": errors,
            }
    client.close()
    first, last = (out[f"workers_{w}"]["rows_per_s"] for w in (WORKERS[0], WORKERS[-1]))
    out["ratio"] = last / first
    return out


def table(row: dict) -> list[str]:
    lines = [
        "",
        f"| srllm batch --task {row['task']}, {row['rows']} rows ({row['model']}) | s | rows/s "
        "| errors |",
        "|---|---:|---:|---:|",
    ]
    for workers in WORKERS:
        r = row[f"workers_{workers}"]
        lines.append(
            f"| {workers} worker{'s' if workers > 1 else ''} | {r['seconds']:.2f} | "
            f"{r['rows_per_s']:.2f} | {r['errors']} |"
        )
    lines.append(f"| ratio {WORKERS[-1]} / {WORKERS[0]} workers | | {row['ratio']:.2f}x | |")
    return lines


def run(model: Path, data: Path, limit: int, task: str, serve_args: tuple[str, ...] = ()) -> dict:
    """Start `srllm serve` (cache off) on the model, or with `serve_args` (an upstream), and
    measure the batch row against it."""
    import os

    from srllm.server.launch import running_server

    home = Path(tempfile.mkdtemp(prefix="srllm-bench-batch-home-"))
    os.environ["SRLLM_CACHE_SIZE"] = "0"
    with running_server(home, *serve_args, model=None if serve_args else model) as server:
        return batch_row(server.url, server.token, load_rows(data, limit), task)
