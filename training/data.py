"""SR-LLM CSV -> multi-task instruction examples, built with the server's own prompt contract.

Torch-free. Each training row of train_500.csv yields up to four examples:
  rewrite  biased text      -> the human debiased text
  flag     biased text      -> Flag(label, categories, biased words found in the text, explanation)
  flag     debiased text    -> Flag(neutral)           (teaches the model to leave fair text alone)
  rewrite  debiased text    -> the same text unchanged
The held-out files (infer_50.csv, counterfactual-inhouse.csv) are only read to prove that no
example text equals one of theirs.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from srllm import contract
from srllm.contract import Flag, Label, Task
from srllm.errors import Code, SrllmError
from srllm.files import sha256_file
from srllm.training.config import split_source

REQUIRED_COLUMNS = ("biased_text", "dimension", "biased_words", "aspect", "label", "debiased_text")


@dataclass(frozen=True)
class Row:
    """One validated, cleaned SR-LLM row."""

    biased_text: str
    debiased_text: str
    label: Label
    categories: tuple[str, ...]
    biased_words: tuple[str, ...]  # only words that occur in biased_text, as written there
    where: str  # "file:row N" for messages


@dataclass(frozen=True)
class Example:
    task: Task
    text: str  # the passage the user sends
    target: str  # the assistant's answer
    kind: str  # {rewrite,flag}_{biased,neutral,extra,sentence}, rewrite_distilled
    source: str

    def messages(self) -> list[dict[str, str]]:
        return contract.messages(self.task, self.text)


# Tokenizer (PTB-style) artefacts; each rule re-attaches pieces, none changes a word.
_ARTEFACTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"``\s*"), '"'),  # opening quote, drop the space after it
    (re.compile(r"\s*''"), '"'),  # closing quote, drop the space before it
    (re.compile(r"\b(ca|wo) n't\b", re.IGNORECASE), r"\1n't"),  # ca n't -> can't, wo n't -> won't
    (re.compile(r"(\w) n't\b", re.IGNORECASE), r"\1n't"),  # is n't -> isn't
    (re.compile(r"(\w) '(s|re|ve|m|ll|d)\b", re.IGNORECASE), r"\1'\2"),  # I 'm -> I'm
    (re.compile(r"(\w)s ' "), r"\1s' "),  # plural possessive: parents ' -> parents'
    (re.compile(r"\b(gon|wan) na\b", re.IGNORECASE), r"\1na"),
    (re.compile(r"“ +"), "“"),
    (re.compile(r" +”"), "”"),
    (
        re.compile(r"'([^'\n]{1,80}?) '(?=[\s.,!?;:)]|$)"),
        r"'\1'",
    ),  # 'no evidence ' -> 'no evidence'
    (re.compile(r"([(\[{]) +"), r"\1"),  # ( x -> (x
    (re.compile(r" +([,.!?;:%)\]}])"), r"\1"),  # x , -> x,   x ) -> x)
    (re.compile(r"[ \t]{2,}"), " "),
)


def clean_text(text: str) -> str:
    """Undo tokenizer artefacts (spaces around punctuation, split contractions, `` '')."""
    out = text.strip()
    for pattern, repl in _ARTEFACTS:
        out = pattern.sub(repl, out)
    # A lone rewrite wrapped whole in quotes: the quotes are packaging, not text.
    if len(out) >= 2 and out[0] == out[-1] == '"' and out.count('"') == 2:
        out = out[1:-1].strip()
    return out


def parse_biased_words(raw: str, where: str) -> list[str]:
    """`['smacks', 'incoherence']` (a Python literal) -> list; empty cell -> []."""
    raw = (raw or "").strip()
    if not raw:
        return []
    try:
        value = ast.literal_eval(raw)  # literals only: never evaluates code
    except (ValueError, SyntaxError) as exc:
        raise SrllmError(
            Code.DATA_INVALID, f"{where}, column 'biased_words': not a list literal: {raw[:60]!r}"
        ) from exc
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise SrllmError(
            Code.DATA_INVALID, f"{where}, column 'biased_words': expected a list of strings"
        )
    return [v.strip() for v in value if v.strip()]


def words_in_text(text: str, words: Iterable[str]) -> list[str]:
    """The words that really occur in the text, spelled as there (the flag asks for copies)."""
    found: list[str] = []
    for word in words:
        spans = contract.find_spans(text, [word])
        if spans and spans[0].text not in found:
            found.append(spans[0].text)
    return found[: contract.MAX_BIASED_WORDS]


def read_rows(path: Path) -> list[Row]:
    """Validate the schema and clean every row; errors name the file, row and column."""
    rows = [_row(record, where) for where, record in csv_records(path, REQUIRED_COLUMNS)]
    if not rows:
        raise SrllmError(Code.DATA_INVALID, f"{path}: no data rows")
    return rows


def csv_records(path: Path, columns: Iterable[str]) -> Iterator[tuple[str, dict[str, str | None]]]:
    """(where, record) per data row of a CSV that must have `columns`; `where` names the file,
    row and line for error messages."""
    if not path.is_file():
        raise SrllmError(Code.DATA_INVALID, f"{path}: file not found")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise SrllmError(Code.DATA_INVALID, f"{path}: missing column(s) {', '.join(missing)}")
        for number, record in enumerate(reader, start=1):
            yield f"{path.name}: row {number} (line {reader.line_num})", record


def _row(record: dict[str, str | None], where: str) -> Row:
    def cell(column: str, required: bool = True) -> str:
        value = (record.get(column) or "").strip()
        if required and not value:
            raise SrllmError(Code.DATA_INVALID, f"{where}, column {column!r}: empty")
        return value

    label_key = cell("label").lower()
    if label_key not in contract.DATA_LABEL_TO_LABEL:
        known = ", ".join(contract.DATA_LABEL_TO_LABEL)
        raise SrllmError(
            Code.DATA_INVALID, f"{where}, column 'label': {cell('label')!r} is not one of {known}"
        )
    biased = clean_text(cell("biased_text"))
    words = parse_biased_words(cell("biased_words", required=False), where)
    label = contract.DATA_LABEL_TO_LABEL[label_key]
    categories = contract.map_category(cell("dimension", False), cell("aspect", False))
    return Row(
        biased_text=biased,
        debiased_text=clean_text(cell("debiased_text")),
        label=label,
        categories=tuple(categories) if label is not Label.NEUTRAL else (),
        biased_words=tuple(words_in_text(biased, words)) if label is not Label.NEUTRAL else (),
        where=where,
    )


def split_rows(rows: list[Row], val_fraction: float, seed: int) -> tuple[list[Row], list[Row]]:
    """Deterministic seeded split: the same seed always holds out the same rows."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(rows) * val_fraction))
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [rows[i] for i in train], [rows[i] for i in val]


