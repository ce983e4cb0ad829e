"""LoRA instruction tuning on the SR-LLM task contract.

    srllm train --config training/configs/default.toml            # CPU default
    srllm train --config training/configs/gpu.toml                # one GPU
    torchrun --nproc-per-node 4 -m training train --config training/configs/gpu.toml    # DDP
    accelerate launch --multi_gpu --num_processes 4 -m training train --config ...      # the same

Under a launcher (WORLD_SIZE > 1) each process takes every world_size-th batch and gradients are
averaged by DDP; rank 0 alone logs, checkpoints and writes outputs. Outputs, in output_dir:
adapter/ (peft LoRA), merged/ (full HF model), checkpoints/, run.json (written last).
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from training import batching, checkpoint, data
from training import model as model_io
from training.config import TrainConfig


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
    # Per epoch begun: the last entry covers a partial epoch when max_steps or the budget ended it.
    train_loss: list[float] = field(default_factory=list)  # mean per label token
    val_loss: list[float] = field(default_factory=list)
    val_loss_start: float | None = None  # before training (eval_at_start)
    steps: int = 0
    steps_per_epoch: int = 0
    tokens: int = 0  # non-padding tokens trained on
    train_seconds: float = 0.0
    dropped_too_long: int = 0
    loss_log: list[list[float]] = field(default_factory=list)  # [step, mean loss since last log]
    stopped_by_time_budget: bool = False
    replica_spread: float | None = None  # DDP: largest LoRA weight difference between ranks


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
        raise model_io.ModelLoadError(f"init_adapter {folder!r}: no adapter_config.json there")
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


def prepare(cfg: TrainConfig, dist: Dist | None = None) -> Prepared:
    """Data, tokenizer, base model and LoRA: everything before the first step."""
    dist = dist or Dist()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_all(cfg.seed)
    device = pick_device(dist)
    if cfg.load_in_4bit and device.type != "cuda":
        raise model_io.ModelLoadError("load_in_4bit needs a CUDA GPU (and bitsandbytes)")
    dtype = pick_dtype(cfg, device)
    dataset = data.build_dataset(cfg)
    source, identity = model_io.resolve_base(cfg.base_model)
    tokenizer = model_io.load_tokenizer(source)
    eos_id = model_io.end_of_turn_id(tokenizer)
    train, dropped = batching.encode_all(tokenizer, dataset.train, eos_id, cfg.max_len)
    val, _ = batching.encode_all(tokenizer, dataset.val, eos_id, cfg.max_len)
    if cfg.eval_max_examples:
        val = val[: cfg.eval_max_examples]  # rows come in groups of four kinds: stays balanced
    if not train:
        raise data.DataError(f"no training example fits max_len={cfg.max_len}")
    model = model_io.load_model(source, dtype, cfg.load_in_4bit)
    if not cfg.load_in_4bit:
        model.to(device)
    model = add_lora(model, cfg)
    prepared = Prepared(
        cfg, dist, device, dtype, tokenizer, eos_id, model, dataset, train, val, identity, source
    )
    prepared.dropped = dropped  # type: ignore[attr-defined]
    return prepared


def run(cfg: TrainConfig) -> Path:
    """Train, save the adapter, merge, and write run.json; returns the run.json path."""
    from tqdm import tqdm

    from training import manifest, merge

    started = time.time()
    dist = setup_dist()
    p = prepare(cfg, dist)
    share_prefix = cfg.share_prefix and not cfg.gradient_checkpointing
    cfg_run = cfg if share_prefix == cfg.share_prefix else _replace(cfg, share_prefix=False)
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    pad_id = p.tokenizer.pad_token_id

    loss_module = batching.ResponseLoss(p.model)
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [p.device.index] if p.device.type == "cuda" else None
        loss_module = DistributedDataParallel(loss_module, device_ids=ids)
    params = [x for x in p.model.parameters() if x.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = len(batching.make_batches(p.train, cfg.batch_size, cfg.seed)) // dist.world
    steps_per_epoch = max(1, per_epoch // cfg.grad_accum)
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps:
        total = min(total, cfg.max_steps)

    metrics = Metrics(dropped_too_long=p.dropped)  # type: ignore[attr-defined]
    metrics.steps_per_epoch = steps_per_epoch
    state = {"step": 0, "epoch": 0, "batch": 0, "metrics": {}}
    found = checkpoint.checkpoint_dirs(output_dir) if cfg.resume else []
    if found:
        state = checkpoint.load_checkpoint(found[-1], p.model, optimizer)
        metrics.train_loss = state["metrics"].get("train_loss", [])
        metrics.val_loss = state["metrics"].get("val_loss", [])
        if state.get("partial"):  # that epoch goes on: its interim losses are recomputed
            metrics.train_loss, metrics.val_loss = metrics.train_loss[:-1], metrics.val_loss[:-1]
        metrics.tokens = state["metrics"].get("tokens", 0)
        metrics.loss_log = state["metrics"].get("loss_log", [])
        metrics.train_seconds = state["metrics"].get("train_seconds", 0.0)
        if dist.main:
            print(f"resumed from {found[-1]} (step {state['step']})")

    if cfg.eval_at_start and not found:
        metrics.val_loss_start = evaluate(loss_module, p.val, cfg_run, pad_id, p.device)
        if dist.main:
            print(f"val loss before training {metrics.val_loss_start:.4f}")
    step = state["step"]
    bar = tqdm(total=total, initial=step, desc="train", disable=not dist.main, unit="step")
    p.model.train()
    train_start = time.time() - metrics.train_seconds  # a resumed run keeps its time spent
    session_start = time.time()  # tokens/s counts this process's tokens over its own time
    run_tokens = 0
    window_loss, window_count = 0.0, 0
    out_of_time = False
    for epoch in range(state["epoch"], cfg.epochs):
        batches = batching.make_batches(p.train, cfg.batch_size, cfg.seed + epoch)
        batches = batches[dist.rank : per_epoch * dist.world : dist.world]
        resuming = epoch == state["epoch"]
        start_batch = state["batch"] if resuming else 0
        epoch_loss = state.get("epoch_loss", 0.0) if resuming else 0.0
        epoch_count = state.get("epoch_count", 0) if resuming else 0
        for b in range(start_batch, len(batches) - len(batches) % cfg.grad_accum, cfg.grad_accum):
            if step >= total or out_of_time:
                break
            micro = [
                batching.collate(
                    [p.train[i] for i in batches[b + a]],
                    pad_id,
                    share_prefix,
                    cfg.label_weight,
                    cfg.edit_weight,
                )
                for a in range(cfg.grad_accum)
            ]
            n_labels = sum(int((m["labels"] != batching.IGNORE).sum()) for m in micro)
            for m in micro:
                with _autocast(p.device, p.dtype):
                    loss_sum, count = loss_module(**to_device(m, p.device))
                (loss_sum / max(1, n_labels)).backward()
                value = float(loss_sum.detach())
                epoch_loss, epoch_count = epoch_loss + value, epoch_count + int(count)
                window_loss, window_count = window_loss + value, window_count + int(count)
                run_tokens += int(m["attention_mask"].sum()) * dist.world
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            progress = _progress(
                step, cfg.warmup_steps, total, time.time() - train_start, cfg.time_budget_min
            )
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_scale(step, cfg.warmup_steps, progress)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            elapsed = time.time() - train_start
            bar.update(1)
            out_of_time = _agree(
                dist, bool(cfg.time_budget_min) and elapsed > cfg.time_budget_min * 60
            )
            if step % cfg.log_every == 0 or step == total or out_of_time:
                recent = window_loss / max(1, window_count)
                metrics.loss_log.append([step, round(recent, 4)])
                window_loss, window_count = 0.0, 0
                speed = run_tokens / max(time.time() - session_start, 1e-9)
                bar.set_postfix(epoch=epoch + 1, loss=f"{recent:.4f}", tok_s=f"{speed:.0f}")
                if dist.main and not bar.disable:
                    bar.write(
                        f"step {step}/{total} epoch {epoch + 1} loss {recent:.4f} "
                        f"tok/s {speed:.0f} elapsed {elapsed:.0f}s"
                    )
            state = {
                "step": step,
                "epoch": epoch,
                "batch": b + cfg.grad_accum,
                "epoch_loss": epoch_loss,
                "epoch_count": epoch_count,
            }
            if dist.main and cfg.save_every and step % cfg.save_every == 0:
                _save(output_dir, p, optimizer, state, metrics, run_tokens, cfg, train_start)
        metrics.train_loss.append(epoch_loss / max(1, epoch_count))
        metrics.val_loss.append(evaluate(loss_module, p.val, cfg_run, pad_id, p.device))
        if dist.main:
            bar.write(
                f"epoch {epoch + 1}: train loss {metrics.train_loss[-1]:.4f}, "
                f"val loss {metrics.val_loss[-1]:.4f}"
            )
        usable = len(batches) - len(batches) % cfg.grad_accum
        if state.get("epoch") == epoch and state.get("batch", 0) < usable:
            # Stopped mid-epoch (max_steps, time budget): a resume continues from this batch.
            state = dict(state, partial=True)
        else:
            state = {"step": step, "epoch": epoch + 1, "batch": 0}
        if dist.main:
            _save(output_dir, p, optimizer, state, metrics, run_tokens, cfg, train_start)
        if step >= total or out_of_time:
            break
    bar.close()
    metrics.stopped_by_time_budget = out_of_time
    metrics.replica_spread = _replica_spread(dist, params)
    if dist.main and (metrics.replica_spread or 0.0) > REPLICA_TOLERANCE:
        print(f"warning: DDP replicas differ by up to {metrics.replica_spread:.3g} after training")
    metrics.steps = step
    metrics.tokens += run_tokens
    metrics.train_seconds = time.time() - train_start
    session_seconds = time.time() - session_start
    if not dist.main:
        _finish_dist(dist)
        return output_dir / "run.json"

    adapter_dir = checkpoint.save_adapter(
        p.model, output_dir / "adapter", cfg.adapter_dtype, p.base_identity.get("hf_id")
    )
    merged_dir = None
    if cfg.merge:
        merged_dir = merge.merge_adapter(p.base_source, adapter_dir, output_dir / "merged")
    path = manifest.write(
        output_dir,
        cfg,
        p,
        metrics,
        adapter_dir,
        merged_dir,
        run_tokens / max(session_seconds, 1e-9),
        time.time() - started,
    )
    if cfg.export_dir:
        checkpoint.export(adapter_dir, path, Path(cfg.export_dir))
    _finish_dist(dist)
    return path


def _save(output_dir, p, optimizer, state, metrics, run_tokens, cfg, train_start) -> None:
    state = dict(
        state,
        metrics={
            "train_loss": metrics.train_loss,
            "val_loss": metrics.val_loss,
            "tokens": metrics.tokens + run_tokens,
            "loss_log": metrics.loss_log,
            "train_seconds": time.time() - train_start,
        },
    )
    checkpoint.save_checkpoint(output_dir, p.model, optimizer, state, cfg.keep_checkpoints)


def _autocast(device: torch.device, dtype: torch.dtype):
    if device.type == "cuda" and dtype == torch.bfloat16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    import contextlib

    return contextlib.nullcontext()


def _replace(cfg: TrainConfig, **changes) -> TrainConfig:
    import dataclasses

    return dataclasses.replace(cfg, **changes)


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
