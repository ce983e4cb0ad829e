"""Praise qualified by a group: "You're smart for a girl.", "He is so articulate for a black
guy.", "Not bad for an old man!". The praise is real only as an exception: it says the group is
not expected to be smart, articulate or any good, so the stereotype is in "for a girl", not in
any loaded word. v5 scores "You are really smart for a girl." 0.14 (P(biased)) and "He is so
articulate for a black guy." 0.14, far under its threshold: no training set here has such
sentences (in the 95,723 lines of public data here the rule finds none).

Found by wording, like the job-ad asks (server.hiring): a praise word (PRAISE, or "not bad")
right before "for a(n) <group>", with at most a person or role ("a great driver for a woman") or
a short "at <field>" / "with <thing>" between ("good at math for a girl"), and the group phrase
ending its clause. So "a great gift for a man" (a thing between: the man is who it is for),
"good for a woman who has kids" (the clause goes on) and "smart for his age" (a child's age is
no group) are not found. The group: a word that is a gender on its own ("girl", "woman", "lady",
"blonde"), or a descriptor of a group (generalise.GROUPS: "black", "old", "gay", "disabled"...)
before a person or role ("guy", "person", "engineer"). Praise that also means "of use to"
("good", "great", BENEFIT) counts only where a person is the subject ("Running is good for a
woman." is advice).

The qualifier ("for a girl") is what the card highlights, with "" as its alternative: the rule's
edit (`drop`) takes it out ("You're smart."), which keeps every other word the user wrote
(server.task).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from srllm import contract
from srllm.server import generalise
from srllm.server.lexicon import Hit, alternation

PRAISE = (
    "smart", "clever", "intelligent", "bright", "brilliant", "articulate", "eloquent",
    "well spoken", "well read", "well behaved", "good", "great", "decent", "fine",
    "strong", "fast", "quick", "tough", "brave", "funny", "pretty", "attractive", "beautiful",
    "handsome", "cute", "hot", "sexy", "good looking", "well", "competent", "capable",
    "skilled", "skillful", "talented", "logical", "rational", "reasonable", "confident",
    "ambitious", "successful", "fit", "athletic", "impressive", "knowledgeable", "educated",
    "professional", "clean", "polite", "nice", "normal", "calm", "hard working", "hardworking",
    "fluent", "independent", "cool", "tech savvy", "sharp", "gifted", "classy",
)  # fmt: skip
# Praise that also means "of use to" ("Exercise is good for a woman."): qualified praise only
# when a person is what the sentence is about (PERSON_SUBJECT before it in its clause).
BENEFIT = frozenset(
    ["good", "great", "decent", "fine", "nice", "normal", "cool", "fit", "clean", "calm"]
)
PERSON_SUBJECT = re.compile(
    r"\b(?:you|u|he|she|they|i|we|you['’]re|youre|ur|she['’]s|shes|he['’]s|i['’]m|im|"
    r"they['’]re)\b",
    re.IGNORECASE,
)
# Nouns that name a gender by themselves.
GENDERED = ("girl", "woman", "lady", "female", "chick", "gal", "boy", "blonde", "blond")
# People and roles that a descriptor before them makes a group: "a black guy", "an old man",
# "a female engineer".
PERSON = (
    "person", "man", "guy", "dude", "kid", "girl", "woman", "lady", "boy", "one", "student",
    "driver", "engineer", "programmer", "developer", "coder", "gamer", "doctor", "scientist",
    "player", "athlete", "boss", "manager", "leader", "writer", "worker", "employee",
)  # fmt: skip
# Descriptors generalise.GROUPS has no entry for, as this rule reads them, and one it reads
# otherwise: "smart for a blonde" is a joke about women (GROUPS: appearance, by hair).
MORE_DESCRIPTORS = {
    "blonde": "gender", "woman": "gender", "elderly": "age", "latin": "race_ethnicity",
    "indian": "race_ethnicity", "pakistani": "nationality", "korean": "nationality",
    "filipino": "nationality", "african": "race_ethnicity", "polish": "nationality",
}  # fmt: skip
# Nouns that name an age by themselves ("not bad for a grandma").
AGED = ("grandma", "granny", "grandpa", "grandmother", "grandfather", "pensioner", "boomer")
# What may end the group phrase's clause.
CLAUSE_END = r"(?=\s*(?:[.,;:!?)\"”’…]|$|\s+(?:but|though|lol|haha)\b))"


@cache
def _descriptors() -> dict[str, str]:
    by_word = {d: category for category, (_, _, ds) in generalise.GROUPS.items() for d in ds}
    return {_normal(d): c for d, c in {**by_word, **MORE_DESCRIPTORS}.items()}


def _normal(descriptor: str) -> str:
    """ "Middle-Eastern", "middle  eastern" -> "middle eastern", as the alternation matches it."""
    return re.sub(r"[\s-]+", " ", descriptor.lower())


@cache
def _pattern() -> re.Pattern[str]:
    praise = rf"(?P<praise>not\s+(?:too\s+|so\s+)?bad|{alternation(PRAISE)})"
    # "a great driver", "good at math", "fast with a computer": the person or role praised, or
    # up to four words of what the praise is about.
    field = (
        rf"(?:\s+(?:{alternation(PERSON)})s?|\s+(?:at|with|in)\s+(?:[\w'’-]+\s+){{0,3}}?[\w'’-]+)?"
    )
    group = (
        rf"(?:(?P<descriptor>{alternation(_descriptors())})[\s-]+(?:{alternation(PERSON)})"
        rf"|(?P<gendered>{alternation(GENDERED)})(?:\s+(?:{alternation(PERSON)}))?"
        rf"|(?P<aged>{alternation(AGED)}))"
    )
    return re.compile(
        rf"(?<![\w-]){praise}{field}\s+(?P<qualifier>for\s+(?:a|an)\s+{group}){CLAUSE_END}",
        re.IGNORECASE,
    )


def _matches(text: str) -> Iterator[re.Match[str]]:
    for m in _pattern().finditer(text):
        if m.group("praise").lower() in BENEFIT:
            clause = re.split(r"[.!?;]", text[: m.start()])[-1]
            if not PERSON_SUBJECT.search(clause):
                continue  # "Exercise is good for a woman.": of use to her, not praise
        yield m


def find(text: str) -> list[Hit]:
    """Each "for a <group>" that qualifies praise, in order (see the module's docstring)."""
    hits = []
    for m in _matches(text):
        if m.group("descriptor"):
            category = _descriptors()[_normal(m.group("descriptor"))]
        else:
            category = "age" if m.group("aged") else "gender"
        start, end = m.start("qualifier"), m.end("qualifier")
        hits.append(Hit(start, end, text[start:end], category, ("",)))
    return hits


def praised(text: str) -> list[tuple[int, int]]:
    """Where the qualified praise is ("not bad" of "Not bad for a girl"): praise, however loaded
    its words ("bad"), so the card does not mark it as a loaded word."""
    return [m.span("praise") for m in _matches(text)]


def drop(text: str, hits: list[Hit]) -> str:
    """The text without the qualifiers of `hits` and the space before each: "She's good at math
    for a girl, honestly." -> "She's good at math, honestly."."""
    for hit in sorted(hits, key=lambda h: h.start, reverse=True):
        text = text[: hit.start].rstrip() + text[hit.end :]
    return text


EXCEPTION_TO = {
    "gender": "their gender",
    "age": "their age",
    "race_ethnicity": "their background",
    "nationality": "their origin",
    "religion": "their faith",
    "sexual_orientation_gender_identity": "their orientation or gender identity",
    "disability": "their ability",
    "socioeconomic_status": "their income",
    "politics": "their politics",
    "appearance": "their looks",
}


def explain(hits: list[Hit]) -> str:
    """What the card says of qualified praise: "It praises someone as an exception to their
    gender." ("" without any)."""
    whose = list(dict.fromkeys(EXCEPTION_TO.get(h.category, "their group") for h in hits))
    if not whose:
        return ""
    return f"It praises someone as an exception to {contract.spoken_list(whose)}."
