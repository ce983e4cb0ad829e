"""Tokenizer -> GGUF vocabulary: byte-level BPE (tokenizer.json), SentencePiece (sentencepiece).

Token types come from the `special` flags of tokenizer.json's added_tokens: `gguf.BpeVocab`
marks SmolLM2's special tokens as normal, and llama.cpp then splits `<|im_start|>` into pieces.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import gguf

from srllm.errors import Code, SrllmError

# The GPT-2 pattern that tokenizers' ByteLevel(use_regex=True) applies.
_LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
_QWEN2_SPLIT = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"  # noqa: E501
_QWEN2_SPLIT_ALT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"


@dataclass(frozen=True)
class Vocab:
    model: str  # tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece)
    pre: str | None  # tokenizer.ggml.pre: llama.cpp's name for the pre-tokenizer
    tokens: list[bytes]
    scores: list[float] | None
    types: list[int]
    # tokenizer.ggml.add_space_prefix: SentencePiece's dummy "▁" before the text. llama.cpp
    # assumes it for "llama" unless told; a tokenizer.model without it (Yi's) must say so.
    add_space_prefix: bool | None = None


# Every tokenizer.ggml.pre value _pre_tokenizer_name can write; a test checks each against the
# names the bundled llama.cpp accepts.
PRE_TOKENIZER_NAMES = ("gpt-2", "smollm", "llama-bpe", "qwen2", "default")


def _pre_tokenizer_name(pre: dict | None) -> str:
    """Name llama.cpp's pre-tokenizer from the structure of tokenizer.json's pre_tokenizer."""
    parts = (pre or {}).get("pretokenizers") if (pre or {}).get("type") == "Sequence" else [pre]
    parts = [p for p in parts or [] if p]
    kinds = [p.get("type") for p in parts]
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"  # llama.cpp's name; "gpt2" is refused at load ("unknown pre-tokenizer")
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits"):
        return "smollm"  # GPT-2 regex after splitting every digit (SmolLM, StarCoder)
    if kinds and kinds[0] == "Split":
        regex = parts[0].get("pattern", {}).get("Regex", "")
        if regex.startswith(_LLAMA3_SPLIT):
            return "llama-bpe"
        if regex.startswith((_QWEN2_SPLIT, _QWEN2_SPLIT_ALT)):
            return "qwen2"
    print(
        f"srllm: warning: unknown pre-tokenizer {kinds}; using llama.cpp's default, "
        "tokenization may differ",
        file=sys.stderr,
    )
    return "default"


def _fill(n_vocab: int, known: dict[int, tuple[bytes, int]]) -> tuple[list[bytes], list[int]]:
    """Dense token and type lists; ids the tokenizer does not use become UNUSED padding."""
    tokens, types = [], []
    for i in range(n_vocab):
        text, kind = known.get(i, (f"[PAD{i}]".encode(), gguf.TokenType.UNUSED))
        tokens.append(text)
        types.append(int(kind))
    return tokens, types


def _added(tokenizer: dict) -> dict[int, tuple[bytes, int]]:
    out = {}
    for item in tokenizer.get("added_tokens") or []:
        kind = gguf.TokenType.CONTROL if item.get("special") else gguf.TokenType.USER_DEFINED
        out[int(item["id"])] = (item["content"].encode("utf-8"), kind)
    return out


def _bpe(tokenizer: dict, n_vocab: int) -> Vocab:
    known = {
        int(i): (t.encode("utf-8"), gguf.TokenType.NORMAL)
        for t, i in tokenizer["model"]["vocab"].items()
    }
    known |= _added(tokenizer)
    if max(known) >= n_vocab:
        raise SrllmError(
            Code.CONVERT_FAILED,
            f"tokenizer has token id {max(known)} but the model's vocab_size is {n_vocab}",
        )
    tokens, types = _fill(n_vocab, known)
    return Vocab("gpt2", _pre_tokenizer_name(tokenizer.get("pre_tokenizer")), tokens, None, types)


def _spm(folder: Path, tokenizer: dict | None, n_vocab: int) -> Vocab:
    try:
        spm = gguf.SentencePieceVocab(folder)
    except (OSError, RuntimeError, ValueError) as exc:
        raise SrllmError(
            Code.CONVERT_FAILED, f"cannot read tokenizer.model in {folder}: {exc}"
        ) from exc
    known: dict[int, tuple[bytes, int]] = {}
    scores: dict[int, float] = {}
    for i, (text, score, kind) in enumerate(spm.all_tokens()):
        known[i] = (text, int(kind))
        scores[i] = score
    if tokenizer:
        for i, entry in _added(tokenizer).items():
            known[i] = entry
            scores.setdefault(i, -1000.0)
    tokens, types = _fill(n_vocab, known)
    normalize = getattr(spm.sentencepiece_tokenizer, "Normalize", None)  # sentencepiece >= 0.2
    prefix = normalize("a").startswith("\u2581") if normalize else None
    return Vocab(
        "llama", "default", tokens, [scores.get(i, -1000.0) for i in range(n_vocab)], types, prefix
    )


def load_vocab(folder: Path, n_vocab: int) -> Vocab:
    tokenizer = None
    if (folder / "tokenizer.json").is_file():
        try:
            tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SrllmError(
                Code.CONVERT_FAILED, f"tokenizer.json is not valid JSON: {exc}"
            ) from exc
    model = (tokenizer or {}).get("model", {})
    byte_level = model.get("type") == "BPE" and not model.get("byte_fallback")
    if tokenizer and byte_level:
        return _bpe(tokenizer, n_vocab)
    if (folder / "tokenizer.model").is_file():
        return _spm(folder, tokenizer, n_vocab)
    raise SrllmError(
        Code.CONVERT_FAILED,
        f"no supported tokenizer in {folder}: need a byte-level BPE tokenizer.json "
        "or a SentencePiece tokenizer.model",
    )


def write_vocab(writer: gguf.GGUFWriter, folder: Path, vocab: Vocab) -> None:
    writer.add_tokenizer_model(vocab.model)
    if vocab.pre:
        writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)
    special = gguf.SpecialVocab(
        folder, load_merges=vocab.model == "gpt2", n_vocab=len(vocab.tokens)
    )
    if vocab.model == "gpt2":
        # Without an explicit flag llama.cpp would add BOS, which the HF tokenizer does not do.
        special.add_special_token.setdefault("bos", False)
    special.add_to_gguf(writer, quiet=True)
