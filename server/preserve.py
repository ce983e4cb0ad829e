"""Keep what the user wrote around the bias: emoji, numbers, URLs, handles and names that the
model dropped from a rewrite are put back at their place.

A small model rewrites "Wow 🎉 those 👴🏻 old people 🙄 are slow" as "Wow, those old people are
slow": the words are its job, the emoji are not. The rewrite is aligned with the original word
by word; a protected token of the original that sits in a stretch the rewrite deleted, and that
the rewrite does not contain anywhere, is inserted back before the next word the two share.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from difflib import SequenceMatcher

_TOKEN = re.compile(r"\S+\s*")
_WORD = re.compile(r"[^\W\d_]{6,}")  # long enough to be a content word
_URL = re.compile(r"^(?:https?://|www\.)\S+|^\S+@\S+\.\w+|^[@#]\w+", re.IGNORECASE)


def is_protected(token: str) -> bool:
    """Emoji and other symbols, numbers, URLs, e-mail addresses, @handles and #tags."""
    word = token.strip()
    if not word:
        return False
    if _URL.match(word) or any(ch.isdigit() for ch in word):
        return True
    return any(unicodedata.category(ch) in ("So", "Sk") for ch in word) and not any(
        ch.isalpha() for ch in word
    )


# A number as people write it: "$ 250k", "250,000", "3.5m", "40%", "1990s".
_NUMBER = re.compile(r"^[$€£¥]?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(k|m|bn|s|%)?$", re.IGNORECASE)
_SCALE = {"k": 1e3, "m": 1e6, "bn": 1e9}


def number_key(token: str) -> str | None:
    """What a number stands for, so that two spellings of one number match ("250k",
    "$250,000" -> "250000"); None for a token that does not start with a digit or a currency
    sign ("hello", "w0", "COVID-19"). One that is not a plain number ("46.61.522", "2nd")
    stands for itself."""
    word = token.strip().strip("()[]\"'“”‘’.,;:!?").casefold()
    if not word or not word.lstrip("$€£¥")[:1].isdigit():
        return None
    match = _NUMBER.match(word)
    if not match:
        return word
    whole, fraction, suffix = match.groups()
    value = float(whole.replace(",", "") + (fraction or "")) * _SCALE.get(suffix or "", 1.0)
    return f"{value:g}" + (suffix if suffix in ("s", "%") else "")


def numbers(text: str) -> set[str]:
    """The numbers of a text, by what they stand for (number_key)."""
    keys = (number_key(t) for t in _TOKEN.findall(text))
    return {k for k in keys if k is not None}


def invented_numbers(source: str, rewrite: str) -> set[str]:
    """Numbers a rewrite states that its source does not: a rewrite must not add facts."""
    return numbers(rewrite) - numbers(source)


# A word a rewrite says this many times, and more than once more often than its source does, is
# the model looping ("homocentrism, homocentrism, heterocentrism, homocentrism, ...").
LOOP_COUNT = 3


def looped_words(source: str, rewrite: str) -> set[str]:
    """Words of six or more letters a rewrite repeats far more often than its source: made-up
    text, like an invented number."""
    said = Counter(w.casefold() for w in _WORD.findall(source))
    counts = Counter(w.casefold() for w in _WORD.findall(rewrite))
    return {w for w, n in counts.items() if n >= LOOP_COUNT and n > said[w] + 1}


def _key(token: str) -> str:
    return re.sub(r"[^\w]", "", token.casefold()) or token.strip()


def restore_protected(original: str, rewrite: str) -> str:
    source, target = _TOKEN.findall(original), _TOKEN.findall(rewrite)
    if not source or not target:
        return rewrite
    present = {t.strip() for t in target}
    values = numbers(rewrite)  # "250k" is kept when the rewrite says "$250,000"
    out: list[str] = []
    matcher = SequenceMatcher(None, [_key(t) for t in source], [_key(t) for t in target], False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        stretch = source[i1:i2]
        missing = [
            k
            for k, t in enumerate(stretch)
            if op != "equal"
            and is_protected(t)
            and t.strip() not in present
            and number_key(t) not in values
        ]
        if not missing:
            out.extend(target[j1:j2])
            continue
        # Replaced or deleted stretch: the protected tokens go back in their order, before the
        # words the model wrote in its place, except those that followed the stretch's last
        # word, which go after them ("🎉 those 👴🏻" -> "🎉 these 👴🏻", not "🎉 👴🏻 these").
        words = [k for k, t in enumerate(stretch) if not is_protected(t)]
        last = words[-1] if words else len(stretch)
        out.extend(stretch[k].strip() + " " for k in missing if k < last)
        out.extend(target[j1:j2])
        after = [stretch[k].strip() + " " for k in missing if k > last]
        if after and j2 > j1 and not out[-1][-1:].isspace():
            out[-1] += " "
        out.extend(after)
    text = "".join(out)
    lead = rewrite[: len(rewrite) - len(rewrite.lstrip())]
    return lead + text.rstrip() + rewrite[len(rewrite.rstrip()) :]
