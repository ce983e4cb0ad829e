"""Is this text in a language the model reads? The model (and its lexicons) are English only, and
on other languages it guesses; such text gets a plain "unsupported_language" answer instead.

One conservative detector, standard library only, for texts of at least MIN_WORDS words
(shorter ones always pass: a name or a quote is no evidence):

- script: more than half of the letters outside the Latin script (Arabic, Cyrillic, Han,
  Devanagari...) is another language;
- Latin text: the common function words of French, German, Spanish, Italian, Portuguese and
  Dutch against English ones. It is another language only when at least MIN_FOREIGN such words
  appear and they outnumber the English ones FOREIGN_RATIO to 1, so an English sentence with a
  foreign name or phrase ("de la Fontaine", "joie de vivre") still passes.

Words that are function words in English and another language alike ("a", "in", "was", "die",
"also") count for neither side.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from srllm.errors import Code, SrllmError

MIN_WORDS = 4
MIN_FOREIGN = 2
FOREIGN_RATIO = 2


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ENGLISH = _words(
    """the and of to is are be been being it its that this these those for with as at by not
    he she they we you i his her their our them its from have has had but or if would should
    could can do does did what which who whom when where why how all about there were because
    than then just my your me him us any some very more most into over after before only
    such other each every many much own same too off up out will shall may might must"""
)

# English homographs (son, come, per, plus, van, den, um...) are left out.
FOREIGN = (
    _words(
        # French
        """le la les des est et un une du dans que qui pour pas sont avec sur ce cette il elle
        nous vous ils elles ne au aux leur mais ou très être ont été sa ses mes tes nos vos """
        # German
        """der das und ist nicht ein eine zu dem mit sich auf für im sie es ich wir ihr sind
        von auch nur aber oder wie werden wird dass kann einen einem einer sehr noch zum zur """
        # Spanish, Portuguese
        """el los las y es que una por para del se como más pero sus está muy también entre
        cuando todo esta ser o os uma não com mais mas foi são """
        # Italian, Dutch
        """di che è e non sono della gli questo questa anche più nel alla het een en op te
        dat niet zijn voor met ook maar wordt deze worden naar"""
    )
    - ENGLISH
)

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
# Scripts written without spaces between words: each character counts as a word.
_SCRIPT_NAMES = {"CJK": "Han (Chinese or Japanese)", "HANGUL": "Hangul (Korean)"}
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR")


@lru_cache(maxsize=4096)
def _script(char: str) -> str:
    """The first word of the character's Unicode name (LATIN, ARABIC, CJK...)."""
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def _count_words(text: str) -> int:
    count = 0
    for match in _WORD.finditer(text):
        word = match.group(0)
        unspaced = sum(1 for c in word if _script(c).startswith(_UNSPACED))
        count += unspaced + (1 if unspaced < len(word) else 0)
    return count


def unsupported(text: str) -> str | None:
    """Why the model cannot read `text` (a short phrase naming the script or the evidence), or
    None when it is English, too short to tell, or mixed in a way that might be English."""
    if _count_words(text) < MIN_WORDS:
        return None
    letters = [c for c in text if c.isalpha()]
    scripts: dict[str, int] = {}
    for c in letters:
        script = _script(c)
        scripts[script] = scripts.get(script, 0) + 1
    other = len(letters) - scripts.get("LATIN", 0)
    if other * 2 > len(letters):
        main = max((s for s in scripts if s != "LATIN"), key=scripts.get)
        return f"{_SCRIPT_NAMES.get(main, main.title())} script"
    words = [w.lower().replace("’", "'") for w in _WORD.findall(text)]
    english = sum(1 for w in words if w in ENGLISH)
    foreign = sum(1 for w in words if w in FOREIGN)
    if foreign >= MIN_FOREIGN and foreign > FOREIGN_RATIO * english:
        return "not English"
    return None


def check(text: str) -> None:
    """Raise UNSUPPORTED_LANGUAGE for text the model does not read (see unsupported)."""
    why = unsupported(text)
    if why is not None:
        raise SrllmError(
            Code.UNSUPPORTED_LANGUAGE,
            f"srllm's model reads English only, and this text looks like another language "
            f"({why}); it was not checked.",
            reason=why,
        )
