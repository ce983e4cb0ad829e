"""The generated part of a flag answer (server.flag_answer): the prompt's head, the grammar's
tail and CLOSE put back together are the canonical answer the model was trained on."""

import llama_cpp
import pytest

from srllm import contract
from srllm.server import flag_answer

BIASED = (contract.Label.SLIGHTLY_BIASED, contract.Label.HIGHLY_BIASED)


@pytest.mark.parametrize("label", BIASED)
@pytest.mark.parametrize(
    ("categories", "words"),
    [([], ["too emotional"]), (["age", "gender"], ['say "hi"', "naïve\\x", "x"])],
)
def test_head_generated_part_and_close_make_the_canonical_answer(label, categories, words):
    canonical = contract.Flag(label, categories, words, "").to_json()
    head = flag_answer.head(label)
    assert canonical.startswith(head) and head.endswith('"categories": ')
    generated = canonical[len(head) : len(canonical) - len(flag_answer.CLOSE)]
    assert generated.endswith("],")  # the grammar's last characters
    assert flag_answer.answer(head, generated) == canonical
    assert contract.parse_flag(flag_answer.answer(head, generated)).biased_words == words


@pytest.mark.parametrize("vocabulary", [["too emotional", 'say "hi"', "naïve\\x", "é"], []])
def test_the_tail_grammar_compiles_for_any_vocabulary(vocabulary):
    gbnf = flag_answer.tail_grammar(" ", vocabulary)
    assert llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False) is not None
    assert gbnf.count("word ::=") == (1 if vocabulary else 0)
    # The lists are bounded as FLAG_SCHEMA bounds them: up to MAX_CATEGORIES categories.
    sep = ' ", " '
    cats = next(line for line in gbnf.splitlines() if line.startswith("cats ::="))
    assert sep.join(["cat"] * contract.MAX_CATEGORIES) in cats
    assert sep.join(["cat"] * (contract.MAX_CATEGORIES + 1)) not in cats
