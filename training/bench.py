"""`srllm bench-train`: our training step vs a plain transformers Trainer, same data, same run.

    srllm bench-train --config training/configs/default.toml --steps 6 [--json out.json]

Both train the same LoRA on the same tokenised examples with the same batch size and gradient
accumulation for `steps` optimiser steps (after one untimed warm-up step). Ours is
`train.train_step` itself, the step `srllm train` runs (collation with the loss weights,
autocast, accumulation, clipping, the LR schedule, AdamW), on the first epoch's batches in
training order. tokens/s counts real (non-padding) tokens of the examples; s/epoch = seconds per
step x optimiser steps per epoch. The baseline is what a plain setup does: every prompt token
goes through the model (and the lm_head) for every example.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from srllm.errors import Code, SrllmError
from srllm.training import batching, memory, train
from srllm.training.config import TrainConfig


def _ours(loop: train.Loop, steps: int) -> dict:
    accum = loop.cfg.grad_accum
    batches = train.epoch_batches(loop, 0)
    if (steps + 1) * accum > loop.usable_batches:
        raise SrllmError(
            Code.BAD_INPUT,
            f"--steps {steps}: at most {loop.steps_per_epoch - 1} (one epoch, less a warm-up step)",
        )
    loop.p.model.train()
    seconds, tokens = 0.0, 0
    for i in range(steps + 1):
        start = time.perf_counter()
        # Through the module attribute: the function `srllm train` calls, whatever it is now.
        result = train.train_step(loop, batches[i * accum : (i + 1) * accum])
        if loop.p.device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # step 0 warms up kernels and allocators
            seconds += time.perf_counter() - start
            tokens += result.tokens
    return {"seconds": seconds, "tokens": tokens, "steps": steps}


def _trainer(p, cfg: TrainConfig, steps: int, workdir: Path) -> dict:
    """transformers.Trainer on the same examples: padding collator, full-sequence loss path."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from srllm.training import model as model_io

    model = train.add_lora(model_io.load_model(p.base_source, p.dtype), cfg)  # the same LoRA
    examples = [{"input_ids": f.input_ids, "labels": f.labels} for f in p.train]
    pad = p.tokenizer.pad_token_id
    counted: list[int] = []

    def collate(rows: list[dict]) -> dict:
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), pad)
        labels = torch.full((len(rows), width), batching.IGNORE)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n], labels[i, :n], mask[i, :n] = (
                torch.tensor(r["input_ids"]),
                torch.tensor(r["labels"]),
                1,
            )
        counted.append(int(mask.sum()))
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    class Clock(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self.start)

    clock = Clock()
    args = TrainingArguments(
        output_dir=str(workdir),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        max_steps=steps + 1,
        learning_rate=cfg.lr,
        save_strategy="no",
        report_to=[],
        logging_strategy="no",
        disable_tqdm=True,
        bf16=p.dtype == torch.bfloat16,
        use_cpu=p.device.type != "cuda",
        dataloader_num_workers=0,
        seed=cfg.seed,
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=examples, data_collator=collate, callbacks=[clock]
    )
    trainer.train()
    # The collator ran once per micro-batch, grad_accum per step (a batch fetched ahead is left
    # out): drop the warm-up step.
    accum = cfg.grad_accum
    return {
        "seconds": sum(clock.times[1:]),
        "tokens": sum(counted[accum : (steps + 1) * accum]),
        "steps": len(clock.times) - 1,
    }


def run_bench(cfg: TrainConfig, steps: int, json_out: str | None = None) -> dict:
    import tempfile

    memory.keep_freed_memory()  # as `srllm train` runs, for both loops
    p = train.prepare(cfg)
    loop = train.make_loop(p)
    per_epoch = loop.steps_per_epoch
    rows = {f"srllm (share_prefix={loop.cfg.share_prefix})": _ours(loop, steps)}
    del loop, p.model  # free our model before the baseline loads its own
    with tempfile.TemporaryDirectory() as workdir:
        rows["transformers Trainer"] = _trainer(p, cfg, steps, Path(workdir))
    device = torch.cuda.get_device_name(0) if p.device.type == "cuda" else "cpu"
    report = {
        "device": device,
        "threads": torch.get_num_threads(),
        "batch_size": cfg.batch_size,
        "grad_accum": cfg.grad_accum,
        "steps_timed": steps,
        "steps_per_epoch": per_epoch,
        "results": {},
    }
    for name, r in rows.items():
        per_step = r["seconds"] / max(1, r["steps"])
        report["results"][name] = {
            "tokens_per_s": round(r["tokens"] / max(r["seconds"], 1e-9), 1),
            "s_per_step": round(per_step, 3),
            "s_per_epoch": round(per_step * per_epoch, 1),
        }
    ours, plain = (r["tokens_per_s"] for r in report["results"].values())
    report["speedup"] = round(ours / max(plain, 1e-9), 2)
    print(
        f"{'loop':<32} {'tokens/s':>10} {'s/step':>8} {'s/epoch':>9}   ({device}, "
        f"batch {cfg.batch_size}, {per_epoch} steps/epoch)"
    )
    for name, r in report["results"].items():
        print(f"{name:<32} {r['tokens_per_s']:>10} {r['s_per_step']:>8} {r['s_per_epoch']:>9}")
    print(f"speed-up over the Trainer baseline: {report['speedup']}x")
    print(json.dumps(report))
    if json_out:
        Path(json_out).write_text(json.dumps(report, indent=2) + "\n")
    return report
