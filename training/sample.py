"""Greedy flag + rewrite of a few held-out sentences with a merged model, in transformers.

    srllm sample --model runs/default/merged --n 3

A quick look after training, before the GGUF build; the real evaluation is `evaluation/`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from srllm import contract
from srllm.training.data import clean_text


def generate(model, tokenizer, task: str, text: str, max_new_tokens: int) -> str:
    import torch

    inputs = tokenizer.apply_chat_template(
        contract.messages(task, text),
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=model.generation_config.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def sample(model_dir: str, heldout_csv: Path, n: int) -> list[dict]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with heldout_csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:n]
    results = []
    for row in rows:
        text = clean_text(row["biased_text"])
        raw_flag = generate(model, tokenizer, "flag", text, contract.FLAG_MAX_TOKENS)
        try:
            flag = contract.parse_flag(raw_flag)
            parsed = {"label": flag.label.value, "biased_words": flag.biased_words}
        except contract.FlagParseError as exc:
            parsed = {"error": str(exc)}
        rewrite = contract.clean_rewrite(generate(model, tokenizer, "rewrite", text, 160), text)
        results.append(
            {
                "text": text,
                "gold_words": row["biased_words"],
                "flag_raw": raw_flag,
                "flag": parsed,
                "rewrite": rewrite,
                "changed": contract.is_changed(text, rewrite),
                "reference": row["debiased_text"],
            }
        )
    return results