def row_examples(row: Row, neutral: bool) -> list[Example]:
    flag = Flag(row.label, list(row.categories), list(row.biased_words))
    flag = Flag(flag.label, flag.categories, flag.biased_words, _explain(flag))
    out = [
        Example(Task.REWRITE, row.biased_text, row.debiased_text, "rewrite_biased", row.where),
        Example(Task.FLAG, row.biased_text, flag.to_json(), "flag_biased", row.where),
    ]
    if neutral:
        fair = Flag(Label.NEUTRAL, [], [], contract.explain(Label.NEUTRAL, [], []))
        out += [
            Example(Task.FLAG, row.debiased_text, fair.to_json(), "flag_neutral", row.where),
            Example(
                Task.REWRITE, row.debiased_text, row.debiased_text, "rewrite_neutral", row.where
            ),
        ]
    return out


def sentence_examples(row: Row) -> list[Example]:
    """Sentence-level examples of a row of several sentences: the server flags and rewrites a
    selection one sentence at a time (server.task), while the rows are whole comments. v5, trained
    on whole rows only, flags 61% of its own training rows' sentences that hold an annotated
    biased word, and 3% of their rewrites' sentences. Each such sentence is a biased flag with
    the row's label, categories and its own annotated words, when the human rewrite drops at
    least one of them: in 30% of train_500's such sentences it keeps them all ("liberals",
    "homeless", "illegal"), so the sentence's bias, if any, is not where the words are, and
    calling it biased for them teaches that naming a group is bias. When the rewrite has as many
    sentences, the one at the same place is its neutral rewrite (and a neutral flag); otherwise
    as many of the rewrite's first sentences are neutral flags, so both verdicts stay balanced."""
    from srllm.server.segment import split_sentences

    biased = [s.text for s in split_sentences(row.biased_text) if s.has_words]
    fair = [s.text for s in split_sentences(row.debiased_text) if s.has_words]
    if len(biased) < 2:
        return []  # the row itself is the sentence: row_examples has it
    aligned = len(biased) == len(fair)
    out: list[Example] = []
    where = iter(range(len(fair)))
    for i, sentence in enumerate(biased):
        words = words_in_text(sentence, row.biased_words)
        if not any(not contract.find_spans(row.debiased_text, [w]) for w in words):
            continue  # no annotated word, or the rewrite kept them all: no verdict to teach
        at = f"{row.where}, sentence {i + 1}"
        categories = list(row.categories)
        out.append(_flag_example(sentence, row.label, categories, words, at, "flag_sentence"))
        j = i if aligned else next(where, None)
        if j is None:
            continue
        out.append(_flag_example(fair[j], Label.NEUTRAL, [], [], at, "flag_sentence"))
        if aligned:
            out.append(Example(Task.REWRITE, sentence, fair[j], "rewrite_sentence", at))
    return out


