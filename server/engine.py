"""The llama.cpp engine: one GGUF, one context, the contract's two tasks plus raw chat.

A second GGUF may write the rewrites (EngineConfig.rewriter_path): the model that flags best is
not always the one that rewrites best, and the rewrite reads only its own prompt, so each task
runs on the model that does it best. Everything else (verdicts, words, chat) stays on the first.
A third may score scans (EngineConfig.scan_path): a fine-tune cut to its first layers reads a
whole page in a fraction of the time (Engine.scan_engine, server.scan). One trained on the scan's
own prompt (contract.scan_prompt, GGUF srllm.prompt = "scan") reads each sentence and a line
break instead of the chat markup around it, and only ever scores.

This is the only module that imports llama_cpp. Every call is blocking and must run off the
event loop; callers serialise access (one generation at a time per context) and pass a
threading.Event to stop a generation early, e.g. when an HTTP client disconnects.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp import llama_chat_format

from srllm import contract, paths
from srllm.defaults import DEFAULT_CTX
from srllm.errors import Code, SrllmError
from srllm.manifest import ModelManifest
from srllm.server import drafting, flag_answer

log = logging.getLogger("srllm.engine")

# GGUF metadata keys the convert stage writes; their presence marks a project fine-tune.
META_CONTRACT = "srllm.contract"
META_MANIFEST_SHA = "srllm.training_manifest_sha256"
# The decision threshold on P(biased) chosen on validation data when the model was built.
META_FLAG_THRESHOLD = "srllm.flag_threshold"
# The prompt a model was trained on when it is not the contract's chat one: contract.PROMPT_SCAN
# for a scan scorer (TrainConfig.scan_prompt), read only at the label position.
META_PROMPT = "srllm.prompt"
DEFAULT_FLAG_THRESHOLD = 0.5
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class EngineConfig:
    model_path: Path
    n_ctx: int = DEFAULT_CTX
    n_threads: int | None = None  # None: llama.cpp's default (physical cores)
    n_gpu_layers: int | None = None  # None: all layers when the build can offload, else 0
    seed: int = 0
    flag_threshold: float | None = None  # None: the model's own (GGUF metadata), else 0.5
    # Draft tokens proposed from the prompt for a greedy rewrite (server.drafting; 0 = off): a
    # rewrite copies most of its input. Speed and identical outputs measured by `just bench`.
    prompt_lookup: int = drafting.DRAFT_TOKENS
    # A second GGUF that writes the rewrites (None: the model itself); see the module docstring.
    rewriter_path: Path | None = None
    # A GGUF that scores scans (None: the model itself), loaded on the first scan.
    scan_path: Path | None = None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    finetuned: bool
    contract: str | None
    file_type: str | None
    size_bytes: int
    n_ctx: int
    n_gpu_layers: int
    gpu_offload: bool
    flag_threshold: float
    # From the manifest `srllm convert` wrote beside the GGUF: which run and data made it.
    training: dict | None = None
    # The GGUF that writes the rewrites when it is not this one (EngineConfig.rewriter_path).
    rewriter: dict | None = None
    # The GGUF that scores scans when it is not this one (EngineConfig.scan_path).
    scan: dict | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _scan_info(path: Path) -> dict:
    """/health's view of the scan model before it is loaded: its file and threshold, from the
    manifest `srllm convert` wrote beside it."""
    manifest = ModelManifest.for_model(path)
    return {
        "name": (manifest.name if manifest else None) or path.stem,
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "flag_threshold": manifest.flag_threshold if manifest else None,
    }


def check_gguf(path: Path) -> None:
    """Fail early, with one clear line, on a missing file or one that is not a GGUF."""
    if not path.is_file():
        raise SrllmError(Code.MODEL_MISSING, f"model file not found: {path}", path=str(path))
    with path.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise SrllmError(
                Code.MODEL_LOAD_FAILED, f"not a GGUF model file (bad magic): {path}", path=str(path)
            )


# How hard the flagged words are pushed down in a guided rewrite: enough that a synonym wins
# where the model has one, not a ban (a word it must keep, a name, can still come through).
AVOID_BIAS = -8.0
RE_READ = 4  # tokens of a scored prompt always evaluated again (see Engine._next_logits)
# llama.cpp's llama_token_data as a numpy record, for a whole vocabulary in one array.
TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


def _shared_start(rows: list[list[int]]) -> list[int]:
    """The tokens every row starts with."""
    common = 0
    while all(len(r) > common for r in rows) and len({r[common] for r in rows}) == 1:
        common += 1
    return rows[0][:common]


def _chat_formatter(meta: dict, llm: llama_cpp.Llama):
    """messages -> (prompt, add_bos) with the GGUF's chat template, as llama-cpp-python's own
    chat handler renders it."""
    template = meta.get("tokenizer.chat_template")
    if not template:
        raise SrllmError(
            Code.MODEL_LOAD_FAILED, "the model has no chat template (tokenizer.chat_template)"
        )

    def token_text(key: str) -> str:
        token_id = int(meta.get(key, -1))
        return (
            llm.detokenize([token_id], special=True).decode("utf-8", "replace")
            if (token_id >= 0)
            else ""
        )

    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=token_text("tokenizer.ggml.eos_token_id"),
        bos_token=token_text("tokenizer.ggml.bos_token_id"),
    )

    def render(messages: list[dict[str, str]]) -> tuple[str, bool]:
        result = formatter(messages=messages)
        return result.prompt, not result.added_special

    return render


def default_gpu_layers() -> int:
    return -1 if llama_cpp.llama_supports_gpu_offload() else 0


_FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 15: "Q4_K_M", 17: "Q5_K_M"}
_FILE_TYPES |= {18: "Q6_K", 32: "BF16"}


def _is_scan_scorer(meta: dict) -> bool:
    """Whether the GGUF was trained on the scan's own prompt (TrainConfig.scan_prompt)."""
    return meta.get(META_PROMPT) == contract.PROMPT_SCAN


