"""Sentences that say something about a whole group ("Women are too emotional to lead", "Old
people are slow"): found by wording, so the flag and the rewrite can treat them as what they are.

The model misses some of them (P(biased) 0.41-0.59 for such examples under v5), and its
rewrites keep the claim in other words ("Girls are bad at math." -> "Girls are not good at
math."; pushing the group word down only swaps it: "The elderly", "Gays"). So:

- the flag: a generalisation whose predicate carries a loaded word, "too <word>", "so <word>" or
  "don't know how to" is biased when the model gives it at least FLOOR, and one that says the
  group is so by nature ("Women are naturally better caregivers", ESSENTIAL) is biased whatever
  the model says (server.task.merge_lexicon). On 678 validation texts about groups (ToxiGen
  tail, HolisticBias held out, ToxiGen seed statements outside the eval's) the first rule
  changed no verdict; with "so", "don't know how" and a group after "that" ("it is a fact that
  trans people are...") it flags 3 more of the 331 hateful ones and no fair one. The model
  already flags the plain cases there; the rule is for the ones it scores just under its
  threshold, like the two above. No validation text says a group is so by nature. On 1,200 more
  unseen ToxiGen statements (v5, 2026-12-05) it flags 5 of 600 toxic ones and 5 of 600 benign
  ones ("Americans are cynical about each other."), 6 with FLOOR at 0.2;
- the rewrite: a candidate that still generalises about a group ranks below one that does not,
  and a generalisation with "are", "were", "can('t)", "couldn't" or "don't" gets a candidate that
  puts the claim on people of any gender, age, faith... ("People of any gender can be too
  emotional to lead", "People of any background may not be able to swim"); a claim about what
  the group cannot do or how good it is at something also gets one said of individuals, without
  the verdict's words ("Whether someone can lead depends on the person, not on their gender.",
  "Skill at math depends on the person, not on their gender.", "How well someone drives...");
  a trait or a lack is named as what one person may be or have ("Whether someone is a
  hypocrite...", "Whether someone has self-control...", "Intelligence depends on..."). The
  flagger's score of each decides between them and the model's rewrites
  (server.task.Candidate). A rewrite that says the members differ ("Christians are all
  different.") states no trait of the group (DIVERSE).

The group words are written here by hand (plural nouns and "<descriptor> people/men/women"); a
group named with a determiner ("the immigrants in that street", "my sisters") is specific, not a
generalisation, unless a quantifier says all of them: "all the immigrants", and "the
immigrants (in that street) are all / always ..." (ALL_OF_THEM). Such a claim is no fairer said
of people of any nationality in that street, so it gets no recast or individualised candidate;
a rewrite that still says it ranks below one that does not. In 64,549 lines of the public data
here (ToxiGen, StereoSet, HolisticBias, ParaDetox, SR-LLM...) the second form occurs 7 times:
three hateful ToxiGen texts ("the mexicans are all criminals"), three StereoSet templates, and
one fair "The Hispanic men were all getting off of work.", which has no loaded word to flag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from srllm.contract import FUNCTION_WORDS, WORD
from srllm.server import lexicon, loaded, preserve

# The model's P(biased) a generalisation with an evaluative predicate needs to be flagged:
# "Immigrants are often victims of crime." scores 0.15 and is fair; the hateful ones the rule
# flags on validation texts score 0.26-0.57 (below the calibrated 0.59). 0.2 also flagged
# "women are more likely to be diagnosed with cancer than men" (0.23; ToxiGen, rated benign).
FLOOR = 0.25

HAIR_NOUNS = ("blondes", "blonds", "redheads", "brunettes")
HAIR_DESCRIPTORS = ("blonde", "blond", "red-haired", "redheaded", "dark-haired")
# category -> (what "people of any ..." says, plural group nouns, descriptors of "<d> people")
GROUPS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "gender": (
        "gender",
        (
            "women", "men", "girls", "boys", "ladies", "females", "males", "mothers",
            "fathers", "moms", "dads", "wives", "husbands", "sisters", "brothers", "feminists",
            "housewives", "guys", "gals",
        ),
        ("female", "male"),
    ),
    "age": (
        "age",
        (
            "boomers", "millennials", "zoomers", "teenagers", "teens", "seniors",
            "pensioners", "retirees", "youngsters", "the elderly", "the old", "the young",
        ),
        ("old", "older", "elderly", "young", "younger", "aged", "teenage", "middle-aged"),
    ),
    "race_ethnicity": (
        "background",
        (
            "blacks", "whites", "asians", "africans", "hispanics", "latinos", "latinas",
            "arabs", "indians", "natives", "gypsies", "roma", "native americans",
            "african americans", "african-americans", "asian americans",
        ),
        (
            "black", "white", "brown", "asian", "african", "african-american", "hispanic",
            "latino", "latina", "arab", "native", "indigenous", "middle eastern", "colored",
        ),
    ),
    "nationality": (
        "nationality",
        (
            "immigrants", "migrants", "refugees", "foreigners", "illegals", "mexicans",
            "americans", "chinese", "japanese", "koreans", "russians", "germans", "french",
            "italians", "irish", "poles", "iranians", "iraqis", "syrians", "pakistanis",
            "nigerians", "somalis", "cubans", "brits", "canadians", "australians",
            "middle easterners",
        ),
        ("immigrant", "foreign", "mexican", "chinese", "japanese", "russian", "muslim-majority"),
    ),
    "religion": (
        "faith",
        (
            "muslims", "jews", "christians", "catholics", "protestants", "hindus", "sikhs",
            "buddhists", "atheists", "mormons", "evangelicals",
        ),
        ("muslim", "jewish", "christian", "catholic", "hindu", "sikh", "buddhist", "religious"),
    ),
    "sexual_orientation_gender_identity": (
        "orientation or gender identity",
        ("gays", "lesbians", "homosexuals", "heterosexuals", "bisexuals", "transgenders", "queers"),
        (
            "gay", "lesbian", "bisexual", "bi", "trans", "transgender", "queer", "lgbt", "lgbtq",
            "straight", "heterosexual",
        ),
    ),
    "disability": (
        "ability",
        (
            "the disabled", "the handicapped", "the mentally ill", "the mentally disabled",
            "autistics", "cripples", "wheelchair users",
        ),
        ("disabled", "handicapped", "autistic", "deaf", "blind", "mentally ill"),
    ),
    "socioeconomic_status": (
        "income",
        ("the poor", "the rich", "millionaires", "billionaires", "welfare recipients"),
        ("poor", "rich", "wealthy", "low-income", "working-class", "homeless", "unemployed"),
    ),
    "politics": (
        "political view",
        ("liberals", "conservatives", "democrats", "republicans", "leftists", "socialists"),
        ("liberal", "conservative", "left-wing", "right-wing"),
    ),
    "appearance": (
        "size",
        HAIR_NOUNS,
        ("fat", "overweight", "obese", "skinny", "short", "tall", "ugly", *HAIR_DESCRIPTORS),
    ),
}  # fmt: skip
# Groups of appearance named by their hair: "people of any hair colour", not "of any size".
HAIR = frozenset(HAIR_NOUNS + HAIR_DESCRIPTORS)
# Who a descriptor is said of: people ("old people"), or people in a role ("old drivers"), which
# a recast keeps ("Drivers of any age can be..."; the group says who, the role what they do).
ROLES = (
    "workers", "drivers", "students", "employees", "athletes", "engineers", "doctors",
    "nurses", "scientists", "leaders", "managers", "bosses", "pilots", "players",
    "programmers", "developers", "teachers", "soldiers", "politicians", "coworkers",
    "colleagues", "candidates", "applicants", "customers", "neighbors", "neighbours",
)  # fmt: skip
PEOPLE = (
    "people", "folks", "men", "women", "guys", "girls", "boys", "kids", "children", "parents",
    *ROLES,
)  # fmt: skip
# Gender nouns before a role: "women drivers", "men nurses" (not "women people").
GENDER_BEFORE_ROLE = ("women", "men")
# Words before a group that make it particular people, not the whole group. Not "that" or
# "this": before a plural they start a clause ("a fact that trans people are...").
SPECIFIC = frozenset(
    [
        "the", "these", "those", "my", "our", "your", "his", "her", "their",
        "some", "two", "three", "four", "five", "several", "few", "many", "a", "an", "of", "with",
        "to", "for", "about", "by", "like", "and", "or", "among",
    ]
)  # fmt: skip
QUANTIFIERS = ("all", "most", "every", "no")
# "The immigrants in that neighborhood are all criminals", "the mexicans are always...": a group
# after "the", with at most a short place or origin after it, that a quantifier after the verb
# says all of (not "these"/"those", which point at people in view).
ALL_OF_THEM = re.compile(
    r"(?:\s+(?:in|from|of|at|around|on|across)\s+(?:[\w'’-]+\s+){0,3}?[\w'’-]+)?"
    r"(?=\s+(?:are|were)\s+(?:all|always)\b)",
    re.IGNORECASE,
)
# What follows a generic subject: a copula, a modal or an adverb that generalises.
VERB = re.compile(
    r"\s+(?:(?:all|always|generally|usually|often|really|just|only|never|simply|naturally|"
    r"inherently|innately|instinctively)\s+)*"
    r"(?P<verb>are|were|can(?:not|['’]?t)?|could(?:n['’]?t)?|should(?:n['’]?t)?|must|will|"
    r"won['’]?t|would|do(?:n['’]?t)?|do not|tend|lack|have|belong|need|refuse|hate|love)\b",
    re.IGNORECASE,
)
COPULA = ("are", "were")
# (verb without its negation, negated) -> what people of any gender, age... are said to do:
# "Girls are not good at math" -> "may not be good at", "Black people can't swim" -> "may not be
# able to swim", "Girls never do well" -> "may not do well". A positive "can" stays ("Women can
# be so annoying" -> "can be"); other verbs have no such neutral form.
MODALS = {
    ("are", False): "can be", ("are", True): "may not be",
    ("were", False): "could be", ("were", True): "might not have been",
    ("can", False): "can", ("can", True): "may not be able to",
    ("could", True): "might not have been able to",
    ("do", True): "may not",
}  # fmt: skip
# Negated verbs, as `base_verb` reads them without their apostrophe: comments often drop it
# ("dont", "cant"), and the rules read both forms alike (the ['’]? of VERB, TOO, NEGATED_VERB).
CONTRACTED = {
    "cant": "can", "cannot": "can", "couldnt": "could", "dont": "do", "shouldnt": "should",
}  # fmt: skip
ADVERBS = re.compile(
    r"^(?:(?:all|always|generally|usually|often|mostly|mainly|primarily|largely|basically|"
    r"naturally|inherently|typically|really|just|simply|obviously|clearly|certainly)\s+)+",
    re.IGNORECASE,
)
# A claim that denies a group its worth, life or rights, or calls it animals or a disease: put
# on people of any kind it is no fairer ("People of any ability may not be worth the resources
# that are required to keep them alive"), so it gets no recast.
DEHUMANISING = re.compile(
    r"\b(?:worth|worthless|deserve[sd]?|alive|die|dead|kill(?:ed|ing)?|exist|extermin\w*|"
    r"eradicat\w*|rights|human|humans|subhuman|animals?|vermin|parasites?|diseased?|plague|"
    r"savages?|primitive|barbari\w*|uncivili[sz]ed|inferior|superior)\b",
    re.IGNORECASE,
)
# A predicate that says what kind of people the group is ("are primitive people", "are not a
# people"): on people of any kind it reads as nonsense ("People of any background may not be a
# people"), so it gets no recast.
KIND_OF_PEOPLE = re.compile(
    r"^(?:an?\s+)?(?:[\w'’-]+\s+){0,2}(?:people|peoples|persons?|folks?|race|races|tribes?|"
    r"species|breed)\b",
    re.IGNORECASE,
)
# Words after which a group phrase starts its clause ("I think women are..."), so the recast can
# replace it whole; after another word ("Straight guys", "asian gay guys") the phrase may be only
# the end of the group's name, and there is no recast.
LEAD_IN = frozenset(
    [
        "think", "thought", "believe", "know", "knew", "say", "said", "feel", "guess", "bet",
        "swear", "mean", "honestly", "frankly", "seriously", "because", "since", "if", "when",
    ]
)  # fmt: skip
# "you Arabs are...", "we women are...": a group addressed or spoken for, not recast.
ADDRESSED = frozenset(["you", "we", "us", "they", "them"])
# "too emotional", "so dramatic" (not "so that", "so many"), "don't know how to": what the
# predicate says runs the group down.
TOO = re.compile(
    r"\b(?:too|so(?!\s+(?:that|many|much|few|far|long|called|as|to)\b))\s+[^\W\d_][\w'’-]*"
    r"|\b(?:don['’]?t|do not|never|cannot|can['’]?t)\s+know\s+how\b",
    re.IGNORECASE,
)
# The group is said to be so by nature: a stereotype, however the model scores it.
ESSENTIAL = re.compile(r"\b(?:naturally|inherently|innately|instinctively|by nature)\b", re.I)
# The group is said to be less than human, worth nothing, or fit to die ("are parasites", "are
# a plague", "are not worth the resources", "should be exterminated"): hate, however the model
# scores it, and as much in a rewrite ("The mentally disabled are not worthy of the resources
# that are required to keep them alive" scores under the threshold). Among ToxiGen's rated and
# seed statements the group rule finds, 10 say so: 9 rated hateful, and one that refutes it ("it is
# a common misconception that native americans are all savages", REFUTED); none of the other
# public texts here says so (2026-12-05 evening).
LESS_THAN_HUMAN = re.compile(
    r"^(?:(?:less\s+than\s+)?(?:animals|vermin|parasites|savages|subhumans?|sub-humans?"
    r"|cockroaches|rats|pests|a\s+(?:disease|plague|cancer|virus))\b"
    r"|(?:subhuman|worthless|less\s+than\s+human)\b)",
    re.IGNORECASE,
)
# After "should", "must", "need to": what is to be done to them ("Refugees are killed at the
# border" reports a crime, "Refugees should be killed" calls for one).
FIT_TO_DIE = re.compile(
    r"^(?:to\s+)?(?:die\b|be\s+(?:killed|exterminated|eradicated|eliminated|wiped\s+out|gassed"
    r"|hanged|hung|shot)\b)",
    re.IGNORECASE,
)
MODAL = ("should", "must", "need")
# The group told where it belongs: "Women belong in the kitchen", "women should all stay at home
# and take care of the kids". A stereotype however the model scores it (v5: 0.12 for the
# first). Staying at home is advice for some groups ("Seniors should stay at home during the
# heatwave") and a change asked of others ("Men need to stay at home more"), so that reading is
# for women only (preserve.FEMALE); the kitchen is for any group. In the public
# texts here such claims are ToxiGen's hateful statements ("women should stay at home and raise
# the kids", "women belong in the kitchen, not in the boardroom") and StereoSet stereotypes.
CONFINED = re.compile(
    r"^(?:to\s+)?(?:(?:all|just|only|really)\s+)?"
    r"(?:(?:stay|remain|be\s+kept)\s+(?:(?:in|at)\s+)?|(?:be\s+)?(?:in|at)\s+)"
    r"(?:the\s+)?(?P<place>kitchen|home|house)\b",
    re.IGNORECASE,
)
CONFINING = ("belong", *MODAL)
# "it is a common misconception that native americans are all savages": the claim is refuted.
REFUTED = re.compile(
    r"\b(?:misconception|myth|stereotype|false|untrue|not\s+true|wrong|lie|nonsense)\s+(?:to\s+"
    r"(?:say|think|believe)\s+)?that\s+$",
    re.IGNORECASE,
)
# What the same claim says with a negation: "are not human", "are not worth the resources".
NOT_EVEN_HUMAN = re.compile(
    r"^(?:(?:even\s+)?(?:human|humans|people|real\s+people)\b|(?:worth|worthy\s+of)\b)",
    re.IGNORECASE,
)
NEGATION = re.compile(r"^(?:not|never|no longer)\s+", re.IGNORECASE)
# ", which is why most of our managers are men": what the stereotype is said to cause. Said of
# people of any gender it no longer follows, so a recast joins the two with "and" instead.
CONSEQUENCE = re.compile(
    r"^\s*[,;]\s*(?:(?:and\s+)?(?:which|that)(?:'s|’s|\s+is)\s+why|so|therefore|hence|thus)\s+",
    re.IGNORECASE,
)
# "Mexicans cant drive", "Autistic people can't feel empathy" (v5 0.40), "deaf people cannot have
# productive lives": what a whole group is said to be unable to do runs it down. Among ToxiGen's
# rated statements the rule finds 13 such claims without another cue, all but one rated hateful
# (3.3-5 of 5), the other a notion the writer rejects (2.3); FLOOR still applies. A condition
# makes it a rule, not a trait: "Immigrants can't vote until they become citizens."
# "Fat people have no self-control", "women have no sense of direction", "Fat people lack
# motivation" and "Fat people have little control" (rewrites of the first, which no rule read as
# a claim): a trait the whole group
# is said to lack runs it down; in ToxiGen's rated statements the 8 such claims without another
# cue are all rated hateful (4-5 of 5). What a group lacks from outside is no trait ("Refugees
# lack access to healthcare"): STRUCTURAL.
HAVE_NO = re.compile(r"^\s*(?P<no>no|zero|little|hardly\s+any)\b", re.IGNORECASE)
# The same lack said with a negated "do": "Mexicans just dont have any ambition", "women don't
# have a sense of direction" (not "don't have to", an obligation). In every public text here it
# finds 8 sentences with "don't"/"dont", all toxic (5 ToxiGen statements rated 4.3-5 of 5, 3
# ParaDetox comments), and 4 with "do not", one of them fair ("jews do not have a monopoly on
# being funny"), which the rule flags only if the model gives it FLOOR.
DONT_HAVE = re.compile(r"^\s*(?P<no>have\s+(?:any|much)|have)\b(?!\s+to\b)", re.IGNORECASE)
STRUCTURAL = re.compile(
    r"^\s*(?:(?:no|zero|any|the|enough|adequate|equal|basic|proper|real)\s+)*(?:access|resources?|"
    r"opportunit\w*|support|fund\w*|representation|insurance|health\s*care|housing|jobs?|money|"
    r"income|education|protection|legal|documents?|papers|rights?|voice|power|means|time|choice)\b",
    re.IGNORECASE,
)
CONDITION = re.compile(r"\b(?:until|unless|without|before|if|under|legally|by\s+law)\b", re.I)
NEGATED_VERB = re.compile(
    r"n['’]t|\b(?:do|ca|could|should|wo)nt\b|\bnot\b|\bnever\b|cannot", re.IGNORECASE
)
# A predicate that says the group's members differ ("Christians are all different.", "Women
# are not all the same.", "Immigrants are individuals.") states no trait of the group: the
# opposite of a stereotype, and what a rewrite of one may well say. "different from us" is not
# one: it sets the group apart.
DIVERSE = re.compile(
    r"^\s*(?:(?:all|so|very|quite|really|just|as)\s+)*(?:(?:different|diverse|unique|varied)"
    r"(?:\s+from\s+(?:each\s+other|one\s+another))?|(?:unique\s+)?individuals|"
    r"(?:not|never)\s+all\s+(?:the\s+)?(?:same|alike))\s*$",
    re.IGNORECASE,
)
CLAUSE_END = re.compile(r"[,;:.!?]|\s(?:but|which|because|while|whereas|although)\s")


# Predicates that say what a group cannot do or how good it is at something, for a statement
# about people as individuals instead (individualise): "too emotional to lead teams", "bad at
# math", "slow and useless with technology" (up to four words before "at"/"with").
TOO_TO = re.compile(r"^too\s+[^,;:]*?\bto\s+(?P<act>\S.*)$", re.IGNORECASE)
# The word before "at"/"with" judges skill; nouns there ("criminals with no morals") do not.
SKILL = re.compile(
    r"^(?:[^\W\d_][\w'’-]*(?:\s*,\s*|\s+(?:and|or)\s+|\s+)){0,3}?"
    r"(?:good|bad|better|worse|best|worst|great|terrible|awful|horrible|lousy|poor|hopeless|"
    r"useless|incompetent|inept|clumsy|slow|weak|strong|skilled|talented|gifted)\s+"
    r"(?P<prep>at|with)\s+(?P<field>\S.*)$",
    re.IGNORECASE,
)
KNOW_HOW = re.compile(r"^know\s+how\s+to\s+(?P<act>\S.*)$", re.IGNORECASE)
THEY = re.compile(r"\b(?:they|them|their|theirs|themselves)\b", re.IGNORECASE)
# Words that point at someone or something other than the person: a lack said with them ("have
# no respect for us") is not a trait one person may have.
POINTING = frozenset(
    ["our", "us", "we", "they", "them", "their", "my", "your", "you", "it", "this"]
)
# A trait said of the group, up to three adjectives or one plural noun: "are lazy and
# entitled", "are all hypocrites", "are not smart" (individualise: "Whether someone is a
# hypocrite depends on the person..."). Not "the worst" or "taking our jobs": function words
# leave a claim about others or an act, not a trait of a person.
TRAIT_WORD = r"[^\W\d_][\w'’-]*"
TRAIT = re.compile(
    rf"^{TRAIT_WORD}(?:(?:\s*,\s*(?:(?:and|or)\s+)?|\s+(?:and|or)\s+){TRAIT_WORD}){{0,2}}$",
    re.IGNORECASE,
)
# How good a group is at a role, said with the role: "Women drivers are the worst.", "Women are
# bad drivers." (individualise: "How well someone drives depends on the person..."), for the
# roles that have a verb of their own.
ROLE_VERBS = {
    "drivers": "drives", "workers": "works", "employees": "works", "students": "studies",
    "leaders": "leads", "managers": "manages", "bosses": "manages", "pilots": "flies",
    "players": "plays", "teachers": "teaches", "programmers": "codes", "developers": "codes",
    "cooks": "cooks", "parents": "parents", "writers": "writes", "singers": "sings",
}  # fmt: skip
ROLE_SKILL = re.compile(
    r"^(?:the\s+)?(?:very\s+)?(?:worst|best|bad|terrible|awful|horrible|lousy|poor|good|great|"
    r"better|worse|excellent)(?:\s+(?P<role>[a-z]+))?$",
    re.IGNORECASE,
)
# A trait of the mind, which the statement names by what it judges: "Whether someone is dumb"
# still scores 0.65 (v20), "Intelligence depends on the person, not on their hair colour." 0.13.
INTELLIGENCE = frozenset(
    ["dumb", "stupid", "unintelligent", "brainless", "idiotic", "smart", "intelligent", "clever"]
)
# Plural nouns, told from adjectives by their ending: "hypocrites", "bullies"; not "nervous",
# "careless", "crass", "Swiss".
PLURAL = re.compile(r"^[^\W\d_][\w'’-]*(?<![su])s$", re.IGNORECASE)
# "Old people shouldn't be allowed to drive": a right denied to the group (74 times in ToxiGen,
# "blacks should not be allowed to own business").
ALLOWED = re.compile(r"^be\s+(?:allowed|permitted)\s+to\s+(?P<act>\S.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Generalisation:
    start: int  # code point offsets of the group phrase (with a quantifier) in the sentence
    end: int
    text: str
    category: str
    verb: str  # the copula or verb that follows, lowercased
    predicate_start: int  # where the predicate starts (after the verb)
    predicate_end: int  # the end of its clause
    # The predicate's loaded words, "too <word>"s, ESSENTIAL, a "can't" said of the whole group
    cues: tuple[tuple[int, int], ...]
    negated: bool  # "are not", "can't", "never": what the group is said not to be or do
    essential: tuple[int, int] | None = None  # "naturally", "by nature": the group is so by nature
    specific: bool = False  # "The immigrants in that street are all...": people in one place
    dehumanising: tuple[int, int] | None = None  # LESS_THAN_HUMAN, FIT_TO_DIE, NOT_EVEN_HUMAN
    confined: tuple[int, int] | None = None  # CONFINED: "belong in the kitchen"
    diverse: bool = False  # DIVERSE: "are all different", the members said to differ
    # "have no", "dont have any", "lack": what precedes what the group is said to lack
    lacking: tuple[int, int] | None = None

    @property
    def evaluative(self) -> bool:
        """The predicate runs the group down (a loaded word, "too <word>") or says the group is
        so by nature."""
        return bool(self.cues)

    @property
    def base_verb(self) -> str:
        """The verb without its negation: "can't", "cant", "cannot" -> "can"."""
        return _base_verb(self.verb)

    @property
    def stereotypes(self) -> bool:
        """Whether a rewrite saying this still states a stereotype: it says what the group is
        ("Girls are not good at math"), or runs it down; "Women can lead teams" does not, nor
        does "Christians are all different." (DIVERSE)."""
        if self.diverse and not self.evaluative:
            return False
        return self.verb in COPULA or self.evaluative or self.negated


@cache
def _pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    by_phrase: dict[str, str] = {}
    for category, (_, nouns, descriptors) in GROUPS.items():
        for noun in nouns:
            by_phrase[noun] = category
        for d in descriptors:
            for noun in PEOPLE:
                by_phrase.setdefault(f"{d} {noun}", category)
    for noun in GENDER_BEFORE_ROLE:
        for role in ROLES:
            by_phrase.setdefault(f"{noun} {role}", "gender")
    alternation = lexicon.alternation(by_phrase)
    quantifier = "|".join(QUANTIFIERS)
    pattern = re.compile(
        rf"(?<![\w-])(?:(?P<q>{quantifier})\s+(?:of\s+(?:the\s+)?)?)?(?P<g>{alternation})(?![\w-])",
        re.IGNORECASE,
    )
    return pattern, by_phrase


def _category(phrase: str) -> str:
    by_phrase = _pattern()[1]
    key = re.sub(r"[\s-]+", " ", phrase.lower())
    if key in by_phrase:
        return by_phrase[key]
    spaced = re.sub(r"\s+", " ", phrase.lower())  # "middle-aged people" keeps its hyphen
    return by_phrase.get(spaced, "other_toxicity")


def find(sentence: str) -> Generalisation | None:
    """The first group phrase used as a generic subject, with what it is said to be or do."""
    pattern, _ = _pattern()
    for m in pattern.finditer(sentence):
        before = sentence[: m.start()].split()
        previous = before[-1].lower().strip("\"'“‘(") if before else ""
        start, group_end, specific = m.start(), m.end(), False
        if not m.group("q") and previous in SPECIFIC:
            whole = ALL_OF_THEM.match(sentence, m.end()) if previous == "the" else None
            if whole is None:
                continue
            start = sentence.lower().rindex("the", 0, m.start())  # the word just before
            group_end, specific = whole.end(), True
        verb = VERB.match(sentence, group_end)
        if verb is None:
            continue
        rest_start = verb.end()
        end = CLAUSE_END.search(sentence, rest_start)
        rest_end = end.start() if end else len(sentence)
        predicate = sentence[rest_start:rest_end]
        cues = [(rest_start + h.start, rest_start + h.end) for h in loaded.find(predicate)]
        # From the group's end on: "don't know how" has its verb in it, and "Women naturally
        # tend to..." its adverb.
        cues += [t.span() for t in TOO.finditer(sentence, m.end(), rest_end)]
        nature = ESSENTIAL.search(sentence, m.end(), rest_end)
        essential = (nature.start(), nature.end()) if nature else None
        cues += [essential] if essential else []
        negated = bool(NEGATED_VERB.search(verb.group(0)) or NEGATION.match(predicate.lstrip()))
        refuted = REFUTED.search(sentence, 0, start) is not None
        base = _base_verb(verb.group("verb").lower())
        if (
            base == "can"
            and NEGATED_VERB.search(verb.group("verb"))
            and not CONDITION.search(predicate)
        ):
            cues.append(verb.span("verb"))  # what the whole group "can't" do, as a trait
        lacking = _lacking(predicate, rest_start, verb.group("verb"))  # "have no self-control"
        if lacking is None and base == "lack" and _trait(predicate):
            lacking = verb.span("verb")  # "lack motivation"
        cues += [lacking] if lacking else []
        denial = None if refuted else _less_than_human(predicate, rest_start, base, negated)
        cues += [denial] if denial else []
        category = _category(m.group("g"))
        female = bool(preserve.FEMALE & set(re.findall(r"[\w'’]+", m.group("g").lower())))
        confined = None if negated else _confined(predicate, rest_start, base, female)
        cues += [confined] if confined else []
        return Generalisation(
            start, group_end, sentence[start:group_end], category, verb.group("verb").lower(),
            rest_start, rest_end, tuple(sorted(set(cues))), negated, essential, specific, denial,
            confined, base in COPULA and DIVERSE.match(predicate) is not None, lacking,
        )  # fmt: skip
    return None


def still_claims(source: str, rewrite: str) -> bool:
    """Whether a rewrite of a sentence that generalises about a group still states a stereotype
    of a group (Generalisation.stereotypes): what candidates are ranked by (server.task) and what
    `srllm distill`'s gate refuses."""
    if find(source) is None:
        return False
    found = find(rewrite)
    return found is not None and found.stereotypes


