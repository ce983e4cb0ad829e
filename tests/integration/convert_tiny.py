"""Build a tiny random Llama with SmolLM2's tokenizer (from the embedded GGUF): no downloads.

Shared by the convert and training integration tests; the model is small enough to convert or
train in seconds.
"""

from __future__ import annotations

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

    from convert.bench import SMOLLM_PRE_TOKENIZER
    from server.paths import embedded_model

    gguf_path = embedded_model()
    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    tok.save_pretrained(folder)
    tj = folder / "tokenizer.json"
    data = json.loads(tj.read_text(encoding="utf-8"))
    data["pre_tokenizer"] = SMOLLM_PRE_TOKENIZER
    tj.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def build_tiny(folder: Path, arch: str = "llama", seed: int = 0, init_range: float = 0.1) -> Path:
    """Save a random 2-layer causal LM (llama, mistral or qwen2) with SmolLM2's tokenizer."""
    import torch
    import transformers

    config_cls, model_cls = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
        "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
    }[arch]
    folder.mkdir(parents=True, exist_ok=True)
    save_smollm_tokenizer(folder)
    torch.manual_seed(seed)
    model = model_cls(config_cls(vocab_size=49152, initializer_range=init_range, **TINY)).eval()
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
