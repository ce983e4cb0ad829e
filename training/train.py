"""LoRA instruction tuning on the SR-LLM task contract.

    srllm train --config training/configs/default.toml            # CPU default
    srllm train --config training/configs/gpu.toml                # one GPU
    torchrun --nproc-per-node 4 -m training train --config training/configs/gpu.toml    # DDP
    accelerate launch --multi_gpu --num_processes 4 -m training train --config ...      # the same

`run` reads as its steps: `setup` (processes, device, data, model, optimiser, resume), then per
epoch `train_epoch` (optimiser steps, each one `train_step`), `validate`, `end_epoch` and `save`,
then `finish` (adapter, merge, run.json, export). `train_step` is the whole per-step computation,
and `srllm bench-train` times that same function. A checkpoint's `ResumeState` (checkpoint.py)
is where the loop stands, so a resumed run continues exactly where the saved one stopped.

Under a launcher (WORLD_SIZE > 1) each process takes every world_size-th batch and gradients are
averaged by DDP; rank 0 alone logs, checkpoints and writes outputs. Outputs, in output_dir:
adapter/ (peft LoRA), merged/ (full HF model), checkpoints/, run.json (written last).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from srllm.errors import Code, SrllmError
from srllm.training import batching, checkpoint, data, memory
from srllm.training import model as model_io
from srllm.training.checkpoint import ResumeState
from srllm.training.config import TrainConfig


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass
class Metrics:
    """What run.json reports, built from the resume state when training ends."""

    # Per epoch begun: the last entry covers a partial epoch when max_steps or the budget ended it.
    train_loss: list[float]  # mean per label token
    val_loss: list[float]
    val_loss_start: float | None  # before training (eval_at_start)
    steps: int
    steps_per_epoch: int
    tokens: int  # non-padding tokens trained on
    train_seconds: float
    dropped_too_long: int
    loss_log: list[list[float]]  # [step, mean loss since last log]
    stopped_by_time_budget: bool
    replica_spread: float | None  # DDP: largest LoRA weight difference between ranks


def setup_dist() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    import torch.distributed as tdist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    tdist.init_process_group(backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return Dist(rank=tdist.get_rank(), world=world, local_rank=local)


def pick_device(dist: Dist) -> torch.device:
    return (
        torch.device(f"cuda:{dist.local_rank}")
        if torch.cuda.is_available()
        else torch.device("cpu")
    )


def pick_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype:
    if cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return torch.float32


def seed_all(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def add_lora(model, cfg: TrainConfig):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if cfg.load_in_4bit:
        model = prepare_model_for_kbit_training(model, cfg.gradient_checkpointing)
    elif cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if cfg.init_adapter:
        return _load_init_adapter(model, cfg.init_adapter)
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def _load_init_adapter(model, folder: str):
    """Continue from a trained adapter (its LoRA shape and targets win over the config's)."""
    from peft import PeftModel

    if not (Path(folder) / "adapter_config.json").is_file():
        raise SrllmError(
            Code.MODEL_LOAD_FAILED, f"init_adapter {folder!r}: no adapter_config.json there"
        )
    return PeftModel.from_pretrained(model, folder, is_trainable=True)


def lr_scale(step: int, warmup: int, progress: float) -> float:
    """Linear warm-up over steps, then cosine decay to 10% of the peak as progress goes 0 -> 1.

    progress is the larger of steps done / total steps and time spent / time budget, so a run cut
    by its time budget on a busy CPU still ends at a low learning rate.
    """
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, progress))))


def _progress(step: int, warmup: int, total: int, seconds: float, budget_min: float) -> float:
    by_steps = (step - warmup) / max(1, total - warmup)
    by_time = seconds / (budget_min * 60) if budget_min else 0.0
    return max(by_steps, by_time)


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def evaluate(loss_module, features, cfg, pad_id, device) -> float:
    loss_module.eval()
    total, count = 0.0, 0
    for idx in batching.make_batches(features, cfg.batch_size, cfg.seed, shuffle=False):
        batch = batching.collate([features[i] for i in idx], pad_id, cfg.share_prefix)
        loss, n = loss_module(**to_device(batch, device))
        total, count = total + float(loss), count + int(n)
    loss_module.train()
    return total / max(1, count)


