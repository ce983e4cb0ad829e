"""Job-ad language: a sentence that offers a job and asks for a gender, an age or a national
origin ("We are looking for a young, energetic salesman", "Applicants must be native English
speakers", "hiring more girls for the front desk"). Recruiters are among our users, and the
model misses these (P(biased) 0.05-0.18 under v5): nothing like them is in its training data.

Found by wording, like the lexicon's known terms (server.lexicon), and only inside a sentence
that advertises a job (ADVERT), since the same words are fair elsewhere ("the chairman said",
"a native English speaker from Leeds", "a young company"):

- a gendered job title (lexicon.json "roles", from retext-equality's paired rules:
  "salesman", "waitress", "chairwoman") -> its neutral title ("salesperson");
- the hire asked for by gender: "a female receptionist", "hiring more girls", "men only"
  -> the word dropped, or "person"/"people";
- by age: "young"/"younger"/"youthful" before a person or role (not "a young company"),
  "recent graduates", "digital natives", "under 35 (years old)" -> dropped or reworded;
- by origin, background or faith: "native English speakers" -> "fluent English speakers",
  "seeking qualified Black candidates", "a Christian nurse" -> the word dropped. A job asked of
  one gender is asked of one background too (counterfactual-inhouse.csv has both for the same
  advert), and the rule treats them alike.

A police appeal ("Police are looking for a young man...") describes a person, not a hire, and
an equal-opportunity statement ("non-discrimination in hiring, particularly for Black
individuals") names groups to protect them: a sentence that names the police, a suspect, a
witness, equal opportunity or discrimination is no advert.

`lexicon.apply` puts the alternatives in: the card's highlights come with them, and the rewrite
of such a sentence gets this edit of the user's own words as a candidate beside the model's
(server.task), which keeps everything else the user wrote.

In the 80,897 public texts here (SR-LLM, ToxiGen, ParaDetox, WNC, StereoSet, HolisticBias),
none of them a job advert, 231 sentences read as adverts and terms are found in 30: hateful
ToxiGen statements about hiring ("never hire a black person if you can hire a white person",
"make sure not to hire a woman if she has a kid"), StereoSet sentences about hiring by gender,
and 20 variants of three adverts in counterfactual-inhouse.csv ("The company is seeking
qualified Black candidates...", "...a qualified man..."), which that file counts as neutral
because they only name a group. As asks of a job advert they are flagged, alike for every
group; the original "looking for qualified candidates" is not (those rows are not among the
eval's 20; training/EXPERIMENTS.md, 2026-12-05 evening).
"""

from __future__ import annotations

import re

from srllm import contract
from srllm.server import generalise, lexicon
from srllm.server.lexicon import Hit

# A sentence that offers a job. "looking for", "seeking", "wanted" and "we need" say so only
# with a word of work beside them ("looking for a nurse" but not "looking for my keys").
STRONG = (
    r"hir(?:e|es|ing)|recruit(?:s|ing|ment|er|ers)?|applicants?|vacanc(?:y|ies)"
    r"|job (?:ad|advert|advertisement|posting|opening|offer|description)s?"
    r"|join (?:our|the) (?:[\w-]+,? ){0,3}(?:team|staff|crew)|ideal candidates?"
    r"|successful candidates?|candidates? (?:must|should|will need)|(?:open|vacant) (?:position"
    r"|role)s?|apply (?:now|today|online)|encouraged to apply"
)
WEAK = r"looking for|searching for|seeking|wanted|we need|we want|we prefer|preferred"
WORK = (
    r"staff|employees?|workers?|assistants?|receptionists?|secretar(?:y|ies)|engineers?"
    r"|developers?|managers?|nurses?|drivers?|cashiers?|clerks?|interns?|trainees?|team|candidates?"
    r"|positions?|roles?|jobs?|shifts?|salary|cv|résumé|resume|experience|warehouse|factory"
    r"|shop|store|office|restaurant|hours|wages?|full[- ]time|part[- ]time|per hour"
)
NOT_ADVERT = re.compile(
    r"\b(?:police|officers|detectives|suspects?|witness(?:es)?|missing|arrested"
    r"|equal\s+opportunit(?:y|ies)|non-?discriminat\w*|regardless\s+of|irrespective\s+of)\b",
    re.IGNORECASE,
)
ADVERT = re.compile(rf"\b(?:{STRONG})\b", re.IGNORECASE)
ASKED = re.compile(rf"\b(?:{WEAK})\b", re.IGNORECASE)
WORK_WORD = re.compile(rf"\b(?:{WORK})\b", re.IGNORECASE)

