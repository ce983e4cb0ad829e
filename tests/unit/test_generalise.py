"""Sentences about a whole group (server.generalise): which are found, and their recast."""

import pytest

from srllm.server import generalise, task

ABOUT_GENDER = "sexual_orientation_gender_identity"


def found(text):
    g = generalise.find(text)
    return None if g is None else (g.text, g.category, g.verb)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Women are too emotional to lead.", ("Women", "gender", "are")),
        ("I think old people are slow.", ("old people", "age", "are")),
        ("All Muslims are terrorists.", ("All Muslims", "religion", "are")),
        ("Most of the immigrants were lazy.", ("Most of the immigrants", "nationality", "were")),
        ("Black people can't swim.", ("Black people", "race_ethnicity", "can't")),
        ("Gay men always lie.", None),  # "lie" is not one of the verbs that generalise
        ("Girls never do well at math.", ("Girls", "gender", "do")),
        ("Middle-aged people are boring.", ("Middle-aged people", "age", "are")),
        # After "that" a plural group starts a clause: "that" is not a determiner there.
        ("It is a fact that trans people are deviants.", ("trans people", ABOUT_GENDER, "are")),
        ("Asian students naturally tend to study.", ("Asian students", "race_ethnicity", "tend")),
        # Comments often drop the apostrophe.
        ("Mexicans dont have any ambition.", ("Mexicans", "nationality", "dont")),
        ("Women cant lead.", ("Women", "gender", "cant")),
        # "the" group (with its place) that a quantifier after the verb says all of.
        (
            "The immigrants in that neighborhood are all criminals.",
            ("The immigrants in that neighborhood", "nationality", "are"),
        ),
        ("the mexicans are always complaining", ("the mexicans", "nationality", "are")),
        ("I think the women from Texas were all loud.", ("the women from Texas", "gender", "were")),
    ],
)
def test_a_group_said_to_be_or_do_something_is_found(text, expected):
    assert found(text) == expected


def test_only_a_quantified_group_after_the_is_specific():
    assert generalise.find("The immigrants in that street are all thieves.").specific
    assert not generalise.find("All immigrants are thieves.").specific
    assert not generalise.find("Immigrants are thieves.").specific


@pytest.mark.parametrize(
    "text",
    [
        "The immigrants in that street are loud.",  # particular people
        "Those girls are always late.",  # people in view, whatever is said of them
        "The women in the study were over 40.",
        "The girls at the back of the old school bus are all tired.",  # not a short place
        "My sisters are great.",
        "Some women are engineers.",
        "Men and women are equal.",
        "She met two old people who were lost.",
        "Muslims pray five times a day.",  # no verb that generalises follows
        "The meeting starts at noon.",
        "Womenfolk are here.",  # not a listed group (and no partial-word match)
    ],
)
def test_particular_people_and_other_sentences_are_not_generalisations(text):
    assert generalise.find(text) is None


def test_the_predicate_decides_evaluative_and_negated():
    g = generalise.find("Muslims are ignorant about money, but they pray.")
    assert g.evaluative and not g.negated
    assert g.predicate_end == len("Muslims are ignorant about money")  # its clause only
    assert generalise.find("Women are too emotional to lead.").evaluative  # "too <word>"
    neutral = generalise.find("Women are underrepresented in engineering.")
    assert not neutral.evaluative and not neutral.negated
    assert generalise.find("Girls are not good at math.").negated
    assert generalise.find("Women can't lead.").negated


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Girls are so dramatic.", "so dramatic"),
        ("Women are too emotional to lead.", "too emotional"),
        ("Poor people don't know how to manage money.", "don't know how"),
        ("Poor people dont know how to manage money.", "dont know how"),
        ("Middle easterners do not know how to dress.", "do not know how"),
        ("Women are naturally better caregivers.", "naturally"),
        ("Men are by nature more competitive.", "by nature"),
        ("Autistic people can't feel empathy.", "can't"),
        ("mexicans cant drive and have so many accidents", "cant"),
        ("Fat people have no self-control.", "no"),
        ("Fat people lack motivation.", "lack"),
        ("Fat people have little control.", "little"),
        ("Mexicans just dont have any ambition.", "have any"),
        ("Women don't have a sense of direction.", "have"),
        ("Women do not have any ambition.", "have any"),
    ],
)
def test_what_runs_a_group_down_or_says_it_is_so_by_nature_is_a_cue(text, cue):
    g = generalise.find(text)
    assert [text[a:b] for a, b in g.cues] == [cue]