def _trait(predicate: str) -> bool:
    """The predicate names something of the person, not of their circumstances (STRUCTURAL)."""
    return not STRUCTURAL.match(predicate) and not CONDITION.search(predicate)


def _lacking(predicate: str, offset: int, verb: str) -> tuple[int, int] | None:
    """Where "have no <trait>" (after the verb as written: "have") or "have any <trait>" (after
    "don't", "dont", "do not") says what the group lacks, at sentence offsets (the "no", or
    the "have any")."""
    base = _base_verb(verb.lower())
    if base == "have":
        m = HAVE_NO.match(predicate)
    elif base == "do":
        # VERB reads "do not" as "do" and leaves the "not" in the predicate.
        negation = NEGATION.match(predicate.lstrip())
        skip = len(predicate) - len(predicate.lstrip()) + (negation.end() if negation else 0)
        if not (negation or NEGATED_VERB.search(verb)):
            return None
        predicate, offset = predicate[skip:], offset + skip
        m = DONT_HAVE.match(predicate)
    else:
        return None
    if m is None or not _trait(predicate[m.end() :]):
        return None
    return (offset + m.start("no"), offset + m.end("no"))


def _base_verb(verb: str) -> str:
    plain = re.sub(r"['’]", "", verb)
    return CONTRACTED.get(plain, plain)


