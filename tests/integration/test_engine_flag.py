"""A biased flag's categories and words on the real embedded model: generated under the flag
grammar with the grammar checked lazily (Engine._grammar_greedy), they are exactly what
llama-cpp-python's create_completion writes under the same grammar at temperature 0."""

import pytest

from srllm import contract
from srllm.server import flag_answer
from srllm.server.engine import Engine, EngineConfig

TEXTS = [
    "Old people are slow and useless with technology.",
    "Wow 🎉 those 👴🏻 old people 🙄 are slow, said the 🇫🇷 tourist.",
    "Those lazy immigrants are ruining everything.",
    "Women are too emotional to lead engineering teams.",
    "The meeting starts at noon.",
]


@pytest.fixture(scope="module")
def engine(model_path):
    engine = Engine(EngineConfig(model_path=model_path, n_threads=2))
    yield engine
    engine.close()


def test_the_lazy_grammar_check_writes_what_create_completion_writes(engine):
    import llama_cpp

    label = contract.Label.SLIGHTLY_BIASED
    head_tokens, _, rest = engine._answer_heads[label]
    for text in TEXTS:
        grammar = llama_cpp.LlamaGrammar.from_string(
            flag_answer.tail_grammar(rest, contract.candidate_words(text)), verbose=False
        )
        prompt = engine.prompt_tokens(contract.Task.FLAG, text) + head_tokens
        lazy = engine._grammar_greedy(prompt, grammar, contract.FLAG_MAX_TOKENS, None)
        full = "".join(
            delta
            for delta, _ in engine._stream(
                prompt, max_tokens=contract.FLAG_MAX_TOKENS, cancel=None, grammar=grammar
            )
        )
        assert lazy == full and lazy.endswith("],"), (text, lazy, full)
        # What the engine then makes of it parses, whatever the verdict's threshold.
        flag = engine.flag(text, threshold=0.0)
        assert flag.biased and set(flag.categories) <= set(contract.CATEGORIES)
        assert all(word in text for word in flag.biased_words)
