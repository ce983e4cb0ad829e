"""Prompt-lookup drafts for greedy rewrites (server.drafting): what is proposed, what greedy
decoding keeps, and the text shown up to the stop string."""

import numpy as np
import pytest

from srllm.server import drafting

PROMPT = [1, 2, 3, 4, 5, 6, 2, 3, 7, 8, 9]  # "2 3" occurs twice: the later one is the text's


def test_the_tokens_after_the_latest_match_in_the_prompt_are_proposed():
    assert drafting.lookup([*PROMPT, 2, 3], len(PROMPT), 3) == [7, 8, 9]
    # Never past the prompt, never more than asked.
    assert drafting.lookup([*PROMPT, 7, 8], len(PROMPT), 5) == [9]
    assert drafting.lookup([*PROMPT, 2, 3], len(PROMPT), 1) == [7]


def test_one_matching_token_is_not_enough():
    # "5" occurs in the prompt, "0 5" does not: where the rewrite departs from its input, a
    # one-token match drafts what it will not keep.
    assert drafting.lookup([*PROMPT, 0, 5], len(PROMPT), 2) == []


def test_nothing_is_proposed_without_a_match_or_room():
    assert drafting.lookup([*PROMPT, 42], len(PROMPT), 4) == []
    assert drafting.lookup([*PROMPT, 2, 3], len(PROMPT), 0) == []
    assert drafting.lookup([], 0, 4) == []
    # The tail itself is no match: "8 9" and "9" occur nowhere else.
    assert drafting.lookup(PROMPT, len(PROMPT), 4) == []


def rows(*argmaxes: int, vocab: int = 10) -> np.ndarray:
    out = np.zeros((len(argmaxes), vocab), dtype=np.float32)
    for i, token in enumerate(argmaxes):
        out[i, token] = 1.0
    return out


def test_drafts_are_kept_while_greedy_decoding_would_choose_them():
    assert drafting.accepted([4, 5, 6], rows(4, 5, 6, 1), None) == 3
    assert drafting.accepted([4, 5, 6], rows(4, 9, 6, 1), None) == 1
    assert drafting.accepted([4], rows(3, 1), None) == 0
    assert drafting.accepted([], rows(3), None) == 0


def test_the_logit_bias_decides_as_it_does_for_plain_greedy_decoding():
    bias = np.zeros(10, dtype=np.float32)
    bias[4] = -8.0  # a highlighted word pushed down
    assert drafting.accepted([4, 5], rows(4, 5, 1), bias) == 0


@pytest.mark.parametrize("cut", [1, 2, 3, 5])
def test_the_text_stops_before_the_stop_string_however_the_bytes_arrive(cut):
    data = "Fair text 👴🏻.\n</text> more".encode()
    text = drafting.StopText("</text>")
    shown, stopped = "", False
    for i in range(0, len(data), cut):
        delta, stopped = text.feed(data[i : i + cut])
        shown += delta
        if stopped:
            break
    assert stopped and shown + text.flush() == "Fair text 👴🏻.\n"
    assert text.feed(b"x") == ("", True)


def test_a_held_back_start_of_the_stop_string_is_shown_at_the_end():
    text = drafting.StopText("</text>")
    assert text.feed(b"a </te") == ("a ", False)
    assert text.feed(b"am") == ("</team", False)
    assert text.feed(b" <") == (" ", False)
    assert text.flush() == "<"
