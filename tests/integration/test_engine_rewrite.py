"""Rewrites on the real embedded model: the same text asked twice gets the same greedy rewrite
whatever the context cache holds, and a guided rewrite pushes down the right tokens."""

import pytest

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
