"""Keep what the user wrote around the bias: emoji, numbers, URLs, handles and names that the
model dropped from a rewrite are put back at their place, and words it only re-spelled or
re-typed go back to the user's form.

A small model rewrites "Wow 🎉 those 👴🏻 old people 🙄 are slow" as "Wow, those old people are
slow": the words are its job, the emoji are not. The rewrite is aligned with the original word
by word; a protected token of the original that sits in a stretch the rewrite deleted, and that
the rewrite does not contain anywhere, is inserted back before the next word the two share
(restore_protected). It also writes "cancelled" as "canceled", "colour" as "color", "it’s"
as "it's" and "those" as "these" in words it had no reason to touch: a word of the rewrite that
stands where the original has the same word in another spelling or typography, or a
demonstrative of the same number, is written as the user wrote it (restore_forms). And a
sentence rewritten without its full stop gets the original's back (restore_end): in a
paragraph it would run into the next sentence.
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


# Words that say which gender a person is. A rewrite that trades every one of them for the
# other gender's ("make sure not to hire a woman if she has a kid" -> "...hiring a male if he
# has a child", a continued run's group rewrite of 2026-12-05) keeps the claim and aims it at
# other people: a made-up text, not a neutral one.
FEMALE = frozenset(
    [
        "woman", "women", "girl", "girls", "lady", "ladies", "female", "females", "she", "her",
        "hers", "herself", "mother", "mothers", "mom", "moms", "wife", "wives", "sister",
        "sisters", "daughter", "daughters", "housewife", "housewives",
    ]
)  # fmt: skip
MALE = frozenset(
    [
        "man", "men", "boy", "boys", "guy", "guys", "gentleman", "gentlemen", "male", "males",
        "he", "him", "his", "himself", "father", "fathers", "dad", "dads", "husband",
        "husbands", "brother", "brothers", "son", "sons",
    ]
)  # fmt: skip
# The same for the groups whose opposite a rewrite may trade them for: "Fat people have no
# self-control." -> "People who are underweight have no self-control." (v5, 2026-12-05).
HEAVY = frozenset(["fat", "overweight", "obese", "chubby", "heavy", "heavier"])
THIN = frozenset(["thin", "skinny", "underweight", "slim", "slender", "thinner"])
OLD = frozenset(["old", "older", "elderly", "seniors", "boomers", "aged", "grandparents"])
YOUNG = frozenset(["young", "younger", "youth", "teenagers", "teens", "millennials", "kids"])
RICH = frozenset(["rich", "wealthy", "affluent", "millionaires", "billionaires"])
POOR = frozenset(["poor", "broke", "homeless", "low-income", "impoverished"])
OPPOSITES = ((FEMALE, MALE), (HEAVY, THIN), (OLD, YOUNG), (RICH, POOR))
_PLAIN_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def swapped_group(source: str, rewrite: str) -> bool:
    """Whether the rewrite speaks of the opposite group only, where the source spoke of one
    (the other gender, thin for fat, young for old, poor for rich): every word of the source's
    group gone, and words of the other brought in."""
    said = {w.casefold() for w in _PLAIN_WORD.findall(source)}
    written = {w.casefold() for w in _PLAIN_WORD.findall(rewrite)}
    for a, b in OPPOSITES:
        for one, other in ((a, b), (b, a)):
            if said & one and not said & other and not written & one and (written - said) & other:
                return True
    return False


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


# Typography a model normalises: curly quotes and apostrophes, dashes, the ellipsis character.
_TYPOGRAPHY = str.maketrans(
    {"’": "'", "‘": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-", "…": "..."}
)
# British and American spellings of one word: "cancelled"/"canceled", "colour"/"color",
# "organise"/"organize", "analyse"/"analyze", "centre"/"center", "defence"/"defense",
# "catalogue"/"catalog". Applied to both words of a pair, never to one alone.
_SPELLINGS = (
    (re.compile(r"([^\W\d_])\1"), r"\1"),
    (re.compile(r"our"), "or"),
    (re.compile(r"is(e|es|ed|ing|ation|ations)\b"), r"iz\1"),
    (re.compile(r"ys(e|es|ed|ing)\b"), r"yz\1"),
    (re.compile(r"(?<=[^\W\d_]{2})re(s?)\b"), r"er\1"),
    (re.compile(r"ence(s?)\b"), r"ense\1"),
    (re.compile(r"ogue(s?)\b"), r"og\1"),
)


# Shorter words are other words in another spelling: "too" and "to", "off" and "of".
_SPELLED_LETTERS = 5


# Demonstratives a model swaps for no reason ("those old people" -> "these old people"): the
# same number, so the sentence reads the same with the user's.
_DEMONSTRATIVES = (
    (re.compile(r"^(th)ese\b", re.I), r"\1ose"),
    (re.compile(r"^(th)is\b", re.I), r"\1at"),
)


def _form(word: str) -> str:
    """A word as spelling and typography variants of it all read: "Cancelled," and "canceled,"
    alike, "these" and "those". Case stays: a word that moved to the start of a sentence may
    change it."""
    text = unicodedata.normalize("NFC", word).translate(_TYPOGRAPHY)
    for pattern, replacement in _DEMONSTRATIVES:
        text = pattern.sub(replacement, text)
    if sum(ch.isalpha() for ch in text) < _SPELLED_LETTERS:
        return text
    for pattern, replacement in _SPELLINGS:
        text = pattern.sub(replacement, text)
    return text


def restore_forms(original: str, rewrite: str) -> str:
    """The rewrite with each word that only re-spells or re-types the original's word at its
    place ("canceled" for "cancelled", "it's" for "it’s", "-" for "—") written as the original
    has it. Words the rewrite replaced, added or moved are its own."""
    source, target = _TOKEN.findall(original), _TOKEN.findall(rewrite)
    if not source or not target:
        return rewrite
    matcher = SequenceMatcher(
        None, [_form(t.strip()) for t in source], [_form(t.strip()) for t in target], False
    )
    out = list(target)
    for op, i1, _, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            continue
        for k in range(j2 - j1):
            said, wrote = source[i1 + k].strip(), target[j1 + k]
            out[j1 + k] = said + wrote[len(wrote.rstrip()) :]
    lead = rewrite[: len(rewrite) - len(rewrite.lstrip())]
    return lead + "".join(out)


# The end of a sentence: its mark, before any quotes or brackets that close after it (those
# close what the rewrite may no longer open, so they are not put back).
_END = re.compile(r"([.!?…]+)[\"'”’)\]]*$")


def restore_end(original: str, rewrite: str) -> str:
    """The rewrite with the original's closing mark when the model dropped it ("... an 8 year
    contraction" for "... an 8 year recession."): a rewrite that ends in a letter or digit
    where the original ended its sentence. One mark ("?" for a question): a run
    ("that...........", "?!") is the user's emphasis of words the model rewrote (the flagger
    reads "structural issues..........." as biased again), not the end the sentence needs."""
    end = _END.search(original.rstrip())
    body = rewrite.rstrip()
    if end is None or not body or not body[-1].isalnum():
        return rewrite
    marks = end.group(1)
    return body + ("?" if "?" in marks else marks[-1]) + rewrite[len(body) :]