# The words a hire is asked for by, with what takes their place ("" drops the word).
PERSON = {
    "man": "person", "woman": "person", "girl": "person", "boy": "person", "guy": "person",
    "lady": "person", "gentleman": "person", "men": "people", "women": "people",
    "girls": "people", "boys": "people", "guys": "people", "ladies": "people",
    "gentlemen": "people", "males": "people", "females": "people",
}  # fmt: skip
GENDER = re.compile(
    r"\b(?:fe)?males?\b|\b(?:wo)?m[ae]n\b|\bgirls?\b|\bboys?\b|\bguys?\b|\blad(?:y|ies)\b"
    r"|\bgentlem[ae]n\b",
    re.IGNORECASE,
)
# "men only", "females preferred": the whole phrase is the ask, and is dropped.
GENDER_ONLY = re.compile(
    r"\b(?:(?:fe)?males?|(?:wo)?men)\s+(?:(?:only|preferred)(?=\s*(?:[.,;:!)]|$))"
    r"|need\s+not\s+apply\b)",
    re.IGNORECASE,
)
YOUNG = re.compile(
    r"\b(?:young|younger|youthful)\b(?!\s+(?:company|companies|startup|start-up|business|firm"
    r"|brand|organi[sz]ation|industry|field|market|product|city|country|nation|age)\b)",
    re.IGNORECASE,
)
EITHER_AGE = re.compile(r"\b(?:old|older)\s+(?:or|and)\s+$", re.IGNORECASE)
EITHER_AGE_AFTER = re.compile(r"\s+(?:or|and)\s+(?:old|older)\b", re.IGNORECASE)
AGE_TERMS = re.compile(
    r"\b(?P<graduate>(?:recent|fresh|new)\s+(?:college\s+|university\s+)?grad(?:uate)?s?)\b"
    r"|\b(?P<native>digital\s+natives?)\b"
    r"|(?P<limit>(?:\b(?:who|that)\s+(?:must|should)\s+be\s+)?"
    r"\b(?:under|below|younger\s+than|no\s+older\s+than|not\s+older\s+than)\s+"
    r"(?:the\s+age\s+of\s+)?\d{2}(?:\s+years(?:\s+old|\s+of\s+age)?)?)\b",
    re.IGNORECASE,
)
# A term is the hire's when something that asks for someone comes up to four words before it
# ("looking for a young, energetic salesman", "Applicants must be native English speakers",
# "Join our young and dynamic team"), or "wanted", "needed"... up to three after it ("Young,
# motivated graduates wanted", "Waitresses wanted"); not "The chairman said", "He's a young man
# who has been looking for a position", "The mover we hired is a woman" (said of one hired).
ASK = (
    r"hire|hires|hiring|recruit|recruits|recruiting|looking\s+for|searching\s+for|seeking|seek"
    r"|seeks|attracting|wants?"
    r"|needs?|prefer|join\s+(?:our|the)|(?:must|should)\s+(?:be|have\s+been)"
)
ASKED_BEFORE = re.compile(rf"\b(?:{ASK})\s+(?:[\w-]+,?\s+){{0,4}}$", re.IGNORECASE)
ASKED_AFTER = re.compile(
    r"^(?:,?\s+[\w-]+){0,3}?\s+(?:wanted|needed|required|preferred|welcome|encouraged)\b",
    re.IGNORECASE,
)
# "seeking qualified Black candidates", "a Christian nurse": a hire asked for by background,
# faith or origin (generalise's descriptors; not "native", which NATIVE_SPEAKER reads).
ORIGINS = {
    category: tuple(d for d in generalise.GROUPS[category][2] if d != "native")
    for category in ("race_ethnicity", "religion", "nationality")
}
HIRE_NOUN = (
    r"candidates?|applicants?|people|persons?|individuals?|m[ae]n|wom[ae]n|workers?|staff"
    r"|employees?"
    r"|professionals?|graduates?|nurses?|engineers?|teachers?|drivers?"
)
ORIGIN_ASKED = re.compile(
    r"\b(?P<word>"
    + "|".join(re.escape(d) for ds in ORIGINS.values() for d in sorted(ds, key=len, reverse=True))
    + rf")\s+(?=(?:{HIRE_NOUN})\b)",
    re.IGNORECASE,
)
NATIVE_SPEAKER = re.compile(r"\bnative\s+(?:[A-Z][a-z]+\s+)?speakers?\b")


