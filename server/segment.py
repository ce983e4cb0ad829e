"""Split a selection into sentences without losing a character of it.

Offsets are code point indices into the original string (Python's own indexing), so every
sentence maps back exactly, and the text between sentences (spaces, line breaks, blank lines
between paragraphs) is kept as written. A sentence never crosses a line break: a selection from
a rich-text editor carries its paragraphs and `<br>`s as line breaks.

A sentence ends at `.`, `!`, `?` or `…` (with any closing quotes or brackets after it) followed
by white space and something that can start a sentence. Known abbreviations ("Dr.", "e.g.",
"U.S."), single-letter initials ("J. Smith") and a lower-case word after a stop that could close
an abbreviation ("approx. ten", "Calif. residents") do not end one; a lower-case word after "?",
"!" or a plain word's "." ("faith. last night") starts the next, as chat text is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Lower-cased, without their final dot. Titles, Latin, months, units: the usual false stops.
ABBREVIATIONS = frozenset(
    [
        "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "rev", "hon", "gen",
        "col", "lt", "sgt", "capt", "cmdr", "gov", "sen", "rep", "pres", "vs", "etc", "e.g",
        "i.e", "cf", "al", "approx", "dept", "est", "fig", "figs", "no", "nos", "vol",
        "vols", "ch", "sec", "p", "pp", "ed", "eds", "inc", "ltd", "co", "corp", "bros",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "mon", "tue", "tues", "wed", "thu", "thurs", "fri", "sat", "sun", "a.m", "p.m",
        "u.s", "u.k", "u.n", "e.u", "ph.d", "b.a", "m.a", "b.sc", "m.sc", "d.c", "n.y",
        "l.a"
    ]
)  # fmt: skip

_END = re.compile(r"[.!?…]+[\"'”’»)\]}]*")
_WORD_BEFORE = re.compile(r"([\w.]+)$")
_LINE = re.compile(r"[^\r\n]+")


@dataclass(frozen=True)
class Segment:
    start: int  # code point offsets into the original text; text == original[start:end]
    end: int
    text: str

    @property
    def has_words(self) -> bool:
        """A run of emoji or punctuation alone has nothing a model could call biased."""
        return any(ch.isalpha() for ch in self.text)


def _is_stop(line: str, match: re.Match[str]) -> bool:
    end = match.end()
    rest = line[end:]
    if not rest or not rest[0].isspace():
        return False  # "3.5", "e.g.x", "end.)" inside a token
    following = rest.lstrip()
    if not following:
        return False  # the line's end closes the sentence anyway
    stop = match.group(0)
    before = _WORD_BEFORE.search(line[: match.start()])
    word = before.group(1) if before else ""
    if following[0].islower() and not _plain_stop(stop, word):
        return False  # "approx. ten people", "Calif. residents", "wait... what": it goes on
    abbreviation = word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isalpha())
    return not (stop.startswith(".") and abbreviation)


def _plain_stop(stop: str, word: str) -> bool:
    """A stop that ends a sentence even before a lower-case word, as people write in chats:
    "?" or "!" ("really? no way"), or one "." after a plain lower-case word of five letters or
    more ("lost their faith. last night"), which no abbreviation is."""
    mark = stop.rstrip("\"'”’»)]}")
    if mark and set(mark) <= set("?!"):
        return True
    return mark == "." and len(word) >= 5 and word.isalpha() and word.islower()


def split_sentences(text: str) -> list[Segment]:
    """The sentences of `text` in order; what lies between them is white space only."""
    segments: list[Segment] = []
    for line in _LINE.finditer(text):
        base, body = line.start(), line.group(0)
        start = 0
        for match in _END.finditer(body):
            if _is_stop(body, match):
                segments.extend(_trimmed(body, start, match.end(), base))
                start = match.end()
        segments.extend(_trimmed(body, start, len(body), base))
    return segments


def _trimmed(line: str, start: int, end: int, base: int) -> list[Segment]:
    piece = line[start:end]
    stripped = piece.strip()
    if not stripped:
        return []
    lead = len(piece) - len(piece.lstrip())
    a = base + start + lead
    return [Segment(a, a + len(stripped), stripped)]


def reassemble(text: str, segments: list[Segment], replacements: dict[int, str]) -> str:
    """`text` with segment i replaced by replacements[i]; every other character as it was."""
    out, cursor = [], 0
    for index, seg in enumerate(segments):
        out.append(text[cursor : seg.start])
        out.append(replacements.get(index, seg.text))
        cursor = seg.end
    out.append(text[cursor:])
    return "".join(out)
