"""What a training run is built from: its device, seeds, data splits and checked model.

Batch order is a pure function of ``(seed, epoch)`` (:func:`epoch_seed`), the data subsets of a
fixed permutation per split, and the model is built and run on one batch before training, so a
configuration error surfaces before any time is spent (:func:`build_checked_model`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset, Subset

from gsepconv.data import DATASETS, get_dataset
from gsepconv.experiments.config import ConfigError, DataConfig, RunConfig
from gsepconv.models import build_model

__all__ = [
    "DatasetFactory",
    "ModelBuilder",
    "build_checked_model",
    "default_dataset_factory",
    "epoch_seed",
    "load_splits",
    "resolve_device",
    "seed_everything",
    "seed_worker",
]

#: ``factory(name, split, data_config) -> Dataset`` of ``(image [C,H,W], label)``.
DatasetFactory = Callable[[str, str, DataConfig], Dataset]
#: ``(config, datasets, device) -> (model on device, build arguments)``; :func:`build_checked_model`
#: by default, another code's model for a side-by-side comparison (``gsepconv.experiments.compare``)
ModelBuilder = Callable[[RunConfig, dict[str, Dataset], torch.device], tuple[nn.Module, dict[str, Any]]]


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


def seed_worker(worker_id: int) -> None:
    """A data-loader worker's numpy and python seeds, derived from the seed torch gave it."""
    # torch seeds each worker with base_seed + worker_id (base_seed drawn from the loader's
    # generator); derive numpy's and python's seeds from it.
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s batch order (and of its precise-BN batches, plus one)."""
    return (seed * 1_000_003 + epoch * 7919 + 12345) % 2**63


def subset(ds: Dataset, size: int | None, seed: int, what: str = "subset") -> Dataset:
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
        out[split] = subset(factory(d.name, split, d), size, d.subset_seed + i, f"data.{split}_subset")
    return out


def dataset_num_classes(name: str, datasets: dict[str, Dataset]) -> int:
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


def first_batch(ds: Dataset, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
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
    x, _ = first_batch(datasets["train"])
    kwargs = config.model.build_kwargs()
    kwargs.setdefault("in_channels", int(x.shape[1]))
    if "num_classes" not in kwargs:
        kwargs["num_classes"] = dataset_num_classes(config.data.name, datasets)
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