def _scorer_only(path: Path, meta: dict) -> None:
    """Refuse a scan scorer where flags are generated or rewrites written."""
    if _is_scan_scorer(meta):
        raise SrllmError(
            Code.MODEL_LOAD_FAILED,
            f"{path.name} is a scan scorer (trained on the scan's own prompt): it scores "
            "sentences but cannot flag or rewrite; give it as the scan model (--scan-model)",
            path=str(path),
        )


class Engine:
    def __init__(self, config: EngineConfig, scorer: bool = False):
        """scorer: only label probabilities will be asked of the model (a scan's or
        calibration's scorer), so a model trained on the scan's own prompt may serve."""
        check_gguf(config.model_path)
        for extra in (config.rewriter_path, config.scan_path):
            if extra is not None:
                check_gguf(extra)
        self.config = config
        n_gpu_layers = default_gpu_layers() if config.n_gpu_layers is None else config.n_gpu_layers

        def load(path: Path) -> llama_cpp.Llama:
            return llama_cpp.Llama(
                model_path=str(path),
                n_ctx=config.n_ctx,
                n_threads=config.n_threads,
                n_gpu_layers=n_gpu_layers,
                seed=config.seed,
                verbose=False,
            )

        self._llm = load(config.model_path)
        meta = self._llm.metadata
        if not scorer:
            _scorer_only(config.model_path, meta)
        self._scan_prompt = _is_scan_scorer(meta)
        self._format = _chat_formatter(meta, self._llm)
        # The rewriter: its own weights, context, tokenizer and chat template.
        self._writer, self._writer_format = self._llm, self._format
        rewriter = None
        if config.rewriter_path is not None:
            self._writer = load(config.rewriter_path)
            _scorer_only(config.rewriter_path, self._writer.metadata)
            self._writer_format = _chat_formatter(self._writer.metadata, self._writer)
            rewriter = {
                "name": self._writer.metadata.get("general.name") or config.rewriter_path.stem,
                "path": str(config.rewriter_path),
                "finetuned": META_CONTRACT in self._writer.metadata,
                "size_bytes": config.rewriter_path.stat().st_size,
            }
        self._label_prefix, self._label_first = self._label_tokens()
        self._answer_heads = {
            label: self._answer_head(label)
            for label in (contract.Label.SLIGHTLY_BIASED, contract.Label.HIGHLY_BIASED)
        }
        self._scorer: _BatchScorer | None = None
        self._scan: Engine | None = None
        threshold = config.flag_threshold
        if threshold is None:
            threshold = float(meta.get(META_FLAG_THRESHOLD, DEFAULT_FLAG_THRESHOLD))
        finetuned = META_CONTRACT in meta
        manifest = ModelManifest.for_model(config.model_path)
        name = meta.get("general.name") or config.model_path.stem
        if not finetuned and paths.is_embedded(config.model_path):
            name = f"{paths.EMBEDDED_DISPLAY_NAME} (not fine-tuned)"
        self.info = ModelInfo(
            name=name,
            path=str(config.model_path),
            finetuned=finetuned,
            contract=meta.get(META_CONTRACT),
            file_type=_FILE_TYPES.get(int(meta.get("general.file_type", -1))),
            size_bytes=config.model_path.stat().st_size,
            n_ctx=self._llm.n_ctx(),
            n_gpu_layers=n_gpu_layers,
            gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
            flag_threshold=threshold,
            training=manifest.training if manifest else None,
            rewriter=rewriter,
            scan=None if config.scan_path is None else _scan_info(config.scan_path),
        )

    # -- sizes -------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def max_text_tokens(self) -> int:
        return contract.max_text_tokens(self.info.n_ctx)

    def check_length(self, text: str) -> int:
        return contract.check_text_tokens(self.count_tokens(text), self.info.n_ctx)

    # -- prompts ---------------------------------------------------------------------------

    def prompt_tokens(self, task: contract.Task, text: str) -> list[int]:
        """The contract's prompt rendered by the model's own chat template, as tokens: one
        rendering for label scoring and generation, so the second reuses the first's cache."""
        return self.chat_tokens(contract.messages(task, text))

    def chat_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        prompt, add_bos = self._format(messages)
        return self._llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)

    def _rewrite_prompt(self, text: str) -> list[int]:
        """The rewrite prompt as the rewriter's own chat template and tokenizer render it."""
        prompt, add_bos = self._writer_format(contract.messages(contract.Task.REWRITE, text))
        return self._writer.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)

    def _label_tokens(self) -> tuple[list[int], dict[contract.Label, int]]:
        """The answer's tokens up to the verdict, and the first token of each verdict, as the
        canonical flag JSON tokenises (the form the model was trained on)."""
        encoded = {
            label: self._llm.tokenize(
                contract.Flag(label).to_json().encode("utf-8"), add_bos=False, special=False
            )
            for label in contract.Label
        }
        common = _shared_start(list(encoded.values()))
        first = {label: ids[len(common)] for label, ids in encoded.items()}
        return common, first

    def _answer_head(self, label: contract.Label) -> tuple[list[int], str, str]:
        """The tokens every canonical answer with this verdict starts with, up to the
        categories (as the flag JSON tokenises whatever follows), their text, and the rest of
        flag_answer.head(label) that the grammar writes out."""
        full = flag_answer.head(label)
        rows = [
            self._llm.tokenize(
                contract.Flag(label, cats, words, "").to_json().encode("utf-8"),
                add_bos=False,
                special=False,
            )
            for cats, words in (([], []), (["age"], ["x"]), (["gender", "other"], ["a b"]))
        ]
        tokens = _shared_start(rows)
        while tokens and not full.startswith(self._llm.detokenize(tokens).decode()):
            tokens.pop()  # a token that runs past the head (none with SmolLM2's tokenizer)
        text = self._llm.detokenize(tokens).decode()
        return tokens, text, full[len(text) :]

    def _next_logits(self, tokens: list[int], llm: llama_cpp.Llama | None = None) -> np.ndarray:
        """Logits after `tokens` (in the flagger's context unless `llm` is given), reusing the
        longest prefix already evaluated."""
        llm = self._llm if llm is None else llm
        keep = 0
        cached = llm.input_ids[: llm.n_tokens]
        # Always re-read the last RE_READ tokens: a single re-read token would go through
        # llama.cpp's one-row kernels, which round differently (see _BatchScorer.score), and the
        # same text scored twice would get two different P(biased).
        limit = min(len(cached), len(tokens) - RE_READ)
        while keep < limit and cached[keep] == tokens[keep]:
            keep += 1
        llm.n_tokens = keep  # eval() drops the cache beyond n_tokens
        llm.eval(tokens[keep:])
        if llm._logits_all:  # (prompt lookup needs every row) eval() kept them all
            return np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()

    def label_probabilities(self, text: str) -> dict[contract.Label, float]:
        """P(verdict) from one forward pass over the prompt and the answer up to the verdict,
        normalised over the three verdicts' first tokens."""
        logits = self._next_logits(self._scored_tokens(text))
        return self._verdicts([logits[self._label_first[label]] for label in contract.Label])

    def _scored_tokens(self, text: str) -> list[int]:
        """The flag prompt and the answer up to the verdict, or a scan scorer's own prompt
        (contract.scan_prompt): the label position is its end."""
        if self._scan_prompt:
            prompt = contract.scan_prompt(text).encode("utf-8")
            return self._llm.tokenize(prompt, add_bos=True, special=False)
        return self.prompt_tokens(contract.Task.FLAG, text) + self._label_prefix

    @staticmethod
    def _verdicts(picked: list[float]) -> dict[contract.Label, float]:
        values = np.array(picked, dtype=np.float32)
        weights = np.exp(values - values.max())
        probs = weights / weights.sum()
        return {label: float(p) for label, p in zip(contract.Label, probs, strict=True)}

    def label_probabilities_many(
        self, texts: list[str], cancel: threading.Event | None = None
    ) -> list[dict[contract.Label, float]]:
        """label_probabilities of every text, the same numbers, batched: several texts share one
        llama_decode in a second context (see _BatchScorer), shortest with shortest. A text
        whose prompt does not start with the shared prefix, or is too long for a stream, is
        read in the main context instead. Stops between two batches once cancel is set."""
        out: list[dict[contract.Label, float] | None] = [None] * len(texts)
        scorer = self._batch_scorer()
        batched: list[tuple[int, list[int]]] = []
        for i, text in enumerate(texts):
            tokens = self._scored_tokens(text)
            suffix = scorer.suffix(tokens)
            if suffix is None:
                if cancel is not None and cancel.is_set():
                    raise SrllmError(Code.CANCELLED, "scoring cancelled")
                logits = self._next_logits(tokens)
                out[i] = self._verdicts([logits[self._label_first[x]] for x in contract.Label])
            else:
                batched.append((i, suffix))
        batched.sort(key=lambda item: len(item[1]))  # equal lengths fill llama.cpp's ubatches
        for group in scorer.groups(batched):
            if cancel is not None and cancel.is_set():
                raise SrllmError(Code.CANCELLED, "scoring cancelled")
            ids = [self._label_first[x] for x in contract.Label]
            for (i, _), picked in zip(group, scorer.score([s for _, s in group], ids), strict=True):
                out[i] = self._verdicts(picked)
        assert all(p is not None for p in out)
        return out  # type: ignore[return-value]

    def _batch_scorer(self) -> _BatchScorer:
        """Made on first use (a scan), so a server that never scans never pays its memory."""
        if self._scorer is None:
            probe = [self._scored_tokens(t) for t in ("Hello.", "Bonjour !")]
            self._scorer = _BatchScorer(self._llm, _shared_start(probe))
        return self._scorer

    def scan_engine(self) -> Engine:
        """What scores scans: the scan model's own engine (made on the first scan, with its own
        calibrated threshold), or this one."""
        if self.config.scan_path is None:
            return self
        if self._scan is None:
            self._scan = Engine(
                dataclasses.replace(
                    self.config,
                    model_path=self.config.scan_path,
                    rewriter_path=None,
                    scan_path=None,
                    flag_threshold=None,
                    prompt_lookup=0,
                ),
                scorer=True,
            )
        return self._scan

    def warm_up(self) -> None:
        """Evaluate the fixed system prompt once, so the first request reads only its own text."""
        self.label_probabilities("Hello.")

    # -- generation --------------------------------------------------------------------------

    def _stream(
        self,
        prompt: list[int],
        *,
        max_tokens: int,
        cancel: threading.Event | None,
        grammar: llama_cpp.LlamaGrammar | None = None,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        seed: int | None = None,
        logit_bias: dict[int, float] | None = None,
        llm: llama_cpp.Llama | None = None,
    ) -> Iterator[tuple[str, str | None]]:
        """Yield (delta, finish_reason) pairs for a rendered prompt (in the flagger's context
        unless `llm` is given); stops once cancel is set."""
        llm = self._llm if llm is None else llm
        # As in _next_logits: llama-cpp-python would re-read only the last token of a prompt
        # it has cached, whose logits then round differently, and the same text asked twice
        # could get two different greedy rewrites. Re-read the last RE_READ tokens instead.
        llm.n_tokens = min(llm.n_tokens, max(0, len(prompt) - RE_READ))
        chunks = llm.create_completion(
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            grammar=grammar,
            stop=stop,
            seed=seed,
            logit_bias=logit_bias,
            stream=True,
        )
        try:
            for chunk in chunks:
                if cancel is not None and cancel.is_set():
                    return
                choice = chunk["choices"][0]
                yield choice.get("text") or "", choice.get("finish_reason")
        finally:
            chunks.close()  # frees the context for the next request even when cancelled

    def flag(
        self, text: str, cancel: threading.Event | None = None, threshold: float | None = None
    ) -> contract.Flag:
        """The verdict from P(biased) against the threshold (the model's calibrated one unless
        given); for a biased verdict, categories and words generated under that verdict's
        grammar, with one retry on output that does not parse."""
        probs = self.label_probabilities(text)
        p_biased = 1.0 - probs[contract.Label.NEUTRAL]
        cut = self.info.flag_threshold if threshold is None else threshold
        if p_biased >= cut:
            label = max(
                (contract.Label.SLIGHTLY_BIASED, contract.Label.HIGHLY_BIASED), key=probs.get
            )
        else:
            label = contract.Label.NEUTRAL
        if label is contract.Label.NEUTRAL:  # nothing left to generate: no words, no categories
            return contract.Flag(label, p_biased=p_biased)
        # The words it names must be the text's own: a grammar per text, compiled in ~ms. The
        # answer up to the categories is put in the prompt, not generated (server.flag_answer).
        head_tokens, head_text, rest = self._answer_heads[label]
        grammar = llama_cpp.LlamaGrammar.from_string(
            flag_answer.tail_grammar(rest, contract.candidate_words(text)), verbose=False
        )
        prompt = self.prompt_tokens(contract.Task.FLAG, text) + head_tokens
        last_error: Exception | None = None
        for attempt, temperature in enumerate((0.0, 0.3)):
            if attempt == 0:
                generated = self._grammar_greedy(prompt, grammar, contract.FLAG_MAX_TOKENS, cancel)
            else:  # the retry samples, through llama-cpp-python's sampler
                generated = "".join(
                    delta
                    for delta, _ in self._stream(
                        prompt,
                        max_tokens=contract.FLAG_MAX_TOKENS * (attempt + 1),
                        cancel=cancel,
                        grammar=grammar,
                        temperature=temperature,
                        seed=self.config.seed + attempt,
                    )
                )
            raw = flag_answer.answer(head_text, generated)
            if cancel is not None and cancel.is_set():
                raise SrllmError(Code.CANCELLED, "generation cancelled")
            try:
                return dataclasses.replace(contract.parse_flag(raw), p_biased=p_biased)
            except contract.FlagParseError as exc:
                log.warning("flag output did not parse (attempt %d): %s", attempt + 1, exc)
                last_error = exc
        raise SrllmError(
            Code.MODEL_OUTPUT_INVALID, f"the model did not produce a valid flag: {last_error}"
        )

    def _grammar_greedy(
        self,
        prompt: list[int],
        grammar: llama_cpp.LlamaGrammar,
        max_tokens: int,
        cancel: threading.Event | None,
    ) -> str:
        """Greedy generation under a GBNF grammar, checked lazily: the argmax token is tested
        alone, and the whole vocabulary is filtered only when the grammar refuses it, as
        llama.cpp's own common sampler does. The same tokens as filtering first and picking
        after (create_completion at temperature 0, whose grammar pass over all 49,152 tokens
        cost ~4 ms a token here), the prompt read as _stream reads it."""
        llm = self._llm
        vocab = llm._model.vocab
        sampler = llama_cpp.llama_sampler_init_grammar(
            vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not sampler:
            raise RuntimeError("llama.cpp could not parse the flag grammar")
        n_vocab = llm.n_vocab()
        one = (llama_cpp.llama_token_data * 1)()
        candidates = np.zeros(n_vocab, dtype=TOKEN_DATA)
        candidates["id"] = np.arange(n_vocab, dtype=np.int32)
        data = candidates.ctypes.data_as(llama_cpp.llama_token_data_p)
        try:
            logits = self._next_logits(prompt)
            tokens = list(prompt)
            out = bytearray()
            for _ in range(max_tokens):
                if cancel is not None and cancel.is_set():
                    break
                token = int(np.argmax(logits))
                one[0].id, one[0].logit, one[0].p = token, float(logits[token]), 0.0
                single = llama_cpp.llama_token_data_array(one, 1, -1, False)
                llama_cpp.llama_sampler_apply(sampler, ctypes.byref(single))
                if not np.isfinite(one[0].logit):  # refused: filter the whole vocabulary
                    candidates["logit"] = logits
                    candidates["p"] = 0.0
                    full = llama_cpp.llama_token_data_array(data, n_vocab, -1, False)
                    llama_cpp.llama_sampler_apply(sampler, ctypes.byref(full))
                    token = int(candidates["id"][np.argmax(candidates["logit"])])
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    break
                llama_cpp.llama_sampler_accept(sampler, token)
                out += llm.detokenize([token])
                logits = self._decode_rows([token], len(tokens))[0]
                llm.input_ids[len(tokens)] = token
                tokens.append(token)
                llm.n_tokens = len(tokens)
        finally:
            llama_cpp.llama_sampler_free(sampler)
        return out.decode("utf-8", errors="replace")

    def rewrite_budget(self, text: str) -> int:
        tokens = self._writer.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        return min(2 * len(tokens) + 32, self.info.n_ctx // 2)

    def avoid_bias(self, words: list[str]) -> dict[int, float]:
        """logit_bias against starting the content words of `words` (what the flag highlighted)
        again, in the spellings a rewrite could use (contract.avoided_spellings). A first token
        under three characters ("H" of "Hate", " th" of " thugs") stays free: it starts too many
        other words. Pushing down the tokens that would finish such a word once its start is
        written was tried: residual 0.24 -> 0.19 on infer_50, but it made non-words ("Oús" for
        a highlighted "OUST", "stuna"), so it is not done."""
        bias: dict[int, float] = {}
        for spelling in contract.avoided_spellings(words):
            ids = self._writer.tokenize(spelling.encode("utf-8"), add_bos=False, special=False)
            if ids and len(self._writer.detokenize(ids[:1]).strip()) >= 3:
                bias[ids[0]] = AVOID_BIAS
        return bias

    def stream_rewrite(
        self,
        text: str,
        cancel: threading.Event | None = None,
        avoid: list[str] | None = None,
        sample: int = 0,
    ) -> Iterator[str]:
        """Yield the rewrite as token deltas (clean the joined text with clean_rewrite). With
        `avoid`, the words the flag highlighted are pushed down so the rewrite drops them.
        `sample` 0 is the greedy rewrite; n > 0 is the n-th one sampled at
        contract.SAMPLE_TEMPERATURE (seeded, so repeatable)."""
        prompt = self._rewrite_prompt(text)
        budget = self.rewrite_budget(text)
        bias = self.avoid_bias(avoid) if avoid else None
        if self.config.prompt_lookup and not sample:
            stream = self._drafted(
                prompt, max_tokens=budget, cancel=cancel, stop=contract.TEXT_CLOSE, logit_bias=bias
            )
        else:
            stream = self._stream(
                prompt,
                max_tokens=budget,
                cancel=cancel,
                stop=[contract.TEXT_CLOSE],
                logit_bias=bias,
                temperature=contract.SAMPLE_TEMPERATURE if sample else 0.0,
                seed=self.config.seed + sample if sample else None,
                llm=self._writer,
            )
        yield from contract.clean_deltas(delta for delta, _ in stream)

    def _drafted(
        self,
        prompt: list[int],
        *,
        max_tokens: int,
        cancel: threading.Event | None,
        stop: str,
        logit_bias: dict[int, float] | None,
    ) -> Iterator[tuple[str, str | None]]:
        """Greedy generation with prompt-lookup drafts (server.drafting): each step reads the
        chosen token and up to config.prompt_lookup tokens that followed it in the prompt in
        one llama_decode, and keeps the drafts greedy decoding confirms. Yields (delta,
        finish_reason) like _stream, the text up to `stop`, in the rewriter's context."""
        llm = self._writer
        n_vocab = llm.n_vocab()
        bias = None
        if logit_bias:
            bias = np.zeros(n_vocab, dtype=np.float32)
            for token, value in logit_bias.items():
                bias[token] += value
        logits = self._next_logits(prompt, llm)  # the prompt read as _stream reads it
        tokens = list(prompt)
        text = drafting.StopText(stop)
        vocab = llm._model.vocab
        produced = 0
        while produced < max_tokens and len(tokens) < self.config.n_ctx:
            if cancel is not None and cancel.is_set():
                return
            token = int(np.argmax(logits if bias is None else logits + bias))
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                yield text.flush(), "stop"
                return
            room = min(max_tokens - produced, self.config.n_ctx - len(tokens)) - 1
            size = min(self.config.prompt_lookup, room)
            draft = drafting.lookup([*tokens, token], len(prompt), size)
            rows = self._decode_rows([token, *draft], len(tokens), llm)
            kept = [token, *draft[: drafting.accepted(draft, rows, bias)]]
            logits = rows[len(kept) - 1]
            ended = next(
                (k for k, t in enumerate(kept) if llama_cpp.llama_vocab_is_eog(vocab, t)), None
            )
            kept = kept if ended is None else kept[:ended]
            llm.input_ids[len(tokens) : len(tokens) + len(kept)] = kept
            tokens += kept
            llm.n_tokens = len(tokens)
            llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)  # the drafts it did not keep
            produced += len(kept)
            delta, stopped = text.feed(llm.detokenize(kept))
            if delta:
                yield delta, None
            if stopped or ended is not None:
                yield text.flush(), "stop"
                return
        yield text.flush(), "length"

    def _decode_rows(
        self, tokens: list[int], n_past: int, llm: llama_cpp.Llama | None = None
    ) -> np.ndarray:
        """Read `tokens` after the first n_past of the context (the flagger's unless `llm` is
        given) in one llama_decode; the logits after each of them."""
        llm = self._llm if llm is None else llm
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llm._batch.set_batch(batch=tokens, n_past=n_past, logits_all=True)
        llm._ctx.decode(llm._batch)
        n_vocab = llm.n_vocab()
        return np.array(
            [
                np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits_ith(llm._ctx.ctx, i), shape=(n_vocab,)
                )
                for i in range(len(tokens))
            ],
            dtype=np.float32,
        )

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        seed: int | None,
        cancel: threading.Event | None = None,
    ) -> Iterator[tuple[str, str | None]]:
        """Raw chat for the OpenAI-compatible route, rendered by the model's chat template."""
        yield from self._stream(
            self.chat_tokens(messages),
            max_tokens=max_tokens,
            cancel=cancel,
            temperature=temperature,
            stop=stop,
            seed=seed,
        )

    def count_chat_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self.chat_tokens(messages))

    def close(self) -> None:
        if self._scan is not None:
            self._scan.close()
        if self._scorer is not None:
            self._scorer.close()
        if self._writer is not self._llm:
            self._writer.close()
        self._llm.close()