def is_advert(text: str) -> bool:
    """Whether the sentence offers a job (see ADVERT, ASKED and NOT_ADVERT)."""
    if NOT_ADVERT.search(text):
        return False
    if ADVERT.search(text) or GENDER_ONLY.search(text):
        return True
    return bool(ASKED.search(text)) and (
        bool(WORK_WORD.search(text)) or bool(lexicon.find_roles(text))
    )


def _asked(text: str, start: int, end: int) -> bool:
    return bool(ASKED_BEFORE.search(text[:start]) or ASKED_AFTER.search(text[end:]))


def find(text: str) -> list[Hit]:
    """Every term of a job advert that asks for a gender, an age or an origin, in order; none
    when the sentence is no advert."""
    if not is_advert(text):
        return []
    hits: list[Hit] = lexicon.find_roles(text)
    for m in GENDER.finditer(text):
        if text[m.end() : m.end() + 1] not in ("'", "’"):  # not "a woman's eye"
            person = PERSON.get(m.group(0).lower(), "")  # "female": an adjective, dropped
            hits.append(
                Hit(
                    m.start(),
                    m.end(),
                    m.group(0),
                    "gender",
                    (lexicon.same_case(person, m.group(0)),),
                )
            )
    for m in YOUNG.finditer(text):
        if EITHER_AGE.search(text[: m.start()]) or EITHER_AGE_AFTER.match(text[m.end() :]):
            continue  # "older or younger", "young and old": no age asked for
        hits.append(Hit(m.start(), m.end(), m.group(0), "age", ("",)))
    for m in AGE_TERMS.finditer(text):
        kind = m.lastgroup or ""
        plural = m.group(0).lower().endswith("s")
        alternative = {
            "graduate": "entry-level candidates" if plural else "entry-level candidate",
            "native": "digitally skilled people" if plural else "digitally skilled person",
            "limit": "",
        }[kind]
        # An age limit is dropped where it stands alone (", under 30", "who must be under 40");
        # in "Applicants must be under 35" it is the sentence's claim, left to the model.
        alone = text[: m.start()].rstrip().endswith(",") or m.group(0)[:1].lower() in "wt"
        alternatives = () if kind == "limit" and not alone else (alternative,)
        hits.append(Hit(m.start(), m.end(), m.group(0), "age", alternatives))
    for m in ORIGIN_ASKED.finditer(text):
        word = m.group("word").lower()
        category = next(c for c, ds in ORIGINS.items() if word in ds)
        hits.append(Hit(m.start("word"), m.end("word"), m.group("word"), category, ("",)))
    for m in NATIVE_SPEAKER.finditer(text):
        fluent = "fluent" + m.group(0)[len("native") :]
        hits.append(Hit(m.start(), m.end(), m.group(0), "nationality", (fluent,)))
    asked = [h for h in hits if _asked(text, h.start, h.end)]
    # These ask by themselves: "men only", "who must be under 40".
    asked += [
        Hit(m.start(), m.end(), m.group(0), "gender", ("",)) for m in GENDER_ONLY.finditer(text)
    ]
    asked += [h for h in hits if h.text[:4].lower() in ("who ", "that")]
    return _without_overlaps(asked)


ASKED_FOR = {
    "gender": "a gender",
    "age": "an age",
    "nationality": "an origin",
    "race_ethnicity": "a background",
    "religion": "a faith",
}


def explain(hits: list[Hit]) -> str:
    """What the card says of an advert's asks: "It is a job advert that asks for an age and a
    gender." ("" without any)."""
    asked = list(dict.fromkeys(ASKED_FOR[h.category] for h in hits if h.category in ASKED_FOR))
    if not asked:
        return ""
    return f"It is a job advert that asks for {contract.spoken_list(asked)}."


def _without_overlaps(hits: list[Hit]) -> list[Hit]:
    """The hits in order, a hit inside or across an earlier, longer one left out."""
    kept: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h.start, -(h.end - h.start))):
        if not any(k.start < hit.end and hit.start < k.end for k in kept):
            kept.append(hit)
    return kept