def _less_than_human(
    predicate: str, offset: int, verb: str, negated: bool
) -> tuple[int, int] | None:
    """Where the predicate says the group is less than human or fit to die (LESS_THAN_HUMAN
    after "are"/"were", FIT_TO_DIE after "should"/"must"/"need", NOT_EVEN_HUMAN with a
    negation), at sentence offsets; None when it does not."""
    text = ADVERBS.sub("", predicate.lstrip())
    skipped = len(predicate) - len(predicate.lstrip())
    negation = NEGATION.match(text)
    if negation:
        text = text[negation.end() :]
    if negated:
        m = NOT_EVEN_HUMAN.match(text) if verb in COPULA else None
    else:
        m = LESS_THAN_HUMAN.match(text) if verb in COPULA else None
        m = m or (FIT_TO_DIE.match(text) if verb in MODAL else None)
    if m is None:
        return None
    at = predicate.find(m.group(0), skipped)
    return (offset + at, offset + at + len(m.group(0))) if at >= 0 else None


def _confined(predicate: str, offset: int, verb: str, female: bool) -> tuple[int, int] | None:
    """Where the predicate tells the group where it belongs (CONFINED), at sentence offsets."""
    if verb not in CONFINING:
        return None
    text = predicate.lstrip()
    m = CONFINED.match(text)
    if m is None or (m.group("place").lower() != "kitchen" and not female):
        return None
    at = offset + len(predicate) - len(text)
    return (at, at + m.end())


