"""Train one :class:`~gsepconv.experiments.config.RunConfig`: resumable, deterministic, device-agnostic.

Protocol (Knigge, Romero & Bekkers 2022, experiments): the model is selected on the validation split (the best-validation
weights are kept), and the test split is evaluated **once**, on the selected weights.

Resumability: after every epoch, ``checkpoint.pt`` in the run folder is replaced atomically. It
holds the model, optimiser, scheduler, GradScaler, the best-validation weights, the per-epoch
history and all RNG states (python, numpy, torch CPU/CUDA), as tensors and plain lists only: it
is read back with ``torch.load(weights_only=True)``, so a crafted checkpoint cannot run code.
Batch order is a pure function of ``(seed, epoch)``, so an interrupted run resumed from its last
checkpoint reproduces the uninterrupted run exactly (same device and thread count).
``metrics.json`` marks a finished run. ``peak_mem_mb`` is measured as
``gsepconv.experiments.peak_memory`` describes.

The loop's state lives in one object (``_Run``: the configuration, data, model, optimiser,
schedule and the ``TrainState`` of ``gsepconv.experiments.checkpoint``); what a run is built from is
``gsepconv.experiments.setup``, its checkpoint ``gsepconv.experiments.checkpoint``.
"""  # noqa: E501 (a docstring line, not rewrapped: Sphinx renders it)

from __future__ import annotations

import itertools
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset
from torch.utils.data.distributed import DistributedSampler

from gsepconv.errors import GsepconvError
from gsepconv.experiments.checkpoint import (
    TrainState,
    cpu_state_dict,
    load_training_checkpoint,
    save_checkpoint,
)
from gsepconv.experiments.config import ConfigError, RunConfig
from gsepconv.experiments.distributed import (
    DistEnv,
    all_reduce_sums,
    barrier,
    distributed_env,
    init_distributed,
)
from gsepconv.experiments.io import atomic_torch_save, atomic_write_json, git_commit
from gsepconv.experiments.optim import BudgetClock, lr_lambda, make_optimizer
from gsepconv.experiments.peak_memory import PeakMemory
from gsepconv.experiments.runfolder import BEST_WEIGHTS, CHECKPOINT, CONFIG_FILE, METRICS
from gsepconv.experiments.setup import (
    DatasetFactory,
    ModelBuilder,
    build_checked_model,
    default_dataset_factory,
    epoch_seed,
    load_splits,
    resolve_device,
    seed_everything,
    seed_worker,
)
from gsepconv.groups import num_elements_text
from gsepconv.models import count_parameters
from gsepconv.nn import precise_batch_norm
from gsepconv.progress import bars_enabled, tqdm
from gsepconv.version import __version__

__all__ = [
    "ConfigError",
    "TrainingDiverged",
    "DatasetFactory",
    "default_dataset_factory",
    "resolve_device",
    "seed_everything",
    "train",
    "autocast_dtype",
    "autocast_to",
    "CHECKPOINT",
    "METRICS",
    "CONFIG_FILE",
]

EpochCallback = Callable[[dict[str, Any]], None]


class TrainingDiverged(GsepconvError, RuntimeError):
    """A loss became NaN or infinite: the run stops and nothing is stored as finished."""


def _progress(iterable: Any, enabled: bool, desc: str, total: int) -> Any:
    if not bars_enabled(enabled):  # log files get the per-epoch line only
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, file=sys.stderr)


def _evaluate(
    model: nn.Module,
    ds: Dataset,
    batch_size: int,
    device: torch.device,
    env: DistEnv,
    cast: torch.dtype | None,
    progress: bool,
    desc: str,
) -> tuple[float, float]:
    """(mean loss, accuracy in %) over the whole of ``ds``; each process takes every world_size-th item."""
    shard = Subset(ds, list(range(env.rank, len(ds), env.world_size))) if env.enabled else ds  # type: ignore[arg-type]
    loader = DataLoader(shard, batch_size=batch_size, shuffle=False, num_workers=0, pin_memory=device.type == "cuda")
    model.eval()
    loss_sum, correct, count = 0.0, 0.0, 0.0
    with torch.no_grad():
        for x, y in _progress(loader, progress, desc, len(loader)):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast_to(device, cast):
                logits = model(x)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            count += y.numel()
    loss_sum, correct, count = all_reduce_sums([loss_sum, correct, count], device)
    return loss_sum / max(count, 1), 100.0 * correct / max(count, 1)


