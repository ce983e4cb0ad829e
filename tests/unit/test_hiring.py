"""Job-ad language (server.hiring): what a job advert asks for by gender, age or origin, found
only in an advert, and the user's sentence with those asks put right."""

import pytest

from srllm.server import hiring, lexicon


@pytest.mark.parametrize(
    ("text", "found", "edited"),
    [
        (
            "We are looking for a young, energetic salesman to join our team.",
            [("young", "age"), ("salesman", "gender")],
            "We are looking for an energetic salesperson to join our team.",
        ),
        (
            "Applicants must be native English speakers and digital natives.",
            [("native English speakers", "nationality"), ("digital natives", "age")],
            "Applicants must be fluent English speakers and digitally skilled people.",
        ),
        (
            "The chairman said the shortage would be fixed by hiring more girls for the desk.",
            [("girls", "gender")],  # the chairman who speaks is not the hire
            "The chairman said the shortage would be fixed by hiring more people for the desk.",
        ),
        (
            "Seeking a female receptionist, under 30 years old.",
            [("female", "gender"), ("under 30 years old", "age")],
            "Seeking a receptionist.",
        ),
        (
            "Waitresses wanted for weekend shifts.",
            [("Waitresses", "gender")],
            "Servers wanted for weekend shifts.",
        ),  # fmt: skip
        (
            "Recent graduates are encouraged to apply; males preferred.",
            [("Recent graduates", "age"), ("males preferred", "gender")],
            "Entry-level candidates are encouraged to apply.",
        ),
        ("Men only: warehouse staff needed.", [("Men only", "gender")], "Warehouse staff needed."),
        (
            "We are hiring a new chairman, who must be under 40.",
            [("chairman", "gender"), ("who must be under 40", "age")],
            "We are hiring a new chair.",
        ),
        (
            "Join our young and dynamic team of developers!",
            [("young", "age")],
            "Join our dynamic team of developers!",
        ),  # fmt: skip
        (
            "Young, motivated graduates wanted for sales roles.",
            [("Young", "age")],
            "Motivated graduates wanted for sales roles.",
        ),  # fmt: skip
        # An age limit that is the sentence's whole claim has no wording to put in its place:
        # highlighted, and left to the model's rewrite.
        ("Applicants must be under 35.", [("under 35", "age")], "Applicants must be under 35."),
    ],
)
def test_a_job_advert_is_flagged_by_what_it_asks_for_and_edited_in_the_users_words(
    text, found, edited
):
    hits = hiring.find(text)
    assert [(h.text, h.category) for h in hits] == found
    assert all(text[h.start : h.end] == h.text for h in hits)
    assert lexicon.apply(text, hits) == edited


@pytest.mark.parametrize(
    "text",
    [
        "The chairman said profits rose by 4% this year.",  # a title, no advert
        "She is a native English speaker from Leeds.",
        "Police are looking for a young man seen near the station.",  # an appeal, not a job
        "We are a young company looking for developers.",  # the company is young
        "The mover we hired is a woman.",  # said of the one hired
        "He's a young man who has been looking for a position that suits his degree.",
        "The company hired a new female marketing manager last week.",
        "women only want to talk to you if you are rich",  # "only" is not "men only"
        "We are hiring: a woman's eye for detail is what our shop needs.",  # a possessive
        "I am looking for my keys, young man.",
        "The company is looking for qualified candidates to fill a vacant position.",
        "We are committed to non-discrimination in hiring, particularly for Black individuals.",
        "Our Christian colleagues are hiring for the choir's new season.",
        "We are hiring older or younger engineers alike.",  # no age asked for
        "We are hiring young and old alike.",
    ],
)
def test_the_same_words_outside_an_advert_or_not_asked_for_are_not_flagged(text):
    assert hiring.find(text) == []


@pytest.mark.parametrize(
    ("text", "edited"),
    [
        ("We are hiring an actress.", "We are hiring an actor."),
        ("Hiring a waitress.", "Hiring a server."),
        ("Hiring a young, ambitious engineer.", "Hiring an ambitious engineer."),
    ],
)
def test_an_article_is_made_to_fit_the_word_that_now_follows_it(text, edited):
    assert lexicon.apply(text, hiring.find(text)) == edited


def test_only_the_hits_given_are_edited():
    text = "We are looking for a young, energetic salesman to join our team."
    salesman = [h for h in hiring.find(text) if h.text == "salesman"]
    assert lexicon.apply(text, salesman) == (
        "We are looking for a young, energetic salesperson to join our team."
    )


def test_the_card_says_what_an_advert_asks_for():
    text = "Recent graduates are encouraged to apply; males preferred."
    assert (
        hiring.explain(hiring.find(text)) == "It is a job advert that asks for an age and a gender."
    )
    origin = hiring.find(
        "Seeking Christian candidates; applicants must be native English speakers."
    )
    assert hiring.explain(origin) == "It is a job advert that asks for a faith and an origin."
    assert hiring.explain([]) == ""