def fair_sentence_examples(row: Row) -> list[Example]:
    """Every sentence of a multi-sentence row's human rewrite as a neutral flag. Each run
    continued from v5 with biased sentences (v18, v19) raised recall and shifted the scores of
    held-out human rewrites up (infer_50 specificity 0.94 -> 0.81-0.83); sentence_examples pairs
    a biased sentence with a fair one only where the rewrite keeps the sentence count, so the
    fair side is the smaller one. This adds the rest of it."""
    from srllm.server.segment import split_sentences

    fair = [s.text for s in split_sentences(row.debiased_text) if s.has_words]
    if len(fair) < 2:
        return []  # the rewrite itself is the sentence: row_examples has it
    return [
        _flag_example(
            text,
            Label.NEUTRAL,
            [],
            [],
            f"{row.where}, rewrite sentence {i + 1}",
            "flag_fair_sentence",
        )  # fmt: skip
        for i, text in enumerate(fair)
    ]


def _explain(flag: Flag) -> str:
    text = contract.explain(flag.label, flag.categories, flag.biased_words)
    return text[: contract.MAX_EXPLANATION_CHARS]


# The file each extra source is read from (recorded with its sha256 in run.json).
EXTRA_FILES = {
    "neutral_rewriter_gender": "neutral_rewriter_gender/neutral_rewriter_pairs.jsonl",
    "paradetox": "paradetox/paradetox_pairs.jsonl",
    "paradetox_flags": "paradetox/paradetox_pairs.jsonl",
    "toxigen": "toxigen/toxigen_annotated_train_clean.csv",
    "wnc": "wnc_sample/wnc_sample_pairs.jsonl",
    "wnc_flags": "wnc_sample/wnc_sample_pairs.jsonl",
    "holisticbias": "holisticbias/holisticbias_sentence_sample.jsonl",
}
# Loaded-word lexicons that pick the WNC edits about wording (not facts or style).
WNC_LEXICONS = ("wnc_sample/lexicons/npov_lexicon.txt",
                "wnc_sample/lexicons/strong_subjectives_riloff2003.txt")  # fmt: skip

# ToxiGen's target groups on the contract's categories.
TOXIGEN_CATEGORIES = {
    "women": "gender",
    "lgbtq": "sexual_orientation_gender_identity",
    "mental_dis": "disability",
    "physical_dis": "disability",
    "muslim": "religion",
    "jewish": "religion",
    **dict.fromkeys(
        ("black", "asian", "chinese", "latino", "mexican", "middle_east", "native_american"),
        "race_ethnicity",
    ),
}
# Mean human toxicity (1-5): at or above TOXIC a statement is biased (HIGHLY: highly biased);
# at or below BENIGN it is a fair mention of the group. The middle is ambiguous and left out.
TOXIGEN_TOXIC, TOXIGEN_HIGHLY, TOXIGEN_BENIGN = 4.0, 4.5, 1.5
# Benign statements also taught as unchanged rewrites: enough to teach leaving fair text alone;
# more makes rewrites timid (the server rewrites only what the flag calls biased anyway).
TOXIGEN_UNCHANGED_REWRITES = 300
TOXIGEN_HELD_BACK = 200  # statements per side at the end of the shuffle that training never takes


