"""The scan: a fast verdict for every sentence of a long text (`/v1/scan`, `srllm scan`).

A text, or a list of segments with ids, is split into sentences by the same segmenter the
passage work uses (server.segment). Each sentence gets a bias score, the model's P(biased) at
the label position of the contract's flag prompt (one forward pass, no generation: the same
quantity as `p_biased` of /v1/flag), and a label from the model's calibrated flag threshold:

    biased   score >= threshold                 (what /v1/flag's model verdict calls biased)
    review   threshold - REVIEW_MARGIN <= score < threshold
    neutral  below that

A sentence without a letter (emoji, punctuation) scores 0 without the model, as in /v1/flag.
/v1/flag also flags known terms of the lexicon and generalisations about a group
(server.generalise) that the model scores under its threshold; the scan applies the same text
rules (task.rules_biased, no model call) and labels such a sentence `biased`, with its score
still the model's, so every sentence the card would flag is underlined. The user's allow-list
and muted categories apply to those rules, and can clear a sentence the score alone would
underline: it is flagged in full when they may change its verdict (Scanner.run), as the card it
opens would be.

Scores are cached per sentence (keyed by sentence, model and threshold), a sentence repeated in
one call is read once, and the rest is read in windows of WINDOW sentences through the engine's
batched scoring (Engine.label_probabilities_many: the fixed system prompt evaluated once and
kept, several sentences per llama_decode). Events come in document order; everything here is
blocking and runs in a worker thread with the model held (server.runner).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from srllm.contract import Label
from srllm.errors import Code, SrllmError
from srllm.server.segment import Segment, split_sentences
from srllm.server.task import (
    DEFAULT_OPTIONS,
    REVIEW_MARGIN,
    Cache,
    Options,
    Task,
    rules_biased,
)

WINDOW = 32  # sentences read per batched call, between two looks at the cancel flag
CACHE_SIZE = 8192  # scores (floats) kept: a few long documents' worth


class ScanLabel(StrEnum):
    BIASED = "biased"
    REVIEW = "review"
    NEUTRAL = "neutral"


@dataclass(frozen=True)
class Thresholds:
    biased: float
    review: float

    @classmethod
    def for_threshold(cls, threshold: float) -> Thresholds:
        return cls(threshold, max(0.0, threshold - REVIEW_MARGIN))

    def label(self, score: float) -> ScanLabel:
        if score >= self.biased:
            return ScanLabel.BIASED
        if score >= self.review:
            return ScanLabel.REVIEW
        return ScanLabel.NEUTRAL

    def as_dict(self) -> dict:
        return {"biased": round(self.biased, 4), "review": round(self.review, 4)}


@dataclass(frozen=True)
class Item:
    """One text to scan: the request's whole text (id None) or one of its segments."""

    text: str
    id: str | int | None = None


@dataclass(frozen=True)
class Sentence:
    index: int  # in the whole scan, in order
    item: int  # which Item it is in
    segment: Segment  # offsets into that item's text


@dataclass(frozen=True)
class Plan:
    """What one scan reads: its items and their sentences, checked before the model is held."""

    items: tuple[Item, ...]
    sentences: tuple[Sentence, ...]
    segmented: bool  # the request sent segments with ids (each sentence then carries its id)


def plan(items: list[Item], segmented: bool, engine) -> Plan:
    """Split every item into sentences. A sentence too long for the model is refused here, as
    /v1/flag refuses a text over the model's limit: 413 before any work starts."""
    sentences = []
    limit = engine.max_text_tokens()
    for number, item in enumerate(items):
        for segment in split_sentences(item.text):
            # A token covers at least one byte, so only a sentence with more bytes than the
            # limit can have too many tokens: counting them is left to those.
            if len(segment.text.encode("utf-8")) > limit:
                n = engine.count_tokens(segment.text)
                if n > limit:
                    where = f"segment {item.id!r}, " if segmented else ""
                    raise SrllmError(
                        Code.TEXT_TOO_LONG,
                        f"the sentence at {where}characters {segment.start}-{segment.end} is "
                        f"{n} tokens; this model reads at most {limit} per sentence",
                        limit=limit,
                        unit="tokens",
                    )
            sentences.append(Sentence(len(sentences), number, segment))
    return Plan(tuple(items), tuple(sentences), segmented)


# -- events: what callers serialise -------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    payload: dict  # {"sentences", "model", "thresholds"}


@dataclass(frozen=True)
class Scored:
    payload: dict  # one sentence: {"index", "id"?, "start", "end", "score", "label"}


@dataclass(frozen=True)
class Finished:
    payload: dict  # the whole answer (the JSON route's body)


Event = Started | Scored | Finished


