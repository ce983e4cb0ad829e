"""Idioms that tie a trait to a gender: "Man up and stop whining.", "He throws like a girl.",
"He needs to grow a pair.", "Boys will be boys.". They carry no loaded word the model or the
lexicon knows: v5 scores "Man up and stop whining." 0.27 (P(biased)) and rewrote "He throws like
a girl." as "He is funny."; v20 scores "Boys will be boys." 0.23. Each has a wording that keeps
what the sentence says without the gender ("Toughen up and stop whining.", "He throws without
much force.", "Kids will be kids.": the same shrug at what someone did, not put on boys), which
the rule's edit puts in its place (server.task, lexicon.apply), keeping every other word the
user wrote.

Found by wording, with the context that makes the idiom an idiom: "man up" as a verb (at the
start of a clause or after "to", "should", "you"...; not "the next man up" or "a man up the
street"), "like a girl" after a verb of doing something physical ("throws", "runs", "fights"; not
"she looks like a girl"), "boys will be boys" as the whole saying (not "the boys will be back",
not "boys-only"). In the public data here it finds 5 comments, all rated toxic or unclear ("he
needs to grow a pair and tell this lunatic feminist to back off"), and ParaDetox's polite
version of one ("He should man up"); "boys will be boys" occurs in none of it.
"""

from __future__ import annotations

import re

from srllm.server.lexicon import Hit

# (pattern with the idiom in group "idiom", its inflection -> the wording that replaces it)
MAN_UP = re.compile(
    r"(?:^|[,.;:!?(\"“]|\b(?:to|should|must|gotta|just|and|you|u|please|will|can|cant|"
    r"can't|never|finally|better|need|needs|go|then|so|time))\s*"
    r"(?P<idiom>man(?P<form>ned|ning|s)?[ -]up)\b",
    re.IGNORECASE,
)
GROW_A_PAIR = re.compile(
    r"\b(?P<idiom>(?P<form>grow|grows|grew|grown|growing)\s+a\s+pair(?:\s+of\s+balls)?)\b"
    r"(?!\s+of\b)",  # "grew a pair of tomatoes" is gardening
    re.IGNORECASE,
)
# Verbs of doing something physical, in their forms: "throws like a girl", "ran like a girl".
# What the idiom means is said of the doing without the gender: "without much force" after a
# verb of force, "without much skill" after the others (v20 scores "He throws without much
# force." 0.03 and "He throws badly." 0.87: a plain verdict word reads as biased to it).
FORCE = (
    r"throw|throws|threw|throwing|fight|fights|fought|fighting|hit|hits|hitting|punch|punches|"
    r"punched|punching|kick|kicks|kicked|kicking|shoot|shoots|shot|shooting|bat|bats|batted|"
    r"batting"
)
SKILL = (
    r"run|runs|ran|running|drive|drives|drove|driving|play|plays|played|playing|swim|swims|"
    r"swam|swimming|catch|catches|caught|catching|skate|skates|skated|skating"
)
LIKE_A_GIRL = re.compile(
    rf"\b(?:(?P<force>{FORCE})|{SKILL})(?:\s+(?:the\s+)?(?:ball|it|that|this))?\s+"
    r"(?P<idiom>like\s+a\s+(?:little\s+)?girl)\b",
    re.IGNORECASE,
)
BOYS_WILL_BE_BOYS = re.compile(
    r"\b(?P<idiom>boys(?:\s+will|'ll)(?P<always>\s+always)?\s+be\s+boys)\b(?![-'])", re.IGNORECASE
)
MAN_UP_FORMS = {None: "toughen up", "s": "toughens up", "ned": "toughened up"}
MAN_UP_FORMS |= {"ning": "toughening up"}
GROW_FORMS = {"grow": "find some courage", "grows": "finds some courage"}
GROW_FORMS |= {"grew": "found some courage", "grown": "found some courage"}
GROW_FORMS |= {"growing": "finding some courage"}


def find(text: str) -> list[Hit]:
    """The gendered idioms of text, in order, each with the wording that replaces it."""
    hits = []
    for m in MAN_UP.finditer(text):
        form = (m.group("form") or "").lower() or None
        hits.append(_hit(m, MAN_UP_FORMS[form]))
    for m in GROW_A_PAIR.finditer(text):
        hits.append(_hit(m, GROW_FORMS[m.group("form").lower()]))
    for m in LIKE_A_GIRL.finditer(text):
        hits.append(_hit(m, "without much force" if m.group("force") else "without much skill"))
    for m in BOYS_WILL_BE_BOYS.finditer(text):
        hits.append(
            _hit(m, "kids will always be kids" if m.group("always") else "kids will be kids")
        )
    return sorted(hits, key=lambda h: h.start)


def _hit(m: re.Match[str], alternative: str) -> Hit:
    return Hit(m.start("idiom"), m.end("idiom"), m.group("idiom"), "gender", (alternative,))


def explain(hits: list[Hit]) -> str:
    """What the card says of them ("" without any)."""
    if not hits:
        return ""
    return "It uses an idiom that ties a trait to a gender."
