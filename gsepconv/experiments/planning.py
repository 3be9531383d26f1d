"""The runs of an experiment grid before any training: which configurations, on which devices,
in which order, and the status of each run folder (``gsepconv run --dry-run``).

:mod:`gsepconv.experiments.runner` plans with these, and
:mod:`gsepconv.experiments.workers` then trains the plan.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from gsepconv.data.catalogue import DATASETS
from gsepconv.experiments.config import RunConfig
from gsepconv.experiments.profiles import get_profile
from gsepconv.experiments.registry import get_runs
from gsepconv.experiments.runfolder import METRICS
from gsepconv.experiments.setup import resolve_device
from gsepconv.experiments.single_run import run_dir_for
from gsepconv.groups import num_elements_text
from gsepconv.models import build_model
from gsepconv.nn import count_macs

__all__ = ["cpu_devices", "default_devices", "estimated_cost", "describe_plan", "NOMINAL_MACS_PER_S"]


def _cuda_available() -> bool:
    return resolve_device("auto").type == "cuda"


def cpu_devices(profile: str) -> list[str]:
    """The ``devices`` that train a profile's runs on CPU: ``["cpu"] * n`` with ``n`` the profile's
    ``training.cpu_workers`` (at most one per core), so that
    :func:`~gsepconv.experiments.run_experiment` trains ``n`` runs side by side, the cores split
    between them."""
    n = max(1, min(get_profile(profile).training.cpu_workers, os.cpu_count() or 1))
    return ["cpu"] * n


def default_devices(profile: str, device: str | None = None, threads: int | None = None) -> list[str] | None:
    """The ``devices`` of :func:`~gsepconv.experiments.run_experiment` for runs meant for one
    ``device`` (``None``: each config's own, ``auto``): where they train on CPU and no thread count
    is imposed, the profile's :func:`cpu_devices` (``quick``: two one-thread workers side by side);
    otherwise ``[device]``."""
    on_cpu = device == "cpu" or (device is None and not _cuda_available())
    if on_cpu and threads is None:
        return cpu_devices(profile)
    return [device] if device else None


def plan_runs(
    experiment: str,
    profile: str,
    configs: Sequence[RunConfig] | None,
    progress: bool | None,
    threads: int | None,
    devices: Sequence[str] | None,
) -> tuple[list[RunConfig], Sequence[str] | None]:
    """``(plan, devices)``: the runs of :func:`~gsepconv.experiments.run_experiment` (``configs``,
    or the experiment's runs under ``profile``) with its ``progress`` and ``threads`` overrides, and
    the devices (``devices``, or :func:`default_devices`); a single device is written into every
    config."""
    plan = list(configs) if configs is not None else get_runs(experiment, profile)
    if progress is not None:
        plan = [c.replace(progress=progress) for c in plan]
    if threads is not None:
        plan = [c.replace(threads=threads) for c in plan]
    if devices is None:
        devices = default_devices(profile, threads=threads)
    if devices and len(devices) == 1:
        plan = [c.replace(device=devices[0]) for c in plan]
    return plan, devices


def plan_frame(plan: Sequence[RunConfig], root: Path) -> pd.DataFrame:
    """One row per run of ``plan``: its status under ``root`` (``finished``, ``partial``: a
    checkpoint to resume, ``new``), the settings that tell the runs apart, and its folder."""
    rows = []
    for c in plan:
        folder = run_dir_for(c, root)
        status = (
            "finished" if (folder / METRICS).is_file() else "partial" if (folder / "checkpoint.pt").is_file() else "new"
        )
        ne = c.model.num_elements
        rows.append(
            {
                "run_id": c.run_id(),
                "status": status,
                "dataset": c.data.name,
                "arch": c.model.arch,
                "group": c.model.group,
                "implementation": "none" if c.model.group == "Z2" else c.model.implementation,
                "num_elements": num_elements_text(ne),
                "widths": ",".join(map(str, c.model.widths)),
                "kernel_size": c.model.kernel_size,
                "epochs": c.epochs,
                "train_subset": c.data.train_subset,
                "batch_size": c.batch_size,
                "optimizer": c.optim.name,
                "lr": c.optim.lr,
                "seed": c.seed,
                "folder": str(folder),
            }
        )
    return pd.DataFrame(rows)


def describe_plan(frame: pd.DataFrame) -> str:
    """Human-readable listing of a dry-run frame."""
    if frame.empty:
        return "(no runs)"
    return frame.drop(columns=["folder"]).to_string(index=False)


#: Effective multiply-accumulates per second of one CPU thread, only to put time budgets in the
#: unit of :func:`estimated_cost`. MAC counts do not predict time closely: on a 2-core CPU
#: (quick profile) MACs / time varies ~5x between models (large non-separable convolutions run
#: fastest per MAC), which is why the estimate orders runs and is never shown as a time.
NOMINAL_MACS_PER_S = 1.2e10
#: forward MACs per image of each model :func:`estimated_cost` has counted (key: model and dataset)
_FORWARD_MACS: dict[str, int] = {}


def estimated_cost(config: RunConfig) -> float:
    """Relative cost of one run, to schedule the longest first: forward MACs per image
    (``torch.utils.flop_counter`` on the built model) × (3 × training images + evaluated images)
    / :data:`NOMINAL_MACS_PER_S`; a time-budgeted run costs at most its budget plus evaluation.
    Only the order matters: the estimate is never shown as a time."""
    cls = DATASETS[config.data.name]
    sizes = cls.splits or {}

    def size(split: str, subset: int | None) -> int:
        full = sizes.get(split, 10_000)
        return min(subset, full) if subset else full

    key = json.dumps([config.model_kwargs(), config.data.name], sort_keys=True, default=str)
    if key not in _FORWARD_MACS:  # seeds of one model share it: count once per process
        with torch.random.fork_rng():
            model = build_model(**config.model_kwargs()).eval()
            _FORWARD_MACS[key] = count_macs(model, torch.zeros(1, cls.in_channels, *cls.image_size))
    macs = _FORWARD_MACS[key]
    train_images = size("train", config.data.train_subset) * config.epochs
    eval_images = size("val", config.data.val_subset) * config.epochs + size("test", config.data.test_subset)
    train_s = 3 * macs * train_images / NOMINAL_MACS_PER_S
    if config.time_budget_s is not None:
        train_s = min(train_s, float(config.time_budget_s))
        eval_images = size("test", config.data.test_subset) + size("val", config.data.val_subset) * 2
    return train_s + macs * eval_images / NOMINAL_MACS_PER_S
