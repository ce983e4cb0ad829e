"""The llama.cpp engine: one GGUF, one context, the contract's two tasks plus raw chat.

This is the only module that imports llama_cpp. Every call is blocking and must run off the
event loop; callers serialise access (one generation at a time per context) and pass a
threading.Event to stop a generation early, e.g. when an HTTP client disconnects.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import llama_cpp

from server import contract
from server.errors import ModelOutputError, TextTooLongError

log = logging.getLogger("srllm.engine")

# GGUF metadata keys the convert stage writes; their presence marks a project fine-tune.
META_CONTRACT = "srllm.contract"
META_MANIFEST_SHA = "srllm.training_manifest_sha256"
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class EngineConfig:
    model_path: Path
    n_ctx: int = 2048
    n_threads: int | None = None  # None: llama.cpp's default (physical cores)
    n_gpu_layers: int | None = None  # None: all layers when the build can offload, else 0
    seed: int = 0


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

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def check_gguf(path: Path) -> None:
    """Fail early, with one clear line, on a missing file or one that is not a GGUF."""
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    with path.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise ValueError(f"not a GGUF model file (bad magic): {path}")


def default_gpu_layers() -> int:
    return -1 if llama_cpp.llama_supports_gpu_offload() else 0


_FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 15: "Q4_K_M", 17: "Q5_K_M"}
_FILE_TYPES |= {18: "Q6_K", 32: "BF16"}


class Engine:
    def __init__(self, config: EngineConfig):
        check_gguf(config.model_path)
        self.config = config
        n_gpu_layers = default_gpu_layers() if config.n_gpu_layers is None else config.n_gpu_layers
        self._llm = llama_cpp.Llama(
            model_path=str(config.model_path),
            n_ctx=config.n_ctx,
            n_threads=config.n_threads,
            n_gpu_layers=n_gpu_layers,
            seed=config.seed,
            verbose=False,
        )
        # Compiling the schema grammar costs milliseconds; do it once, not per request.
        self._flag_grammar = llama_cpp.LlamaGrammar.from_json_schema(
            json.dumps(contract.FLAG_SCHEMA), verbose=False
        )
        meta = self._llm.metadata
        self.info = ModelInfo(
            name=meta.get("general.name") or config.model_path.stem,
            path=str(config.model_path),
            finetuned=META_CONTRACT in meta,
            contract=meta.get(META_CONTRACT),
            file_type=_FILE_TYPES.get(int(meta.get("general.file_type", -1))),
            size_bytes=config.model_path.stat().st_size,
            n_ctx=self._llm.n_ctx(),
            n_gpu_layers=n_gpu_layers,
            gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
        )

    # -- sizes -------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def max_text_tokens(self) -> int:
        """How many tokens of user text fit: the rewrite must fit beside its prompt twice."""
        prompt_overhead = 320  # the fixed instructions and chat markup, measured ~290
        return max(16, (self.info.n_ctx - prompt_overhead) // 2)

    def check_length(self, text: str) -> int:
        n = self.count_tokens(text)
        if n > self.max_text_tokens():
            raise TextTooLongError(
                f"text is {n} tokens; this model accepts at most {self.max_text_tokens()} "
                f"(context {self.info.n_ctx})"
            )
        return n

    # -- generation --------------------------------------------------------------------------

    def _stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None,
        grammar: llama_cpp.LlamaGrammar | None = None,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> Iterator[tuple[str, str | None]]:
        """Yield (delta, finish_reason) pairs; stops early once cancel is set."""
        chunks = self._llm.create_chat_completion(
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            grammar=grammar,
            stop=stop,
            seed=seed,
            stream=True,
        )
        try:
            for chunk in chunks:
                if cancel is not None and cancel.is_set():
                    return
                choice = chunk["choices"][0]
                delta = choice.get("delta", {}).get("content") or ""
                yield delta, choice.get("finish_reason")
        finally:
            chunks.close()  # frees the context for the next request even when cancelled

    def flag(self, text: str, cancel: threading.Event | None = None) -> contract.Flag:
        """Grammar-constrained flag; one retry on output that does not parse."""
        msgs = contract.messages(contract.Task.FLAG, text)
        last_error: Exception | None = None
        for attempt, temperature in enumerate((0.0, 0.3)):
            raw = "".join(
                delta
                for delta, _ in self._stream(
                    msgs,
                    max_tokens=contract.FLAG_MAX_TOKENS * (attempt + 1),
                    cancel=cancel,
                    grammar=self._flag_grammar,
                    temperature=temperature,
                    seed=self.config.seed + attempt,
                )
            )
            if cancel is not None and cancel.is_set():
                raise ModelOutputError("generation cancelled")
            try:
                return contract.parse_flag(raw)
            except contract.FlagParseError as exc:
                log.warning("flag output did not parse (attempt %d): %s", attempt + 1, exc)
                last_error = exc
        raise ModelOutputError(f"the model did not produce a valid flag: {last_error}")

    def rewrite_budget(self, text: str) -> int:
        return min(2 * self.count_tokens(text) + 32, self.info.n_ctx // 2)

    def stream_rewrite(self, text: str, cancel: threading.Event | None = None) -> Iterator[str]:
        """Yield the rewrite as token deltas (clean the joined text with clean_rewrite)."""
        msgs = contract.messages(contract.Task.REWRITE, text)
        stream = self._stream(
            msgs, max_tokens=self.rewrite_budget(text), cancel=cancel, stop=[contract.TEXT_CLOSE]
        )
        cleaner = contract.StreamCleaner()
        for delta, _ in stream:
            delta = cleaner.feed(delta)
            if delta:
                yield delta

    def rewrite(self, text: str, cancel: threading.Event | None = None) -> str:
        raw = "".join(self.stream_rewrite(text, cancel))
        return contract.clean_rewrite(raw, original=text)

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
        """Raw chat for the OpenAI-compatible route."""
        yield from self._stream(
            messages,
            max_tokens=max_tokens,
            cancel=cancel,
            temperature=temperature,
            stop=stop,
            seed=seed,
        )

    def count_chat_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(self.count_tokens(m.get("content", "")) + 4 for m in messages)

    def close(self) -> None:
        self._llm.close()
