"""The debias task over a whole selection: the one implementation that HTTP (JSON and SSE), the
CLI and `srllm eval` call; they only serialise its events.

A selection is split into sentences (server.segment). Each sentence is flagged on its own (the
model's verdict from its label probability, its words, and the known terms of the lexicon);
the passage's label is the most severe, its categories the union, its spans every sentence's
spans at passage offsets. Only biased sentences are rewritten; every other character of the
selection comes back as it was. A rewrite is guided by its flag: the highlighted words are pushed
down, a rewrite the flag still calls biased is redone with the words it finds there pushed down
too, and what the user wrote around the bias (emoji, numbers, URLs) is put back where the model
dropped it.

Work is cached per sentence, so editing one sentence of a paragraph re-checks only that one.
Everything here is blocking: the server runs it in a worker thread with the model held.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from srllm import contract
from srllm.contract import Flag, Label
from srllm.errors import Code, SrllmError
from srllm.server import backhanded, generalise, hiring, idioms, lexicon, loaded, preserve
from srllm.server.segment import Segment, reassemble, split_sentences

SEVERITY = {Label.NEUTRAL: 0, Label.SLIGHTLY_BIASED: 1, Label.HIGHLY_BIASED: 2}


class Mode(StrEnum):
    FLAG = "flag"  # flag only
    REWRITE = "rewrite"  # the rewrite string is the answer (still only of biased sentences)
    DEBIAS = "debias"  # flag, then rewrite what is biased


# How far below the model's calibrated threshold a verdict turns biased, per strictness. The
# sensitive end is the scan's review band (server/scan.py takes REVIEW_MARGIN from here).
REVIEW_MARGIN = 0.15
STRICTNESS = {"conservative": 0.0, "balanced": REVIEW_MARGIN / 2, "sensitive": REVIEW_MARGIN}
# How many redos a biased sentence's rewrite may take while the flag still calls it biased (each:
# one flag of the best rewrite so far to find what to push down, one rewrite, one forward pass).
GUIDED_ROUNDS = 2
# Rewrites sampled (contract.SAMPLE_TEMPERATURE) when the guided ones are still flagged or keep a
# highlighted word; the best of all is kept (Candidate.rank).
SAMPLED_REWRITES = 6  # infer_50: residual 0.36 -> 0.21, removal 0.50 -> 0.53 (vs 0)
# A sampled rewrite must keep this share of the sentence's other content words (content_kept),
# or as much as the best try so far, to be chosen: sampling must not buy removal with meaning.
MIN_CONTENT = 0.5
MAX_ALLOW_TERMS = 200
MAX_ALLOW_CHARS = 64
GROUP_SOURCE = "generalisation"  # the span source of the group a sentence generalises about


@dataclass(frozen=True)
class Options:
    """What a user asked of one check, beyond the text.

    strictness  the decision threshold on P(biased): conservative is the model's calibrated
                one; balanced and sensitive are lower (see STRICTNESS).
    allow       literal terms the user accepts (case-insensitive, on word boundaries): no
                source (model, lexicon, opinion) highlights them, and a rewrite never pushes
                them down.
    mute        contract categories the user does not want flagged.

    The verdict of a sentence with an allow-list or muted categories (merge_lexicon): a
    lexicon term counts only when it is neither allowed nor of a muted category; the model's
    biased verdict counts unless every word it named is allowed or every category it named is
    muted. So a sentence whose only evidence was an allowed term or a muted category is
    neutral, and one the model calls biased with other words stays biased.
    """

    strictness: str = "conservative"
    allow: tuple[str, ...] = ()
    mute: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        strictness: object = None,
        allow: object = None,
        mute: object = None,
        code: Code = Code.INVALID_REQUEST,
    ) -> Options:
        """Validated options from request values (None: the default); SrllmError naming the
        field otherwise."""
        if strictness is None:
            strictness = "conservative"
        if not isinstance(strictness, str) or strictness not in STRICTNESS:
            raise SrllmError(
                code,
                f"field 'strictness' must be one of {', '.join(STRICTNESS)}",
                field="strictness",
                allowed=list(STRICTNESS),
            )
        terms: list[str] = []
        if allow is not None:
            if not isinstance(allow, list | tuple) or len(allow) > MAX_ALLOW_TERMS:
                raise SrllmError(
                    code,
                    f"field 'allow' must be a list of at most {MAX_ALLOW_TERMS} terms",
                    field="allow",
                    limit=MAX_ALLOW_TERMS,
                )
            for i, term in enumerate(allow):
                if not isinstance(term, str) or not 0 < len(term.strip()) <= MAX_ALLOW_CHARS:
                    raise SrllmError(
                        code,
                        f"allow[{i}] must be a term of 1 to {MAX_ALLOW_CHARS} characters",
                        field="allow",
                        limit=MAX_ALLOW_CHARS,
                    )
                try:
                    term.encode("utf-8")
                except UnicodeEncodeError:
                    raise SrllmError(
                        code, f"allow[{i}] contains an unpaired surrogate", field="allow"
                    ) from None
                terms.append(" ".join(term.split()).lower())
        muted: list[str] = []
        if mute is not None:
            if not isinstance(mute, list | tuple) or not all(isinstance(c, str) for c in mute):
                raise SrllmError(code, "field 'mute' must be a list of categories", field="mute")
            unknown = [c for c in mute if c not in contract.CATEGORIES]
            if unknown:
                raise SrllmError(
                    code,
                    f"field 'mute' has unknown categories: {', '.join(unknown[:5])}",
                    field="mute",
                    allowed=list(contract.CATEGORIES),
                )
            muted = list(mute)
        return cls(strictness, tuple(dict.fromkeys(terms)), frozenset(muted))

    def threshold(self, calibrated: float) -> float:
        return max(0.0, calibrated - STRICTNESS[self.strictness])

    @property
    def plain(self) -> bool:
        return not self.allow and not self.mute

    def allowed_ranges(self, text: str) -> list[tuple[int, int]]:
        return [(s.start, s.end) for s in contract.find_spans(text, list(self.allow))]

    def may_clear(self, text: str) -> bool:
        """Whether these options could make the flag of text neutral where the model alone
        would not: a category is muted, or text holds an allowed term."""
        return bool(self.mute) or bool(self.allow and self.allowed_ranges(text))

    def allows_word(self, word: str) -> bool:
        """Whether pushing `word` down in a rewrite could push down an allowed term: it shares
        a word with one."""
        words = set(word.lower().split())
        return any(words & set(term.split()) for term in self.allow)


DEFAULT_OPTIONS = Options()


class Cache:
    """A thread-safe LRU of per-sentence results; size 0 turns it off."""

    def __init__(self, size: int):
        self.size = size
        self.hits = 0
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]

    def put(self, key: tuple, value: Any) -> None:
        if self.size == 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class SpanOut:
    start: int  # code point offsets into the whole selection
    end: int
    text: str
    # "model" | "lexicon" (a known term) | "opinion" (a loaded word, see loaded.py) |
    # "generalisation" (a group a claim is made about, see generalise.py)
    source: str
    alternatives: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        out = {"start": self.start, "end": self.end, "text": self.text, "source": self.source}
        if self.alternatives:
            out["alternatives"] = list(self.alternatives)
        return out


@dataclass
class SentenceResult:
    index: int
    segment: Segment
    flag: Flag  # after the lexicon merge
    spans: list[SpanOut]
    # Words the model named that are not shown (merge_lexicon: its guesses), pushed down still
    guesses: list[str] = field(default_factory=list)
    rewrite: str | None = None  # the rewritten sentence; None when it was not rewritten
    guided: bool = False  # the rewrite was made with highlighted words pushed down
    # A biased sentence's rewrite that srllm's own check would still flag (Candidate.still): no
    # candidate got free of the bias, so the card asks the user to review it. None: the
    # sentence was not flagged biased (not rewritten, or rewritten only because asked to).
    still_biased: bool | None = None

    @property
    def changed(self) -> bool:
        return self.rewrite is not None and contract.is_changed(self.segment.text, self.rewrite)

    def flag_dict(self) -> dict:
        return {
            "index": self.index,
            "start": self.segment.start,
            "end": self.segment.end,
            "label": self.flag.label.value,
            "biased": self.flag.biased,
            "categories": self.flag.categories,
            "spans": [s.as_dict() for s in self.spans],
            "explanation": self.flag.explanation,
            "p_biased": _rounded(self.flag.p_biased),
        }

    def rewrite_dict(self) -> dict:
        return {
            "index": self.index,
            "start": self.segment.start,
            "end": self.segment.end,
            "biased": self.flag.biased,
            "rewrite": self.rewrite,
            "changed": self.changed,
            "guided": self.guided,
            "still_biased": self.still_biased,
        }


# -- events: what callers serialise -------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    phase: str  # "flag" | "rewrite"
    index: int
    count: int
    segment: Segment

    def as_dict(self) -> dict:
        return {
            "phase": self.phase,
            "sentence": self.index,
            "sentences": self.count,
            "start": self.segment.start,
            "end": self.segment.end,
        }


@dataclass(frozen=True)
class Flagged:
    payload: dict  # the whole selection's flag


@dataclass(frozen=True)
class Delta:
    """Live output, in order: text that passes through unchanged (index None) and the model's
    tokens for the sentence being rewritten. A sentence's final text comes in its Rewritten."""

    text: str
    index: int | None


