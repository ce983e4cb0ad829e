"""Praise qualified by a group (server.backhanded): "smart for a girl", found by wording, and
the fair sentences with the same words that it must leave alone."""

import pytest

from srllm.server import backhanded


@pytest.mark.parametrize(
    ("text", "qualifier", "category", "dropped"),
    [
        ("You're smart for a girl.", "for a girl", "gender", "You're smart."),
        (
            "He is so articulate for a black guy.",
            "for a black guy",
            "race_ethnicity",
            "He is so articulate.",
        ),
        ("Not bad for an old man!", "for an old man", "age", "Not bad!"),
        ("She drives well for a woman", "for a woman", "gender", "She drives well"),
        (
            "She's pretty good at math for a girl, honestly.",
            "for a girl",
            "gender",
            "She's pretty good at math, honestly.",
        ),
        (
            "Wow, you're tech-savvy for a grandma!",
            "for a grandma",
            "age",
            "Wow, you're tech-savvy!",
        ),
        (
            "He speaks English well for an Asian guy lol",
            "for an Asian guy",
            "race_ethnicity",
            "He speaks English well lol",
        ),
        (
            "She codes well for a female engineer.",
            "for a female engineer",
            "gender",
            "She codes well.",
        ),  # fmt: skip
        ("You're good for a girl.", "for a girl", "gender", "You're good."),
        (
            "He's well-spoken for a Middle-Eastern guy.",
            "for a Middle-Eastern guy",
            "race_ethnicity",
            "He's well-spoken.",
        ),
        ("She is a great driver for a woman.", "for a woman", "gender", "She is a great driver."),
    ],
)
def test_qualified_praise_is_found_and_dropped(text, qualifier, category, dropped):
    hits = backhanded.find(text)
    assert [(h.text, h.category, h.alternatives) for h in hits] == [(qualifier, category, ("",))]
    assert text[hits[0].start : hits[0].end] == qualifier
    assert backhanded.drop(text, hits) == dropped


@pytest.mark.parametrize(
    "text",
    [
        "This is a great gift for a man.",  # a noun between: who it is for
        "We bought a nice present for a girl in our class.",
        "It's good for a woman who has kids to work part time.",  # the clause goes on
        "That was a great day for a girl like me to be outside.",
        "She's very smart for her age.",  # a child's age is no group
        "He is tall for his age.",
        "Running is good for a woman.",  # of use to her, not praise of her
        "This dress is great for a girl.",
        "The salary is good for a student.",
        "This bike is great for a kid.",
        "She is smart, for a start.",
    ],
)
def test_fair_sentences_with_the_same_words_are_left_alone(text):
    assert backhanded.find(text) == []


def test_the_explanation_names_what_the_praise_makes_an_exception_of():
    hits = backhanded.find("You're smart for a girl, and strong for an old man.")
    assert backhanded.explain(hits) == (
        "It praises someone as an exception to their gender and their age."
    )
    assert backhanded.explain([]) == ""
