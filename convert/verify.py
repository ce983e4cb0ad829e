"""--verify: llama.cpp on the GGUF against transformers on the source, on a few prompts.

Reports per prompt top-1 next-token agreement, the largest absolute logit difference and the
lowest cosine similarity over positions; a random or quantized model has near-ties, so the
pass mark is on the logits (cosine), not on argmax alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

PROMPTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Women are too emotional to lead a company.",
    "In 2024, 37 résumés arrived — naïve café owners 🙂 replied.",
    "<|im_start|>user\nRewrite this neutrally.<|im_end|>\n<|im_start|>assistant\n",
)
MIN_COSINE = 0.99


def compare(hf_logits: np.ndarray, cpp_logits: np.ndarray) -> dict:
    a, b = hf_logits.astype(np.float64), cpp_logits.astype(np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return {
        "n_tokens": int(a.shape[0]),
        "top1_agree": float((a.argmax(1) == b.argmax(1)).mean()),
        "max_abs_diff": float(np.abs(a - b).max()),
        "min_cosine": float(cos.min()),
    }


def llama_logits(llm, ids: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def verify(model_dir: Path, gguf_path: Path, threads: int | None = None, prompts=PROMPTS) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import llama_cpp
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    llm = llama_cpp.Llama(
        model_path=str(gguf_path), n_ctx=512, logits_all=True, n_threads=threads, verbose=False
    )
    rows = []
    try:
        for prompt in prompts:
            ids = tok(prompt, add_special_tokens=False)["input_ids"]
            cpp_ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            with torch.no_grad():
                hf = model(torch.tensor([ids])).logits[0].float().numpy()
            row = {"prompt": prompt, "same_tokens": cpp_ids == ids} | compare(
                hf, llama_logits(llm, ids)
            )
            rows.append(row)
    finally:
        llm.close()
    ok = all(r["same_tokens"] and r["min_cosine"] >= MIN_COSINE for r in rows)
    return {"ok": ok, "min_cosine_required": MIN_COSINE, "rows": rows}


def format_table(result: dict) -> str:
    lines = [
        "| prompt | tokens | same tokens | top-1 agree | max abs logit diff | min cosine |",
        "| --- | ---: | :---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        short = r["prompt"].replace("\n", "\\n")[:40]
        lines.append(
            f"| {short} | {r['n_tokens']} | {'yes' if r['same_tokens'] else 'NO'} | "
            f"{r['top1_agree']:.2f} | {r['max_abs_diff']:.4f} | {r['min_cosine']:.5f} |"
        )
    lines.append(f"verify: {'ok' if result['ok'] else 'FAILED'} (min cosine >= {MIN_COSINE})")
    return "\n".join(lines)