@dataclass(frozen=True)
class Rewritten:
    """A sentence's final rewrite: cleaned, redone away from its highlights when the first try
    kept them, with the user's emoji and numbers put back. It may differ from its deltas."""

    index: int
    text: str
    guided: bool
    still_biased: bool | None = None  # SentenceResult.still_biased

    def as_dict(self) -> dict:
        return {
            "sentence": self.index,
            "rewrite": self.text,
            "guided": self.guided,
            "still_biased": self.still_biased,
        }


@dataclass(frozen=True)
class Done:
    payload: dict  # the final answer of the mode's route


Event = Progress | Flagged | Delta | Rewritten | Done


@dataclass
class Passage:
    text: str
    model: str
    sentences: list[SentenceResult] = field(default_factory=list)

    def flag(self) -> Flag:
        biased = [s for s in self.sentences if s.flag.biased]
        if not biased:
            p = max((s.flag.p_biased or 0.0 for s in self.sentences), default=0.0)
            return Flag(Label.NEUTRAL, [], [], contract.explain(Label.NEUTRAL, [], []), p)
        label = max((s.flag.label for s in biased), key=SEVERITY.get)
        categories = list(dict.fromkeys(c for s in biased for c in s.flag.categories))
        if len(biased) == 1 and len(self.sentences) == 1:
            explanation = biased[0].flag.explanation
        else:
            explanation = " ".join(f"Sentence {s.index + 1}: {s.flag.explanation}" for s in biased)
        p = max(s.flag.p_biased or 0.0 for s in biased)
        return Flag(label, categories, [], explanation, p)

    def flag_payload(self) -> dict:
        flag = self.flag()
        return {
            "label": flag.label.value,
            "biased": flag.biased,
            "categories": flag.categories,
            "spans": [span.as_dict() for s in self.sentences for span in s.spans],
            "explanation": flag.explanation,
            "p_biased": _rounded(flag.p_biased),
            "model": self.model,
            "sentences": [s.flag_dict() for s in self.sentences],
        }

    def rewrite(self) -> str:
        replaced = {s.index: s.rewrite for s in self.sentences if s.rewrite is not None}
        return reassemble(self.text, [s.segment for s in self.sentences], replaced)

    def still_biased(self) -> bool:
        """Whether any biased sentence's rewrite is still flagged by srllm's own check."""
        return any(s.still_biased for s in self.sentences)

    def rewrite_payload(self) -> dict:
        rewrite = self.rewrite()
        return {
            "rewrite": rewrite,
            "changed": contract.is_changed(self.text, rewrite),
            "still_biased": self.still_biased(),
            "model": self.model,
            "sentences": [s.rewrite_dict() for s in self.sentences],
        }

    def debias_payload(self) -> dict:
        flag = self.flag_payload()
        rewrite = self.rewrite() if flag["biased"] else None
        return {
            "flag": flag,
            "rewrite": rewrite,
            "changed": rewrite is not None and contract.is_changed(self.text, rewrite),
            "still_biased": rewrite is not None and self.still_biased(),
            "model": self.model,
            "sentences": [s.rewrite_dict() for s in self.sentences],
        }


