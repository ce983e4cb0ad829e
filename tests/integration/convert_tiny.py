"""Build a tiny random Llama with SmolLM2's tokenizer (from the embedded GGUF): no downloads.

Shared by the convert and training integration tests; the model is small enough to convert or
train in seconds. The other tokenizer families are trained here on generated text: a
SentencePiece BPE with byte fallback (Llama 2 style) and a byte-level BPE with Qwen2's split
regex.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=1024,  # training examples run up to 512 tokens
    rope_theta=10000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)


def save_smollm_tokenizer(folder: Path) -> None:
    from transformers import AutoTokenizer

    from srllm.convert.bench import SMOLLM_PRE_TOKENIZER
    from srllm.paths import embedded_model

    gguf_path = embedded_model()
    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    tok.save_pretrained(folder)
    tj = folder / "tokenizer.json"
    data = json.loads(tj.read_text(encoding="utf-8"))
    data["pre_tokenizer"] = SMOLLM_PRE_TOKENIZER
    tj.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


# Words for the generated training text. Nothing from CJK, no emoji, and few accented letters,
# so that text outside them exercises byte fallback (SentencePiece) or raw bytes (byte-level).
_WORDS = (
    "the quick brown fox jumps over a lazy dog people are old young women men who lead "
    "teams and write code every day at work in the city of Paris café naïve résumé über "
    "déjà vu hello world don't we'll they're it's I'm you've she'd 2024 37 3.14 100 ( ) [ "
    "] , ; : ! ? - + = / * \" ' # @ % & _ Hello The People World"
)


def training_text(n_lines: int = 3000, seed: int = 0) -> list[str]:
    """Deterministic sentences of _WORDS, some with leading, doubled or trailing spaces, tabs and
    line breaks, so that white-space pieces are learnt too."""
    import random

    rng = random.Random(seed)
    vocabulary = _WORDS.split()
    lines = []
    for _ in range(n_lines):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(3, 14))]
        line = " ".join(words)
        roll = rng.random()
        if roll < 0.2:
            line = "  " + line
        elif roll < 0.3:
            line = line.replace(" ", "\t", 1) + "\n\n"
        elif roll < 0.4:
            line = line.replace(" ", "   ", 2) + " "
        lines.append(line)
    return lines


SPM_SPECIALS = ("<unk>", "<s>", "</s>")
CHATML_MARKERS = ("<|im_start|>", "<|im_end|>")
QWEN2_SPECIALS = ("<|endoftext|>", *CHATML_MARKERS)
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def save_spm_tokenizer(folder: Path, vocab_size: int = 512, dummy_prefix: bool = True) -> int:
    """A Llama 2 style tokenizer: tokenizer.model (SentencePiece BPE with byte fallback,
    identity normalisation, a dummy prefix, split digits) and the tokenizer.json that Llama 2
    ships beside it (Prepend + Replace normaliser, BPE with byte fallback), with ChatML's markers
    added as special tokens after the pieces, as chat fine-tunes of Llama and Mistral do. Without
    `dummy_prefix` no "▁" is put before the text (Yi's tokenizer). Returns the size."""
    import io

    import sentencepiece as spm
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast
    from transformers.tokenization_utils_base import generate_merges

    folder.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(training_text()),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=dummy_prefix,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    # Merges ranked by the score of the piece they make, as SentencePiece's BPE applies them.
    merged = [i for i in range(n) if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i))]
    merges = generate_merges(vocab, {sp.id_to_piece(i): sp.get_score(i) for i in merged})
    backend = Tokenizer(
        BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True)
    )
    prepend = [normalizers.Prepend("▁")] if dummy_prefix else []
    backend.normalizer = normalizers.Sequence([*prepend, normalizers.Replace(" ", "▁")])
    strip = [decoders.Strip(" ", 1, 0)] if dummy_prefix else []
    backend.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), *strip]
    )
    specials = [*SPM_SPECIALS, *CHATML_MARKERS]
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    # Saved as the generic tokenizers-backed class: transformers 5's LlamaTokenizer would rebuild
    # the pipeline with a Metaspace pre-tokenizer, which drops SentencePiece's dummy prefix before
    # a leading space (" x" -> "▁x" where SentencePiece and llama.cpp give "▁▁x").
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    tok.chat_template = CHATML
    tok.save_pretrained(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config |= {"add_bos_token": True, "add_eos_token": False}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return len(tok)


def save_qwen2_tokenizer(folder: Path, vocab_size: int = 800) -> int:
    """A Qwen2 style tokenizer: byte-level BPE (up to vocab_size; the generated text gives
    about 520) trained behind Qwen2's split regex, saved by
    transformers' Qwen2Tokenizer (NFC, Split + ByteLevel without its own regex), the special
    tokens after the learnt vocabulary as in Qwen2. Returns the number of tokens."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    folder.mkdir(parents=True, exist_ok=True)
    backend = Tokenizer(BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(training_text(), trainer)
    model = json.loads(backend.to_str())["model"]
    tok = Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=[tuple(m) for m in model["merges"]],
        extra_special_tokens=list(CHATML_MARKERS),
    )
    tok.chat_template = CHATML
    tok.save_pretrained(folder)
    return len(tok)


TOKENIZERS = {
    "smollm": save_smollm_tokenizer,
    "spm": save_spm_tokenizer,
    "spm-no-prefix": functools.partial(save_spm_tokenizer, dummy_prefix=False),
    "qwen2": save_qwen2_tokenizer,
}


def build_tiny(
    folder: Path,
    arch: str = "llama",
    seed: int = 0,
    init_range: float = 0.1,
    tokenizer: str = "smollm",
) -> Path:
    """Save a random 2-layer causal LM (llama, mistral or qwen2) with SmolLM2's tokenizer, or
    one of the tokenizers trained here (TOKENIZERS); the vocabulary is padded to a multiple
    of 64 rows beyond a trained tokenizer's size, as Qwen2 pads its own."""
    import torch
    import transformers

    config_cls, model_cls = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
        "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
    }[arch]
    folder.mkdir(parents=True, exist_ok=True)
    extra: dict = {}
    if tokenizer == "smollm":
        save_smollm_tokenizer(folder)
        vocab_size = 49152
    else:
        n = TOKENIZERS[tokenizer](folder)
        vocab_size = -(-(n + 1) // 64) * 64
        if tokenizer == "qwen2":
            eos = n - len(QWEN2_SPECIALS)  # <|endoftext|>
            extra = dict(bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)
    torch.manual_seed(seed)
    config = config_cls(vocab_size=vocab_size, initializer_range=init_range, **(TINY | extra))
    model = model_cls(config).eval()
    with torch.no_grad():  # random norms and biases too, so a wrong layout cannot hide
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.5)
    model.save_pretrained(folder)
    return folder


def build_tiny_llama(folder: Path, seed: int = 0, init_range: float = 0.1) -> Path:
    return build_tiny(folder, "llama", seed, init_range)