# Batched label scoring, for the scan: how many sequences share one llama_decode, the most
# tokens one decode reads, and how many KV cells each sequence's stream has (the shared prefix,
# ~280 tokens, and one sentence of up to ~230; a longer one is read in the main context).
# llama.cpp pads a stream to a multiple of 256 cells; 8 x 512 cells of SmolLM2-135M take 94 MB.
# On 2 CPU cores prompt reading is compute-bound, so batching gains little over one sentence per
# forward pass (more on a GPU); see `just bench`.
SCAN_STREAMS = 8
SCAN_BATCH_TOKENS = 512
SCAN_STREAM_CELLS = 512
# A sentence joins a batch of longer ones when it is at most this many tokens shorter (it then
# re-reads that many tokens of the prefix; see _BatchScorer.score).
SCAN_MAX_PAD = 8


class _BatchScorer:
    """A second llama.cpp context on the same weights for scoring many prompts at once.

    llama-cpp-python's Llama evaluates one sequence (its context is made with n_seq_max 1; only
    its embedding mode batches sequences), so this drives llama.cpp's batch API directly: the
    shared prompt prefix is evaluated once into every stream and kept; each decode then reads up
    to SCAN_STREAMS prompt suffixes, one per sequence, and takes the logits at each one's last
    token. Every sequence has its own KV stream (kv_unified off): with llama.cpp's unified
    cache, the logits of a sequence depend on the other sequences in the same batch (llama.cpp
    issue 24962; up to 0.06 in P(biased) here), while separate streams give exactly the numbers
    of the one-sequence path (tests/integration/test_scan_model.py)."""

    def __init__(self, llm: llama_cpp.Llama, prefix: list[int]):
        from llama_cpp import _internals

        self.streams, self.batch_tokens = SCAN_STREAMS, SCAN_BATCH_TOKENS
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_seq_max = self.streams
        params.kv_unified = False
        params.n_ctx = self.streams * SCAN_STREAM_CELLS
        params.n_batch = params.n_ubatch = self.batch_tokens
        self._ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self._batch = _internals.LlamaBatch(
            n_tokens=self.batch_tokens, embd=0, n_seq_max=1, verbose=False
        )
        self.prefix = prefix
        self.capacity = SCAN_STREAM_CELLS - len(prefix)  # suffix tokens one stream holds
        self.pad = min(len(prefix), SCAN_MAX_PAD)  # prefix tokens a suffix may re-read
        for start in range(0, len(prefix), self.batch_tokens):
            self._decode([(prefix[start : start + self.batch_tokens], start, 0)])
        for seq in range(1, self.streams):
            self._ctx.kv_cache_seq_cp(0, seq, -1, -1)

    def suffix(self, tokens: list[int]) -> list[int] | None:
        """What follows the shared prefix, or None when this prompt cannot be batched."""
        n = len(self.prefix)
        if tokens[:n] != self.prefix or not 0 < len(tokens) - n <= self.capacity:
            return None
        return tokens[n:]

    def groups(self, items: list[tuple[int, list[int]]]) -> Iterator[list[tuple[int, list[int]]]]:
        """Runs of consecutive suffixes (sorted by length) that one decode reads as one ubatch:
        at most SCAN_STREAMS of them, each padded to the longest (see score), within
        SCAN_BATCH_TOKENS."""
        group: list[tuple[int, list[int]]] = []
        for item in items:
            width = max(len(item[1]), *(len(s) for _, s in group)) if group else len(item[1])
            shortest = min(len(item[1]), *(len(s) for _, s in group)) if group else width
            fits = (len(group) + 1) * width <= self.batch_tokens
            if group and (len(group) == self.streams or not fits or width - shortest > self.pad):
                yield group
                group = []
            group.append(item)
        if group:
            yield group

    def score(self, suffixes: list[list[int]], token_ids: list[int]) -> list[list[float]]:
        """The logits of token_ids after each suffix, as if each were read after the prefix
        alone. Every sequence of one decode gets the same number of tokens: a shorter suffix
        re-reads the last tokens of the prefix before it. Otherwise llama.cpp splits the batch
        into ubatches of equal tokens per sequence, and a sequence finished in a ubatch of one
        token per sequence gets other logits (its one-row kernels round differently: up to
        0.24 in a logit here, as when the one-sequence path reads a single last token)."""
        width = max(len(s) for s in suffixes)
        runs = []
        for seq, suffix in enumerate(suffixes):
            start = len(self.prefix) - (width - len(suffix))
            self._ctx.kv_cache_seq_rm(seq, start, -1)
            runs.append((self.prefix[start:] + suffix, start, seq))
        rows = self._decode(runs)
        picked = []
        for row in rows:
            logits = llama_cpp.llama_get_logits_ith(self._ctx.ctx, row)
            picked.append([float(logits[t]) for t in token_ids])
        for seq in range(len(suffixes)):
            self._ctx.kv_cache_seq_rm(seq, len(self.prefix), -1)  # the prefix stays
        return picked

    def _decode(self, items: list[tuple[list[int], int, int]]) -> list[int]:
        """One llama_decode of (tokens, first position, sequence) runs; logits are kept for
        each run's last token, whose batch rows are returned."""
        batch = self._batch.batch
        batch.n_tokens = 0
        rows = []
        for tokens, position, seq in items:
            for j, token in enumerate(tokens):
                k = batch.n_tokens
                batch.token[k] = token
                batch.pos[k] = position + j
                batch.n_seq_id[k] = 1
                batch.seq_id[k][0] = seq
                batch.logits[k] = j == len(tokens) - 1
                batch.n_tokens += 1
            rows.append(batch.n_tokens - 1)
        status = llama_cpp.llama_decode(self._ctx.ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status} in the scan context")
        return rows

    def close(self) -> None:
        self._batch.close()
        self._ctx.close()