@dataclass
class Prepared:
    cfg: TrainConfig
    dist: Dist
    device: torch.device
    dtype: torch.dtype
    tokenizer: object
    eos_id: int
    model: object  # the peft model
    dataset: data.Dataset
    train: list
    val: list
    base_identity: dict
    base_source: str
    dropped: int = 0  # training examples over max_len


def prepare(cfg: TrainConfig, dist: Dist | None = None) -> Prepared:
    """Data, tokenizer, base model and LoRA: everything before the first step."""
    dist = dist or Dist()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_all(cfg.seed)
    device = pick_device(dist)
    if cfg.load_in_4bit and device.type != "cuda":
        raise SrllmError(Code.MODEL_LOAD_FAILED, "load_in_4bit needs a CUDA GPU (and bitsandbytes)")
    dtype = pick_dtype(cfg, device)
    dataset = data.build_dataset(cfg)
    source, identity = model_io.resolve_base(cfg.base_model)
    tokenizer = model_io.load_tokenizer(source)
    eos_id = model_io.end_of_turn_id(tokenizer)
    shape = (cfg.max_len, cfg.verdict_only, cfg.scan_prompt)
    train, dropped = batching.encode_all(tokenizer, dataset.train, eos_id, *shape)
    val, _ = batching.encode_all(tokenizer, dataset.val, eos_id, *shape)
    if cfg.eval_max_examples:
        val = val[: cfg.eval_max_examples]  # rows come in groups of four kinds: stays balanced
    if not train:
        raise SrllmError(Code.DATA_INVALID, f"no training example fits max_len={cfg.max_len}")
    model = model_io.load_model(source, dtype, cfg.load_in_4bit, cfg.keep_layers)
    if not cfg.load_in_4bit:
        model.to(device)
    model = add_lora(model, cfg)
    return Prepared(
        cfg,
        dist,
        device,
        dtype,
        tokenizer,
        eos_id,
        model,
        dataset,
        train,
        val,
        identity,
        source,
        dropped,
    )


@dataclass
class Loop:
    """A training run in progress: what `train_step` and the epoch loop share."""

    p: Prepared
    cfg: TrainConfig  # as run: share_prefix is off under gradient checkpointing
    loss_module: torch.nn.Module  # ResponseLoss, DDP-wrapped under a launcher
    optimizer: torch.optim.Optimizer
    params: list[torch.nn.Parameter]  # the trainable (LoRA) weights
    batches_per_epoch: int  # this rank's
    steps_per_epoch: int
    total: int  # optimiser steps planned: the length of the LR schedule
    state: ResumeState = field(default_factory=ResumeState)
    resumed_from: Path | None = None
    # This process's bookkeeping, never saved: a resumed run keeps only train_seconds.
    train_start: float = field(default_factory=time.time)  # less the time spent before a resume
    session_start: float = field(default_factory=time.time)  # tokens/s: this process's own
    session_tokens: int = 0
    window_loss: float = 0.0  # since the last loss_log entry
    window_labels: int = 0
    out_of_time: bool = False
    partial: tuple[float, float] | None = None  # (train, val) loss of an epoch cut short
    bar: Any = None  # tqdm progress bar (shown on rank 0), set by setup

    @property
    def usable_batches(self) -> int:
        # A last group smaller than grad_accum is skipped.
        return self.batches_per_epoch - self.batches_per_epoch % self.cfg.grad_accum

    @property
    def stopping(self) -> bool:
        return self.state.step >= self.total or self.out_of_time

    def elapsed(self) -> float:
        return time.time() - self.train_start

    def start_clock(self) -> None:
        self.train_start = time.time() - self.state.train_seconds
        self.session_start = time.time()


