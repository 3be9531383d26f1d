"""What a benchmark or sweep row shares: the case's model and batch, the columns that name a row,
the machine it ran on, and the cases a stored table covers. Both the model benchmark and the sweep
are built on these. The cases and sizes of each profile are its ``bench`` and ``sweep`` sections
(``gsepconv.experiments.profiles``)."""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import torch
from torch import nn

from ...groups import SCALE_GROUPS, num_elements_text
from ...models import build_model, count_parameters
from ...nn import count_macs
from ...version import __version__
from ..config import ConfigError
from ..io import git_commit
from ..profiles import PROFILES, BenchCase, BenchProfile, SweepProfile
from .timing import training_step

#: the model benchmark's sizes and cases of each profile (its ``bench`` section)
BENCH_PROFILES: dict[str, BenchProfile] = {name: p.bench for name, p in PROFILES.items()}
#: the efficiency sweep's sizes and cases of each profile (its ``sweep`` section)
SWEEP_PROFILES: dict[str, SweepProfile] = {name: p.sweep for name, p in PROFILES.items()}


def bench_model(case: BenchCase, profile: BenchProfile | SweepProfile) -> nn.Module:
    """The G-ResNet of ``case`` with the profile's widths, kernel size and kernel-net width."""
    sizes = dict(widths=profile.widths, kernel_size=profile.kernel_size)
    if case.group == "Z2":
        return build_model("resnet", "Z2", **sizes)
    scale = {"max_scale": profile.max_scale} if case.group in SCALE_GROUPS else {}
    return build_model(
        "resnet",
        case.group,
        case.implementation,
        case.num_elements,
        hidden_features=profile.hidden_features,
        **scale,
        **sizes,
    )


def resolve_bench(
    profiles: Mapping[str, Any], profile: str, device: str, what: str = "benchmark"
) -> tuple[Any, torch.device]:
    """The settings of ``profile`` in ``profiles`` (:data:`BENCH_PROFILES` or ``SWEEP_PROFILES``)
    and the torch device to measure on; a clear error for an unknown profile, and a
    :class:`~gsepconv.experiments.config.ConfigError` (an ``error:`` line on the command line, not a
    traceback) for CUDA asked of a machine without it."""
    if profile not in profiles:
        raise ValueError(f"unknown {what} profile {profile!r}; choose one of {', '.join(profiles)}")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"--device {device} was requested but CUDA is not available on this machine; use --device cpu "
            "(or run `make gpu-check` where a GPU is)"
        )
    return profiles[profile], dev


def provenance(device: torch.device) -> dict[str, Any]:
    """The columns saying where and when a row was measured: device, threads, versions, commit."""
    return {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({platform.processor() or platform.machine()})",
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "gsepconv_version": __version__,
        "git_commit": git_commit(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def case_setup(
    case: BenchCase, profile: BenchProfile | SweepProfile, image_size: int, device: torch.device, seed: int
) -> tuple[nn.Module, torch.Tensor, torch.Tensor, Callable[[], None]]:
    """The case's model (seeded), a random batch ``[B, 1, S, S]`` with labels, and its training step."""
    torch.manual_seed(seed)
    model = bench_model(case, profile).to(device)
    x = torch.randn(profile.batch_size, 1, image_size, image_size, device=device)
    y = torch.randint(0, 10, (profile.batch_size,), device=device)
    return model, x, y, training_step(model, x, y)


def case_columns(
    case: BenchCase,
    profile: BenchProfile | SweepProfile,
    image_size: int,
    model: nn.Module,
    frozen: nn.Module,
    x: torch.Tensor,
) -> dict[str, Any]:
    """The columns naming a benchmark or sweep row: case, sizes, parameters and MACs (of the
    exported ``frozen`` model on ``x``)."""
    return {
        "profile": profile.name,
        "group": case.group,
        "implementation": case.implementation,
        "num_elements": num_elements_text(case.num_elements),
        "n_total": case.n_total,
        "batch_size": profile.batch_size,
        "image_size": image_size,
        "widths": ",".join(map(str, profile.widths)),
        "kernel_size": profile.kernel_size,
        "params": count_parameters(model),
        "macs": count_macs(frozen, x),
    }


def planned_cases(cases: Sequence[BenchCase], sizes: Sequence[int]) -> set[tuple[str, str, str, int]]:
    """``(group, implementation, num_elements, image_size)`` of every case at every size."""
    return {(c.group, c.implementation, num_elements_text(c.num_elements), s) for c in cases for s in sizes}


def measured_cases(table: pd.DataFrame, sizes: bool = True) -> set[tuple[str, str, str, int]]:
    """The same keys for the rows of a stored table (image size 0 unless ``sizes``), to compare
    with ``planned_cases``."""
    elems = table["num_elements"].fillna("").astype(str) if "num_elements" in table else []
    return {
        (str(g), str(i), str(n), int(s) if sizes else 0)
        for g, i, n, s in zip(
            table["group"], table["implementation"], elems, table["image_size"] if sizes else [0] * len(table)
        )
    }


__all__ = [
    "resolve_bench",
    "BENCH_PROFILES",
    "BenchCase",
    "BenchProfile",
    "SWEEP_PROFILES",
    "SweepProfile",
    "bench_model",
    "case_columns",
    "case_setup",
    "measured_cases",
    "planned_cases",
    "provenance",
]
