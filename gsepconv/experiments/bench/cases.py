"""The benchmarked cases and the profiles that list them, and what a benchmark or sweep row shares:
the case's model and batch, the columns that name a row, the machine it ran on, and the cases a
stored table covers. Both the model benchmark and the sweep are built on these."""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import torch
from torch import nn

from ...groups import SCALE_GROUPS, num_elements_text
from ...models import build_model, count_parameters
from ...nn import count_macs
from ...version import __version__
from ..io import git_commit
from .timing import training_step


@dataclass(frozen=True)
class BenchCase:
    """One benchmarked model."""

    group: str
    implementation: str
    num_elements: int | tuple[int, int] | None

    @property
    def n_total(self) -> int:
        if self.num_elements is None:
            return 1
        return math.prod(self.num_elements) if isinstance(self.num_elements, tuple) else self.num_elements


@dataclass(frozen=True)
class BenchProfile:
    """Sizes and the list of cases of one benchmark profile. ``repeats``: timed rounds of the
    training loop (medians) after ``warmup``; a case timed against the original code gets
    ``max(repeats, against_repeats)`` rounds, enough for the spread of the per-round ratio."""

    name: str
    batch_size: int
    image_size: int
    widths: tuple[int, ...]
    kernel_size: int
    hidden_features: int
    warmup: int
    repeats: int
    cases: tuple[BenchCase, ...]
    max_scale: float = 1.74
    compare_layout: bool = False
    against_repeats: int = 7


def _se2_cases(ns: Sequence[int], impls: Sequence[str]) -> list[BenchCase]:
    return [BenchCase("SE2", impl, n) for n in ns for impl in impls]


_ALL_SE2 = ("nonseparable", "separable", "gseparable", "dseparable", "dgseparable")

BENCH_PROFILES: dict[str, BenchProfile] = {
    # seconds: exercised by the test suite
    "smoke": BenchProfile(
        "smoke",
        batch_size=4,
        image_size=16,
        widths=(4, 4, 8),
        kernel_size=5,
        hidden_features=16,
        warmup=1,
        repeats=2,
        against_repeats=3,
        cases=(
            BenchCase("Z2", "none", None),
            *_se2_cases([4], ("nonseparable", "separable", "dgseparable")),
            BenchCase("Sim2", "separable2d", (4, 2)),
        ),
    ),
    # CPU, 2 cores, ~6 min: the targets of the efficiency issue (batch 64, 28×28, k=7, widths 16,16,32).
    # One warm-up and three timed steps, no channels-first comparison: with 2 + 5 steps in both
    # layouts it took 22 min of the quick reproduction (Sim(2) non-separable alone is 24 s a step).
    # (measured before the conv-only limit was also timed with NCHW convolutions, one more step a
    # round). With --against (not part of the reproduction) every case the original has takes 7
    # rounds, so that the quartiles of the per-round ratio mean something: about twice as long
    "quick": BenchProfile(
        "quick",
        batch_size=64,
        image_size=28,
        widths=(16, 16, 32),
        kernel_size=7,
        hidden_features=64,
        warmup=1,
        repeats=3,
        against_repeats=7,
        cases=(
            BenchCase("Z2", "none", None),
            *_se2_cases([4, 8, 16], ("nonseparable", "separable")),
            *_se2_cases([8], ("gseparable", "dseparable", "dgseparable")),
            BenchCase("R2xRplus", "separable", 3),
            BenchCase("Sim2", "separable2d", (4, 3)),
            BenchCase("Sim2", "separable2d", (8, 3)),
            BenchCase("Sim2", "separable", (8, 3)),
            BenchCase("Sim2", "nonseparable", (4, 3)),
        ),
    ),
    # GPU: the paper's widths
    "paper": BenchProfile(
        "paper",
        batch_size=64,
        image_size=28,
        widths=(32, 32, 64),
        kernel_size=7,
        hidden_features=64,
        warmup=3,
        repeats=10,
        against_repeats=10,
        cases=(
            BenchCase("Z2", "none", None),
            *_se2_cases([4, 8, 16], _ALL_SE2),
            BenchCase("R2xRplus", "separable", 3),
            *[
                BenchCase("Sim2", impl, n)
                for n in ((4, 3), (8, 3), (16, 3))
                for impl in ("separable2d", "separable", "gseparable2d")
            ],
            BenchCase("Sim2", "nonseparable", (4, 3)),
            BenchCase("Sim2", "nonseparable", (8, 3)),
        ),
    ),
}


@dataclass(frozen=True)
class SweepProfile:
    """Sizes of one efficiency sweep: every case is measured at every image size."""

    name: str
    batch_size: int
    widths: tuple[int, ...]
    kernel_size: int
    hidden_features: int
    warmup: int
    repeats: int
    image_sizes: tuple[int, ...]
    cases: tuple[BenchCase, ...]
    max_scale: float = 1.74


def _sweep_cases(se2: Sequence[int], sim2: Sequence[tuple[int, int]]) -> tuple[BenchCase, ...]:
    """The Z2 CNN, then SE(2) non-separable/separable for each ``N`` in ``se2`` and Sim(2)
    non-separable/separable2d for each ``(N_rot, N_scale)`` in ``sim2``."""
    return (
        BenchCase("Z2", "none", None),
        *_se2_cases(se2, ("nonseparable", "separable")),
        *[BenchCase("Sim2", impl, n) for n in sim2 for impl in ("nonseparable", "separable2d")],
    )


SWEEP_PROFILES: dict[str, SweepProfile] = {
    # seconds: exercised by the test suite and the smoke notebooks
    "smoke": SweepProfile(
        "smoke",
        batch_size=2,
        widths=(4, 4, 8),
        kernel_size=3,
        hidden_features=8,
        warmup=1,
        repeats=1,
        image_sizes=(12, 20),
        cases=_sweep_cases([4, 8], [(4, 2)]),
    ),
    # CPU, 2 cores: a small batch and images of 16/24/32 pixels (cost ∝ pixels: 256/576/1024) so
    # that the whole sweep stays within ~3 min even with the cores shared (sizes 20/28/40, 1.9x the
    # pixels, took 325 s with four other jobs on the two cores)
    "quick": SweepProfile(
        "quick",
        batch_size=8,
        widths=(8, 8, 16),
        kernel_size=5,
        hidden_features=32,
        warmup=1,
        repeats=3,
        image_sizes=(16, 24, 32),
        cases=_sweep_cases([4, 8, 16], [(2, 3), (4, 3)]),
    ),
    # GPU: the paper's widths and batch
    "paper": SweepProfile(
        "paper",
        batch_size=64,
        widths=(32, 32, 64),
        kernel_size=7,
        hidden_features=64,
        warmup=3,
        repeats=10,
        image_sizes=(28, 56, 112),
        cases=_sweep_cases([4, 8, 16, 32], [(4, 3), (8, 3), (16, 3)]),
    ),
}


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