def _rounded(p: float | None) -> float | None:
    return None if p is None else round(p, 4)


# -- the task -----------------------------------------------------------------------------------


class Task:
    """Runs the modes over one engine (server.engine.Engine or a stand-in with the same
    flag / stream_rewrite / label_probabilities / info), with an optional per-sentence cache."""

    def __init__(self, engine, cache: Cache | None = None):
        self.engine = engine
        self.cache = cache if cache is not None else Cache(256)

    @property
    def model(self) -> str:
        return self.engine.info.name

    @property
    def samples(self) -> int:
        """How many sampled rewrites a still-flagged sentence may get: SAMPLED_REWRITES with a
        fine-tuned model only. The untuned embedded model's P(biased) does not rank (AUC 0.50),
        so it would call every try still biased and spend all six on noise; an upstream engine
        does not say what it serves (finetuned None), so it is never sampled and its
        stream_rewrite takes no `sample`."""
        return SAMPLED_REWRITES if self.ranks else 0

    @property
    def ranks(self) -> bool:
        """Whether the flagger's P(biased) ranks texts: a fine-tuned model's does."""
        return self.engine.info.finetuned is True

    def _key(self, *parts) -> tuple:
        info = self.engine.info
        rewriter = info.rewriter and info.rewriter["path"]
        return (*parts, info.path, rewriter, info.flag_threshold)

    def flag_sentence(
        self, text: str, cancel: threading.Event | None, threshold: float | None = None
    ) -> Flag:
        """The model's flag of one sentence at `threshold` (None: the calibrated one), cached
        per threshold: the same sentence can be neutral at one strictness, biased at another."""
        calibrated = self.engine.info.flag_threshold
        threshold = calibrated if threshold is None else threshold
        key = self._key("flag", text, threshold)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if threshold == calibrated:  # stand-ins without the parameter keep working
            flag = self.engine.flag(text, cancel)
        else:
            flag = self.engine.flag(text, cancel, threshold=threshold)
        self.cache.put(key, flag)
        return flag

    def card_biased(
        self, text: str, cancel: threading.Event | None, threshold: float, options: Options
    ) -> bool:
        """Whether the card calls one sentence biased at `threshold` with the user's options
        (the model's flag, then merge_lexicon): the scan asks it where options may clear a
        sentence its score alone would underline."""
        return card_verdict(text, self.flag_sentence(text, cancel, threshold), options)

    def stream_sentence_rewrite(
        self, text: str, avoid: list[str], cancel: threading.Event | None, sample: int = 0
    ) -> Iterator[str]:
        """Raw deltas of one sentence's rewrite (the greedy one, or the sample-th sampled one),
        cached when it ran to its end."""
        key = self._key("rewrite", text, tuple(avoid), sample)
        cached = self.cache.get(key)
        if cached is not None:
            yield cached
            return
        parts: list[str] = []
        more = {"sample": sample} if sample else {}  # engines never sampled take no `sample`
        stream = self.engine.stream_rewrite(text, cancel, avoid=avoid or None, **more)
        for delta in stream:
            parts.append(delta)
            yield delta
        if cancel is None or not cancel.is_set():
            self.cache.put(key, "".join(parts))

    def run(
        self,
        text: str,
        mode: Mode | str,
        cancel: threading.Event | None = None,
        rewrite_all: bool = False,
        options: Options | None = None,
    ) -> Iterator[Event]:
        """Yield the events of one call; the last is Done with the route's payload. A rewrite
        changes only the sentences the flag calls biased, unless `rewrite_all` (the card's
        "Rewrite anyway" on a fair verdict). `options`: strictness, allow-list, muted
        categories (Options)."""
        mode = Mode(mode)
        options = options or DEFAULT_OPTIONS
        threshold = options.threshold(self.engine.info.flag_threshold)
        rewrite_all = rewrite_all and mode is Mode.REWRITE
        passage = Passage(text, self.model)
        segments = split_sentences(text)
        for index, segment in enumerate(segments):
            yield Progress("flag", index, len(segments), segment)
            passage.sentences.append(self._flagged(index, segment, cancel, threshold, options))
        flag_payload = passage.flag_payload()
        if mode is Mode.FLAG:
            yield Done(flag_payload)
            return
        if mode is Mode.DEBIAS:
            yield Flagged(flag_payload)
            if not flag_payload["biased"]:
                yield Done(passage.debias_payload())
                return
        cursor = 0
        for result in passage.sentences:
            segment = result.segment
            if not (result.flag.biased or (rewrite_all and segment.has_words)):
                continue
            if segment.start > cursor:
                yield Delta(text[cursor : segment.start], None)
            yield Progress("rewrite", result.index, len(segments), segment)
            yield from self._rewrite_sentence(result, cancel, threshold, options)
            cursor = segment.end
        if cursor < len(text):
            yield Delta(text[cursor:], None)
        yield Done(passage.debias_payload() if mode is Mode.DEBIAS else passage.rewrite_payload())

    def _flagged(
        self,
        index: int,
        segment: Segment,
        cancel: threading.Event | None,
        threshold: float | None = None,
        options: Options = DEFAULT_OPTIONS,
    ) -> SentenceResult:
        if not segment.has_words:
            neutral = Flag(Label.NEUTRAL, [], [], contract.explain(Label.NEUTRAL, [], []), 0.0)
            return SentenceResult(index, segment, neutral, [])
        model_flag = self.flag_sentence(segment.text, cancel, threshold)
        flag, spans, guesses = merge_lexicon(segment, model_flag, options)
        return SentenceResult(index, segment, flag, spans, guesses)

    def _rewrite_sentence(
        self,
        result: SentenceResult,
        cancel: threading.Event | None,
        threshold: float | None = None,
        options: Options = DEFAULT_OPTIONS,
    ) -> Iterator[Delta | Rewritten]:
        """Stream the rewrite with the highlighted words pushed down (llama.cpp logit_bias; it
        changes nothing where the model would not say them anyway). When the card would still
        flag the result (the flagger's P(biased) of the rewrite, one forward pass, or the text
        rules: a known term it brought in, a claim about a group), the words the flag finds in
        it (say "deceit" for "dishonesty") are pushed down too and it is redone,
        up to GUIDED_ROUNDS times while there is something new to push down. The best candidate
        is kept (Candidate.rank); the sentence's final text ends it."""
        source = result.segment.text
        avoid = steered_from(result.spans, result.guesses, options)
        cut = self.engine.info.flag_threshold if threshold is None else threshold
        edit = self._rule_edit(result, avoid, options)
        # An untuned model's P(biased) does not rank (see samples): its score cannot say the
        # edit is still biased, so the card's text rules alone decide.
        if edit is not None and edit.done(cut if self.ranks else math.inf):
            # The user's own words with what the rules found put right, and the card would not
            # flag it again: nothing the model writes keeps more of what the user said.
            result.rewrite, result.guided = edit.text, True
            yield Delta(edit.text, result.index)
            yield Rewritten(result.index, edit.text, True, result.still_biased)
            return
        parts: list[str] = []
        for delta in self.stream_sentence_rewrite(source, avoid, cancel):
            parts.append(delta)
            yield Delta(delta, result.index)
        if cancel is not None and cancel.is_set():
            return  # the client left: no scoring, no second try
        words = list(avoid)
        chosen = self._candidate(source, "".join(parts), words, options)
        for _ in range(GUIDED_ROUNDS):
            if not chosen.changed or not chosen.still(cut):
                break
            more = self._still_flagged(chosen.text, cancel, cut, options)
            if not more or set(more) <= set(avoid):
                break  # nothing new to push down: another try would repeat the last
            avoid = list(dict.fromkeys(avoid + more))
            candidate = self._try(source, avoid, words, cancel, options)
            if candidate is None:
                return  # the client left: no scoring, no further try
            if candidate.rank(cut) < chosen.rank(cut):
                chosen = candidate
        for candidate in [*self._recasts(source, chosen, words, options), edit]:
            if candidate is not None and candidate.rank(cut) < chosen.rank(cut):
                chosen = candidate
        for sample in range(1, self.samples + 1):
            if (not chosen.changed and not avoid) or chosen.done(cut):
                # The model saw nothing to change, or it is done. A copy that keeps words the
                # flag names is sampled on: pushing " lied" down cannot stop it (its first token
                # " li" starts too many words to push down), a sampled try may say it otherwise.
                break
            candidate = self._try(source, avoid, words, cancel, options, sample)
            if candidate is None:
                return
            enough = candidate.kept_content >= min(MIN_CONTENT, chosen.kept_content)
            # A copy gives way only to a sample the card would not flag again: one it would
            # ("Parents with parents as asian are known to be harsh...") is no better to show
            # than the user's own sentence marked for review.
            enough = enough and (chosen.changed or not candidate.still(cut))
            if enough and candidate.rank(cut) < chosen.rank(cut):
                chosen = candidate
        result.rewrite, result.guided = chosen.text, bool(words)
        if result.flag.biased:
            result.still_biased = chosen.still(cut)
        yield Rewritten(result.index, chosen.text, bool(words), result.still_biased)

    def _still_flagged(
        self, rewrite: str, cancel: threading.Event | None, cut: float, options: Options
    ) -> list[str]:
        """The words the flag highlights in the sentences of a rewrite it still calls biased
        (model, lexicon and opinion words alike; not the group of a generalisation), less the
        user's allowed ones."""
        flagged = [
            self._flagged(i, segment, cancel, cut, options)
            for i, segment in enumerate(split_sentences(rewrite))
        ]
        words = [
            w for r in flagged if r.flag.biased for w in steered_from(r.spans, r.guesses, options)
        ]
        return list(dict.fromkeys(words))

    def _recasts(
        self, source: str, chosen: Candidate, words: list[str], options: Options
    ) -> list[Candidate]:
        """When the sentence generalises about a group and the best rewrite so far still does,
        the sentence and that rewrite with their claim put on people of any gender, age...
        (generalise.recast), and the sentence said of individuals (generalise.individualise:
        "Whether someone can lead teams depends on the person, not on their gender."; not the
        rewrite, whose claim may be the model's own), scored like the model's rewrites."""
        if not chosen.generalises:
            return []
        # A claim that may not be restated ("are savages") may not be once the model has
        # softened it either: "Native Americans are ruthless warriors who raid..." said of
        # people of any background is a new slur, not a neutral text.
        said = generalise.find(source)
        if said is None or not generalise.fair_to_restate(source, said):
            return []
        made = []
        for text in dict.fromkeys((chosen.text, source)):
            found = generalise.find(text)
            if found is not None:
                made.append(generalise.recast(text, found))
                if text == source:
                    made.append(generalise.individualise(text, found))
        return [self._candidate(source, t, words, options) for t in made if t is not None]

    def _rule_edit(
        self, result: SentenceResult, words: list[str], options: Options
    ) -> Candidate | None:
        """The sentence with what the card's rules highlight put right in the user's own words:
        a job advert's asks and gendered idioms replaced by their alternatives (server.hiring,
        server.idioms, lexicon.apply), praise qualified by a group dropped (backhanded.drop);
        scored like the model's rewrites. None when the card highlights none of them."""
        source, offset = result.segment.text, result.segment.start
        shown = {(s.start - offset, s.end - offset) for s in result.spans if s.source == "lexicon"}
        asks = [h for h in hiring.find(source) + idioms.find(source) if (h.start, h.end) in shown]
        qualifiers = [h for h in backhanded.find(source) if (h.start, h.end) in shown]
        if not asks and not qualifiers:
            return None
        # The qualifiers are dropped last, found again in the edited text (the asks move them).
        edited = lexicon.apply(source, asks)
        dropped = {h.text for h in qualifiers}
        edited = backhanded.drop(edited, [h for h in backhanded.find(edited) if h.text in dropped])
        return self._candidate(source, edited, words, options, edit=True)

    def _try(
        self,
        source: str,
        avoid: list[str],
        words: list[str],
        cancel: threading.Event | None,
        options: Options,
        sample: int = 0,
    ) -> Candidate | None:
        """One more rewrite of `source` with `avoid` pushed down, scored; None if cancelled."""
        raw = "".join(self.stream_sentence_rewrite(source, avoid, cancel, sample))
        if cancel is not None and cancel.is_set():
            return None
        return self._candidate(source, raw, words, options)

    def _candidate(
        self, source: str, raw: str, words: list[str], options: Options, edit: bool = False
    ) -> Candidate:
        """A try scored as the card would check it again. A model's try is finished first
        (finish_rewrite); an `edit` is a rule's change to the user's own words, whose every
        dropped word or number was meant to go."""
        text = raw if edit else finish_rewrite(source, raw)
        changed = contract.is_changed(source, text)
        # Scored as the card would check it again: sentence by sentence, the most biased one
        # counting. A rewrite may say in two sentences what its source said in one ("The
        # Gypsies are not a good person. They are a group of people..."), and the pair read
        # as one text can score under the threshold where its first sentence alone does not.
        parts = [s.text for s in split_sentences(text) if s.has_words] or [text]
        scores = [self.residual(part) for part in parts] if changed else [1.0]
        p = max(scores)
        generalises = generalise.still_claims(source, text)
        # The card's text rules (a known term, a claim about a group) would flag it again even
        # where the flagger's score would not: it is as still biased as a high score.
        rules = changed and any(
            rules_biased(part, q, options) for part, q in zip(parts, scores, strict=True)
        )
        return Candidate(
            text, changed, len(surviving(text, words)), p, content_kept(source, text, words),
            generalises, bool(preserve.invented_numbers(source, text))
            or bool(preserve.looped_words(source, text))
            or preserve.swapped_group(source, text), rules,
        )  # fmt: skip

    def residual(self, text: str) -> float:
        """P(biased) of a rewrite, by the same flagger (cached with the flags)."""
        key = self._key("residual", text)
        cached = self.cache.get(key)
        if cached is None:
            probs = self.engine.label_probabilities(text)
            cached = 1.0 - probs[Label.NEUTRAL]
            self.cache.put(key, cached)
        return cached


