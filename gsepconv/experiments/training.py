"""Train one :class:`~gsepconv.experiments.config.RunConfig`: resumable, deterministic, device-agnostic.

Protocol (Knigge, Romero & Bekkers 2022, experiments): the model is selected on the validation split (the best-validation
weights are kept), and the test split is evaluated **once**, on the selected weights.

Resumability: after every epoch, ``checkpoint.pt`` in the run folder is replaced atomically. It
holds the model, optimiser, scheduler, GradScaler, the best-validation weights, the per-epoch
history and all RNG states (python, numpy, torch CPU/CUDA), as tensors and plain lists only: it
is read back with ``torch.load(weights_only=True)``, so a crafted checkpoint cannot run code.
Batch order is a pure function of ``(seed, epoch)``, so an interrupted run resumed from its last
checkpoint reproduces the uninterrupted run exactly (same device and thread count).
``metrics.json`` marks a finished run.

Memory: ``peak_mem_mb`` is ``torch.cuda.max_memory_allocated`` on CUDA (tensors only, reset at the
start of the run). On CPU it is the peak resident set size of the process during the run, sampled
every 50 ms from ``/proc/self/statm`` by a background thread (it includes the Python/torch
footprint and the datasets; spikes shorter than 50 ms can be missed); where ``/proc`` is missing it
falls back to ``resource.getrusage().ru_maxrss``, the process's lifetime peak.
"""  # noqa: E501 (a docstring line, not rewrapped: Sphinx renders it)

from __future__ import annotations

import itertools
import math
import os
import random
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from gsepconv.data import DATASETS, get_dataset
from gsepconv.errors import GsepconvError
from gsepconv.experiments.config import ConfigError, DataConfig, RunConfig
from gsepconv.experiments.distributed import (
    DistEnv,
    all_reduce_sums,
    barrier,
    distributed_env,
    init_distributed,
)
from gsepconv.experiments.io import atomic_torch_save, atomic_write_json, git_commit
from gsepconv.experiments.runfolder import (
    BEST_WEIGHTS,
    CHECKPOINT,
    CONFIG_FILE,
    METRICS,
    RunFolderError,
    load_checkpoint,
    read_run_config,
)
from gsepconv.groups import num_elements_text
from gsepconv.models import build_model, count_parameters
from gsepconv.nn import precise_batch_norm
from gsepconv.progress import bars_enabled
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

#: 2: RNG states as plain lists and tensors (loadable with ``weights_only=True``).
CHECKPOINT_FORMAT = 2

#: ``factory(name, split, data_config) -> Dataset`` of ``(image [C,H,W], label)``.
DatasetFactory = Callable[[str, str, DataConfig], Dataset]
EpochCallback = Callable[[dict[str, Any]], None]
#: ``(config, datasets, device) -> (model on device, build arguments)``; :func:`build_checked_model`
#: by default, another code's model for a side-by-side comparison (:mod:`gsepconv.experiments.compare`)
ModelBuilder = Callable[[RunConfig, dict[str, Dataset], torch.device], tuple[nn.Module, dict[str, Any]]]


class TrainingDiverged(GsepconvError, RuntimeError):
    """A loss became NaN or infinite: the run stops and nothing is stored as finished."""