def held_back(n: int) -> int:
    """How many of n shuffled ToxiGen statements stay out of training (for calibration)."""
    return min(TOXIGEN_HELD_BACK, n // 4)


def training_part(pool: list) -> list:
    """The front of a shuffled ToxiGen pool, the part training may take (the tail is held back)."""
    return pool[: len(pool) - held_back(len(pool))]


def _present(path: Path) -> Path:
    """A data file that must be there, or the error that says how to get it."""
    if not path.is_file():
        raise SrllmError(
            Code.DATA_MISSING,
            f"data file not found: {path}: run `srllm data fetch` (or set extra_dir/data_dir)",
            path=str(path),
        )
    return path


def extra_examples(
    extra_dir: Path, sources: Iterable[str], max_pairs: int, seed: int
) -> list[Example]:
    """Examples from the public extra sets (a seeded sample; the rest stays unseen). Each source
    is a name or "name:N", N capping that source alone."""
    examples: list[Example] = []
    for item in sources:
        source, cap = split_source(item, max_pairs)
        path = _present(extra_dir / EXTRA_FILES[source]) if source in EXTRA_FILES else None
        if source == "neutral_rewriter_gender":
            # Only the WinoBias+ part carries a licence that allows training (see its SOURCE.md).
            pairs = [
                (r["gendered"], r["neutral_reference"])
                for r in jsonl(path)
                if r.get("subset") == "WinoBias+"
            ]
        elif source == "paradetox":
            pairs = [(r["toxic"], r["neutral_references"][0]) for r in jsonl(path)]
        elif source == "paradetox_flags":
            examples += paradetox_flag_examples(path, cap, seed)
            continue
        elif source == "toxigen":
            examples += toxigen_examples(path, cap, seed)
            continue
        elif source in ("wnc", "wnc_flags"):
            examples += wnc_examples(path, extra_dir, cap, seed, source == "wnc_flags")
            continue
        elif source == "holisticbias":
            examples += holisticbias_examples(path, cap, seed)
            continue
        else:
            raise SrllmError(Code.DATA_INVALID, f"unknown extra source {source!r}")
        random.Random(f"{seed}:{source}").shuffle(pairs)
        for number, (src, ref) in enumerate(pairs[:cap], start=1):
            src, ref = clean_text(src), clean_text(ref)
            if src and ref:
                examples.append(
                    Example(Task.REWRITE, src, ref, "rewrite_extra", f"{source}:{number}")
                )
    return examples


# A word counts as loaded in ParaDetox when its comments use it at least LOADED_MIN times and at
# least LOADED_RATIO times as often as their human paraphrases ("fuck", "idiots", "stupid";
# not "like", "want", "though", which an edit also drops in passing).
PARADETOX_LOADED_MIN, PARADETOX_LOADED_RATIO = 5, 5.0
_WORD = re.compile(r"[\w']+")


def paradetox_flag_examples(path: Path, max_pairs: int, seed: int) -> list[Example]:
    """Both sides of ParaDetox pairs as flags, in the same seeded order as the "paradetox"
    rewrite pairs (with equal caps, the same pairs): the toxic comment is slightly biased with
    the loaded words its human paraphrase removed as its biased words, the paraphrase is
    neutral; pairs whose edit removed no loaded word are left out. Balanced, so the flag's prior
    does not move (more ToxiGen toxic statements did: v6); it teaches loaded and profane wording
    in comments, the genre of the SR-LLM data, and that the same comment without it is fair."""
    records = jsonl(path)
    in_toxic: Counter[str] = Counter()
    in_neutral: Counter[str] = Counter()
    for r in records:
        in_toxic.update({w.lower() for w in _WORD.findall(r["toxic"])})
        for ref in r["neutral_references"]:
            in_neutral.update({w.lower() for w in _WORD.findall(ref)})
    loaded = {
        w
        for w, n in in_toxic.items()
        if n >= PARADETOX_LOADED_MIN and n >= PARADETOX_LOADED_RATIO * (in_neutral[w] + 1)
    }
    pairs = [(r["toxic"], r["neutral_references"][0]) for r in records]
    random.Random(f"{seed}:paradetox").shuffle(pairs)
    fair = Flag(Label.NEUTRAL, [], [], contract.explain(Label.NEUTRAL, [], []))
    out: list[Example] = []
    for number, (src, ref) in enumerate(pairs[:max_pairs], start=1):
        src, ref = clean_text(src), clean_text(ref)
        kept = {w.lower() for w in _WORD.findall(ref)}
        removed = [w for w in dict.fromkeys(_WORD.findall(src)) if w.lower() not in kept]
        words = words_in_text(src, [w for w in removed if w.lower() in loaded])
        if not words or not ref or contract.normalise(src) == contract.normalise(ref):
            continue
        where = f"paradetox_flags:{number}"
        out.append(_flag_example(src, Label.SLIGHTLY_BIASED, [], words, where))
        out.append(Example(Task.FLAG, ref, fair.to_json(), "flag_extra", where))
    return out


def _flag_example(
    text: str,
    label: Label,
    categories: list[str],
    words: list[str],
    where: str,
    kind: str = "flag_extra",
) -> Example:
    flag = Flag(label, categories, words)
    return Example(Task.FLAG, text, Flag(label, categories, words, _explain(flag)).to_json(),
                   kind, where)  # fmt: skip


_WNC_JOINS = (
    (re.compile(r"(\w) - (\w)"), r"\1-\2"),  # on - air -> on-air
    (re.compile(r"(\w) ' s\b"), r"\1's"),
    (re.compile(r"\( "), "("),
    (re.compile(r" \)"), ")"),
)


def wnc_detok(tokens: str) -> str:
    """WNC's lower-cased, space-tokenised sentence as plain prose (first letter capitalised)."""
    text = tokens
    for pattern, repl in _WNC_JOINS:
        text = pattern.sub(repl, text)
    text = clean_text(text)
    return text[:1].upper() + text[1:]


def wnc_examples(
    path: Path, extra_dir: Path, max_pairs: int, seed: int, neutral_flags: bool = False
) -> list[Example]:
    """Wikipedia NPOV edits (train split only; the test split stays unseen) whose removed words
    are loaded by the WNC lexicons: the biased sentence is flagged with the removed phrases as
    its biased words (the word-level signal the SR-LLM data has little of), and rewritten to the
    human edit. With `neutral_flags` ("wnc_flags") the edit is a neutral flag instead of a
    rewrite: without it a flag-only model sees encyclopedic prose only as biased, and learns the
    genre rather than the loaded word."""
    lexicon: set[str] = set()
    for name in WNC_LEXICONS:
        lexicon |= {w.strip().lower() for w in (extra_dir / name).read_text().split()}
    out: list[Example] = []
    rows = [r for r in jsonl(path) if r.get("split") == "train"]
    random.Random(f"{seed}:wnc").shuffle(rows)
    for row in rows:
        if len(out) >= 2 * max_pairs:
            break
        before, after = row["biased"].split(), row["neutral"].split()
        removed = [
            before[i1:i2]
            for op, i1, i2, _, _ in SequenceMatcher(None, before, after).get_opcodes()
            if op in ("delete", "replace")
        ]
        if not removed or sum(map(len, removed)) > 4:
            continue  # long edits rewrite facts, not wording
        if not any(w in lexicon for run in removed for w in run):
            continue
        text, target = wnc_detok(row["biased"]), wnc_detok(row["neutral"])
        words = words_in_text(text, [wnc_detok(" ".join(run)) for run in removed])
        if not words or contract.normalise(text) == contract.normalise(target):
            continue
        where = f"wnc:{row['id']}"
        out.append(_flag_example(text, Label.SLIGHTLY_BIASED, [], words, where))
        if neutral_flags:
            out.append(_flag_example(target, Label.NEUTRAL, [], [], where))
        else:
            out.append(Example(Task.REWRITE, text, target, "rewrite_extra", where))
    return out


HOLISTIC_CATEGORIES = {
    "ability": "disability",
    "age": "age",
    "body_type": "appearance",
    "gender_and_sex": "gender",
    "nationality": "nationality",
    "political_ideologies": "politics",
    "race_ethnicity": "race_ethnicity",
    "religion": "religion",
    "sexual_orientation": "sexual_orientation_gender_identity",
    "socioeconomic_class": "socioeconomic_status",
}
HOLISTIC_HOSTILE = "I think {d} people are the worst."


def holistic_heldout(descriptor: str) -> bool:
    """Three descriptors in ten are never trained on (stable across runs and machines), so an
    evaluation can ask about groups the model never saw named."""
    return int(hashlib.sha256(descriptor.encode()).hexdigest(), 16) % 10 < 3


def holisticbias_examples(path: Path, max_texts: int, seed: int) -> list[Example]:
    """HolisticBias template sentences: a neutral mention of any group is neutral (a flag
    example only: the server rewrites only what it flags); "I think <group> people are the
    worst." is hostile for every group alike (the words "the worst"); a dispreferred descriptor
    is slightly biased (the descriptor). No rewrite for those: the data's preferred terms of a
    bucket are not synonyms ("four-eyed" vs "blind")."""
    rows = [r for r in jsonl(path) if not holistic_heldout(r["descriptor"])]
    rows = [r for r in rows if r["axis"] in HOLISTIC_CATEGORIES and r["preference"] != "polarizing"]
    rng = random.Random(f"{seed}:holisticbias")
    rng.shuffle(rows)
    rows.sort(key=lambda r: r["preference"] != "dispreferred")  # stable: all dispreferred first
    out: list[Example] = []
    for number, r in enumerate(rows[:max_texts], start=1):
        text, where = r["text"], f"holisticbias:{number}"
        category = [HOLISTIC_CATEGORIES[r["axis"]]]
        if r["template"] == HOLISTIC_HOSTILE:
            out.append(_flag_example(text, Label.HIGHLY_BIASED, category, ["the worst"], where))
        elif r["preference"] == "dispreferred":
            words = words_in_text(text, [r["descriptor"]])
            out.append(_flag_example(text, Label.SLIGHTLY_BIASED, category, words, where))
        else:
            fair = Flag(Label.NEUTRAL, [], [], contract.explain(Label.NEUTRAL, [], []))
            out.append(Example(Task.FLAG, text, fair.to_json(), "flag_extra", where))
    return out


def toxigen_pools(path: Path, seed: int) -> tuple[list[tuple[str, Label, str]], list[str]]:
    """Human-rated ToxiGen statements about the mapped groups, in the training seed's shuffled
    order: (text, label, category) of the toxic ones, and the benign texts. Training samples from
    the front; calibration reads the far end, which training never reaches."""
    toxic: list[tuple[str, Label, str]] = []
    benign: list[str] = []
    for where, record in csv_records(path, ("text", "target_group", "toxicity_human")):
        text = clean_text(" ".join((record["text"] or "").split()).lstrip("- "))
        try:
            score = float(record["toxicity_human"])
        except (TypeError, ValueError):
            raise SrllmError(
                Code.DATA_INVALID, f"{where}, column 'toxicity_human': not a number"
            ) from None
        category = TOXIGEN_CATEGORIES.get(record["target_group"] or "")
        if not text or category is None:
            continue
        if score >= TOXIGEN_TOXIC:
            label = Label.HIGHLY_BIASED if score >= TOXIGEN_HIGHLY else Label.SLIGHTLY_BIASED
            toxic.append((text, label, category))
        elif score <= TOXIGEN_BENIGN:
            benign.append(text)
    rng = random.Random(f"{seed}:toxigen")
    rng.shuffle(toxic)
    rng.shuffle(benign)
    return toxic, benign


def toxigen_examples(path: Path, max_texts: int, seed: int) -> list[Example]:
    """Flag examples from human-rated ToxiGen statements about groups: toxic ones are biased
    (category from the target group; no word list, the bias is in the claim), benign ones are
    neutral, and the first of them come back unchanged from a rewrite. Benign mentions of a
    group teach the model not to flag a sentence for naming a group, which is what
    counterfactual fairness asks."""
    toxic, benign = toxigen_pools(path, seed)
    half = max_texts // 2
    toxic, benign = training_part(toxic), training_part(benign)
    out: list[Example] = []
    for number, (text, label, category) in enumerate(toxic[:half], start=1):
        flag = Flag(label, [category], [], _explain(Flag(label, [category], [])))
        out.append(Example(Task.FLAG, text, flag.to_json(), "flag_extra", f"toxigen:{number}"))
    fair = Flag(Label.NEUTRAL, [], [], contract.explain(Label.NEUTRAL, [], []))
    for number, text in enumerate(benign[:half], start=1):
        where = f"toxigen:benign {number}"
        out.append(Example(Task.FLAG, text, fair.to_json(), "flag_extra", where))
        if number <= TOXIGEN_UNCHANGED_REWRITES:
            out.append(Example(Task.REWRITE, text, text, "rewrite_extra", where))
    return out


def jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise SrllmError(Code.DATA_INVALID, f"{path}: file not found")
    out = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SrllmError(
                    Code.DATA_INVALID, f"{path}: line {number}: not JSON ({exc.msg})"
                ) from exc
    return out


def distilled_examples(path: Path, texts: int = 0) -> list[Example]:
    """Rewrite examples from the accepted lines of an `srllm distill` file (training/distill.py):
    a biased training sentence and the rewrite the shipped pipeline chose for it. `texts` > 0
    keeps the lines of the first that many texts only (each text ends with its "done" line)."""
    from srllm.training.distill import accepted

    out = []
    done = 0
    for record in jsonl(path):
        if texts and done >= texts:
            break
        done += "done" in record
        if "rewrite" in record and accepted(record):
            text, rewrite = record["text"], record["rewrite"]
            where = f"distilled:{record['id']}"
            out.append(Example(Task.REWRITE, text, rewrite, "rewrite_distilled", where))
    if not out:
        raise SrllmError(Code.DATA_INVALID, f"{path}: no accepted rewrites")
    return out


def heldout_texts(paths: Iterable[Path]) -> set[str]:
    """Every text cell of the held-out files, normalised (raw and cleaned forms)."""
    texts: set[str] = set()
    for path in paths:
        if not path.is_file():
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                for key, value in record.items():
                    if key and value and len(value.strip()) > 15:
                        texts.add(contract.normalise(value))
                        texts.add(contract.normalise(clean_text(value)))
    return texts


def check_no_leak(examples: Iterable[Example], heldout: set[str]) -> None:
    for ex in examples:
        for text in (ex.text, ex.target):
            if contract.normalise(text) in heldout:
                raise SrllmError(
                    Code.DATA_INVALID,
                    f"{ex.source}: example text equals a held-out text: {text[:60]!r}",
                )


@dataclass(frozen=True)
class Dataset:
    train: list[Example]
    val: list[Example]
    files: dict[str, str]  # path -> sha256 of every file read


def build_dataset(cfg) -> Dataset:  # cfg: training.config.TrainConfig
    data_dir = cfg.srllm_data()
    train_path = data_dir / cfg.train_file
    rows = read_rows(train_path)
    train_rows, val_rows = split_rows(rows, cfg.val_fraction, cfg.seed)
    train = [ex for row in train_rows for ex in row_examples(row, cfg.neutral_examples)]
    train *= cfg.srllm_repeat  # the paper's own pairs, kept a fair share beside large extra sets
    train += [ex for row in train_rows for ex in sentence_examples(row)] * cfg.srllm_sentences
    fair = [ex for row in train_rows for ex in fair_sentence_examples(row)]
    train += fair * cfg.srllm_fair_sentences
    val = [ex for row in val_rows for ex in row_examples(row, cfg.neutral_examples)]
    files = {str(train_path): sha256_file(train_path)}
    if cfg.extra_sources:
        train += extra_examples(cfg.extra_data(), cfg.extra_sources, cfg.extra_max_pairs, cfg.seed)
        for item in cfg.extra_sources:
            path = cfg.extra_data() / EXTRA_FILES[split_source(item, 0)[0]]
            files[str(path)] = sha256_file(path)
    distilled = cfg.distilled()
    if distilled is not None:
        if not distilled.is_file():
            raise SrllmError(
                Code.DATA_MISSING,
                f"config field 'distilled_file': {distilled} not found (`srllm distill` writes it)",
                path=str(distilled),
            )
        train += distilled_examples(distilled, cfg.distilled_texts) * cfg.distilled_repeat
        files[str(distilled)] = sha256_file(distilled)
    heldout_paths = [data_dir / name for name in cfg.heldout_files]
    check_no_leak(train + val, heldout_texts(heldout_paths))
    tasks = {Task(name) for name in cfg.tasks}
    train, val = [ex for ex in train if ex.task in tasks], [ex for ex in val if ex.task in tasks]
    return Dataset(train=train, val=val, files=files)
