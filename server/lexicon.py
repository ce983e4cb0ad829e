"""Known terms with considerate alternatives (server/lexicon.json, built by tools/build_lexicon.py
from retext-equality, MIT): a high-precision second source of highlights beside the model."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LEXICON_FILE = Path(__file__).with_name("lexicon.json")


@dataclass(frozen=True)
class Hit:
    start: int  # code point offsets into the text searched
    end: int
    text: str
    category: str
    alternatives: tuple[str, ...]


def alternation(phrases: Iterable[str]) -> str:
    """The phrases as one regex alternation, longest first, so "afflicted with a disability"
    wins over a shorter term inside it; a space in a phrase also matches a hyphen
    ("feeble-minded") or several spaces."""
    return "|".join(
        re.escape(p).replace(r"\ ", r"[\s-]+") for p in sorted(phrases, key=len, reverse=True)
    )


@cache
def _compiled(table: str) -> tuple[re.Pattern[str], dict[str, dict]]:
    terms = json.loads(LEXICON_FILE.read_text(encoding="utf-8"))[table]
    return re.compile(rf"(?<!\w)(?:{alternation(terms)})(?!\w)", re.IGNORECASE), terms


def _normal(term: str) -> str:
    return re.sub(r"[\s-]+", " ", term.lower())


def _find(text: str, table: str) -> list[Hit]:
    pattern, terms = _compiled(table)
    hits = []
    for match in pattern.finditer(text):
        entry = terms.get(_normal(match.group(0)))
        if entry is None:
            continue
        hits.append(
            Hit(match.start(), match.end(), match.group(0), entry["category"],
                tuple(entry["alternatives"]))
        )  # fmt: skip
    return hits


def find(text: str) -> list[Hit]:
    """The known terms of text, in order."""
    return _find(text, "terms")


def find_roles(text: str) -> list[Hit]:
    """The gendered job titles of text ("salesman", "waitress"), in order: fair words in a
    report, flagged only where a sentence advertises a job (server.hiring)."""
    return _find(text, "roles")


def same_case(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() and word else word


ARTICLE = re.compile(r"\b(?P<article>[Aa]n?)\s+$")


def apply(text: str, hits: list[Hit]) -> str:
    """The sentence with each hit replaced by its first alternative: a dropped word takes the
    comma or "and" after it along ("a young, energetic salesman" -> "an energetic
    salesperson"), and an article before a changed word is made to fit it."""
    out = ""
    cursor = 0
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.start < cursor or not hit.alternatives:
            continue  # overlapping, or no wording to put in its place
        alternative = same_case(hit.alternatives[0], hit.text)
        before = text[cursor : hit.start]
        out += before
        if alternative:
            out = _fit_article(out, alternative) + alternative
            cursor = hit.end
            continue
        # A dropped word takes the comma or "and" after it along; at the start of the
        # sentence, any mark after it too, and the next word takes its capital.
        first = not out.strip()
        rest = re.match(r"[\s,:;–—-]*" if first else r"(?:,|\s+and)?\s+", text[hit.end :])
        cursor = hit.end + (rest.end() if rest else 0)
        if cursor < len(text):
            out = _fit_article(out, text[cursor:])
            if first and hit.text[:1].isupper():
                out += text[cursor].upper()
                cursor += 1
    return LEFT_OVER.sub(r"\g<mark>", out + text[cursor:])


# A comma left before the end of a clause by a dropped last word ("a receptionist, .").
LEFT_OVER = re.compile(r"\s*[,;]\s*(?P<mark>[.!?;:]|$)")


def _fit_article(before: str, following: str) -> str:
    """`before` with a trailing "a"/"an" made to fit the word that now follows it."""
    m = ARTICLE.search(before)
    if m is None or not following:
        return before
    vowel = following[:1].lower() in "aeiou"
    article = m.group("article")
    fitted = ("An" if vowel else "A") if article[0] == "A" else ("an" if vowel else "a")
    return before[: m.start("article")] + fitted + before[m.end("article") :]
