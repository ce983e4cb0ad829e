"""Turn one system's outputs into the named metrics of metrics.json (None: not applicable)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from srllm import contract
from srllm.evaluation import metrics as m
from srllm.evaluation.runner import EvalData, Perplexity, SystemRun
from srllm.server import task

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
    out |= _passage_metrics(run, embed)
    out |= _scan_metrics(run)
    out |= _sentence_metrics(run, d)
    out |= _stereotype_metrics(run)
    out |= _group_statement_metrics(run, d)
    out |= _group_rewrite_metrics(run, embed)
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
        out |= _task_metrics(run, words)
    out["preservation_rate"] = m.preservation_rate(
        (r.input, r.output, r.highlights) for r in run.decorated + run.rewrites
    )
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


def _task_metrics(run: SystemRun, words: list) -> dict:
    """What the flag-guided rewrite does: unchanged rewrites of flagged sentences, highlighted
    words that survive, bias left in the rewrite when it is flagged again."""
    rewrites = run.rewrites + run.decorated
    biased = sum(r.biased_sentences for r in rewrites)
    highlighted = [(r.output, r.highlights) for r in rewrites if r.flagged and r.highlights]
    residual = [r.residual for r in run.rewrites if r.residual is not None]
    flagged = [r for r in run.rewrites if r.flagged]
    residual_marked = [r.still_biased for r in run.rewrites if r.residual]
    return {
        "unchanged_biased_rate": (
            sum(r.unchanged_biased for r in rewrites) / biased if biased else None
        ),
        "highlight_survival": m.highlight_survival(highlighted),
        "residual_bias": m.rate(residual) if residual else None,
        "rewrite_flagged_rate": m.rate(bool(r.flagged) for r in run.rewrites),
        "review_marked_rate": m.rate(r.still_biased for r in flagged) if flagged else None,
        "residual_marked": m.rate(residual_marked) if residual_marked else None,
    }


def _passage_metrics(run: SystemRun, embed) -> dict:
    if not run.passages:
        return {}
    correct, neutral_parts, identical = [], 0, 0
    removal_items, meaning_pairs, highlighted = [], [], []
    unchanged = flagged = 0
    for p in run.passages:
        payload, text = p.payload, p.item.text
        correct.append(payload["flag"]["biased"] == p.item.biased)
        sentences = {s["index"]: s for s in payload["sentences"]}
        flags = {s["index"]: s for s in payload["flag"]["sentences"]}
        for part in p.item.parts:
            inside = [s for s in sentences.values() if part.start <= s["start"] < part.end]
            output = m.part_output(text, part.start, part.end, inside)
            if not part.biased:
                neutral_parts += 1
                identical += output == text[part.start : part.end]
            else:
                removal_items.append((text[part.start : part.end], output, part.words))
                meaning_pairs.append((text[part.start : part.end], output))
        for index, s in sentences.items():
            if s["biased"]:
                flagged += 1
                unchanged += not s["changed"]
                words = task.words_to_drop(flags[index]["spans"])
                if words and s["rewrite"] is not None:
                    highlighted.append((s["rewrite"], words))
    seconds = sorted(p.seconds for p in run.passages)
    return {
        "passage_flag_accuracy": m.rate(correct),
        "passage_neutral_identical": identical / neutral_parts if neutral_parts else None,
        "passage_biased_word_removal": m.biased_word_removal(removal_items),
        "passage_meaning_kept": m.meaning_kept(
            [a for a, _ in meaning_pairs], [b for _, b in meaning_pairs], embed
        ) if meaning_pairs else None,
        "passage_highlight_survival": m.highlight_survival(highlighted),
        "passage_unchanged_biased": unchanged / flagged if flagged else None,
        "passage_seconds_p50": seconds[len(seconds) // 2],
    }  # fmt: skip


def _scan_metrics(run: SystemRun) -> dict:
    """The scan's score of a sentence is its P(biased) at the flag prompt's label position,
    the very number the flag answers give per sentence (server/scan.py; the batched engine
    path reproduces it exactly, tests/integration/test_scan_model.py), so it is read from the
    flag and passage sections here rather than computed twice. A text's score is its highest
    sentence score. A text is labelled biased when one of its sentences is: at the model's
    flag threshold, or by the card's text rules (task.rules_biased), which is the card's own
    verdict of that sentence, so precision and recall are read from the flag answers."""
    threshold = run.info.get("flag_threshold")
    if not run.is_model or threshold is None:
        return {}
    if run.info.get("scan") is not None:
        return _scan_model_metrics(run)
    out: dict = {}
    pairs = [(b, h) for b, h in run.flags if b.sentence_p and h.sentence_p]
    if pairs:
        scores = [max(b.sentence_p) for b, _ in pairs] + [max(h.sentence_p) for _, h in pairs]
        gold = [True] * len(pairs) + [False] * len(pairs)
        labels = [float(bool(b.verdict)) for b, _ in pairs] + [
            float(bool(h.verdict)) for _, h in pairs
        ]
        pr = m.precision_recall(labels, gold, 0.5)
        out["scan_auc"] = m.auc(scores, gold)
        out["scan_precision"], out["scan_recall"] = pr["precision"], pr["recall"]
    scores, labels, gold = [], [], []
    for p in run.passages:
        sentences = p.payload["flag"]["sentences"]
        for part in p.item.parts:
            inside = [s for s in sentences if part.start <= s["start"] < part.end]
            if inside and None not in [s["p_biased"] for s in inside]:
                scores.append(max(s["p_biased"] for s in inside))
                labels.append(float(any(s["label"] != "neutral" for s in inside)))
                gold.append(part.biased)
    if scores:
        pr = m.precision_recall(labels, gold, 0.5)
        out["scan_passage_auc"] = m.auc(scores, gold)
        out["scan_passage_precision"] = pr["precision"]
        out["scan_passage_recall"] = pr["recall"]
    return out


def _scan_model_metrics(run: SystemRun) -> dict:
    """The same metrics when a scan model of its own scores the scans (System.scan): its scores,
    and its labels (its calibrated threshold, or the card's text rules) as /v1/scan gives them."""
    out: dict = {}
    sections = (
        ("scan", [(b, True) for b, _ in run.scan_flags] + [(h, False) for _, h in run.scan_flags]),
        ("scan_passage", [((score, label), gold) for score, label, gold in run.scan_parts]),
    )
    for name, items in sections:
        if not items:
            continue
        scores = [score for (score, _), _ in items]
        gold = [g for _, g in items]
        pr = m.precision_recall([float(label) for (_, label), _ in items], gold, 0.5)
        out[f"{name}_auc"] = m.auc(scores, gold)
        out[f"{name}_precision"], out[f"{name}_recall"] = pr["precision"], pr["recall"]
    return out


def _sentence_metrics(run: SystemRun, d: EvalData) -> dict:
    """The server reads a selection one sentence at a time, and infer_50's texts are mostly
    several sentences: how well the model's P(biased) tells, sentence by sentence, the sentences
    of the biased texts that hold an annotated biased word (positives) from every sentence of
    the human rewrites (negatives). Recall and specificity at the model's flag threshold."""
    threshold = run.info.get("flag_threshold")
    if not run.is_model or threshold is None:
        return {}
    pos, neg = [], []
    for row, (b, h) in zip(d.flag_rows, run.flags, strict=True):
        for text, p in zip(b.sentence_texts, b.sentence_p, strict=True):
            if p is not None and contract.find_spans(text, list(row.biased_words)):
                pos.append(p)
        neg += [p for p in h.sentence_p if p is not None]
    if not pos or not neg:
        return {}
    return {
        "sentence_auc": m.auc(pos + neg, [True] * len(pos) + [False] * len(neg)),
        "sentence_recall": sum(s >= threshold for s in pos) / len(pos),
        "sentence_specificity": sum(s < threshold for s in neg) / len(neg),
    }


def _stereotype_metrics(run: SystemRun) -> dict:
    """Unseen stereotypes (StereoSet, never trained on): the share of context + stereotype texts
    the server would flag (a text's score is its most biased sentence, at the model's threshold),
    the same for the anti-stereotype (a generalisation too, reported apart) and the unrelated
    continuation (should stay near 0), and how well the score ranks stereotype above unrelated."""
    threshold = run.info.get("flag_threshold")
    if not run.is_model or threshold is None or not run.stereotypes:
        return {}
    stereo, anti, unrelated = (list(column) for column in zip(*run.stereotypes, strict=True))
    gold = [True] * len(stereo) + [False] * len(unrelated)
    return {
        "stereotype_flag_rate": m.rate(p >= threshold for p in stereo),
        "anti_stereotype_flag_rate": m.rate(p >= threshold for p in anti),
        "unrelated_flag_rate": m.rate(p >= threshold for p in unrelated),
        "stereotype_auc": m.auc(stereo + unrelated, gold),
    }


def _group_statement_metrics(run: SystemRun, d: EvalData) -> dict:
    """Plain statements about groups (ToxiGen's human-written seeds, never trained on): the
    share of hateful ones the server would flag (recall) and of neutral ones it leaves alone
    (specificity) at the model's threshold, and how well the score ranks the two."""
    threshold = run.info.get("flag_threshold")
    if not run.is_model or threshold is None or not run.group_statements:
        return {}
    gold = [g.hateful for g in d.group_statements]
    scores = run.group_statements
    return {
        "group_statement_recall": m.rate(
            p >= threshold for p, g in zip(scores, gold, strict=True) if g
        ),
        "group_statement_specificity": m.rate(
            p < threshold for p, g in zip(scores, gold, strict=True) if not g
        ),
        "group_statement_auc": m.auc(scores, gold),
    }


def _group_rewrite_metrics(run: SystemRun, embed) -> dict:
    """Hateful statements about groups debiased as the server would ("Girls are bad at math."):
    of the sentences flagged, the share whose rewrite came back unchanged; of the changed
    rewrites, the share the flag still calls biased when it reads them again (the stereotype
    said in other words) and the meaning they keep."""
    if not run.is_model or not run.group_rewrites:
        return {}
    rewrites = run.group_rewrites
    biased = sum(r.biased_sentences for r in rewrites)
    changed = [r for r in rewrites if r.output != r.input]
    residual = [r.residual for r in rewrites if r.residual is not None]
    return {
        "group_rewrite_unchanged": (
            sum(r.unchanged_biased for r in rewrites) / biased if biased else None
        ),
        "group_rewrite_residual": m.rate(residual) if residual else None,
        "group_rewrite_meaning_kept": m.meaning_kept(
            [r.input for r in changed], [r.output for r in changed], embed
        ),
    }


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
    out["flag_recall"] = m.rate(f.verdict is True for f in biased)
    out["flag_specificity"] = m.rate(f.verdict is False for f in human)
    p_scores = [f.flag.p_biased for f in biased + human if f.flag is not None]
    if len(p_scores) == len(biased) + len(human) and None not in p_scores:
        out["flag_auc"] = m.auc(p_scores, [True] * len(biased) + [False] * len(human))
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
        records.append({"section": "rewrite", "input": r.input, "output": r.output,
                        "reference": row.reference, "biased_words": list(row.biased_words),
                        "highlights": r.highlights, "residual": r.residual,
                        "truncated": r.truncated, "seconds": round(r.seconds, 3)})  # fmt: skip
    for r in run.neutral:
        records.append({"section": "neutral", "input": r.input, "output": r.output})
    for r in run.decorated:
        records.append({"section": "preserve", "input": r.input, "output": r.output})
    for r in run.group_rewrites:
        records.append({"section": "group_rewrite", "input": r.input, "output": r.output,
                        "highlights": r.highlights, "residual": r.residual})  # fmt: skip
    for p in run.passages:
        records.append({"section": "passage", "input": p.item.text, "output": p.payload["rewrite"],
                        "flag": p.payload["flag"]["label"], "gold_biased": p.item.biased,
                        "seconds": round(p.seconds, 3)})  # fmt: skip
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
