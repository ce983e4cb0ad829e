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
from difflib import SequenceMatcher

_TOKEN = re.compile(r"\S+\s*")
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


def _key(token: str) -> str:
    return re.sub(r"[^\w]", "", token.casefold()) or token.strip()


def restore_protected(original: str, rewrite: str) -> str:
    source, target = _TOKEN.findall(original), _TOKEN.findall(rewrite)
    if not source or not target:
        return rewrite
    present = {t.strip() for t in target}
    out: list[str] = []
    matcher = SequenceMatcher(None, [_key(t) for t in source], [_key(t) for t in target], False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        missing = [
            t
            for t in source[i1:i2]
            if op != "equal" and is_protected(t) and t.strip() not in present
        ]
        if op == "equal" or not missing:
            out.extend(target[j1:j2])
            continue
        # Deleted stretch: the protected tokens go back in their order, before the
        # replacement words (if any) the model wrote in their place.
        for token in missing:
            out.append(token.strip() + " ")
        out.extend(target[j1:j2])
    text = "".join(out)
    lead = rewrite[: len(rewrite) - len(rewrite.lstrip())]
    return lead + text.rstrip() + rewrite[len(rewrite.rstrip()) :]
