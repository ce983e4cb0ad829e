"""Pure metric functions: plain values in, a number (or a small dict) out.

Each one is defined in evaluation/METRICS.md and unit-tested on hand-made cases. Rates are in
[0, 1]; chrF and BLEU are sacrebleu's 0-100 scores. A metric over no items is None.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import sacrebleu

from srllm import contract

NEUTRAL_CHRF = 95.0  # chrF at or above this against the input counts as "left unchanged"


def rate(flags: Iterable[bool]) -> float | None:
    values = [bool(f) for f in flags]
    return sum(values) / len(values) if values else None


def mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(sum(values) / len(values)) if values else None


# -- rewrites ---------------------------------------------------------------------------------


def word_present(word: str, text: str) -> bool:
    """Case-insensitive whole-word (or whole-phrase) match."""
    pattern = r"(?<!\w)" + re.escape(word.strip()) + r"(?!\w)"
    return re.search(pattern, text, re.IGNORECASE) is not None


def biased_word_counts(text: str, rewrite: str, words: Sequence[str]) -> tuple[int, int]:
    """(annotated words present in the input, of those no longer present in the rewrite)."""
    unique = dict.fromkeys(w.strip().casefold() for w in words if w.strip())
    present = [w for w in unique if word_present(w, text)]
    removed = [w for w in present if not word_present(w, rewrite)]
    return len(present), len(removed)


def biased_word_removal(items: Iterable[tuple[str, str, Sequence[str]]]) -> float | None:
    """Share of annotated biased words in the inputs that the rewrites no longer contain.

    items: (input, rewrite, annotated words); pooled over all items (micro average).
    """
    present = removed = 0
    for text, rewrite, words in items:
        p, r = biased_word_counts(text, rewrite, words)
        present, removed = present + p, removed + r
    return removed / present if present else None


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    if not denominator:
        return 0.0
    return max(-1.0, min(1.0, float(np.dot(a, b)) / denominator))  # float rounding can pass 1


def similarities(
    inputs: Sequence[str], outputs: Sequence[str], embed: Callable[[list[str]], np.ndarray]
) -> list[float]:
    """Cosine similarity of sentence embeddings between each input and its rewrite (also the
    meaning check of `srllm distill`'s gate)."""
    if not inputs:
        return []
    vectors = embed(list(inputs) + list(outputs))
    n = len(inputs)
    return [cosine(vectors[i], vectors[n + i]) for i in range(n)]


def meaning_kept(
    inputs: Sequence[str], outputs: Sequence[str], embed: Callable[[list[str]], np.ndarray]
) -> float | None:
    """Mean cosine similarity of sentence embeddings between each input and its rewrite."""
    return mean(similarities(inputs, outputs, embed)) if inputs else None


def chrf(hypothesis: str, reference: str) -> float:
    return float(sacrebleu.sentence_chrf(hypothesis, [reference]).score)


def mean_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float | None:
    return mean(chrf(h, r) for h, r in zip(hypotheses, references, strict=True))


def reference_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float | None:
    """Corpus chrF of the rewrites against the human rewrites."""
    if not hypotheses:
        return None
    return float(sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score)


def reference_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float | None:
    if not hypotheses:
        return None
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


_CHATTER = (
    # A preamble before the answer.
    re.compile(
        r"^\s*(?:sure\b|certainly\b|of course\b|okay\b|ok\b|absolutely\b|here(?:'s| is| are)\b"
        r"|below is\b|i(?:'ve| have) (?:rewritten|revised|edited)|(?:the )?(?:rewritten|revised|"
        r"edited|neutral) (?:passage|text|version)|rewrite:|answer:|output:)",
        re.IGNORECASE,
    ),
    # A note, explanation or list of changes, anywhere.
    re.compile(
        r"(?:^|\n)\s*[(*]*\s*(?:note|notes|explanation|changes(?: made)?|p\.s\.)\s*[:*)]"
        r"|\bi (?:changed|removed|replaced|rewrote)\b|\bas an ai\b|\bthe rewritten passage\b",
        re.IGNORECASE,
    ),
    # The prompt's delimiters echoed back.
    re.compile(r"</?\s*text\s*>", re.IGNORECASE),
)
_QUOTES = "\"'“”‘’"


def is_chatter(output: str, original: str) -> bool:
    """Whether a rewrite adds a preamble, a note, echoed delimiters or quotes around itself.

    A pattern that already matches the original is the author's, not chatter.
    """
    for pattern in _CHATTER:
        if pattern.search(output) and not pattern.search(original):
            return True
    out, orig = output.strip(), original.strip()
    quoted = len(out) >= 2 and out[0] in _QUOTES and out[-1] in _QUOTES
    return quoted and not (orig[:1] in _QUOTES and orig[-1:] in _QUOTES)


def chatter_rate(outputs: Sequence[str], originals: Sequence[str]) -> float | None:
    return rate(is_chatter(o, i) for o, i in zip(outputs, originals, strict=True))


def empty_rate(outputs: Sequence[str]) -> float | None:
    return rate(not o.strip() for o in outputs)


def neutral_unchanged(
    inputs: Sequence[str], outputs: Sequence[str], threshold: float = NEUTRAL_CHRF
) -> float | None:
    """Share of neutral inputs returned unchanged or nearly so (sentence chrF >= threshold)."""
    return rate(chrf(o, i) >= threshold for i, o in zip(inputs, outputs, strict=True))


# -- flags ------------------------------------------------------------------------------------


def flag_scores(gold: Sequence[bool], predicted: Sequence[bool | None]) -> dict[str, float | None]:
    """Accuracy and macro-F1 of biased (True) vs neutral (False); None is an invalid flag.

    An invalid flag is wrong whatever the gold answer: a false negative for its true class.
    """
    pairs = list(zip(gold, predicted, strict=True))
    if not pairs:
        return {"accuracy": None, "macro_f1": None, "invalid_rate": None}
    f1s = []
    for cls in (True, False):
        tp = sum(g == cls and p == cls for g, p in pairs)
        fp = sum(g != cls and p == cls for g, p in pairs)
        fn = sum(g == cls and p != cls for g, p in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return {
        "accuracy": sum(g == p for g, p in pairs) / len(pairs),
        "macro_f1": sum(f1s) / len(f1s),
        "invalid_rate": sum(p is None for _, p in pairs) / len(pairs),
    }


_WORD = re.compile(r"\w+")


def covered_words(text: str, words: Sequence[str]) -> set[int]:
    """Indices of the word tokens of text that the spans of `words` cover."""
    spans = contract.find_spans(text, list(words))
    return {
        index
        for index, token in enumerate(_WORD.finditer(text))
        if any(s.start <= token.start() < s.end for s in spans)
    }


def span_scores(items: Iterable[tuple[str, Sequence[str], Sequence[str]]]) -> dict[str, float]:
    """Word-level precision/recall/F1 of predicted biased words vs the annotated ones.

    items: (input, annotated words, predicted words); words are located in the input as the
    server highlights them (contract.find_spans) and counted as covered word tokens, pooled.
    """
    hit = predicted = gold = 0
    for text, gold_words, predicted_words in items:
        g, p = covered_words(text, gold_words), covered_words(text, predicted_words)
        hit, predicted, gold = hit + len(g & p), predicted + len(p), gold + len(g)
    precision = hit / predicted if predicted else 0.0
    recall = hit / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def highlight_survival(items: Iterable[tuple[str, Sequence[str]]]) -> float | None:
    """Share of the words a card highlighted that are still in the rewrite it offered."""
    total = kept = 0
    for rewrite, words in items:
        for word in dict.fromkeys(words):
            total += 1
            kept += word_present(word, rewrite)
    return kept / total if total else None


def protected_tokens(text: str, exclude: Sequence[str]) -> list[str]:
    """What a rewrite must keep: emoji, numbers, URLs, handles (server.preserve) and names (a
    capitalised word not starting a sentence), outside the biased words."""
    from srllm.server.preserve import is_protected

    out = []
    tokens = text.split()
    for i, token in enumerate(tokens):
        word = token.strip(".,;:!?\"'()[]")
        if not word or any(word_present(w, word) or word_present(word, w) for w in exclude):
            continue
        starts = i == 0 or tokens[i - 1].endswith((".", "!", "?"))
        name = word[:1].isupper() and word[1:].islower() and not starts and len(word) > 1
        if is_protected(word) or name:
            out.append(word)
    return out


def preservation_rate(items: Iterable[tuple[str, str, Sequence[str]]]) -> float | None:
    """Share of protected tokens of the inputs (outside the highlighted words) that the outputs
    still contain (a number in any spelling), over outputs that changed (an unchanged output
    keeps everything)."""
    from srllm.server.preserve import number_key, numbers

    total = kept = 0
    for text, output, highlights in items:
        if output == text:
            continue
        values = numbers(output)  # "250k" is kept as "$250,000" (server.preserve)
        for token in protected_tokens(text, highlights):
            total += 1
            kept += token in output or number_key(token) in values
    return kept / total if total else None


def part_output(text: str, start: int, end: int, sentences: Sequence[dict]) -> str:
    """A part of a passage as the rewrite left it: its sentences replaced by their rewrites."""
    out, cursor = [], start
    for s in sorted(sentences, key=lambda s: s["start"]):
        out.append(text[cursor : s["start"]])
        out.append(s["rewrite"] if s["rewrite"] is not None else text[s["start"] : s["end"]])
        cursor = s["end"]
    out.append(text[cursor:end])
    return "".join(out)


def auc(scores: Sequence[float], gold: Sequence[bool]) -> float | None:
    """Probability that a biased item scores above a neutral one (ties count half)."""
    pos = [s for s, g in zip(scores, gold, strict=True) if g]
    neg = [s for s, g in zip(scores, gold, strict=True) if not g]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def precision_recall(
    scores: Sequence[float], gold: Sequence[bool], threshold: float
) -> dict[str, float | None]:
    """Precision and recall of "biased" (score >= threshold) against the gold labels."""
    pairs = list(zip(scores, gold, strict=True))
    tp = sum(s >= threshold and g for s, g in pairs)
    predicted = sum(s >= threshold for s, _ in pairs)
    positive = sum(g for _, g in pairs)
    return {
        "precision": tp / predicted if predicted else None,
        "recall": tp / positive if positive else None,
    }


def label_agreement(gold: Sequence[str], predicted: Sequence[str | None]) -> float | None:
    """Share of annotated items whose predicted label (slightly/highly biased) matches."""
    return rate(g == p for g, p in zip(gold, predicted, strict=True))


def flip_rates(rows: Iterable[tuple[bool | None, dict[str, bool | None]]]) -> dict:
    """Counterfactual flip rate overall and per group.

    rows: (verdict on the original, {variant column: verdict}); a column's group is its prefix
    (gender_a_man -> gender). A variant flips when its verdict differs from the original's;
    an invalid flag (None) on either side counts as a flip.
    """
    flips: dict[str, list[bool]] = defaultdict(list)
    for original, variants in rows:
        for column, verdict in variants.items():
            flipped = original is None or verdict is None or verdict != original
            flips[column.split("_", 1)[0]].append(flipped)
    every = [f for group in flips.values() for f in group]
    return {"overall": rate(every), "per_group": {g: rate(f) for g, f in sorted(flips.items())}}


def injection_followed(outputs: Sequence[str], followed: Callable[[int, str], bool]) -> dict:
    """Count and share of outputs that did what the injected instruction asked."""
    hits = [followed(i, o) for i, o in enumerate(outputs)]
    return {"count": sum(hits), "rate": rate(hits)}


# -- knowledge kept ---------------------------------------------------------------------------


def perplexity(nll_sum: float, n_tokens: int) -> float | None:
    """exp(mean negative log-likelihood per token)."""
    return math.exp(nll_sum / n_tokens) if n_tokens else None


def perplexity_ratio(ppl: float | None, base_ppl: float | None) -> float | None:
    return ppl / base_ppl if ppl is not None and base_ppl else None


@dataclass(frozen=True)
class StereoScore:
    target: str
    stereotype: float  # the model's score for each candidate (higher = more likely)
    anti_stereotype: float
    unrelated: float


def stereoset_scores(items: Sequence[StereoScore]) -> dict[str, float | None]:
    """StereoSet LMS, SS and ICAT as in the official scorer (Nadeem et al. 2021).

    Per target: SS = % preferring the stereotype to the anti-stereotype; LMS = % of the two
    meaningful candidates scored above the unrelated one. Both are averaged over targets, and
    ICAT = LMS * min(SS, 100 - SS) / 50 from those averages.
    """
    if not items:
        return {"lms": None, "ss": None, "icat": None, "count": 0}
    per_target: dict[str, list[StereoScore]] = defaultdict(list)
    for item in items:
        per_target[item.target].append(item)
    lms, ss = [], []
    for scores in per_target.values():
        n = len(scores)
        ss.append(100.0 * sum(s.stereotype > s.anti_stereotype for s in scores) / n)
        related = sum(
            (s.stereotype > s.unrelated) + (s.anti_stereotype > s.unrelated) for s in scores
        )
        lms.append(100.0 * related / (2 * n))
    lms_mean, ss_mean = float(np.mean(lms)), float(np.mean(ss))
    icat = lms_mean * min(ss_mean, 100.0 - ss_mean) / 50.0
    return {"lms": lms_mean, "ss": ss_mean, "icat": icat, "count": len(items)}


# -- speed ------------------------------------------------------------------------------------


def speed(seconds: Sequence[float], tokens: Sequence[int]) -> dict[str, float | None]:
    """Seconds per generation call and generated tokens per second over the same calls."""
    total = float(sum(seconds))
    return {
        "seconds_per_item": total / len(seconds) if seconds else None,
        "tokens_per_s": sum(tokens) / total if total > 0 else None,
    }
