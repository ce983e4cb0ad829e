"""Rewrites on the real embedded model: the same text asked twice gets the same greedy rewrite
whatever the context cache holds, and a guided rewrite pushes down the right tokens."""

import csv

import pytest

from srllm import paths
from srllm.server.engine import AVOID_BIAS, Engine, EngineConfig


@pytest.fixture(scope="module")
def engine(model_path):
    engine = Engine(EngineConfig(model_path=model_path, n_threads=2))
    yield engine
    engine.close()


def tokens(engine: Engine, text: str) -> list[int]:
    return engine._llm.tokenize(text.encode(), add_bos=False, special=False)


def test_a_text_rewritten_twice_in_a_row_gets_the_same_rewrite(engine):
    # Rows where llama-cpp-python's own prompt cache (re-reading one token) gave a second greedy
    # rewrite different from the first on this model.
    with paths.dataset_path("srllm", "train_500.csv").open(newline="") as fh:
        rows = [row["biased_text"] for row in csv.DictReader(fh)][1:3]
    for text in rows:
        engine.label_probabilities("Hello.")  # another prompt in the cache, as in a real call
        first = "".join(engine.stream_rewrite(text))
        assert "".join(engine.stream_rewrite(text)) == first


def test_a_guided_rewrite_pushes_down_each_spelling_whose_first_token_can_be_pushed(engine):
    bias = engine.avoid_bias(["Hate", "the lazy"])
    assert tokens(engine, " hate")[0] in bias and tokens(engine, " lazy")[0] in bias
    assert tokens(engine, "Hate")[0] not in bias  # "H": it starts too many other words
    assert tokens(engine, " the")[0] not in bias  # a function word
    assert set(bias.values()) == {AVOID_BIAS}
