"""Log-likelihoods from llama.cpp logits on the embedded model: consistent and sensible."""

from __future__ import annotations

import pytest

from srllm.evaluation.likelihood import Likelihood


@pytest.fixture(scope="module")
def lik(model_path):
    scorer = Likelihood(model_path, n_ctx=256)
    yield scorer
    scorer.close()


def test_prefix_reuse_gives_the_same_scores_as_a_fresh_context(lik, model_path):
    first = lik.score("Many people live in Ethiopia.", " The people are very thin.")
    lik.score("Many people live in Ethiopia.", " Cats have sharp claws.")  # shares the context
    again = lik.score("Many people live in Ethiopia.", " The people are very thin.")
    fresh = Likelihood(model_path, n_ctx=256)
    try:
        expected = fresh.score("Many people live in Ethiopia.", " The people are very thin.")
    finally:
        fresh.close()
    assert first.n_tokens == again.n_tokens == expected.n_tokens > 0
    assert again.logprob == pytest.approx(first.logprob, abs=1e-3)
    assert first.logprob == pytest.approx(expected.logprob, abs=1e-3)


def test_chain_rule_and_fluency(lik):
    whole = lik.score("", "The cat sat on the mat.")
    head = lik.score("", "The cat sat")
    tail = lik.score("The cat sat", " on the mat.")
    assert head.n_tokens + tail.n_tokens == whole.n_tokens
    assert head.logprob + tail.logprob == pytest.approx(whole.logprob, abs=1e-2)
    scrambled = lik.score("", "Mat the on sat cat the.")
    assert whole.mean > scrambled.mean
    assert whole.logprob < 0
