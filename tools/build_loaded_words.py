"""Build server/loaded_words.json: negative opinion words (Hu and Liu's opinion lexicon, 2004, as
shipped in the WNC repository's `src/lexicons`, MIT) that mark the words carrying the bias in a
sentence the model already calls biased.

    python tools/build_loaded_words.py [--data DIR]   # default: srllm's data lookup (srllm.paths)

Chosen on the SR-LLM training rows only (train_500.csv, never infer_50): the annotated biased
words of its biased sentences are mostly negative opinion words (precision 0.62, recall 0.76 of
the annotated words present). Words that the human neutral rewrites there still use in 3 or more
rows ("issue", "concerns", "difficult", "illegal") are dropped: a neutral rewrite keeps them, so
they do not carry the bias (precision 0.70, recall 0.68 on those rows).

The same rule gives the plain words: every word used in 3 or more of those neutral rewrites
("citizens", "supporters", "same"). A word the model names in a biased sentence is not
highlighted when it is plain and not loaded (server.loaded.plain): on v5's eval flags this
raised span precision from 0.39 to 0.44 at recall 0.50 (was 0.52).

The unmarked words are loaded words that occur in 2 or more of train_500's biased texts and that
the annotators never marked there ("killed", "dead", "crime", "disaster", "tired"): words that
report bad events, not bias. They stay loaded (a generalisation's predicate "are slow" still
runs the group down) but are not highlighted by themselves (server.loaded.marks). In 2-fold
cross-validation on train_500 (5 shuffles; the list built on one half, scored on the other)
this raised the loaded words' precision 0.715 -> 0.774 at recall 0.658 (F1 0.685 -> 0.711).

The marked words are every word the annotators of train_500 marked as biased (lower case, not
a function word). A word the model names that is neither loaded nor marked nor a known term of
the lexicon ("shopping", "policy", "royalty", "free") is not highlighted (server.loaded.
supported): on v5's flags of its validation rows (the list built from its training rows only),
span precision 0.50 -> 0.75 at recall 0.58 -> 0.50 (F1 0.54 -> 0.60).

The praise words are the lexicon's positive words that are not also negative ("fine", "cute",
"freedom"): of the 890 biased words annotated in train_500, 17 (1.9%) are such words, 8 of them
"clearly". A word the model names that is praise is not highlighted either (server.loaded.praise),
so the rewrite does not push it out and say the opposite ("not good") instead.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import re
from collections import Counter
from pathlib import Path

from srllm import paths

SOURCE = "wnc_sample/lexicons/negative_liu2005.txt"
POSITIVE = "wnc_sample/lexicons/positive_liu2005.txt"
TRAIN = "srllm/train_500.csv"
OUT = Path(__file__).resolve().parents[1] / "server" / "loaded_words.json"
NEUTRAL_USES = 3  # a word in this many human neutral rewrites is not a loaded word
UNMARKED_SEEN = 2  # a loaded word in this many biased texts, never marked, is not highlighted
WORD = re.compile(r"[a-z][a-z'-]*")


def words(path: Path) -> set[str]:
    out = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        word = line.strip().lower()
        if word and not word.startswith(";") and WORD.fullmatch(word):
            out.add(word)
    return out


def neutral_uses(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            counts.update(set(WORD.findall(row["debiased_text"].lower())))
    return counts


def marked_rows(path: Path) -> list[tuple[str, set[str]]]:
    """(biased text, the words of its annotated biased words, lower case) of each row whose
    annotation parses."""
    out = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                annotated = ast.literal_eval(row["biased_words"])
            except (ValueError, SyntaxError):
                continue
            text = " ".join(str(w) for w in annotated).lower()
            out.append((row["biased_text"], set(WORD.findall(text))))
    return out


def unmarked(path: Path, loaded: set[str]) -> list[str]:
    """Loaded words in UNMARKED_SEEN or more annotated biased texts, never among their marked
    words."""
    seen: Counter[str] = Counter()
    marked: Counter[str] = Counter()
    for text, marks in marked_rows(path):
        if not marks:
            continue
        for word in set(WORD.findall(text.lower())) & loaded:
            seen[word] += 1
            marked[word] += word in marks
    return sorted(w for w, n in seen.items() if n >= UNMARKED_SEEN and not marked[w])


def marked(path: Path) -> list[str]:
    """Every content word among the annotated biased words of the rows."""
    from srllm.contract import FUNCTION_WORDS

    return sorted({w for _, marks in marked_rows(path) for w in marks if w not in FUNCTION_WORDS})


def build(data: Path) -> dict:
    negative = words(data / "extra" / SOURCE)
    positive = words(data / "extra" / POSITIVE)
    uses = neutral_uses(data / TRAIN)
    kept = sorted(w for w in negative if uses[w] < NEUTRAL_USES)
    return {
        "source": "Hu and Liu opinion lexicon (negative words), from rpryzant/neutralizing-bias "
        f"src/lexicons (MIT); words used in {NEUTRAL_USES}+ SR-LLM train_500 neutral rewrites "
        "removed (tools/build_loaded_words.py)",
        "words": kept,
        "plain_source": f"words used in {NEUTRAL_USES}+ SR-LLM train_500 neutral rewrites",
        "plain": sorted(w for w, n in uses.items() if n >= NEUTRAL_USES),
        "unmarked_source": f"loaded words in {UNMARKED_SEEN}+ SR-LLM train_500 biased texts, "
        "never among their annotated biased words",
        "unmarked": unmarked(data / TRAIN, set(kept)),
        "marked_source": "words annotated as biased in SR-LLM train_500",
        "marked": marked(data / TRAIN),
        "praise_source": "Hu and Liu opinion lexicon (positive words, none also negative), same "
        "repository",
        "praise": sorted(positive - negative),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="the data root (srllm/, extra/)")
    args = parser.parse_args()
    data = args.data or paths.data_root()
    built = build(data)
    OUT.write_text(json.dumps(built, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    kinds = ("words", "plain", "unmarked", "marked", "praise")
    counts = ", ".join(f"{len(built[k])} {k}" for k in kinds)
    print(f"{counts} -> {OUT}")


if __name__ == "__main__":
    main()