# ---------------------------------------------------------------------------------------- setup
def default_dataset_factory(name: str, split: str, data: DataConfig) -> Dataset:
    """Load a split through :func:`gsepconv.data.get_dataset` (augmentation on the train split only)."""
    return get_dataset(name, split=split, root=data.root, augment=bool(data.augment and split == "train"))


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` → ``cuda:<local_rank>`` if CUDA is available, else CPU; others as given (checked)."""
    if spec == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(spec)
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device={spec!r} but MPS (Apple GPU) is not available here; use --device cpu or auto")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={spec!r} but CUDA is not available here; use --device cpu or auto")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
        if device.index >= torch.cuda.device_count():
            raise ConfigError(f"device={spec!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    return device


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _seed_worker(worker_id: int) -> None:
    # torch seeds each worker with base_seed + worker_id (base_seed drawn from the loader's
    # generator); derive numpy's and python's seeds from it.
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + 12345) % 2**63


def _rng_state() -> dict[str, Any]:
    """Every generator's state as tensors, lists and numbers (no numpy arrays, no tuples of
    objects), so that the checkpoint loads with ``weights_only=True``."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _subset(ds: Dataset, size: int | None, seed: int, what: str = "subset") -> Dataset:
    """``size`` examples of ``ds`` (a fixed permutation drawn with ``seed``); more than ``ds`` holds
    is a :class:`ConfigError` (it would silently train on less than asked)."""
    n = len(ds)  # type: ignore[arg-type]
    if size is not None and size > n:
        raise ConfigError(
            f"{what}={size} asks for more than the {n} images of the split; leave it out "
            f"(null) to use the whole split, or give at most {n}"
        )
    if size is None or size >= n:
        return ds
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n, generator=g)[:size].sort().values.tolist()
    return Subset(ds, idx)


def load_splits(config: RunConfig, factory: DatasetFactory | None = None) -> dict[str, Dataset]:
    """The train/val/test datasets of ``config`` with its subset sizes applied."""
    factory = factory or default_dataset_factory
    d = config.data
    sizes = {"train": d.train_subset, "val": d.val_subset, "test": d.test_subset}
    out = {}
    for i, (split, size) in enumerate(sizes.items()):
        out[split] = _subset(factory(d.name, split, d), size, d.subset_seed + i, f"data.{split}_subset")
    return out


def _dataset_num_classes(name: str, datasets: dict[str, Dataset]) -> int:
    try:
        info = DATASETS.get(name)
        if info is not None:
            n = info["num_classes"] if isinstance(info, dict) else info.num_classes
            return int(n)
    except ImportError:
        pass
    for ds in datasets.values():
        base = ds.dataset if isinstance(ds, Subset) else ds
        for attr in ("num_classes", "classes"):
            if hasattr(base, attr):
                v = getattr(base, attr)
                return int(v) if isinstance(v, int) else len(v)
    labels = [int(datasets["train"][i][1]) for i in range(len(datasets["train"]))]  # type: ignore[arg-type]
    return max(labels) + 1


def _first_batch(ds: Dataset, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    items = [ds[i] for i in range(min(n, len(ds)))]  # type: ignore[arg-type]
    if not items:
        raise ConfigError("the training split is empty")
    x = torch.stack([torch.as_tensor(it[0]) for it in items])
    y = torch.as_tensor([int(it[1]) for it in items])
    return x, y


def build_checked_model(
    config: RunConfig, datasets: dict[str, Dataset], device: torch.device | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model and run one batch through it; raise :class:`ConfigError` if either fails.

    Returns the model (on ``device``) and the resolved ``build_model`` arguments.
    """
    x, _ = _first_batch(datasets["train"])
    kwargs = config.model.build_kwargs()
    kwargs.setdefault("in_channels", int(x.shape[1]))
    if "num_classes" not in kwargs:
        kwargs["num_classes"] = _dataset_num_classes(config.data.name, datasets)
    try:
        model = build_model(**kwargs)
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"cannot build the model {kwargs}: {err}") from err
    device = device or torch.device("cpu")
    model.to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x.to(device))
    except Exception as err:  # any failure here is a configuration problem, found before training
        raise ConfigError(
            f"the model {kwargs} fails on a batch of {config.data.name} of shape "
            f"{tuple(x.shape)}: {type(err).__name__}: {err}"
        ) from err
    if tuple(out.shape) != (x.shape[0], kwargs["num_classes"]):
        raise ConfigError(
            f"the model returns shape {tuple(out.shape)}, expected ({x.shape[0]}, {kwargs['num_classes']})"
        )
    model.train(was_training)
    return model, kwargs


# ---------------------------------------------------------------------------------------- memory
class PeakMemory:
    """Peak memory of this run (see the module docstring for what is measured where)."""

    def __init__(self, device: torch.device, interval: float = 0.05) -> None:
        self.device = device
        self.interval = interval
        self._peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._statm = Path("/proc/self/statm")

    def _rss(self) -> int:
        return int(self._statm.read_text().split()[1]) * self._page

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak_bytes = max(self._peak_bytes, self._rss())

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self._statm.exists():
            self._peak_bytes = self._rss()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._peak_bytes = max(self._peak_bytes, self._rss())

    @property
    def mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self._thread is not None:
            return max(self._peak_bytes, self._rss()) / 2**20
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return rss / (2**20 if sys.platform == "darwin" else 2**10)


# ---------------------------------------------------------------------------------------- loops
def _lr_lambda(total_steps: int, warmup_steps: int, schedule: str) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


class _BudgetClock:
    """Wall-clock training time of a run with ``time_budget_s``, and the cosine learning-rate
    factor over that time: ``0.5·(1 + cos(π·spent/budget))``. ``spent`` counts finished epochs'
    training passes (restored from the history on resume) plus the running epoch's time."""

    def __init__(self, budget_s: float, warmup_steps: int) -> None:
        self.budget_s, self.warmup_steps = float(budget_s), warmup_steps
        self.spent_before = 0.0  # training seconds of finished epochs
        self.epoch_start: float | None = None  # perf_counter() at the start of the running epoch

    @property
    def spent(self) -> float:
        running = time.perf_counter() - self.epoch_start if self.epoch_start is not None else 0.0
        return self.spent_before + running

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.budget_s

    def __call__(self, step: int) -> float:  # LambdaLR's lr_lambda
        if self.warmup_steps > 0 and step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, self.spent / self.budget_s)))


def _make_optimizer(config: RunConfig, params: Iterator[nn.Parameter]) -> torch.optim.Optimizer:
    o = config.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, weight_decay=o.weight_decay, momentum=o.momentum)


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


@dataclass
class _State:
    epoch: int = 0
    best_epoch: int = -1
    best_val_acc: float = -1.0
    best_val_loss: float = math.inf
    best_weights: dict[str, torch.Tensor] | None = None
    history: list[dict[str, Any]] | None = None
    budget_exhausted: bool = False


def _cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


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
    writes = run_dir is not None and env.is_main
    progress = config.progress and env.is_main
    if config.batch_size % env.world_size:
        raise ConfigError(f"batch_size={config.batch_size} is not divisible by the {env.world_size} processes")
    local_bs = config.batch_size // env.world_size
    eval_bs = config.eval_batch_size or max(config.batch_size, 128)
    cast = autocast_dtype(config.precision, device)
    if config.precision == "amp" and cast is None:
        log(f"precision=amp needs CUDA; training in fp32 on {device}")

    # data, then the model and one batch through it: configuration errors surface here
    datasets = load_splits(config, factory)
    seed_everything(config.seed)
    model, model_kwargs = (model_builder or build_checked_model)(config, datasets, device)
    params = count_parameters(model)

    train_ds = datasets["train"]
    n_local = math.ceil(len(train_ds) / env.world_size)  # type: ignore[arg-type]
    drop_last = n_local > local_bs and n_local % local_bs == 1  # a batch of 1 breaks BatchNorm
    steps_per_epoch = n_local // local_bs if drop_last else math.ceil(n_local / local_bs)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = int(round(config.optim.warmup_epochs * steps_per_epoch))

    optimizer = _make_optimizer(config, model.parameters())
    clock = _BudgetClock(config.time_budget_s, warmup_steps) if config.time_budget_s is not None else None
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, clock if clock is not None else _lr_lambda(total_steps, warmup_steps, config.optim.schedule)
    )
    scaler = torch.amp.GradScaler("cuda", enabled=cast == torch.float16)  # bfloat16 needs no loss scaling

    state = _State(history=[])
    ckpt_path = run_dir / CHECKPOINT if run_dir is not None else None
    if writes and not resume:
        for stale in (METRICS, CHECKPOINT, BEST_WEIGHTS):
            (run_dir / stale).unlink(missing_ok=True)
    trainables = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
    if resume and ckpt_path is not None and ckpt_path.exists():
        state = _resume(ckpt_path, config, trainables)
        if clock is not None:
            clock.spent_before = sum(h["time_s"] for h in state.history or [])
        log(f"resuming {run_dir.name} after epoch {state.epoch}/{config.epochs}")

    train_model: nn.Module = model
    if env.enabled:
        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        # static shapes: every layer has its own shapes, and automatic dynamic shapes with
        # channels-last strides hit an Inductor error in torch 2.14 ("cannot determine truth value
        # of Relational") when a training step is compiled
        train_model = torch.compile(train_model, dynamic=False)

    start_epoch = state.epoch
    with PeakMemory(device) as memory:
        for epoch in range(start_epoch, config.epochs):
            if max_epochs_this_call is not None and epoch - start_epoch >= max_epochs_this_call:
                break
            if state.budget_exhausted:
                break
            record = _train_epoch(
                config,
                train_model,
                model,
                optimizer,
                scheduler,
                scaler,
                train_ds,
                epoch,
                local_bs,
                drop_last,
                device,
                env,
                cast,
                progress,
                clock,
            )
            _check_finite(config, epoch, "training", record["train_loss"], state)
            if clock is not None:
                clock.spent_before += record["time_s"]
                state.budget_exhausted = clock.spent_before >= clock.budget_s
            _precise_batch_norm(config, model, train_ds, epoch, local_bs, device, cast)
            if env.enabled:  # every process evaluates with rank 0's BatchNorm statistics
                for buffer in model.buffers():
                    torch.distributed.broadcast(buffer, src=0)
            t0 = time.perf_counter()
            val_loss, val_acc = _evaluate(
                model, datasets["val"], eval_bs, device, env, cast, progress, f"val {epoch + 1}"
            )
            _check_finite(config, epoch, "validation", val_loss, state)
            record.update(val_loss=val_loss, val_acc=val_acc, eval_time_s=time.perf_counter() - t0)
            if val_acc > state.best_val_acc:
                state.best_val_acc, state.best_val_loss = val_acc, val_loss
                state.best_epoch, state.best_weights = epoch, _cpu_state_dict(model)
            state.epoch = epoch + 1
            state.history.append(record)
            if env.is_main:
                log(
                    f"[{config.run_id()}] epoch {epoch + 1}/{config.epochs} "
                    f"train loss {record['train_loss']:.4f} acc {record['train_acc']:.2f}% | "
                    f"val loss {val_loss:.4f} acc {val_acc:.2f}% | {record['time_s']:.1f}s"
                )
            if writes:
                _save_checkpoint(ckpt_path, config, trainables, state)
            barrier()
            for callback in callbacks:
                callback(dict(record))
        peak_mb = memory.mb

    if state.epoch < config.epochs and not state.budget_exhausted:
        return {"status": "partial", "epoch": state.epoch, "history": state.history}

    # the test split, once, on the best-validation weights
    assert state.best_weights is not None
    model.load_state_dict(state.best_weights)
    test_loss, test_acc = _evaluate(model, datasets["test"], eval_bs, device, env, cast, progress, "test")
    peak_mb = max(peak_mb, memory.mb)
    history = state.history
    epoch_times = [h["time_s"] for h in history]
    metrics = _metrics(
        config,
        model_kwargs,
        params,
        state,
        test_loss,
        test_acc,
        sum(h["time_s"] + h["eval_time_s"] for h in history),
        sum(epoch_times) / len(epoch_times),
        peak_mb,
        device,
        env,
        datasets,
    )
    if writes:
        atomic_torch_save(state.best_weights, run_dir / BEST_WEIGHTS)
        atomic_write_json(run_dir / METRICS, metrics)
    barrier()
    return metrics


def _check_finite(config: RunConfig, epoch: int, which: str, loss: float, state: _State) -> None:
    """Stop a diverged run before its epoch is checkpointed or anything is stored as finished."""
    if math.isfinite(loss):
        return
    kept = f"the checkpoint of epoch {state.epoch} is kept" if state.epoch else "no checkpoint was written"
    raise TrainingDiverged(
        f"training diverged: the {which} loss of epoch {epoch + 1} is {loss} (optim.lr={config.optim.lr:g}); "
        f"lower the learning rate (--lr) or clip the gradients (--set optim.grad_clip=1.0) — nothing was "
        f"stored as finished and {kept}"
    )


def _save_checkpoint(path: Path, config: RunConfig, trainables: dict[str, Any], state: _State) -> None:
    """Everything a resumed run needs (atomic: an interrupted write leaves the previous one)."""
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": config.to_dict(),
            "config_hash": config.config_hash(),
            **{name: obj.state_dict() for name, obj in trainables.items()},
            "state": vars(state),
            "rng": _rng_state(),
        },
        path,
    )


def _resume(path: Path, config: RunConfig, trainables: dict[str, Any]) -> _State:
    """Load a checkpoint of ``config`` into the model, optimiser, scheduler and scaler; restore
    the random generators; return the training state.

    The folder's ``config.yaml`` (when there is one) is compared with ``config`` before the
    checkpoint is opened, and the checkpoint is read as data (:func:`load_checkpoint`)."""
    fix = "delete it to restart the run from epoch 0, or use --force"
    stored = read_run_config(path.parent)
    if stored is not None and stored.config_hash() != config.config_hash():
        raise ConfigError(
            f"{path.parent / CONFIG_FILE} belongs to another configuration ({stored.run_id()}, "
            f"not {config.run_id()}); use another run folder, or --force to replace it"
        )
    ckpt = load_checkpoint(path, fix)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        newer = isinstance(found, int) and found > CHECKPOINT_FORMAT
        raise RunFolderError(
            f"{path} has checkpoint format {found!r}, this gsepconv reads format {CHECKPOINT_FORMAT}"
            + (" (written by a newer gsepconv: upgrade it)" if newer else "")
            + f" — {fix}"
        )
    if ckpt.get("config_hash") != config.config_hash():
        raise ConfigError(f"{path} belongs to another configuration; delete the folder or use --force")
    try:
        for name, obj in trainables.items():
            obj.load_state_dict(ckpt[name])
        _set_rng_state(ckpt["rng"])
        return _State(**ckpt["state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise RunFolderError(
            f"{path} does not hold a complete checkpoint ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}) — {fix}"
        ) from None


def _train_epoch(
    config: RunConfig,
    train_model: nn.Module,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    train_ds: Dataset,
    epoch: int,
    local_bs: int,
    drop_last: bool,
    device: torch.device,
    env: DistEnv,
    cast: torch.dtype | None,
    progress: bool,
    clock: _BudgetClock | None = None,
) -> dict[str, Any]:
    """One pass over the training set (with a time budget: until the budget is spent)."""
    generator = torch.Generator().manual_seed(_epoch_seed(config.seed, epoch))
    if env.enabled:
        sampler: Any = DistributedSampler(
            train_ds, num_replicas=env.world_size, rank=env.rank, shuffle=True, seed=config.seed, drop_last=False
        )
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(train_ds, generator=generator)
    loader = DataLoader(
        train_ds,
        batch_size=local_bs,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=config.num_workers,
        worker_init_fn=_seed_worker,
        generator=generator,
        pin_memory=device.type == "cuda",
    )
    train_model.train()
    # running sums stay on the device: no host sync per step (the bar reads them every 20 steps)
    loss_acc = torch.zeros((), dtype=torch.float64, device=device)
    correct_acc = torch.zeros((), dtype=torch.float64, device=device)
    count = 0.0
    t0 = time.perf_counter()
    if clock is not None:
        clock.epoch_start = t0
    bar = _progress(loader, progress, f"epoch {epoch + 1}/{config.epochs}", len(loader))
    for step, (x, y) in enumerate(bar):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast_to(device, cast):
            logits = train_model(x)
            loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if config.optim.grad_clip is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
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
        "lr": optimizer.param_groups[0]["lr"],
    }


def _precise_batch_norm(
    config: RunConfig,
    model: nn.Module,
    train_ds: Dataset,
    epoch: int,
    local_bs: int,
    device: torch.device,
    cast: torch.dtype | None,
) -> None:
    """Re-estimate the batch-norm statistics on the evaluation grid from
    ``config.resolved_precise_bn_batches()`` training batches (their own seeded order, so the
    training batches and every random generator are untouched)."""
    count = config.resolved_precise_bn_batches()
    if count <= 0:
        return
    generator = torch.Generator().manual_seed(_epoch_seed(config.seed, epoch) + 1)
    loader = DataLoader(
        train_ds,
        batch_size=local_bs,
        sampler=RandomSampler(train_ds, generator=generator),
        num_workers=config.num_workers,
        worker_init_fn=_seed_worker,
        generator=generator,
    )
    batches = (x.to(device) for x, _ in itertools.islice(loader, count))
    with autocast_to(device, cast):
        precise_batch_norm(model, batches)


def _budget_spent(clock: _BudgetClock, device: torch.device, env: DistEnv) -> bool:
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


def _metrics(
    config: RunConfig,
    model_kwargs: dict[str, Any],
    params: int,
    state: _State,
    test_loss: float,
    test_acc: float,
    train_time: float,
    epoch_time: float,
    peak_mb: float,
    device: torch.device,
    env: DistEnv,
    datasets: dict[str, Dataset],
) -> dict[str, Any]:
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
        "train_time_s": train_time,
        "time_per_epoch_s": epoch_time,
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
        "model_kwargs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in model_kwargs.items()},
        "history": state.history,
    }