@dataclass(frozen=True)
class Candidate:
    """A rewrite of one sentence and what decides between two of them."""

    text: str
    changed: bool
    kept_highlights: int
    p_biased: float  # the flagger's P(biased) of its most biased sentence; 1.0 when unchanged
    kept_content: float  # content_kept: a sampled rewrite must not drop the meaning
    generalises: bool = False  # the sentence made a claim about a group and this still does
    # Makes things up: states a number the sentence does not ("an 8 year 1990s depression"),
    # loops on a word (preserve.looped_words) or aims the claim at the opposite group, the
    # other gender or thin for fat (preserve.swapped_group)
    invents: bool = False
    # The card's text rules flag it whatever its score (a known term of the lexicon, an
    # evaluative claim about a group): rules_biased
    rules: bool = False

    def rank(self, threshold: float) -> tuple:
        """Lower is better: changed at all, then no made-up numbers, then no longer flagged and
        no longer a claim about a group, then fewer highlighted words kept, then the lower
        P(biased)."""
        still = self.still(threshold)
        return (not self.changed, self.invents, still, self.kept_highlights, self.p_biased)

    def still(self, threshold: float) -> bool:
        """The card would still call it biased (its score or its text rules), or it still
        states the claim about the group."""
        return self.p_biased >= threshold or self.generalises or self.rules

    def done(self, threshold: float) -> bool:
        return not self.still(threshold) and not self.kept_highlights and not self.invents


