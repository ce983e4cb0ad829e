"""Known terms with considerate alternatives (server/lexicon.json, built by tools/build_lexicon.py
from retext-equality, MIT): a high-precision second source of highlights beside the model."""

from __future__ import annotations

import json
import re
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


@cache
def _compiled(table: str) -> tuple[re.Pattern[str], dict[str, dict]]:
    terms = json.loads(LEXICON_FILE.read_text(encoding="utf-8"))[table]
    # Longest first, so "afflicted with a disability" wins over a shorter term inside it; a
    # space in a term also matches a hyphen ("feeble-minded").
    alternation = "|".join(
        re.escape(t).replace(r"\ ", r"[\s-]+") for t in sorted(terms, key=len, reverse=True)
    )
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE), terms


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
