"""Rewrites on the real embedded model: the same text asked twice gets the same greedy rewrite
whatever the context cache holds, and a guided rewrite pushes down the right tokens."""

import numpy as np
import pytest

from srllm import contract
from srllm.server.engine import AVOID_BIAS, Engine, EngineConfig


@pytest.fixture(scope="module")
def engine(model_path):
    engine = Engine(EngineConfig(model_path=model_path, n_threads=2))
    yield engine
    engine.close()


def tokens(engine: Engine, text: str) -> list[int]:
    return engine._llm.tokenize(text.encode(), add_bos=False, special=False)


# Two SR-LLM train_500 rows where llama-cpp-python's own prompt cache (re-reading one token)
# gave a second greedy rewrite different from the first on the embedded model.
TWICE = [
    ": : : This has nothing to do with reasonableness . I 'm not interpreting , but modeling . "
    "And indeed , it is not said that the host may open door 2 , but neither is said he can not "
    "open it . That why we have to account for this door .",
    "So feminist behaviour , in your opinion then , is having your husband or father tell you to "
    "cover your face and then you stand up to government to allow it happen ? Strange .",
]


def test_a_text_rewritten_twice_in_a_row_gets_the_same_rewrite(engine):
    for text in TWICE:
        engine.label_probabilities("Hello.")  # another prompt in the cache, as in a real call
        first = "".join(engine.stream_rewrite(text))
        assert "".join(engine.stream_rewrite(text)) == first


def test_a_guided_rewrite_pushes_down_each_spelling_whose_first_token_can_be_pushed(engine):
    bias = engine.avoid_bias(["Hate", "the lazy"])
    assert tokens(engine, " hate")[0] in bias and tokens(engine, " lazy")[0] in bias
    assert tokens(engine, "Hate")[0] not in bias  # "H": it starts too many other words
    assert tokens(engine, " the")[0] not in bias  # a function word
    assert set(bias.values()) == {AVOID_BIAS}


SHORT = [
    "Old people are slow and useless with technology.",
    "Wow 🎉 those 👴🏻 old people 🙄 are slow, said the 🇫🇷 tourist.",
    "He is a lazy bum who never works.",
]
# Logits read in decodes of different widths round differently (see engine._BatchScorer.score):
# a replayed token may lose to another by this much and still be the greedy choice.
NEAR_TIE = 0.5


def test_drafted_rewrites_are_greedy_and_leave_the_cache_consistent(engine, model_path):
    """The default engine drafts greedy rewrites from the prompt (server.drafting): several
    tokens per decode, kept as far as greedy decoding confirms them. Replayed token by token on
    an engine that never drafts, every token of the rewrite is the greedy choice under the same
    logit bias (up to rounding), the rewrite ends before </text>, the same text gets the same
    rewrite again, and the context left behind scores the next prompt exactly as the plain
    engine's does."""
    assert engine.config.prompt_lookup > 0
    plain = Engine(EngineConfig(model_path=model_path, n_threads=2, prompt_lookup=0))
    try:
        bias = np.zeros(plain._llm.n_vocab(), dtype=np.float32)
        for token, value in plain.avoid_bias(["slow"]).items():
            bias[token] += value
        for text in SHORT:
            out = "".join(engine.stream_rewrite(text, avoid=["slow"]))
            assert out.strip() and "</text>" not in out
            prompt = engine.prompt_tokens(contract.Task.REWRITE, text)
            made = engine._llm.input_ids[len(prompt) : engine._llm.n_tokens].tolist()
            assert made, "the drafted tokens are the context's"
            for k, token in enumerate(made):
                row = plain._next_logits(prompt + made[:k]) + bias
                assert row.max() - row[token] < NEAR_TIE
            assert engine.label_probabilities(text) == plain.label_probabilities(text)
            assert "".join(engine.stream_rewrite(text, avoid=["slow"])) == out
    finally:
        plain.close()