def card_verdict(text: str, flag: Flag, options: Options = DEFAULT_OPTIONS) -> bool:
    """Whether the card calls one sentence biased, given the model's flag of it: the flag
    merged with the lexicon and the group rule (merge_lexicon, with the user's options)."""
    merged, _, _ = merge_lexicon(Segment(0, len(text), text), flag, options)
    return merged.label is not Label.NEUTRAL


def rules_biased(text: str, score: float, options: Options = DEFAULT_OPTIONS) -> bool:
    """Whether the card flags one sentence that its model score leaves under the threshold: a
    known term of the lexicon, or a generalisation about a group. Text rules only, no model
    call: the scan underlines such a sentence as the card it opens would flag it."""
    return card_verdict(text, Flag(Label.NEUTRAL, p_biased=score), options)


def merge_lexicon(
    segment: Segment, flag: Flag, options: Options = DEFAULT_OPTIONS
) -> tuple[Flag, list[SpanOut], list[str]]:
    """The model's words and the lexicon's known terms as spans at passage offsets, each saying
    which found it; a known term makes a sentence the model called neutral slightly biased. In a
    biased sentence, the loaded words (negative opinion words) the model did not name are marked
    too, less the ones people never marked (loaded.marks): the model names under a third of the
    words people mark, and those words are mostly loaded ones; the plain words it names
    (loaded.plain: words human neutral rewrites keep) and its praise (loaded.praise: positive
    opinion words) are not. The explanation is rebuilt over what is highlighted, so it names
    nothing the card does not show. The user's allow-list and muted categories apply here
    (Options)."""
    allowed = options.allowed_ranges(segment.text) if options.allow else []

    def free(start: int, end: int) -> bool:  # sentence offsets; not inside an allowed term
        return not any(a < end and start < b for a, b in allowed)

    spans: dict[tuple[int, int], SpanOut] = {}
    guessed: list[contract.Span] = []  # sentence offsets
    # What praise qualified by a group praises ("smart", "not bad" for a girl): no loaded word.
    praise = backhanded.praised(segment.text)
    model_biased = flag.biased
    if flag.biased:
        named = contract.find_spans(segment.text, flag.biased_words)
        kept = [s for s in named if free(s.start, s.end)]
        muted = bool(flag.categories) and all(c in options.mute for c in flag.categories)
        if (named and not kept) or muted:
            model_biased = False  # its only evidence was allowed terms or muted categories
        # A plain word ("citizens") or praise ("fine") the model named carries no bias: it is
        # not highlighted, nor steered away from unless the model named nothing else. Praise
        # the sentence denies ("not worth the resources") runs someone down and stays.
        denied = set(loaded.denied_praise(segment.text))

        def denies(phrase: str) -> bool:
            return bool(denied & {w.lower() for w in phrase.split()})

        def neutral_word(phrase: str) -> bool:
            return not denies(phrase) and (loaded.plain(phrase) or loaded.praise(phrase))

        # A word neither loaded, nor marked by people in the training rows, nor a known term is
        # the model's guess ("shopping", "policy"): never shown, even when nothing else is.
        def supported(phrase: str) -> bool:
            return denies(phrase) or loaded.supported(phrase) or bool(lexicon.find(phrase))

        # The praise of praise qualified by a group ("smart" for a girl) stays: the qualifier
        # is the bias (server.backhanded).
        kept = [s for s in kept if not any(a < s.end and s.start < b for a, b in praise)]
        steered = [s for s in kept if not neutral_word(s.text)]
        if not steered and not loaded.marks(segment.text) and not lexicon.find(segment.text):
            steered = kept  # the model's only evidence: the rewrite steers away from it
        shown = [s for s in steered if supported(s.text)]
        # Not shown, but the model's reading of where the bias is: the rewrite still steers away
        # from them (shown, they halved span precision; unsteered, rewrites came back unchanged
        # twice as often: training/EXPERIMENTS.md, 2026-12-05).
        if model_biased:
            guessed = [s for s in steered if s not in shown]
        for s in shown if model_biased else []:
            # Keyed at passage offsets like the other sources, so the overlap checks compare
            # like with like (sentence offsets here let a later sentence's words double up).
            start, end = segment.start + s.start, segment.start + s.end
            spans[(start, end)] = SpanOut(start, end, s.text, "model")
    # The lexicon's known terms, in a job advert what it asks for by gender, age or origin
    # (server.hiring), and praise qualified by a group (server.backhanded: "smart for a girl");
    # a rule's hit inside a known term is the known term's.
    terms = lexicon.find(segment.text)

    def beside_terms(found: list[lexicon.Hit]) -> list[lexicon.Hit]:
        return [h for h in found if not any(h.start < t.end and t.start < h.end for t in terms)]

    asks = beside_terms(hiring.find(segment.text))
    qualifiers = beside_terms(backhanded.find(segment.text))
    sayings = beside_terms(idioms.find(segment.text))  # "man up", "throws like a girl"
    hits = [
        hit
        for hit in sorted(terms + asks + qualifiers + sayings, key=lambda h: h.start)
        if free(hit.start, hit.end) and hit.category not in options.mute
    ]
    for hit in hits:
        span = SpanOut(
            segment.start + hit.start, segment.start + hit.end, hit.text, "lexicon",
            tuple(a for a in hit.alternatives if a),  # "" (a word to drop) is no wording
        )  # fmt: skip
        overlapping = [k for k in spans if k[0] < span.end and span.start < k[1]]
        # A model word inside the phrase ("girl" of "for a girl") gives way to it: the phrase
        # is what the rule's edit and explanation act on.
        if all(span.start <= k[0] and k[1] <= span.end for k in overlapping):
            for k in overlapping:
                del spans[k]
            spans[(span.start, span.end)] = span
    label = flag.label if model_biased else Label.NEUTRAL
    if hits and label is Label.NEUTRAL:
        label = Label.SLIGHTLY_BIASED
    group = generalise.find(segment.text)
    if group is not None and (not free(group.start, group.end) or group.category in options.mute):
        group = None
    # A generalisation runs the group down by words the user did not allow; one that says the
    # group is so by nature is a stereotype however the model scores it.
    evaluative = group is not None and any(free(a, b) for a, b in group.cues)
    essential = group is not None and group.essential is not None and free(*group.essential)
    # One that calls the group less than human or fit to die is hate whatever the score.
    denies = group is not None and group.dehumanising is not None and free(*group.dehumanising)
    # And one that tells the group where it belongs ("Women belong in the kitchen").
    confines = group is not None and group.confined is not None and free(*group.confined)
    enough = (flag.p_biased or 0.0) >= generalise.FLOOR or essential or denies or confines
    if evaluative and label is Label.NEUTRAL and enough:
        label = Label.SLIGHTLY_BIASED
    shown_group = False
    if group is not None and label is not Label.NEUTRAL:
        # The group is shown as what the claim is about; a model word inside it gives way, so
        # the rewrite does not push the group's name down (see _rewrite_sentence).
        start, end = segment.start + group.start, segment.start + group.end
        overlapping = [k for k, s in spans.items() if k[0] < end and start < k[1]]
        if all(start <= k[0] and k[1] <= end and spans[k].source == "model" for k in overlapping):
            for k in overlapping:
                del spans[k]
            spans[(start, end)] = SpanOut(start, end, group.text, GROUP_SOURCE)
            shown_group = True
    if label is not Label.NEUTRAL:
        for hit in loaded.marks(segment.text):
            span = SpanOut(segment.start + hit.start, segment.start + hit.end, hit.text, "opinion")
            if (
                not any(k[0] < span.end and span.start < k[1] for k in spans)
                and free(hit.start, hit.end)
                and not any(a < hit.end and hit.start < b for a, b in praise)
            ):
                spans[(span.start, span.end)] = span
    ordered = sorted(spans.values(), key=lambda s: s.start)
    categories = [c for c in flag.categories if c not in options.mute] if model_biased else []
    if label is not Label.NEUTRAL:
        categories += [h.category for h in hits if h.category not in categories]
    if group is not None and label is not Label.NEUTRAL:
        categories = [group.category] + [c for c in categories if c != group.category]
    categories = categories[: contract.MAX_CATEGORIES]
    words = list(dict.fromkeys(s.text for s in ordered))
    # A group's name and a qualifier of praise ("for a girl") are no loaded words: what they do
    # is said after (a claim about a whole group, an exception to a gender).
    qualifying = {(segment.start + h.start, segment.start + h.end) for h in qualifiers}
    loaded_words = [
        s.text for s in ordered if s.source != GROUP_SOURCE and (s.start, s.end) not in qualifying
    ]
    explanation = contract.explain(label, categories, list(dict.fromkeys(loaded_words)))
    if shown_group:
        explanation += f" It makes a claim about a whole group ('{group.text}')."

    def shown(found: list[lexicon.Hit]) -> list[lexicon.Hit]:
        return [
            h
            for h in found
            if h in hits and (segment.start + h.start, segment.start + h.end) in spans
        ]

    if label is not Label.NEUTRAL:
        for said in (
            hiring.explain(shown(asks)),
            backhanded.explain(shown(qualifiers)),
            idioms.explain(shown(sayings)),
        ):
            explanation += f" {said}" if said else ""
    # The group's name is never pushed down (see above), whichever source named it.
    guesses = list(
        dict.fromkeys(
            g.text
            for g in guessed
            if label is not Label.NEUTRAL
            and not (shown_group and g.start < group.end and group.start < g.end)
        )
    )
    return Flag(label, categories, words, explanation, flag.p_biased), ordered, guesses