@pytest.mark.parametrize(
    "text",
    [
        "Women are so that they can vote.",  # "so that" is not "so <word>"
        "Women are so few in engineering.",
        "Immigrants can't vote until they become citizens.",  # a rule, not a trait
        "Refugees cannot work legally in the first year.",
        "Refugees lack access to healthcare.",  # circumstances, not a trait
        "Immigrants have no papers.",
        "Refugees don't have any access to lawyers.",
        "Women don't have to work there.",  # an obligation, not a lack
        "Men don't have time to cook.",
        "Women are underrepresented in engineering.",
    ],
)
def test_other_predicates_carry_no_cue(text):
    g = generalise.find(text)
    assert g is not None and g.cues == () and g.essential is None


def test_only_a_claim_by_nature_is_essential():
    text = "Women are naturally better caregivers."
    g = generalise.find(text)
    assert text[slice(*g.essential)] == "naturally"
    assert generalise.find("Girls are so dramatic.").essential is None


def test_a_rewrite_still_states_a_stereotype_when_it_says_what_the_group_is():
    assert generalise.find("Girls are not good at math.").stereotypes
    assert generalise.find("Muslims are unaware about money.").stereotypes  # "are"
    assert generalise.find("Women can't lead teams.").stereotypes
    assert not generalise.find("Women can lead teams.").stereotypes


@pytest.mark.parametrize(
    ("text", "recast"),
    [
        ("Girls are bad at math.", "People of any gender can be bad at math."),
        ("Girls are not good at math.", "People of any gender may not be good at math."),
        ("I think old people are slow.", "I think people of any age can be slow."),
        ('"Women are weak," he said.', '"People of any gender can be weak," he said.'),
        ("All Muslims are terrorists.", "People of any faith can be terrorists."),
        ("Immigrants are often lazy.", "People of any nationality can be lazy."),
        ("Most of the old people were rude.", "People of any age could be rude."),
        (
            "Latinos are primarily good for farming.",
            "People of any background can be good for farming.",
        ),
        ("Honestly, women are weak.", "Honestly, people of any gender can be weak."),
        (
            "It was a joke. All immigrants are liars.",
            "It was a joke. People of any nationality can be liars.",
        ),
        ("Black people can't swim.", "People of any background may not be able to swim."),
        ("Women can never lead.", "People of any gender may not be able to lead."),
        ("Women couldn’t vote.", "People of any gender might not have been able to vote."),
        ("Girls never do well at math.", "People of any gender may not do well at math."),
        ("Immigrants don't pay taxes.", "People of any nationality may not pay taxes."),
        ("Immigrants do not pay taxes.", "People of any nationality may not pay taxes."),
        (
            "Mexicans dont have any ambition.",
            "People of any nationality may not have any ambition.",
        ),
        ("Women cant lead.", "People of any gender may not be able to lead."),
        ("Women can be so annoying.", "People of any gender can be so annoying."),
        # What the stereotype is said to cause no longer follows from it: joined with "and".
        (
            "Women are too emotional to lead teams, which is why most of our managers are men.",
            "People of any gender can be too emotional to lead teams, and most of our managers "
            "are men.",
        ),
        (
            "Old people are too slow to learn new software, so we hire young developers.",
            "People of any age can be too slow to learn new software, and we hire young "
            "developers.",
        ),
        (
            "Girls are bad at math, but they try.",
            "People of any gender can be bad at math, but they try.",
        ),
        # A role stays; only the group goes.
        ("Women drivers are the worst.", "Drivers of any gender can be the worst."),
        ("Old drivers are too slow to react.", "Drivers of any age can be too slow to react."),
        ("I think female engineers are lazy.", "I think engineers of any gender can be lazy."),
    ],
)
def test_a_claim_is_put_on_people_of_any_kind(text, recast):
    assert generalise.recast(text, generalise.find(text)) == recast


@pytest.mark.parametrize(
    "text",
    [
        "Men are better leaders than women.",  # the claim is about women too
        "Women won't lead.",
        "Immigrants do pay taxes.",  # nothing denied: "do" is not recast
        # The phrase may end a longer name of the group: replacing it would leave "Nerdy".
        "Nerdy guys are awkward.",
        "asian gay guys are too girly",
        "you arabs are violent, i dont want to be around you",  # a group addressed
        # Denied worth, life or rights is no fairer said of everyone.
        "The mentally disabled are not worth the resources to keep them alive.",
        "Immigrants are animals.",
        "Gays don't deserve rights.",
        # What kind of people the group is, or that it is primitive: nonsense said of anyone.
        "arabs are primitive people",
        "Arabs are not a people.",
        "Immigrants are a lazy race.",
        "Natives are savages who scalp their neighbors.",
        # The people of one place: "People of any nationality in that street" is no fairer.
        "The immigrants in that street are all too lazy to work.",
        "The girls in my class are all bad at math.",
    ],
)
def test_other_generalisations_have_no_recast(text):
    g = generalise.find(text)
    assert g is not None and generalise.recast(text, g) is None
    assert generalise.individualise(text, g) is None