class Scanner:
    """Scores sentences with one engine (server.engine.Engine, or a stand-in with
    label_probabilities and info; label_probabilities_many is used when it has one)."""

    def __init__(self, engine, cache: Cache | None = None):
        self.engine = engine
        self.cache = cache if cache is not None else Cache(CACHE_SIZE)

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds.for_threshold(self.engine.info.flag_threshold)

    def _key(self, text: str) -> tuple:
        return ("scan", text, self.engine.info.path, self.engine.info.flag_threshold)

    def scores(self, texts: list[str], cancel: threading.Event | None = None) -> list[float]:
        """P(biased) of each text, from the cache where it can; the rest read in one batched
        call, each distinct text once. Raises CANCELLED when cancel is set before it is done."""
        found: dict[str, float] = {}
        missing: list[str] = []
        for text in dict.fromkeys(texts):
            cached = self.cache.get(self._key(text))
            if cached is not None:
                found[text] = cached
            else:
                missing.append(text)
        if missing:
            if cancel is not None and cancel.is_set():
                raise SrllmError(Code.CANCELLED, "scan cancelled")
            many = getattr(self.engine, "label_probabilities_many", None)
            if many is not None:
                probs = many(missing, cancel)
            else:
                probs = []
                for text in missing:
                    if cancel is not None and cancel.is_set():
                        raise SrllmError(Code.CANCELLED, "scan cancelled")
                    probs.append(self.engine.label_probabilities(text))
            for text, p in zip(missing, probs, strict=True):
                found[text] = 1.0 - p[Label.NEUTRAL]
                self.cache.put(self._key(text), found[text])
        return [found[text] for text in texts]

    def run(
        self,
        work: Plan,
        cancel: threading.Event | None = None,
        threshold: float | None = None,
        options: Options = DEFAULT_OPTIONS,
        task: Task | None = None,
    ) -> Iterator[Event]:
        """Started, then one Scored per sentence in document order, then Finished. Sentences
        are read WINDOW at a time; a cancelled scan stops between two windows. `threshold`
        (a strictness's, task.Options.threshold) replaces the calibrated one as `biased`. With
        an allow-list or muted categories (`options`) and a `task` on the same engine, a
        sentence labelled biased or review that holds an allowed term (any, when a category is
        muted) is flagged in full at its label's threshold, and labelled neutral when the card
        would be: its score stays the model's."""
        thresholds = self.thresholds if threshold is None else Thresholds.for_threshold(threshold)
        model = self.engine.info.name
        yield Started(
            {
                "sentences": len(work.sentences),
                "model": model,
                "thresholds": thresholds.as_dict(),
            }
        )
        out: list[dict] = []
        read = 0
        pending = list(work.sentences)
        while pending:
            window, pending = _window(pending)
            texts = [s.segment.text for s in window if s.segment.has_words]
            hits = self.cache.hits
            scores = iter(self.scores(texts, cancel))
            read += len(set(texts)) - (self.cache.hits - hits)
            for sentence in window:
                score = next(scores) if sentence.segment.has_words else 0.0
                label = thresholds.label(score)
                text = sentence.segment.text
                if (
                    label is not ScanLabel.BIASED
                    and sentence.segment.has_words
                    and rules_biased(text, score, options)
                ):
                    label = ScanLabel.BIASED  # as the card flags it: a known term, a group
                elif (
                    label is not ScanLabel.NEUTRAL and task is not None and options.may_clear(text)
                ):
                    cut = thresholds.biased if label is ScanLabel.BIASED else thresholds.review
                    if not task.card_biased(text, cancel, cut, options):
                        label = ScanLabel.NEUTRAL
                payload = _sentence(work, sentence, score, label)
                out.append(payload)
                yield Scored(payload)
        counts = {label.value: 0 for label in ScanLabel}
        for payload in out:
            counts[payload["label"]] += 1
        yield Finished(
            {
                "model": model,
                "thresholds": thresholds.as_dict(),
                "counts": counts,
                "scored": read,
                "sentences": out,
            }
        )


def text_scores(engine, texts: list[str]) -> list[float]:
    """Each text's score as the server decides its verdict: the highest P(biased) of its
    sentences (a text is flagged sentence by sentence, server.task), read batched. A text
    without words scores 0, as such a sentence does in a scan."""
    return [score for score, _ in text_scans(engine, texts)]


def text_scans(engine, texts: list[str]) -> list[tuple[float, bool]]:
    """Each text's score (text_scores) and whether a scan underlines one of its sentences:
    a score at the engine's calibrated threshold, or the card's text rules (rules_biased)."""
    cut = engine.info.flag_threshold
    sentences = [[s.text for s in split_sentences(t) if s.has_words] for t in texts]
    flat = Scanner(engine, Cache(0)).scores([s for parts in sentences for s in parts])
    out, at = [], 0
    for parts in sentences:
        scores = flat[at : at + len(parts)]
        underlined = any(
            score >= cut or rules_biased(text, score)
            for text, score in zip(parts, scores, strict=True)
        )
        out.append((max(scores, default=0.0), underlined))
        at += len(parts)
    return out


def _window(pending: list[Sentence]) -> tuple[list[Sentence], list[Sentence]]:
    """The next sentences up to WINDOW distinct texts that the model may have to read (the
    ones without words cost nothing and ride along)."""
    seen: set[str] = set()
    for i, sentence in enumerate(pending):
        if sentence.segment.has_words:
            seen.add(sentence.segment.text)
            if len(seen) > WINDOW:
                return pending[:i], pending[i:]
    return pending, []


def _sentence(work: Plan, sentence: Sentence, score: float, label: ScanLabel) -> dict:
    out: dict = {"index": sentence.index}
    if work.segmented:
        out["id"] = work.items[sentence.item].id
    out |= {
        "start": sentence.segment.start,
        "end": sentence.segment.end,
        "score": round(score, 4),
        "label": label.value,
    }
    return out


def collect(events: Iterator[Event]) -> dict:
    """Run a scan to its end and return the answer (the JSON route, the CLI, the bench)."""
    for event in events:
        if isinstance(event, Finished):
            return event.payload
    raise RuntimeError("scan ended without a result")  # a bug: run() always ends with Finished
