"""Architectures the converter knows, keyed by config.json `architectures[0]`.

Each entry says which llama.cpp architecture it becomes and whether the Q/K projections need
the rotary permutation: Hugging Face Llama rotates the two halves of each head (rotate_half),
llama.cpp's LLAMA rope rotates adjacent pairs, so Q and K rows are reordered per head. Qwen2
runs with llama.cpp's NEOX rope, which matches Hugging Face's layout, so it needs none.
"""

from __future__ import annotations

from dataclasses import dataclass

import gguf
import numpy as np

from srllm.convert.hfmodel import rope_scaling, rope_theta
from srllm.errors import Code, SrllmError


@dataclass(frozen=True)
class Architecture:
    hf_name: str
    arch: gguf.MODEL_ARCH
    permute_qk: bool

    @property
    def gguf_name(self) -> str:
        return gguf.MODEL_ARCH_NAMES[self.arch]


ARCHITECTURES: dict[str, Architecture] = {
    a.hf_name: a
    for a in (
        Architecture("LlamaForCausalLM", gguf.MODEL_ARCH.LLAMA, permute_qk=True),
        Architecture("MistralForCausalLM", gguf.MODEL_ARCH.LLAMA, permute_qk=True),
        Architecture("Qwen2ForCausalLM", gguf.MODEL_ARCH.QWEN2, permute_qk=False),
    )
}


def lookup(config: dict) -> Architecture:
    name = (config.get("architectures") or ["<none>"])[0]
    if name not in ARCHITECTURES:
        supported = ", ".join(sorted(ARCHITECTURES))
        raise SrllmError(
            Code.CONVERT_FAILED, f"unsupported architecture {name}; supported: {supported}"
        )
    return ARCHITECTURES[name]


@dataclass(frozen=True)
class HParams:
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ctx: int
    n_vocab: int
    rope_theta: float
    rms_eps: float
    tie_embeddings: bool
    rope_scaling: dict | None

    @classmethod
    def from_config(cls, config: dict) -> HParams:
        try:
            n_head = int(config["num_attention_heads"])
            n_embd = int(config["hidden_size"])
            return cls(
                n_layer=int(config["num_hidden_layers"]),
                n_embd=n_embd,
                n_ff=int(config["intermediate_size"]),
                n_head=n_head,
                n_head_kv=int(config.get("num_key_value_heads") or n_head),
                head_dim=int(config.get("head_dim") or n_embd // n_head),
                n_ctx=int(config.get("max_position_embeddings") or 2048),
                n_vocab=int(config["vocab_size"]),
                rope_theta=rope_theta(config),
                rms_eps=float(config.get("rms_norm_eps") or 1e-6),
                tie_embeddings=bool(config.get("tie_word_embeddings", False)),
                rope_scaling=rope_scaling(config),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SrllmError(
                Code.CONVERT_FAILED, f"config.json lacks or mangles a hyper-parameter: {exc}"
            ) from exc


def write_hparams(writer: gguf.GGUFWriter, hp: HParams) -> None:
    writer.add_context_length(hp.n_ctx)
    writer.add_embedding_length(hp.n_embd)
    writer.add_block_count(hp.n_layer)
    writer.add_feed_forward_length(hp.n_ff)
    writer.add_head_count(hp.n_head)
    writer.add_head_count_kv(hp.n_head_kv)
    writer.add_rope_freq_base(hp.rope_theta)
    writer.add_layer_norm_rms_eps(hp.rms_eps)
    writer.add_vocab_size(hp.n_vocab)
    writer.add_rope_dimension_count(hp.head_dim)
    if hp.head_dim != hp.n_embd // hp.n_head:
        writer.add_key_length(hp.head_dim)
        writer.add_value_length(hp.head_dim)
    scaling = hp.rope_scaling
    if scaling is None:
        return
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(scaling["factor"]))
    elif kind != "llama3":  # llama3 is carried by the rope_freqs tensor instead
        raise SrllmError(
            Code.CONVERT_FAILED, f"unsupported rope scaling {kind!r} (supported: linear, llama3)"
        )


def llama3_rope_factors(hp: HParams) -> np.ndarray | None:
    """Per-frequency divisors for Llama 3.1-style rope scaling (llama.cpp's rope_freqs)."""
    s = hp.rope_scaling
    if not s or s.get("rope_type", s.get("type")) != "llama3":
        return None
    factor = float(s["factor"])
    low, high = float(s.get("low_freq_factor", 1.0)), float(s.get("high_freq_factor", 4.0))
    old_ctx = float(s.get("original_max_position_embeddings", 8192))
    freqs = 1.0 / hp.rope_theta ** (np.arange(0, hp.head_dim, 2, dtype=np.float64) / hp.head_dim)
    wavelen = 2 * np.pi / freqs
    smooth = (old_ctx / wavelen - low) / (high - low)
    mid = 1.0 / ((1 - smooth) / factor + smooth)
    out = np.where(wavelen < old_ctx / high, 1.0, np.where(wavelen > old_ctx / low, factor, mid))
    return out.astype(np.float32)


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder each head's rows from rotate-half pairs (i, i+d/2) to adjacent pairs (2i, 2i+1)."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