def fair_to_restate(sentence: str, found: Generalisation) -> bool:
    """Whether the claim can be restated without the group (recast, individualise): a group with
    a neutral form, no other group in the claim ("Men are better leaders than women" is also
    about women), no denied worth, life or rights (DEHUMANISING), and not the people of one place
    (ALL_OF_THEM: "People of any nationality in that street are..." is no fairer)."""
    return (
        not found.specific
        and found.category in GROUPS
        and not _pattern()[0].search(sentence, found.predicate_start, found.predicate_end)
        and not DEHUMANISING.search(sentence, found.predicate_start)
    )


def _tail(sentence: str, found: Generalisation) -> tuple[str, bool]:
    """What follows the claim's clause, and whether it is what the claim is said to cause
    (", which is why..."), then joined with "and" instead (CONSEQUENCE)."""
    tail = sentence[found.predicate_end :]
    link = CONSEQUENCE.match(tail)
    if link:
        return ", and " + tail[link.end() :], True
    return tail, False


def recast(sentence: str, found: Generalisation) -> str | None:
    """The sentence with its claim put on people of any gender, age, faith... instead of the
    group: "Girls are bad at math." -> "People of any gender can be bad at math.", "Black people
    can't swim." -> "People of any background may not be able to swim." (MODALS); None for other
    verbs (what a group "belongs" or "refuses" to do has no such neutral form), when the
    predicate names a group too, when what follows denies worth, life or rights or calls the
    group primitive (DEHUMANISING), when it says what kind of people the group is
    (KIND_OF_PEOPLE), or when the group phrase may be only the end of its name. What the claim
    is said to cause (", which is why...") is joined with "and" (CONSEQUENCE)."""
    if not fair_to_restate(sentence, found):
        return None
    tail, _ = _tail(sentence, found)
    claim = sentence[found.predicate_start : found.predicate_end] + tail
    predicate = ADVERBS.sub("", claim.lstrip())
    negation = NEGATION.match(predicate)
    if negation:
        predicate = predicate[negation.end() :]
    if KIND_OF_PEOPLE.match(predicate):
        return None
    if found.verb == "do" and not negation and found.negated:
        predicate = f"do {predicate}"  # "never do well": "do" is the verb itself
    modal = MODALS.get((found.base_verb, bool(negation) or found.negated))
    if modal is None:
        return None
    before = sentence[: found.start].rstrip(" \"'“‘(")
    words = before.split()
    previous = words[-1].lower() if words else ""
    starts = not before or before[-1] in ".!?"
    lead_in = previous in LEAD_IN or (previous in FUNCTION_WORDS and previous not in ADDRESSED)
    if not starts and before[-1] not in ",;:-–—" and not lead_in:
        return None
    # "Old drivers" -> "drivers of any age": the role stays, the group goes.
    role = found.text.split()[-1].lower()
    people = f"{role if role in ROLES else 'people'} of any {_whose(found)}"
    if starts:
        people = people[0].upper() + people[1:]
    return f"{sentence[: found.start]}{people} {modal} {predicate}"