def train(
    config: RunConfig,
    run_dir: str | Path | None = None,
    *,
    dataset_factory: DatasetFactory | None = None,
    callbacks: Sequence[EpochCallback] = (),
    max_epochs_this_call: int | None = None,
    resume: bool = True,
    log: Callable[[str], None] | None = None,
    model_builder: ModelBuilder | None = None,
) -> dict[str, Any]:
    """Train ``config`` (resuming from ``run_dir/checkpoint.pt`` if present); return the metrics.

    The metrics dict carries ``status``: ``"finished"`` (test evaluated, ``metrics.json`` written
    by rank 0) or ``"partial"`` (stopped after ``max_epochs_this_call`` epochs; resume by calling
    again; ``resume=False`` ignores and replaces an existing checkpoint). ``callbacks`` are
    called with each epoch's record after its checkpoint is saved (an exception there, e.g.
    ``KeyboardInterrupt``, leaves a resumable run). ``run_dir=None`` trains
    without writing anything. ``model_builder`` replaces :func:`build_checked_model` (everything
    else — data, optimiser, schedule, selection, evaluation — stays the same loop). Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
    DistributedDataParallel and ``batch_size`` is the global batch.
    """  # noqa: E501 (a docstring line, not rewrapped: Sphinx renders it)
    config.validate()
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    env = distributed_env()
    device = resolve_device(config.device, env.local_rank)
    # process-wide settings this run changes, restored when it ends (a notebook or a test that
    # trains a model keeps its own thread count and cuDNN flags)
    saved = (torch.get_num_threads(), torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not config.deterministic
        torch.backends.cudnn.deterministic = config.deterministic
    created_group = init_distributed(env, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        return _train(
            config,
            Path(run_dir) if run_dir is not None else None,
            dataset_factory,
            callbacks,
            max_epochs_this_call,
            resume,
            log,
            env,
            device,
            model_builder,
        )
    finally:
        if created_group:
            torch.distributed.destroy_process_group()
        torch.set_num_threads(saved[0])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[1], saved[2]


def autocast_to(device: torch.device, cast: torch.dtype | None) -> torch.autocast:
    """Autocast to ``cast`` on ``device`` (an :func:`autocast_dtype`); ``None``: a disabled one
    (float32)."""
    return torch.autocast(device_type=device.type, dtype=cast or torch.bfloat16, enabled=cast is not None)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a ``precision`` on ``device``: ``"amp"`` → float16 on CUDA (fp32
    elsewhere), ``"bf16"`` → bfloat16 on any device (no loss scaling needed), ``"fp32"`` → none.
    Kernels are sampled and batch statistics computed in float32 either way."""
    if precision == "amp":
        return torch.float16 if device.type == "cuda" else None
    return torch.bfloat16 if precision == "bf16" else None


@dataclass
class _Run:
    """Everything the loop of one run works with: what it was asked (``config``, the folder, the
    log), where it runs, its data and batch sizes, the model (``train_model``: wrapped for DDP or
    compiled; ``model``: the module itself), the optimiser, schedule, scaler and time budget, and
    where it stands (``state``)."""

    config: RunConfig
    run_dir: Path | None
    log: Callable[[str], None]
    env: DistEnv
    device: torch.device
    cast: torch.dtype | None
    datasets: dict[str, Dataset]
    model: nn.Module
    model_kwargs: dict[str, Any]
    local_bs: int
    eval_bs: int
    drop_last: bool
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    clock: BudgetClock | None
    state: TrainState = field(default_factory=lambda: TrainState(history=[]))
    train_model: nn.Module | None = None

    @property
    def writes(self) -> bool:
        return self.run_dir is not None and self.env.is_main

    @property
    def progress(self) -> bool:
        return self.config.progress and self.env.is_main

    @property
    def checkpoint(self) -> Path | None:
        return self.run_dir / CHECKPOINT if self.run_dir is not None else None

    def trainables(self) -> dict[str, Any]:
        return {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler, "scaler": self.scaler}

    def evaluate(self, split: str, desc: str) -> tuple[float, float]:
        return _evaluate(
            self.model, self.datasets[split], self.eval_bs, self.device, self.env, self.cast, self.progress, desc
        )


def _prepare(
    config: RunConfig,
    run_dir: Path | None,
    factory: DatasetFactory | None,
    resume: bool,
    log: Callable[[str], None],
    env: DistEnv,
    device: torch.device,
    model_builder: ModelBuilder | None,
) -> _Run:
    """Data, then the model and one batch through it (configuration errors surface here), the
    optimiser, schedule and scaler, and the checkpoint to resume from."""
    if config.batch_size % env.world_size:
        raise ConfigError(f"batch_size={config.batch_size} is not divisible by the {env.world_size} processes")
    local_bs = config.batch_size // env.world_size
    cast = autocast_dtype(config.precision, device)
    if config.precision == "amp" and cast is None:
        log(f"precision=amp needs CUDA; training in fp32 on {device}")
    datasets = load_splits(config, factory)
    seed_everything(config.seed)
    model, model_kwargs = (model_builder or build_checked_model)(config, datasets, device)

    n_local = math.ceil(len(datasets["train"]) / env.world_size)  # type: ignore[arg-type]
    drop_last = n_local > local_bs and n_local % local_bs == 1  # a batch of 1 breaks BatchNorm
    steps_per_epoch = n_local // local_bs if drop_last else math.ceil(n_local / local_bs)
    warmup_steps = int(round(config.optim.warmup_epochs * steps_per_epoch))
    optimizer = make_optimizer(config, model.parameters())
    clock = BudgetClock(config.time_budget_s, warmup_steps) if config.time_budget_s is not None else None
    schedule = (
        clock if clock is not None else lr_lambda(steps_per_epoch * config.epochs, warmup_steps, config.optim.schedule)
    )
    run = _Run(
        config,
        run_dir,
        log,
        env,
        device,
        cast,
        datasets,
        model,
        model_kwargs,
        local_bs,
        config.eval_batch_size or max(config.batch_size, 128),
        drop_last,
        optimizer,
        torch.optim.lr_scheduler.LambdaLR(optimizer, schedule),
        torch.amp.GradScaler("cuda", enabled=cast == torch.float16),  # bfloat16 needs no loss scaling
        clock,
    )
    if run.writes and not resume:
        for stale in (METRICS, CHECKPOINT, BEST_WEIGHTS):
            (run_dir / stale).unlink(missing_ok=True)
    if resume and run.checkpoint is not None and run.checkpoint.exists():
        run.state = load_training_checkpoint(run.checkpoint, config, run.trainables())
        if clock is not None:
            clock.spent_before = sum(h["time_s"] for h in run.state.history or [])
        log(f"resuming {run_dir.name} after epoch {run.state.epoch}/{config.epochs}")
    run.train_model = model
    if env.enabled:
        run.train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        # static shapes: every layer has its own shapes, and automatic dynamic shapes with
        # channels-last strides hit an Inductor error in torch 2.14 ("cannot determine truth value
        # of Relational") when a training step is compiled
        run.train_model = torch.compile(run.train_model, dynamic=False)
    return run


def _train(
    config: RunConfig,
    run_dir: Path | None,
    factory: DatasetFactory | None,
    callbacks: Sequence[EpochCallback],
    max_epochs_this_call: int | None,
    resume: bool,
    log: Callable[[str], None],
    env: DistEnv,
    device: torch.device,
    model_builder: ModelBuilder | None = None,
) -> dict[str, Any]:
    run = _prepare(config, run_dir, factory, resume, log, env, device, model_builder)
    params = count_parameters(run.model)
    start_epoch = run.state.epoch
    with PeakMemory(device) as memory:
        for epoch in range(start_epoch, config.epochs):
            if max_epochs_this_call is not None and epoch - start_epoch >= max_epochs_this_call:
                break
            if run.state.budget_exhausted:
                break
            record = _epoch(run, epoch)
            for callback in callbacks:
                callback(dict(record))
        peak_mb = memory.mb
    state = run.state
    if state.epoch < config.epochs and not state.budget_exhausted:
        return {"status": "partial", "epoch": state.epoch, "history": state.history}
    # the test split, once, on the best-validation weights
    assert state.best_weights is not None
    run.model.load_state_dict(state.best_weights)
    test_loss, test_acc = run.evaluate("test", "test")
    metrics = _metrics(run, params, test_loss, test_acc, max(peak_mb, memory.mb))
    if run.writes:
        atomic_torch_save(state.best_weights, run_dir / BEST_WEIGHTS)
        atomic_write_json(run_dir / METRICS, metrics)
    barrier()
    return metrics


def _epoch(run: _Run, epoch: int) -> dict[str, Any]:
    """One epoch: train, re-estimate batch norm if asked, validate, keep the best weights, log,
    checkpoint. Returns the epoch's record."""
    config, state, model = run.config, run.state, run.model
    record = _train_epoch(run, epoch)
    _check_finite(config, epoch, "training", record["train_loss"], state)
    if run.clock is not None:
        run.clock.spent_before += record["time_s"]
        state.budget_exhausted = run.clock.spent_before >= run.clock.budget_s
    _precise_batch_norm(run, epoch)
    if run.env.enabled:  # every process evaluates with rank 0's BatchNorm statistics
        for buffer in model.buffers():
            torch.distributed.broadcast(buffer, src=0)
    t0 = time.perf_counter()
    val_loss, val_acc = run.evaluate("val", f"val {epoch + 1}")
    _check_finite(config, epoch, "validation", val_loss, state)
    record.update(val_loss=val_loss, val_acc=val_acc, eval_time_s=time.perf_counter() - t0)
    if val_acc > state.best_val_acc:
        state.best_val_acc, state.best_val_loss = val_acc, val_loss
        state.best_epoch, state.best_weights = epoch, cpu_state_dict(model)
    state.epoch = epoch + 1
    state.history.append(record)
    if run.env.is_main:
        run.log(
            f"[{config.run_id()}] epoch {epoch + 1}/{config.epochs} "
            f"train loss {record['train_loss']:.4f} acc {record['train_acc']:.2f}% | "
            f"val loss {val_loss:.4f} acc {val_acc:.2f}% | {record['time_s']:.1f}s"
        )
    if run.writes:
        save_checkpoint(run.checkpoint, config, run.trainables(), state)
    barrier()
    return record


def _check_finite(config: RunConfig, epoch: int, which: str, loss: float, state: TrainState) -> None:
    """Stop a diverged run before its epoch is checkpointed or anything is stored as finished."""
    if math.isfinite(loss):
        return
    kept = f"the checkpoint of epoch {state.epoch} is kept" if state.epoch else "no checkpoint was written"
    raise TrainingDiverged(
        f"training diverged: the {which} loss of epoch {epoch + 1} is {loss} (optim.lr={config.optim.lr:g}); "
        f"lower the learning rate (--lr) or clip the gradients (--set optim.grad_clip=1.0) — nothing was "
        f"stored as finished and {kept}"
    )


def _train_epoch(run: _Run, epoch: int) -> dict[str, Any]:
    """One pass over the training set (with a time budget: until the budget is spent)."""
    config, env, device, clock = run.config, run.env, run.device, run.clock
    train_ds = run.datasets["train"]
    generator = torch.Generator().manual_seed(epoch_seed(config.seed, epoch))
    if env.enabled:
        sampler: Any = DistributedSampler(
            train_ds, num_replicas=env.world_size, rank=env.rank, shuffle=True, seed=config.seed, drop_last=False
        )
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(train_ds, generator=generator)
    loader = DataLoader(
        train_ds,
        batch_size=run.local_bs,
        sampler=sampler,
        drop_last=run.drop_last,
        num_workers=config.num_workers,
        worker_init_fn=seed_worker,
        generator=generator,
        pin_memory=device.type == "cuda",
    )
    run.train_model.train()
    # running sums stay on the device: no host sync per step (the bar reads them every 20 steps)
    loss_acc = torch.zeros((), dtype=torch.float64, device=device)
    correct_acc = torch.zeros((), dtype=torch.float64, device=device)
    count = 0.0
    t0 = time.perf_counter()
    if clock is not None:
        clock.epoch_start = t0
    bar = _progress(loader, run.progress, f"epoch {epoch + 1}/{config.epochs}", len(loader))
    for step, (x, y) in enumerate(bar):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss, logits = _step(run, x, y)
        n = y.numel()
        loss_acc += loss.detach().double() * n
        correct_acc += (logits.argmax(1) == y).sum()
        count += n
        if step % 20 == 0 and hasattr(bar, "set_postfix"):  # a bar is drawn (a terminal or a notebook)
            bar.set_postfix(loss=f"{loss_acc.item() / count:.4f}", acc=f"{100 * correct_acc.item() / count:.1f}%")
        if clock is not None and _budget_spent(clock, device, env):
            break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - t0
    if clock is not None:
        clock.epoch_start = None
    loss_sum, correct, count = all_reduce_sums([loss_acc.item(), correct_acc.item(), count], device)
    return {
        "epoch": epoch + 1,
        "train_loss": loss_sum / max(count, 1),
        "train_acc": 100.0 * correct / max(count, 1),
        "time_s": elapsed,
        "lr": run.optimizer.param_groups[0]["lr"],
    }


def _step(run: _Run, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on the batch ``(x, y)``; returns its loss and logits."""
    optimizer, scaler = run.optimizer, run.scaler
    with autocast_to(run.device, run.cast):
        logits = run.train_model(x)
        loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if run.config.optim.grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(run.model.parameters(), run.config.optim.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    run.scheduler.step()
    return loss, logits


def _precise_batch_norm(run: _Run, epoch: int) -> None:
    """Re-estimate the batch-norm statistics on the evaluation grid from
    ``config.resolved_precise_bn_batches()`` training batches (their own seeded order, so the
    training batches and every random generator are untouched)."""
    config = run.config
    count = config.resolved_precise_bn_batches()
    if count <= 0:
        return
    train_ds = run.datasets["train"]
    generator = torch.Generator().manual_seed(epoch_seed(config.seed, epoch) + 1)
    loader = DataLoader(
        train_ds,
        batch_size=run.local_bs,
        sampler=RandomSampler(train_ds, generator=generator),
        num_workers=config.num_workers,
        worker_init_fn=seed_worker,
        generator=generator,
    )
    batches = (x.to(run.device) for x, _ in itertools.islice(loader, count))
    with autocast_to(run.device, run.cast):
        precise_batch_norm(run.model, batches)


def _budget_spent(clock: BudgetClock, device: torch.device, env: DistEnv) -> bool:
    """Whether the time budget is spent (every process stops at the same step under DDP: rank 0
    decides). On CUDA the clock is read after a synchronisation, so queued work counts."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    done = clock.exhausted
    if env.enabled:
        flag = torch.tensor([float(done)], device=device)
        torch.distributed.broadcast(flag, src=0)
        done = bool(flag.item())
    return done


def _metrics(run: _Run, params: int, test_loss: float, test_acc: float, peak_mb: float) -> dict[str, Any]:
    """The finished run's ``metrics.json``: what ran, how it scored, what it cost, provenance."""
    config, state, device, env, datasets = run.config, run.state, run.device, run.env, run.datasets
    history = state.history or []
    epoch_times = [h["time_s"] for h in history]
    m, d = config.model, config.data
    z2 = m.group == "Z2"
    ne = m.num_elements
    return {
        "status": "finished",
        "run_id": config.run_id(),
        "experiment": config.experiment,
        "profile": config.profile,
        "dataset": d.name,
        "stand_in_for": d.stand_in_for or "",
        "arch": m.arch,
        "group": m.group,
        "implementation": "none" if z2 else m.implementation,
        "num_elements": 1 if z2 else num_elements_text(ne),
        "sampling": "none" if z2 else m.sampling,
        "kernel_size": m.kernel_size,
        "widths": ",".join(map(str, m.widths)),
        "params": params,
        "epochs": len(state.history or []),
        "time_budget_s": config.time_budget_s if config.time_budget_s is not None else "",
        "batch_size": config.batch_size,
        "lr": config.optim.lr,
        "seed": config.seed,
        "val_acc": state.best_val_acc,
        "test_acc": test_acc,
        "test_err": 100.0 - test_acc,
        "test_loss": test_loss,
        "best_epoch": state.best_epoch + 1,
        "train_time_s": sum(h["time_s"] + h["eval_time_s"] for h in history),
        "time_per_epoch_s": sum(epoch_times) / len(epoch_times),
        "peak_mem_mb": peak_mb,
        "device": (torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu")
        + (f" x{env.world_size}" if env.enabled else ""),
        "world_size": env.world_size,
        "precision": "fp32" if autocast_dtype(config.precision, device) is None else config.precision,
        "precise_bn_batches": config.resolved_precise_bn_batches(),
        "train_size": len(datasets["train"]),  # type: ignore[arg-type]
        "val_size": len(datasets["val"]),  # type: ignore[arg-type]
        "test_size": len(datasets["test"]),  # type: ignore[arg-type]
        "torch_version": torch.__version__,
        "gsepconv_version": __version__,
        "git_commit": git_commit(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_kwargs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in run.model_kwargs.items()},
        "history": state.history,
    }
