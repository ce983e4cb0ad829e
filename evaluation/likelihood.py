"""Log-likelihood of a continuation given a context, straight from llama.cpp's logits.

A second llama.cpp context beside the server's engine, created with logits_all=True so one
forward pass scores every token. Used for perplexity and StereoSet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srllm.defaults import DEFAULT_CTX


@dataclass(frozen=True)
class Scored:
    logprob: float  # natural-log probability of the continuation's tokens, summed
    n_tokens: int

    @property
    def mean(self) -> float:
        return self.logprob / self.n_tokens if self.n_tokens else float("-inf")


class Likelihood:
    def __init__(self, model_path: Path, n_ctx: int = DEFAULT_CTX, n_threads: int | None = None):
        import llama_cpp  # heavy: imported only when a model is scored

        self.n_ctx = n_ctx
        self._llm = llama_cpp.Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_gpu_layers=0,
            logits_all=True,
            verbose=False,
        )
        self._start = self._start_tokens()

    def _start_tokens(self) -> list[int]:
        """What a document starts with: the end-of-text separator the model was trained with,
        else BOS; without either the first token of the text is context, not scored."""
        sep = self._llm.tokenize(b"<|endoftext|>", add_bos=False, special=True)
        if len(sep) == 1:
            return sep
        bos = self._llm.token_bos()
        return [bos] if bos >= 0 else []

    def tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def score(self, context: str, continuation: str) -> Scored:
        """log P(continuation | start + context); text beyond the window is cut off."""
        ctx = self._start + (self.tokenize(context) if context else [])
        cont = self.tokenize(continuation)
        if not ctx:  # no start token: the first token conditions the rest
            ctx, cont = cont[:1], cont[1:]
        tokens = (ctx + cont)[: self.n_ctx]
        n_ctx_tokens = len(ctx)
        if len(tokens) <= n_ctx_tokens:
            return Scored(0.0, 0)
        self._eval(tokens)
        logits = np.asarray(self._llm.scores[: len(tokens) - 1], dtype=np.float64)
        rows = logits[n_ctx_tokens - 1 :]
        targets = np.asarray(tokens[n_ctx_tokens:])
        peak = rows.max(axis=1, keepdims=True)
        log_z = peak[:, 0] + np.log(np.exp(rows - peak).sum(axis=1))
        logprobs = rows[np.arange(len(targets)), targets] - log_z
        return Scored(float(logprobs.sum()), int(len(targets)))

    def _eval(self, tokens: list[int]) -> None:
        """Evaluate tokens, reusing the longest prefix already in the context.

        Logits at a position depend only on the tokens up to it, so rows of a shared prefix
        (a StereoSet context, a sentence up to its blank) stay valid.
        """
        llm = self._llm
        cached = llm.input_ids[: llm.n_tokens].tolist()
        keep = 0
        for old, new in zip(cached, tokens, strict=False):
            if old != new:
                break
            keep += 1
        llm.n_tokens = keep  # eval() drops the KV cache beyond n_tokens
        if keep < len(tokens):
            llm.eval(tokens[keep:])

    def close(self) -> None:
        self._llm.close()