def finish_rewrite(source: str, raw: str) -> str:
    """The cleaned rewrite with the user's emoji, numbers and URLs put back where the model
    dropped them, the user's spelling and typography in words the model only re-spelled, the
    sentence's closing mark if the model dropped it, and the text as written where the model
    did not change it."""
    cleaned = contract.clean_rewrite(raw, original=source)
    if not cleaned.strip():
        return source
    kept = preserve.restore_protected(source, cleaned)
    kept = preserve.restore_end(source, preserve.restore_forms(source, kept))
    return source if not contract.is_changed(source, kept) else kept


def content_kept(source: str, rewrite: str, avoid: list[str]) -> float:
    """Share of the source's content words (not function words, not the pushed-down ones) the
    rewrite still has: a cheap guard that a sampled rewrite kept what the sentence says."""
    dropped = {w.lower() for phrase in avoid for w in contract.WORD.findall(phrase)}
    words = {
        w.lower()
        for w in contract.WORD.findall(source)
        if w.lower() not in contract.FUNCTION_WORDS and w.lower() not in dropped
    }
    if not words:
        return 1.0
    kept = {w.lower() for w in contract.WORD.findall(rewrite)}
    return len(words & kept) / len(words)


def words_to_drop(spans: Iterable[SpanOut | dict]) -> list[str]:
    """The highlighted words a rewrite should not keep (pushed down while it is made, counted
    when it keeps them): every span's text but the group of a generalisation, whose name the
    model would only swap for another ("The elderly"); recast candidates take the claim off it."""
    words = []
    for span in spans:
        source, text = (span.source, span.text) if isinstance(span, SpanOut) else (
            span["source"], span["text"])  # fmt: skip
        if source != GROUP_SOURCE:
            words.append(text)
    return list(dict.fromkeys(words))


def steered_from(spans: list[SpanOut], guesses: list[str], options: Options) -> list[str]:
    """What a rewrite is steered away from: the highlighted words (words_to_drop) and the
    model's unshown guesses (merge_lexicon), less the words the user allows: allowed terms are
    never highlighted, and a word sharing a word with one is not pushed down either, or the
    rewrite would lose the allowed term too."""
    return [w for w in words_to_drop(spans) + guesses if not options.allows_word(w)]


def surviving(rewrite: str, words: list[str]) -> list[str]:
    return [w for w in words if contract.find_spans(rewrite, [w])]


def collect(events: Iterator[Event]) -> dict:
    """Run a call to its end and return the final payload (the JSON routes and the CLI)."""
    for event in events:
        if isinstance(event, Done):
            return event.payload
    raise RuntimeError("task ended without a result")  # a bug: run() always ends with Done
