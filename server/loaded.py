"""Loaded words (server/loaded_words.json, built by tools/build_loaded_words.py): negative opinion
words that show which words of a sentence the model calls biased carry the bias. They never
decide a verdict, so fair reporting of bad news is not flagged because of them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

WORDS_FILE = Path(__file__).with_name("loaded_words.json")
WORD = re.compile(r"[^\W\d_](?:[\w'’-]*\w)?")


@dataclass(frozen=True)
class Hit:
    start: int  # code point offsets into the text searched
    end: int
    text: str


@cache
def _words() -> frozenset[str]:
    return frozenset(json.loads(WORDS_FILE.read_text(encoding="utf-8"))["words"])


def _known(token: str) -> bool:
    words = _words()
    lower = token.lower().replace("’", "'")
    return lower in words or (lower.endswith("'s") and lower[:-2] in words)


def find(text: str) -> list[Hit]:
    """Every loaded word of text, as written (a possessive "thug's" marks "thug's")."""
    return [Hit(m.start(), m.end(), m.group(0)) for m in WORD.finditer(text) if _known(m.group(0))]