def _whose(found: Generalisation) -> str:
    """What people of any ... are said to differ in: the group's category (GROUPS), or hair."""
    if HAIR & set(found.text.lower().split()):
        return "hair colour"
    return GROUPS[found.category][0]


def _lacked(sentence: str, found: Generalisation) -> str | None:
    """What the group is said to lack ("have no self-control", "dont have any ambition", "lack
    motivation"), when it is a short trait of a person: up to four words, none of them pointing
    at others."""
    if found.lacking is None:
        return None
    trait = sentence[found.lacking[1] : found.predicate_end].strip()
    words = WORD.findall(trait.lower())
    if not words or len(words) > 4 or POINTING & set(words):
        return None
    return trait


def _role_act(found: Generalisation, predicate: str) -> str | None:
    """What people of the role do (ROLE_VERBS), when the predicate judges how well the group does
    it (ROLE_SKILL): "Women drivers are the worst", "Women are bad drivers" -> "drives"."""
    m = ROLE_SKILL.match(predicate)
    if m is None:
        return None
    role = (m.group("role") or found.text.split()[-1]).lower()
    return ROLE_VERBS.get(role)


def _trait_words(predicate: str) -> str | None:
    """A copula's predicate as what one person is (TRAIT): "lazy and entitled" as it is,
    "hypocrites" -> "a hypocrite"; None for anything else."""
    if not TRAIT.match(predicate):
        return None
    content = [w for w in WORD.findall(predicate.lower()) if w not in ("and", "or")]
    if any(w in FUNCTION_WORDS for w in content):
        return None
    plural = [w for w in content if PLURAL.match(w)]
    if not plural:
        return predicate
    if len(content) > 1 or content[0].endswith("ves"):  # "liars and cheats", "thieves"
        return None
    one = predicate[:-3] + "y" if content[0].endswith("ies") else predicate[:-1]
    return f"{'an' if one[0].lower() in 'aeiou' else 'a'} {one}"