@pytest.mark.parametrize(
    ("text", "statement"),
    [
        (
            "Women are too emotional to lead engineering teams.",
            "Whether someone can lead engineering teams depends on the person, not on their "
            "gender.",
        ),
        (
            "Women are too emotional to lead teams, which is why most of our managers are men.",
            "Whether someone can lead teams depends on the person, not on their gender, and "
            "most of our managers are men.",
        ),
        ("Girls are bad at math.", "Skill at math depends on the person, not on their gender."),
        (
            "Girls are not good at math.",
            "Skill at math depends on the person, not on their gender.",
        ),
        (
            "Old people are slow and useless with technology.",
            "Skill with technology depends on the person, not on their age.",
        ),
        (
            "Asians are naturally good at math!",
            "Skill at math depends on the person, not on their background!",
        ),
        (
            "Black people can't swim.",
            "Whether someone can swim depends on the person, not on their background.",
        ),
        (
            "Women can never lead.",
            "Whether someone can lead depends on the person, not on their gender.",
        ),
        (
            "Women don't know how to drive.",
            "Whether someone knows how to drive depends on the person, not on their gender.",
        ),
        (
            "Women dont know how to drive.",
            "Whether someone knows how to drive depends on the person, not on their gender.",
        ),
        (
            "Women belong in the kitchen.",
            "Whether to be in the kitchen is up to each person, whatever their gender.",
        ),
        (
            "Women should stay at home and take care of the kids.",
            "Whether to stay at home and take care of the kids is up to each person, whatever "
            "their gender.",
        ),
        (
            "Old people shouldn't be allowed to drive.",
            "Whether someone should be allowed to drive depends on the person, not on their age.",
        ),
        (
            "blacks should not be allowed to own business",
            "Whether someone should be allowed to own business depends on the person, not on "
            "their background",
        ),
        (
            "Millennials are lazy and entitled.",
            "Whether someone is lazy and entitled depends on the person, not on their age.",
        ),
        (
            "Old people are slow.",
            "Whether someone is slow depends on the person, not on their age.",
        ),
        (
            "Christians are all hypocrites.",
            "Whether someone is a hypocrite depends on the person, not on their faith.",
        ),
        (
            "Gays are bullies.",
            "Whether someone is a bully depends on the person, not on their "
            "orientation or gender identity.",
        ),
        ("Blondes are dumb.", "Intelligence depends on the person, not on their hair colour."),
        (
            "Women drivers are the worst.",
            "How well someone drives depends on the person, not on their gender.",
        ),
        (
            "Fat people have no self-control.",
            "Whether someone has self-control depends on the person, not on their size.",
        ),
        (
            "Immigrants lack motivation.",
            "Whether someone has motivation depends on the person, not on their nationality.",
        ),
        (
            "Mexicans don't have any ambition.",
            "Whether someone has ambition depends on the person, not on their nationality.",
        ),
        (
            "Asians are bad drivers.",
            "How well someone drives depends on the person, not on their background.",
        ),
        ("Girls are not smart.", "Intelligence depends on the person, not on their gender."),
        (
            "Asians are nervous.",  # an adjective ending in s is not a plural noun
            "Whether someone is nervous depends on the person, not on their background.",
        ),
        (
            "It was a joke. Immigrants can't drive.",
            "It was a joke. Whether someone can drive depends on the person, not on their "
            "nationality.",
        ),
    ],
)
def test_a_claim_about_what_a_group_can_do_is_said_of_individuals(text, statement):
    assert generalise.individualise(text, generalise.find(text)) == statement


