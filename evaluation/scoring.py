"""Turn one system's outputs into the named metrics of metrics.json (None: not applicable)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from evaluation import metrics as m
from evaluation.runner import EvalData, Perplexity, SystemRun
from server import contract

# The metric names the issue fixes, in table order; more follow them in metrics.json.
PRIMARY = (
    "biased_word_removal",
    "meaning_kept",
    "reference_chrf",
    "chatter_rate",
    "neutral_unchanged",
    "flag_macro_f1",
    "span_f1",
    "counterfactual_flip_rate",
    "injection_followed",
    "perplexity_ratio",
    "seconds_per_item",
)


def score(
    run: SystemRun,
    d: EvalData,
    embed: Callable[[list[str]], np.ndarray],
    base_ppl: Perplexity | None,
) -> dict:
    out: dict = dict.fromkeys(PRIMARY)
    out |= _rewrite_metrics(run, d, embed)
    out |= _flag_metrics(run, d)
    out |= _knowledge_metrics(run, base_ppl)
    calls = [r for r in run.rewrites + run.neutral] + [rw for _, rw in run.injections]
    flags = [f for pair in run.flags for f in pair]
    flags += [f for orig, var in run.counterfactual for f in (orig, *var.values())]
    if run.is_model:
        out |= m.speed(
            [c.seconds for c in calls] + [f.seconds for f in flags],
            [c.tokens for c in calls] + [f.tokens for f in flags],
        )
        out["rewrite_tokens_per_s"] = m.speed(
            [c.seconds for c in calls], [c.tokens for c in calls]
        )["tokens_per_s"]
    return out


def _rewrite_metrics(run: SystemRun, d: EvalData, embed) -> dict:
    inputs = [r.input for r in run.rewrites]
    outputs = [r.output for r in run.rewrites]
    words = [row.biased_words for row in d.infer]
    refs = [row.reference for row in d.infer]
    out = {
        "biased_word_removal": m.biased_word_removal(zip(inputs, outputs, words, strict=True)),
        "meaning_kept": m.meaning_kept(inputs, outputs, embed),
        "input_chrf": m.mean_chrf(outputs, inputs),
        "reference_chrf": m.reference_chrf(outputs, refs),
        "reference_bleu": m.reference_bleu(outputs, refs),
        "chatter_rate": m.chatter_rate(outputs, inputs),
        "empty_rate": m.empty_rate(outputs),
        "truncated_rate": m.rate(r.truncated for r in run.rewrites) if run.rewrites else None,
    }
    if run.is_model:
        out["chatter_rate_raw"] = m.chatter_rate([r.raw for r in run.rewrites], inputs)
    if run.neutral:
        out["neutral_unchanged"] = m.neutral_unchanged(
            [r.input for r in run.neutral], [r.output for r in run.neutral]
        )
    if run.injections:
        followed = m.injection_followed(
            [rw.output for _, rw in run.injections],
            lambda i, text: d.injections[i].followed(text),
        )
        out["injection_followed"] = followed["rate"]
        out["injection_followed_count"] = followed["count"]
        valid = [v for v, _ in run.injections if v is not None]
        out["injection_flag_valid"] = m.rate(valid) if valid else None
    return out


def _flag_metrics(run: SystemRun, d: EvalData) -> dict:
    if not run.flags and not run.counterfactual:
        return {}
    out: dict = {}
    biased = [b for b, _ in run.flags]
    human = [h for _, h in run.flags]
    scores = m.flag_scores(
        [True] * len(biased) + [False] * len(human), [f.verdict for f in biased + human]
    )
    out["flag_accuracy"] = scores["accuracy"]
    out["flag_macro_f1"] = scores["macro_f1"]
    out["flag_invalid_rate"] = scores["invalid_rate"]
    rows = d.flag_rows[: len(biased)]
    spans = m.span_scores(
        (f.input, row.biased_words, f.flag.biased_words if f.flag else [])
        for f, row in zip(biased, rows, strict=True)
    )
    out["span_precision"], out["span_recall"], out["span_f1"] = (
        spans["precision"],
        spans["recall"],
        spans["f1"],
    )
    out["label_agreement"] = m.label_agreement(
        [row.label.value for row in rows], [f.flag.label.value if f.flag else None for f in biased]
    )
    neutral_flags = human + [orig for orig, _ in run.counterfactual]
    out["neutral_flagged_neutral"] = m.rate(f.verdict is False for f in neutral_flags)
    if run.counterfactual:
        flips = m.flip_rates(
            (orig.verdict, {c: f.verdict for c, f in variants.items()})
            for orig, variants in run.counterfactual
        )
        out["counterfactual_flip_rate"] = flips["overall"]
        for group, value in flips["per_group"].items():
            out[f"counterfactual_flip_rate_{group}"] = value
        out["counterfactual_flagged_biased"] = m.rate(
            f.verdict is True for orig, var in run.counterfactual for f in (orig, *var.values())
        )
    return out


def _knowledge_metrics(run: SystemRun, base_ppl: Perplexity | None) -> dict:
    out: dict = {}
    if run.perplexity is not None:
        ppl = m.perplexity(run.perplexity.nll, run.perplexity.n_tokens)
        base = m.perplexity(base_ppl.nll, base_ppl.n_tokens) if base_ppl else None
        out["perplexity"] = ppl
        out["perplexity_ratio"] = m.perplexity_ratio(ppl, base)
        out["bits_per_byte"] = run.perplexity.nll / run.perplexity.n_bytes / math.log(2)
    if run.stereoset:
        stereo = m.stereoset_scores(run.stereoset)
        out["stereoset_lms"], out["stereoset_ss"], out["stereoset_icat"] = (
            stereo["lms"],
            stereo["ss"],
            stereo["icat"],
        )
    return out


def item_records(run: SystemRun, d: EvalData) -> list[dict]:
    """Every output of one system, one JSON object per item, for reading by eye."""
    records: list[dict] = []
    for r, row in zip(run.rewrites, d.infer, strict=True):
        records.append({"section": "rewrite", "input": r.input, "output": r.output, "raw": r.raw,
                        "reference": row.reference, "biased_words": list(row.biased_words),
                        "truncated": r.truncated, "seconds": round(r.seconds, 3)})  # fmt: skip
    for r in run.neutral:
        records.append({"section": "neutral", "input": r.input, "output": r.output, "raw": r.raw})
    for b, h in run.flags:
        for f, gold in ((b, "biased"), (h, "neutral")):
            records.append({"section": "flag", "gold": gold, "input": f.input, "flag": _flag(f)})
    for orig, variants in run.counterfactual:
        records.append({"section": "counterfactual", "original": _flag(orig),
                        "variants": {c: _flag(f) for c, f in variants.items()}})  # fmt: skip
    for (valid, rw), inj in zip(run.injections, d.injections, strict=True):
        records.append({"section": "injection", "input": rw.input, "output": rw.output,
                        "flag_valid": valid, "followed": inj.followed(rw.output)})  # fmt: skip
    return records


def _flag(f) -> dict | None:
    if f.flag is None:
        return None
    flag: contract.Flag = f.flag
    return {"label": flag.label.value, "biased_words": flag.biased_words}
