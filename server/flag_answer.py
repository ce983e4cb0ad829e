"""The generated part of a biased flag answer, as a llama.cpp grammar (GBNF).

Once the engine has decided the verdict from P(label), everything before the categories is
known: `{"label": "slightly_biased", "categories": ` in the canonical form the model was
trained on (contract.Flag.to_json). The engine puts those tokens in the prompt instead of
generating them one forward pass each, lets the model write only the categories and the words
under this grammar, and closes the answer itself (the explanation is built from the highlights,
so the model's would be dropped): 12 of a typical 25-40 tokens are read in one batch instead of
one forward pass each, and the ~5 of the explanation are not generated. On 80 infer_50
sentences (v5, 2 cores) a biased flag took 0.48 s instead of 0.75 s; 77 flags were identical
and 3 differed in a category (rounding of the prompt read in one batch). The engine checks this
grammar lazily (Engine._grammar_greedy): 0.43 -> 0.32 s a biased flag, the same flags.
"""

from __future__ import annotations

import json

from srllm import contract

# What follows the words' list and its comma in every answer the engine keeps: the explanation
# the model never writes (contract.flag_schema fixes it to "") and the closing brace. The comma
# stays in the grammar: the model closes a list with one token `"],`, and a grammar ending at
# `]` would leave it only `",` (one more word) to write.
CLOSE = ' "explanation": ""}'


def head(label: contract.Label) -> str:
    """The answer's canonical text before the categories array."""
    canonical = contract.Flag(label, [], [], "").to_json()
    return canonical[: canonical.index('"categories": ') + len('"categories": ')]


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _up_to(item: str, most: int, least: int = 0) -> str:
    """GBNF for a list of `least` to `most` items separated as json.dumps separates them."""
    options = []
    for n in range(least, most + 1):
        options.append(' ", " '.join([item] * n) if n else '""')
    return " | ".join(f"({o})" for o in options)


def tail_grammar(rest: str, vocabulary: list[str]) -> str:
    """GBNF of what the model writes after the prompt's part of head(): `rest` (the part of
    head() the prompt's tokens did not cover), the categories, and the words, each word one of
    `vocabulary` (at least one when there is one), bounded as contract.FLAG_SCHEMA bounds them."""
    categories = " | ".join(_literal(json.dumps(c)) for c in contract.CATEGORIES)
    words_key = _literal(', "biased_words": [')
    lines = [
        f'root ::= {_literal(rest)} "[" cats "]" {words_key} words "],"',
        f"cats ::= {_up_to('cat', contract.MAX_CATEGORIES)}",
        f"cat ::= {categories}",
    ]
    if vocabulary:
        words = " | ".join(_literal(json.dumps(w, ensure_ascii=False)) for w in vocabulary)
        lines += [f"words ::= {_up_to('word', contract.MAX_BIASED_WORDS, 1)}", f"word ::= {words}"]
    else:  # nothing in the text could be highlighted
        lines.append('words ::= ""')
    return "\n".join(lines) + "\n"


def answer(prefix: str, generated: str) -> str:
    """The whole answer to parse: the prompt's part, what the model wrote, and CLOSE."""
    return prefix + generated + CLOSE
