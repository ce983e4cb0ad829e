"""Gendered idioms (server.idioms): found only where they are idioms, each with its wording."""

import pytest

from srllm.server import idioms


@pytest.mark.parametrize(
    ("text", "found", "wording"),
    [
        ("Man up and stop whining.", "Man up", "toughen up"),
        ("He needs to man up.", "man up", "toughen up"),
        ("You should man-up, dude.", "man-up", "toughen up"),
        ("They finally manned up.", "manned up", "toughened up"),
        ("He throws like a girl.", "like a girl", "without much force"),
        ("You ran like a little girl!", "like a little girl", "without much skill"),
        ("He needs to grow a pair and tell her.", "grow a pair", "find some courage"),
        ("grow a pair of balls, man", "grow a pair of balls", "find some courage"),
        ("Boys will be boys.", "Boys will be boys", "kids will be kids"),
        ("Oh well, boys'll be boys!", "boys'll be boys", "kids will be kids"),
        ("Boys will always be boys.", "Boys will always be boys", "kids will always be kids"),
    ],
)
def test_an_idiom_is_found_with_the_wording_that_replaces_it(text, found, wording):
    (hit,) = idioms.find(text)
    assert text[hit.start : hit.end] == hit.text == found
    assert hit.alternatives == (wording,) and hit.category == "gender"


@pytest.mark.parametrize(
    "text",
    [
        "It was the next man up mantra.",  # a team's saying, from infer_50
        "The man up the street is nice.",
        "She looks like a girl in that photo.",  # no verb of doing
        "I grew a pair of tomatoes.",
        "Women drivers are the worst.",
        "The boys will be back by noon.",
        "Boys will be boys-only in this club.",
    ],
)
def test_the_same_words_elsewhere_are_not_idioms(text):
    assert idioms.find(text) == []


def test_the_explanation_says_what_an_idiom_does_only_when_there_is_one():
    assert idioms.explain([]) == ""
    assert "gender" in idioms.explain(idioms.find("Man up."))