def individualise(sentence: str, found: Generalisation) -> str | None:
    """The sentence as a statement about individuals, for a claim about what a group cannot do or
    how good it is at something: "Women are too emotional to lead teams." -> "Whether someone can
    lead teams depends on the person, not on their gender.", "Girls are bad at math." -> "Skill
    at math depends on the person, not on their gender.", "Black people can't swim." -> "Whether
    someone can swim depends on the person, not on their background.". Unlike recast, it keeps
    no word of the claim's verdict ("too emotional", "bad"), only what it is about; a trait
    (TRAIT) it names as what one person may be: "Millennials are lazy." -> "Whether someone is
    lazy depends on the person, not on their age." (v20 scores it 0.09, against 0.54 for the
    recast "People of any age can be lazy and entitled."). None unless
    the group starts the sentence and the clause ends it (or what it is said to cause follows,
    joined with "and"), for the same claims recast refuses, and for other predicates. A group told
    where it belongs (CONFINED) is told it is each person's choice: "Women should stay at home."
    -> "Whether to stay at home is up to each person, whatever their gender."."""
    before = sentence[: found.start].rstrip(" \"'“‘(")
    if not fair_to_restate(sentence, found) or (before and before[-1] not in ".!?"):
        return None
    tail, linked = _tail(sentence, found)
    if not linked and tail.strip(" .!?\"'”’)"):
        return None  # "..., but they try": "they" would name no one
    if linked and THEY.search(tail):
        return None  # "..., so they are not good navigators": nor here
    predicate = ADVERBS.sub("", sentence[found.predicate_start : found.predicate_end].strip())
    negation = NEGATION.match(predicate)
    if negation:
        predicate = predicate[negation.end() :]
    verb = found.base_verb
    whose = _whose(found)
    if found.confined is not None:
        # "Women should stay at home and take care of the kids." -> "Whether to stay at home and
        # take care of the kids is up to each person, whatever their gender."
        act = re.sub(r"^(?:to\s+)?(?:(?:all|just|only|really)\s+)?", "", predicate, flags=re.I)
        act = f"be {act}" if verb == "belong" else act
        choice = f"Whether to {act} is up to each person, whatever their {whose}"
        return f"{sentence[: found.start]}{choice}{tail}"
    statement = None
    if verb in COPULA and not found.negated and (m := TOO_TO.match(predicate)):
        statement = f"Whether someone can {m.group('act')}"
    elif verb in COPULA and (m := SKILL.match(predicate)) and not KIND_OF_PEOPLE.match(predicate):
        statement = f"Skill {m.group('prep').lower()} {m.group('field')}"
    elif verb == "can" and found.negated:
        statement = f"Whether someone can {predicate}"
    elif verb == "do" and found.negated and (m := KNOW_HOW.match(predicate)):
        statement = f"Whether someone knows how to {m.group('act')}"
    elif verb == "should" and found.negated and (m := ALLOWED.match(predicate)):
        statement = f"Whether someone should be allowed to {m.group('act')}"
    elif (lacked := _lacked(sentence, found)) is not None:
        statement = f"Whether someone has {lacked}"
    elif verb in COPULA and (act := _role_act(found, predicate)):
        statement = f"How well someone {act}"
    elif verb in COPULA and not found.diverse and (trait := _trait_words(predicate)):
        intelligence = set(WORD.findall(trait.lower())) <= INTELLIGENCE | {"and", "or"}
        statement = "Intelligence" if intelligence else f"Whether someone is {trait}"
    if statement is None:
        return None
    return f"{sentence[: found.start]}{statement} depends on the person, not on their {whose}{tail}"