@pytest.mark.parametrize(
    "text",
    [
        "Immigrants are criminals with no morals.",  # a noun before "with" judges no skill
        "Women are the worst.",  # not a trait of a person
        "Immigrants have no respect for our laws.",  # points at others: not a trait alone
        "Women have no access to loans.",  # circumstances, not a trait
        "Immigrants are taking our jobs.",
        "Immigrants are liars and cheats.",  # two nouns: no one person's trait to name
        "Christians are all different.",  # says the members differ: nothing to undo
        "Girls are bad at math, but they try.",  # "they" would name no one
        "Women don't have a sense of direction, so they are not good navigators.",
        "I think girls are bad at math.",  # the group does not start the sentence
        "Men are better at math than women.",  # the claim is about women too
        "The mentally disabled are too slow to be worth the resources.",  # denied worth
        "Women are not too emotional to lead.",  # nothing to undo
    ],
)
def test_other_claims_are_not_said_of_individuals(text):
    g = generalise.find(text)
    assert g is not None and generalise.individualise(text, g) is None


def test_the_group_of_a_generalisation_is_not_a_word_to_drop():
    spans = [
        {"text": "Girls", "source": task.GROUP_SOURCE},
        {"text": "bad", "source": "model"},
        {"text": "bad", "source": "opinion"},
    ]
    assert task.words_to_drop(spans) == ["bad"]
    outs = [task.SpanOut(0, 5, "Girls", task.GROUP_SOURCE), task.SpanOut(10, 13, "bad", "model")]
    assert task.words_to_drop(outs) == ["bad"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Arabs are animals.", "animals"),
        ("Immigrants are vermin.", "vermin"),
        ("Muslims are a plague on this country.", "a plague"),
        ("Cripples are parasites to society.", "parasites"),
        ("The mentally disabled are not worthy of the resources to keep them alive.", "worthy of"),
        ("Women are not human.", "human"),
        ("Refugees should be killed.", "be killed"),
        ("Old people should die.", "die"),
    ],
)
def test_a_group_called_less_than_human_or_fit_to_die_is_hate_whatever_the_score(text, said):
    g = generalise.find(text)
    assert g is not None and g.dehumanising is not None
    assert text[slice(*g.dehumanising)] == said
    assert task.rules_biased(text, 0.01) is True  # the model's score does not matter


@pytest.mark.parametrize(
    "text",
    [
        "Refugees are killed at the border every week.",  # a crime reported, not called for
        "Immigrants are not animals.",
        "Immigrants are human beings too.",
        "Disabled people are worthy of respect.",
        "Refugees are not safe in the camps.",
        "It is a common misconception that native americans are all savages.",  # refuted
    ],
)
def test_the_same_words_reported_denied_or_refuted_are_not(text):
    g = generalise.find(text)
    assert g is None or g.dehumanising is None
    assert task.rules_biased(text, 0.01) is False


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("Women belong in the kitchen.", "in the kitchen"),
        ("women should all stay in the kitchen or in the home", "all stay in the kitchen"),
        ("Women should stay at home and take care of the kids.", "stay at home"),
        ("Female workers should stay home.", "stay home"),
        ("Immigrants belong in the kitchen.", "in the kitchen"),
    ],
)
def test_a_group_told_where_it_belongs_is_found(text, place):
    found = generalise.find(text)
    assert found is not None and found.confined is not None
    assert text[found.confined[0] : found.confined[1]] == place
    assert found.confined in found.cues
    assert generalise.recast(text, found) is None  # "People of any gender belong..." is no fairer


@pytest.mark.parametrize(
    "text",
    [
        "Seniors should stay at home during the heatwave.",  # advice, not a woman's place
        "Men need to stay at home more.",
        "Women should not stay at home.",
        "Women belong in the boardroom.",
        "Women should be home by 10.",
    ],
)
def test_advice_and_other_places_are_not_a_place_the_group_is_kept_in(text):
    found = generalise.find(text)
    assert found is None or found.confined is None


def test_a_rewrite_still_claims_only_what_its_sentence_claimed_about_a_group():
    claim = "Girls are bad at math."
    assert generalise.still_claims(claim, "Girls are not good at math.")
    assert not generalise.still_claims(claim, "People of any gender may not be good at math.")
    # a sentence that makes no such claim: its rewrite is not held to it
    assert not generalise.still_claims("The meeting ran late.", "Girls are not good at math.")


@pytest.mark.parametrize(
    ("rewrite", "claims"),
    [
        ("Christians are all different.", False),
        ("Women are not all the same.", False),
        ("Immigrants are unique individuals.", False),
        ("Immigrants are different from each other.", False),
        # sets the group apart: still a claim about it
        ("Immigrants are different from us.", True),
        ("Christians are different and lazy.", True),
        ("Christians are all hypocrites.", True),
    ],
)
def test_a_rewrite_that_says_the_members_differ_states_no_trait_of_the_group(rewrite, claims):
    assert generalise.still_claims("Christians are all hypocrites.", rewrite) is claims
