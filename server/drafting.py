"""Prompt-lookup drafting for greedy rewrites: a rewrite copies most of its input, so the tokens
that followed the last two generated tokens in the prompt are proposed as a draft, read
in the same llama_decode as the token just chosen, and kept as far as greedy decoding would
have chosen them itself.

llama-cpp-python's own drafting (`Llama(draft_model=LlamaPromptLookupDecoding())`) keeps the
logits of every evaluated row in a buffer sized for one batch (512 rows, not the context) and
fails with "could not broadcast input array" once prompt and rewrite pass 512 tokens, as most
of ours do (0.3.36). The engine runs this loop on its own context instead (Engine._drafted);
these are its pure parts.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

import numpy as np

# The generated tail looked up in the prompt: two tokens. A one-token match drafts too often
# where the rewrite departs from its input (one-sentence biased texts read 0.95x as fast with
# it, 1.15x without).
NGRAM = 2
# Draft tokens per step: on 2 Xeon cores an 11-token decode costs 3.2x a 1-token one (45 vs 14
# ms); 3 to 5 read alike on biased sentences (1.12-1.15x), 10 slower.
DRAFT_TOKENS = 3


def lookup(tokens: Sequence[int], source_end: int, size: int) -> list[int]:
    """Up to `size` tokens that followed, in tokens[:source_end] (the prompt), the latest
    occurrence of the last NGRAM tokens of `tokens`: where the user's text is, at the prompt's
    end, copying continues. Empty when nothing matches."""
    n = NGRAM
    if size <= 0 or len(tokens) <= n:
        return []
    tail = list(tokens[-n:])
    # Latest first: the text sits at the end of the prompt, after the fixed instructions. A
    # match must have a token after it in the prompt and must not be the tail itself.
    for start in range(min(source_end - n - 1, len(tokens) - n - 1), -1, -1):
        if list(tokens[start : start + n]) == tail:
            return list(tokens[start + n : min(start + n + size, source_end)])
    return []


def accepted(draft: Sequence[int], rows: np.ndarray, bias: np.ndarray | None) -> int:
    """How many draft tokens greedy decoding confirms: rows[i] are the logits read after the
    i-th token of the decode (the chosen token, then the draft), so draft[i] stands when it is
    the argmax of rows[i] (with the logit bias the rewrite is made under)."""
    n = 0
    for i, token in enumerate(draft):
        row = rows[i] if bias is None else rows[i] + bias
        if int(np.argmax(row)) != token:
            break
        n += 1
    return n


class StopText:
    """The generated text, given as token bytes, up to a stop string: what is yielded never
    holds a broken UTF-8 sequence or the start of the stop string that later bytes may finish
    (create_completion's `stop`, which the drafted loop does not go through)."""

    def __init__(self, stop: str):
        self.stop = stop
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""
        self.stopped = False

    def feed(self, data: bytes) -> tuple[str, bool]:
        """The text that is safe to show now, and whether the stop string was reached."""
        if self.stopped:
            return "", True
        self._held += self._decoder.decode(data)
        at = self._held.find(self.stop)
        if at >= 0:
            out, self._held, self.stopped = self._held[:at], "", True
            return out, True
        keep = next(
            (n for n in range(min(len(self.stop) - 1, len(self._held)), 0, -1)
             if self.stop.startswith(self._held[-n:])),
            0,
        )  # fmt: skip
        out = self._held[: len(self._held) - keep]
        self._held = self._held[len(out) :]
        return out, False

    def flush(self) -> str:
        """What is held back, once nothing more will come (not after the stop string)."""
        if self.stopped:
            return ""
        out, self._held = self._held + self._decoder.decode(b"", final=True), ""
        return out
