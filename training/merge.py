"""Merge a LoRA adapter into its base model: a plain HF folder any tool can load or convert.

    srllm merge --base <hf folder or id> --adapter runs/default/adapter --out merged/

End-of-training checklist: merged in fp32 (then saved in the base dtype), tokenizer and chat
template saved next to it, eos_token_id aligned with the end-of-turn token in both config and
generation_config, use_cache restored.
"""

from __future__ import annotations

from pathlib import Path

from srllm.files import staged_dir


def merge_adapter(base_source: str, adapter_dir: Path, out_dir: Path, keep_layers: int = 0) -> Path:
    """keep_layers: the run's (TrainConfig.keep_layers): the adapter meets the model it trained."""
    import torch
    from peft import PeftModel

    from srllm.training import model as model_io

    tokenizer = model_io.load_tokenizer(base_source)
    base = model_io.load_model(base_source, torch.float32, keep_layers=keep_layers)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    eos = model_io.end_of_turn_id(tokenizer)
    merged.config.eos_token_id = eos
    merged.config.use_cache = True
    if merged.generation_config is not None:
        merged.generation_config.eos_token_id = eos
        if merged.generation_config.pad_token_id is None:
            merged.generation_config.pad_token_id = tokenizer.pad_token_id
    with staged_dir(out_dir) as tmp:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)  # writes the chat template too
    return out_dir
