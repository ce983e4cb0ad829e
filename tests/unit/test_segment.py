"""The sentence segmenter: exact offsets, nothing lost, the usual false stops."""

from hypothesis import given
from hypothesis import strategies as st

from srllm.server.segment import reassemble, split_sentences


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def test_sentences_abbreviations_initials_and_decimals():
    text = 'Dr. Smith met J. Doe at 3.5 p.m. in the U.S. Capitol. He said "Hi!" Then left.'
    assert texts(text) == [
        "Dr. Smith met J. Doe at 3.5 p.m. in the U.S. Capitol.",
        'He said "Hi!"',
        "Then left.",
    ]


def test_line_breaks_and_blank_lines_end_sentences():
    assert texts("One\nTwo.\r\n\r\nThree?  Four…\n") == ["One", "Two.", "Three?", "Four…"]


def test_a_lower_case_word_after_a_stop_continues_the_sentence():
    assert texts("It costs approx. ten euros. Fine.") == ["It costs approx. ten euros.", "Fine."]
    assert texts("Calif. residents pay. Ok.") == ["Calif. residents pay.", "Ok."]
    assert texts("He left the day off... deflectors on.") == [
        "He left the day off... deflectors on."
    ]


def test_chat_sentences_may_start_in_lower_case():
    assert texts("really? no way! ok then") == ["really?", "no way!", "ok then"]
    assert texts("they lost their faith. last night was bad") == [
        "they lost their faith.",
        "last night was bad",
    ]


def test_emoji_stay_inside_their_sentence():
    text = "Wow 🎉 those 👴🏻 old people 🙄 are slow, said the 🇫🇷 tourist."
    assert texts(text) == [text]


def test_nothing_but_space_gives_no_sentence():
    assert split_sentences(" \n\t\n ") == []


@given(st.text(alphabet=st.sampled_from(list("ab .!?\n\r\t\"'”)🎉👴🏻é")), max_size=80))
def test_offsets_are_exact_and_the_gaps_are_white_space(text):
    segments = split_sentences(text)
    cursor = 0
    for seg in segments:
        assert text[seg.start : seg.end] == seg.text
        assert seg.text == seg.text.strip() and seg.text
        assert "\n" not in seg.text and "\r" not in seg.text
        assert text[cursor : seg.start].strip() == ""
        cursor = seg.end
    assert text[cursor:].strip() == ""
    assert reassemble(text, segments, {}) == text
