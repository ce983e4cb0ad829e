"""What a rewrite keeps of the user's text (server.preserve): numbers by what they stand for,
emoji and URLs it dropped, the spelling and typography of words it only re-spelled."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize(
    ("said", "wrote"),
    [
        ("cancelled", "canceled"),
        ("colour", "color"),
        ("organised", "organized"),
        ("analyse", "analyze"),
        ("centres", "centers"),
        ("defence", "defense"),
        ("catalogue", "catalog"),
        ("it’s", "it's"),
        ("“fine”", '"fine"'),
        ("—", "-"),
        ("wait…", "wait..."),
    ],
)
def test_a_word_the_rewrite_only_respelled_keeps_the_users_form(said, wrote):
    source = f"The loud {said} speech by the chairman."
    rewrite = f"The {wrote} speech by the chair."
    assert preserve.restore_forms(source, rewrite) == f"The {said} speech by the chair."


def test_a_demonstrative_swapped_for_one_of_the_same_number_is_the_users_again():
    source = "Wow 🎉 those 👴🏻 old people 🙄 are slow, said the 🇫🇷 tourist."
    rewrite = "Wow, 🎉 these 👴🏻 old people 🙄 are unhurried, said the 🇫🇷 tourist."
    assert preserve.restore_forms(source, rewrite) == rewrite.replace("these", "those")
    assert preserve.restore_forms("I like this plan.", "I like that plan.") == "I like this plan."
    # Another number is another phrase: "this" for "those" stays.
    assert preserve.restore_forms("I like those plans.", "I like this plan.") == (
        "I like this plan."
    )


def test_words_the_rewrite_changed_stay_its_own():
    # Another word, another number (plural), another case: the model's choice, kept.
    source = "Those old people annoy the Tourist, she said."
    rewrite = "Some people annoy the tourists, she said."
    assert preserve.restore_forms(source, rewrite) == rewrite
    # Short words are other words in another spelling.
    assert preserve.restore_forms("They are too lazy.", "They are slow to act.") == (
        "They are slow to act."
    )
    assert preserve.restore_forms("Get off.", "Get of it.") == "Get of it."
    # Punctuation that ends a clause differently is the rewrite's.
    assert preserve.restore_forms("Slow, they said.", "Slow. They said.") == "Slow. They said."


def test_forms_keep_the_rewrites_spacing_and_an_empty_side_changes_nothing():
    assert preserve.restore_forms("It’s   late…", " It's late...\n") == " It’s late…\n"
    assert preserve.restore_forms("", "Text.") == "Text."
    assert preserve.restore_forms("Text.", "") == ""


def test_a_sentence_rewritten_without_its_full_stop_gets_the_originals_back():
    source = "That's how they kept the policies from causing an 8 year recession."
    rewrite = "That's how they kept the economy from an 8 year contraction"
    assert preserve.restore_end(source, rewrite) == rewrite + "."
    # The mark only: the quote it closed may be gone from the rewrite.
    assert preserve.restore_end("“Is she too old?”", "Is she the right age ") == (
        "Is she the right age? "
    )
    # One mark: a run of them was the user's emphasis.
    assert preserve.restore_end("It cracked this or that...........", "It has issues") == (
        "It has issues."
    )
    assert preserve.restore_end("Is she too old?!", "Is she ready") == "Is she ready?"
    # A rewrite with a mark of its own, or a source without one, is left as it is.
    assert preserve.restore_end(source, "They avoided a recession!") == "They avoided a recession!"
    assert preserve.restore_end("old people are slow", "people differ") == "people differ"
    assert preserve.restore_end("Wait.", "🎉") == "🎉"


_words = st.lists(
    st.sampled_from(["colour", "color", "it’s", "it's", "too", "to", "—", "-", "Old", "old", "🎉"])
    | st.text(min_size=1, max_size=8).filter(lambda w: not any(c.isspace() for c in w)),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(source=_words, rewrite=_words, space=st.sampled_from([" ", "\n", "  "]))
def test_forms_and_ends_only_put_back_what_the_user_wrote(source, rewrite, space):
    original, text = " ".join(source), space.join(rewrite)
    restored = preserve.restore_forms(original, text)
    # Word for word the rewrite's, each word either the rewrite's or the user's own.
    assert len(restored.split()) == len(text.split())
    for said, wrote in zip(restored.split(), text.split(), strict=True):
        assert said == wrote or said in original.split()
    ended = preserve.restore_end(original, restored)
    assert ended.startswith(restored.rstrip()) and len(ended) - len(restored) <= len(original)


@pytest.mark.parametrize(
    ("source", "rewrite", "swapped"),
    [
        (
            "make sure not to hire a woman if she has a kid",
            "Make sure not to consider hiring a male if he has a child.",
            True,
        ),
        ("The men at work are lazy.", "The women at work are lazy.", True),
        ("She said hi.", "He said hi.", True),
        # Both genders, none, or the source's gender still there: no swap.
        ("Girls are bad at math.", "Boys and girls can both be good at math.", False),
        ("Girls are bad at math.", "People of any gender can be bad at math.", False),
        ("He is a chairman.", "He is a chair.", False),
        ("Women lead badly, so our managers are men.", "Our managers are men.", False),
        # The opposite of other groups.
        (
            "Fat people have no self-control.",
            "People who are underweight have no self-control.",
            True,
        ),
        ("Old people are slow with technology.", "Young people are fast with it.", True),
        ("Old people are slow with technology.", "People of any age can be slow.", False),
        ("The rich are greedy.", "The rich and the poor can both be greedy.", False),
    ],
)
def test_a_rewrite_that_aims_the_claim_at_the_opposite_group_is_found(source, rewrite, swapped):
    assert preserve.swapped_group(source, rewrite) is swapped