def make_loop(p: Prepared) -> Loop:
    """The loss module (DDP-wrapped under a launcher), AdamW on the LoRA weights, and the plan:
    batches and optimiser steps per epoch, total steps."""
    cfg = p.cfg
    if cfg.gradient_checkpointing and cfg.share_prefix:
        cfg = dataclasses.replace(cfg, share_prefix=False)
    loss_module = batching.ResponseLoss(p.model)
    if p.dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [p.device.index] if p.device.type == "cuda" else None
        loss_module = DistributedDataParallel(loss_module, device_ids=ids)
    params = [x for x in p.model.parameters() if x.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = len(batching.make_batches(p.train, cfg.batch_size, cfg.seed)) // p.dist.world
    steps_per_epoch = max(1, per_epoch // cfg.grad_accum)
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    return Loop(p, cfg, loss_module, optimizer, params, per_epoch, steps_per_epoch, total)


def epoch_batches(loop: Loop, epoch: int) -> list[list[int]]:
    """This rank's batches (example indices) of `epoch`, in training order: every world-th of
    the epoch's shuffle, the same number on every rank."""
    batches = batching.make_batches(loop.p.train, loop.cfg.batch_size, loop.cfg.seed + epoch)
    world = loop.p.dist.world
    return batches[loop.p.dist.rank : loop.batches_per_epoch * world : world]


def run(cfg: TrainConfig) -> Path:
    """Train, save the adapter, merge, and write run.json; returns the run.json path."""
    started = time.time()
    loop = setup(cfg)
    for _ in range(loop.state.epoch, cfg.epochs):
        train_epoch(loop)
        end_epoch(loop, validate(loop))
        save(loop)
        if loop.stopping:
            break
    return finish(loop, started)


def setup(cfg: TrainConfig) -> Loop:
    """Processes, device, data, model and optimiser; resume from the newest checkpoint, or score
    the untrained model (eval_at_start); start the clocks."""
    from tqdm import tqdm

    memory.keep_freed_memory()  # before the model's first tensors
    dist = setup_dist()
    p = prepare(cfg, dist)
    Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
    loop = make_loop(p)
    resume(loop)
    if cfg.eval_at_start and loop.resumed_from is None:
        loop.state.val_loss_start = validate(loop)
        if dist.main:
            print(f"val loss before training {loop.state.val_loss_start:.4f}")
    loop.bar = tqdm(
        total=loop.total, initial=loop.state.step, desc="train", disable=not dist.main, unit="step"
    )
    p.model.train()
    loop.start_clock()
    return loop


def resume(loop: Loop) -> None:
    """Continue from the newest checkpoint in output_dir, if resume is on and there is one."""
    found = checkpoint.checkpoint_dirs(Path(loop.cfg.output_dir)) if loop.cfg.resume else []
    if not found:
        return
    loop.state = checkpoint.load_checkpoint(found[-1], loop.p.model, loop.optimizer)
    loop.resumed_from = found[-1]
    if loop.p.dist.main:
        print(f"resumed from {found[-1]} (step {loop.state.step})")


def validate(loop: Loop) -> float:
    """The validation loss (unweighted, mean per label token) of the model as it stands."""
    p = loop.p
    return evaluate(loop.loss_module, p.val, loop.cfg, p.tokenizer.pad_token_id, p.device)


def train_epoch(loop: Loop) -> None:
    """Optimiser steps through the epoch in progress, from the state's batch on, until the
    epoch ends or the run must stop (max_steps, time budget)."""
    state, accum = loop.state, loop.cfg.grad_accum
    batches = epoch_batches(loop, state.epoch)
    while state.batch < loop.usable_batches and not loop.stopping:
        result = train_step(loop, batches[state.batch : state.batch + accum])
        state.batch += accum
        _account(loop, result)
        loop.bar.update(1)
        elapsed = loop.elapsed()
        budget = loop.cfg.time_budget_min
        loop.out_of_time = _agree(loop.p.dist, bool(budget) and elapsed > budget * 60)
        if state.step % loop.cfg.log_every == 0 or state.step == loop.total or loop.out_of_time:
            _log(loop, elapsed)
        if loop.cfg.save_every and state.step % loop.cfg.save_every == 0:
            save(loop)


@dataclass
class StepResult:
    loss: float  # summed weighted loss of the step's label tokens
    labels: int  # label tokens
    tokens: int  # non-padding tokens (this rank's)


def train_step(loop: Loop, batches: list[list[int]]) -> StepResult:
    """One optimiser step, the one `srllm train` runs and `srllm bench-train` times: `batches`
    are grad_accum micro-batches of example indices, collated with the loss weights, run under
    autocast; their gradients accumulate, normalised by the step's label tokens together, are
    clipped, and AdamW steps at the scheduled learning rate. Advances loop.state.step."""
    cfg, p = loop.cfg, loop.p
    micro = [
        batching.collate(
            [p.train[i] for i in idx],
            p.tokenizer.pad_token_id,
            cfg.share_prefix,
            cfg.label_weight,
            cfg.edit_weight,
        )
        for idx in batches
    ]
    n_labels = sum(int((m["labels"] != batching.IGNORE).sum()) for m in micro)
    result = StepResult(0.0, 0, 0)
    for m in micro:
        with _autocast(p.device, p.dtype):
            loss_sum, count = loop.loss_module(**to_device(m, p.device))
        (loss_sum / max(1, n_labels)).backward()
        result.loss += float(loss_sum.detach())
        result.labels += int(count)
        result.tokens += int(m["attention_mask"].sum())
    torch.nn.utils.clip_grad_norm_(loop.params, cfg.max_grad_norm)
    step = loop.state.step
    # The schedule runs by steps and by time, whichever is further (see lr_scale).
    progress = _progress(step, cfg.warmup_steps, loop.total, loop.elapsed(), cfg.time_budget_min)
    for group in loop.optimizer.param_groups:
        group["lr"] = cfg.lr * lr_scale(step, cfg.warmup_steps, progress)
    loop.optimizer.step()
    loop.optimizer.zero_grad(set_to_none=True)
    loop.state.step += 1
    return result


def _account(loop: Loop, result: StepResult) -> None:
    """Add a step's loss and tokens to the epoch's, the log window's and the run's totals."""
    state, world = loop.state, loop.p.dist.world
    state.epoch_loss += result.loss
    state.epoch_labels += result.labels
    state.tokens += result.tokens * world  # every rank trains as many batches
    loop.session_tokens += result.tokens * world
    loop.window_loss += result.loss
    loop.window_labels += result.labels


def _log(loop: Loop, elapsed: float) -> None:
    """A loss_log entry (mean loss since the last one), the bar's postfix and a log line."""
    state = loop.state
    recent = loop.window_loss / max(1, loop.window_labels)
    state.loss_log.append([state.step, round(recent, 4)])
    loop.window_loss, loop.window_labels = 0.0, 0
    speed = loop.session_tokens / max(time.time() - loop.session_start, 1e-9)
    loop.bar.set_postfix(epoch=state.epoch + 1, loss=f"{recent:.4f}", tok_s=f"{speed:.0f}")
    if loop.p.dist.main and not loop.bar.disable:
        loop.bar.write(
            f"step {state.step}/{loop.total} epoch {state.epoch + 1} loss {recent:.4f} "
            f"tok/s {speed:.0f} elapsed {elapsed:.0f}s"
        )


def end_epoch(loop: Loop, val_loss: float) -> None:
    """Record the epoch's losses. A completed epoch moves the state on to the next; one cut short
    (max_steps, time budget) stays in progress, so a resume continues it from its next batch."""
    state = loop.state
    train_loss = state.epoch_loss / max(1, state.epoch_labels)
    if loop.p.dist.main:
        loop.bar.write(
            f"epoch {state.epoch + 1}: train loss {train_loss:.4f}, val loss {val_loss:.4f}"
        )
    if state.batch < loop.usable_batches:
        loop.partial = (train_loss, val_loss)
        return
    state.train_loss.append(train_loss)
    state.val_loss.append(val_loss)
    state.epoch, state.batch, state.epoch_loss, state.epoch_labels = state.epoch + 1, 0, 0.0, 0


def save(loop: Loop) -> None:
    """A checkpoint of the weights, the optimiser and the state; rank 0's alone (ranks agree)."""
    if not loop.p.dist.main:
        return
    loop.state.train_seconds = loop.elapsed()
    checkpoint.save_checkpoint(
        Path(loop.cfg.output_dir),
        loop.p.model,
        loop.optimizer,
        loop.state,
        loop.cfg.keep_checkpoints,
    )


def finish(loop: Loop, started: float) -> Path:
    """The metrics; then, on rank 0, the adapter, the merged model, run.json and the export.
    Returns the run.json path."""
    from srllm.training import manifest, merge

    loop.bar.close()
    metrics = run_metrics(loop)
    tokens_per_s = loop.session_tokens / max(time.time() - loop.session_start, 1e-9)
    prepared, cfg, dist = loop.p, loop.p.cfg, loop.p.dist
    output_dir = Path(cfg.output_dir)
    if not dist.main:
        _finish_dist(dist)
        return output_dir / "run.json"
    adapter_dir = checkpoint.save_adapter(
        prepared.model,
        output_dir / "adapter",
        cfg.adapter_dtype,
        prepared.base_identity.get("hf_id"),
    )
    merged_dir = None
    if cfg.merge:
        merged_dir = merge.merge_adapter(
            prepared.base_source, adapter_dir, output_dir / "merged", cfg.keep_layers
        )
    wall = time.time() - started
    path = manifest.write(
        output_dir, cfg, prepared, metrics, adapter_dir, merged_dir, tokens_per_s, wall
    )
    if cfg.export_dir:
        checkpoint.export(adapter_dir, path, Path(cfg.export_dir))
    _finish_dist(dist)
    return path


def run_metrics(loop: Loop) -> Metrics:
    """run.json's metrics: the state's, the epoch cut short, and (DDP) the replicas' spread."""
    state = loop.state
    train_loss, val_loss = list(state.train_loss), list(state.val_loss)
    if loop.partial:
        train_loss.append(loop.partial[0])
        val_loss.append(loop.partial[1])
    metrics = Metrics(
        train_loss=train_loss,
        val_loss=val_loss,
        val_loss_start=state.val_loss_start,
        steps=state.step,
        steps_per_epoch=loop.steps_per_epoch,
        tokens=state.tokens,
        train_seconds=loop.elapsed(),
        dropped_too_long=loop.p.dropped,
        loss_log=state.loss_log,
        stopped_by_time_budget=loop.out_of_time,
        replica_spread=_replica_spread(loop.p.dist, loop.params),
    )
    if loop.p.dist.main and (metrics.replica_spread or 0.0) > REPLICA_TOLERANCE:
        print(f"warning: DDP replicas differ by up to {metrics.replica_spread:.3g} after training")
    return metrics


def _autocast(device: torch.device, dtype: torch.dtype):
    if device.type == "cuda" and dtype == torch.bfloat16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _agree(dist: Dist, flag: bool) -> bool:
    """Under DDP every rank must stop at the same step: stop when any rank says so."""
    if dist.world == 1:
        return flag
    import torch.distributed as tdist

    value = torch.tensor([int(flag)], device=pick_device(dist))
    tdist.all_reduce(value, op=tdist.ReduceOp.MAX)
    return bool(value.item())


# Ranks in step still differ by the all-reduce's rounding (measured: up to 7e-9 with gloo, when
# the summation order varies); ranks that never synchronised differ by ~1e-1 after a few steps.
REPLICA_TOLERANCE = 1e-5


def _replica_spread(dist: Dist, params: list) -> float | None:
    """Under DDP: the largest difference of any trainable weight between ranks (rounding-sized
    when the gradients were averaged every step, as they must be: rank 0 saves the adapter)."""
    if dist.world == 1:
        return None
    import torch.distributed as tdist

    flat = torch.cat([x.detach().float().flatten() for x in params])
    high, low = flat.clone(), flat.clone()
    tdist.all_reduce(high, op=tdist.ReduceOp.MAX)
    tdist.all_reduce(low, op=tdist.ReduceOp.MIN)
    return float((high - low).max())


def _finish_dist(dist: Dist) -> None:
    if dist.world > 1:
        import torch.distributed as tdist

        tdist.barrier()
        tdist.destroy_process_group()
