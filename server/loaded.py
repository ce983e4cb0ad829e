"""Loaded words (server/loaded_words.json, built by tools/build_loaded_words.py): negative opinion
words that show which words of a sentence the model calls biased carry the bias. They never
decide a verdict, so fair reporting of bad news is not flagged because of them.

Plain words, from the same file: words that human neutral rewrites keep ("citizens",
"supporters", "same"). A word the model names that is plain and not loaded carries no bias
and is not highlighted (nor pushed out of the rewrite). Nor is praise, a positive opinion word
("fine", "cute", "freedom"): under 2% of the words people mark as biased are such words.
Marked words (same file) are the words the training rows' annotators marked as biased; a word
the model names that is neither loaded nor marked is not highlighted either (supported).
Unmarked words (same file) are loaded words the training rows' annotators never marked
("killed", "disaster"): loaded still, but not highlighted by themselves (marks)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

WORDS_FILE = Path(__file__).with_name("loaded_words.json")
WORD = re.compile(r"[^\W\d_](?:[\w'’-]*\w)?")
# "not good", "isn't very respectful", "never fair": praise denied.
DENIED = re.compile(
    r"(?:\b(?:not|never|no\s+longer)|n't|n’t)\s+"
    r"(?:(?:very|really|so|as|always|particularly|entirely|quite|that|too|exactly)\s+)?"
    r"(?P<word>[^\W\d_][\w'’-]*)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Hit:
    start: int  # code point offsets into the text searched
    end: int
    text: str


@cache
def _lists() -> tuple[frozenset[str], ...]:
    data = json.loads(WORDS_FILE.read_text(encoding="utf-8"))
    kinds = ("words", "plain", "praise", "unmarked", "marked")
    return tuple(frozenset(data[k]) for k in kinds)


def _words() -> frozenset[str]:
    return _lists()[0]


def _known(token: str) -> bool:
    words = _words()
    lower = token.lower().replace("’", "'")
    return lower in words or (lower.endswith("'s") and lower[:-2] in words)


def find(text: str) -> list[Hit]:
    """Every loaded word of text, as written (a possessive "thug's" marks "thug's")."""
    return [Hit(m.start(), m.end(), m.group(0)) for m in WORD.finditer(text) if _known(m.group(0))]


def marks(text: str) -> list[Hit]:
    """The loaded words of text that people mark as biased: not the unmarked ones, which report
    bad events ("killed", "disaster", "tired") and were never marked in the training rows."""
    unmarked = _lists()[3]
    return [h for h in find(text) if h.text.lower().replace("’", "'") not in unmarked]


def _content(phrase: str) -> list[str]:
    from srllm.contract import FUNCTION_WORDS

    return [w for w in WORD.findall(phrase) if w.lower() not in FUNCTION_WORDS]


def _all_in(phrase: str, words: frozenset[str]) -> bool:
    """Every content word of phrase is in words, and none is loaded."""
    content = _content(phrase)
    return bool(content) and all(
        w.lower().replace("’", "'") in words and not _known(w) for w in content
    )


def plain(phrase: str) -> bool:
    """Every content word of phrase is one human neutral rewrites keep, and none is loaded."""
    return _all_in(phrase, _lists()[1])


def praise(phrase: str) -> bool:
    """Every content word of phrase is a positive opinion word ("fine", "cute"), none loaded."""
    return _all_in(phrase, _lists()[2])


def supported(phrase: str) -> bool:
    """Some content word of phrase is loaded or one people marked as biased in the training rows
    (marked): a word the model names that is neither ("shopping", "policy", "royalty") is its
    guess, not what people mark, and is not highlighted (server.task.merge_lexicon)."""
    marked = _lists()[4]
    for word in _content(phrase):
        lower = word.lower().replace("’", "'")
        # "criminals": the lexicons list the singular
        forms = {lower, lower.removesuffix("s"), lower.removesuffix("es")} - {""}
        if any(_known(f) or f in marked for f in forms):
            return True
    return False


def denied_praise(text: str) -> list[str]:
    """The praise text denies, lowercased ("not good", "isn't very respectful" -> "good",
    "respectful"): denied, it runs someone down ("not worth the resources"), so a model word
    among them is highlighted though it is praise or plain (server.task.merge_lexicon)."""
    return [m.group("word").lower() for m in DENIED.finditer(text) if praise(m.group("word"))]
