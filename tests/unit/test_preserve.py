"""What a rewrite keeps of the user's text (server.preserve): numbers by what they stand for."""

import pytest

from srllm.server import preserve


@pytest.mark.parametrize(
    ("a", "b"),
    [("250k", "$250,000"), ("3.5m", "3,500,000"), ("(2016)", "2016."), ("40%", "40%"), ("8", "8")],
)
def test_two_spellings_of_one_number_stand_for_the_same(a, b):
    assert preserve.number_key(a) == preserve.number_key(b) is not None


@pytest.mark.parametrize(("a", "b"), [("250", "250k"), ("1990", "1990s"), ("40", "40%")])
def test_different_numbers_differ(a, b):
    assert preserve.number_key(a) != preserve.number_key(b)


def test_words_are_no_number_and_codes_stand_for_themselves():
    assert preserve.number_key("hello") is None
    assert preserve.number_key("w0") is None and preserve.number_key("COVID-19") is None
    assert preserve.number_key("46.61.522") == "46.61.522"


def test_a_number_the_rewrite_spells_another_way_is_not_put_back_again():
    source = "The taxpayers will never see that $ 250k Sword gave to the ex chief."
    rewrite = "The taxpayers will never see the $250,000 Sword gave to the former chief."
    assert preserve.restore_protected(source, rewrite) == rewrite


def test_a_number_the_rewrite_dropped_is_put_back():
    source = "That costs 250k in 2024, they say."
    rewrite = "That costs a lot, they say."
    out = preserve.restore_protected(source, rewrite)
    assert "250k" in out and "2024" in out


def test_numbers_a_rewrite_adds_are_invented():
    source = "They kept the policies from causing an 8 year recession."
    assert preserve.invented_numbers(source, "They kept it from an 8 year 1990s depression.") == {
        "1990s"
    }
    assert preserve.invented_numbers(source, "They avoided an eight-year recession.") == set()
    assert preserve.invented_numbers("It cost $ 250k.", "It cost $250,000.") == set()


def test_a_long_word_the_rewrite_says_over_and_over_is_a_loop():
    source = "They label Trump supporters as racists, fascists and other vile terms."
    looped = "They label Trump supporters homocentrism, heterocentrism, homocentrism, homocentrism"
    assert preserve.looped_words(source, looped) == {"homocentrism"}
    # Short words recur in any sentence; a word the source says as often is the user's own.
    assert preserve.looped_words("The cat and the dog.", "The cat, the dog and the bird.") == set()
    repeated = "Either remains, remains, remains, or goes."
    assert preserve.looped_words(repeated, repeated) == set()
    assert preserve.looped_words(source, "They call them racists and other harsh terms.") == set()


def test_emoji_go_back_on_their_side_of_a_replaced_word():
    source = "Wow 🎉 those 👴🏻 old people 🙄 are slow, said the 🇫🇷 tourist."
    rewrite = "Wow, these old people are unhurried, said the tourist."
    assert preserve.restore_protected(source, rewrite) == (
        "Wow, 🎉 these 👴🏻 old people 🙄 are unhurried, said the 🇫🇷 tourist."
    )


def test_emoji_of_a_deleted_stretch_go_back_before_the_next_shared_word():
    assert preserve.restore_protected("See 🎉 it now.", "Look now.") == "🎉 Look now."
