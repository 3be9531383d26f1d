r"""Efficiency benchmark: training-step and inference time, memory, parameters and MACs for every
group × implementation × number of elements.

For each case a G-ResNet (the paper's MNIST-rot architecture) is built and timed:

* ``train_ms``: one full step (forward, backward, Adam), median over ``repeats`` after ``warmup``;
* ``conv_only_train_ms``: the float32 limit of the step on this machine, the faster of the conv-only
  model's steps (the same convolutions with free weights, no kernel nets:
  :func:`gsepconv.experiments.against.conv_only_model`) with channels-last and with plain NCHW
  convolutions (``conv_only_train_ms_channels_last``, ``conv_only_train_ms_nchw``; the faster
  in ``limit_layout``); ``train_overhead = train_ms / conv_only_train_ms``;
* with ``--against PATH`` (a checkout of the original implementation): ``original_train_ms``,
  the original code's model of the case timed alternately with ours in the same process (at least
  ``against_repeats`` rounds: ``repeats``), the ratio of each round's two steps
  ``original_i / ours_i`` summarised by its median ``speedup_vs_original`` and its interquartile
  range ``speedup_vs_original_q25`` … ``speedup_vs_original_q75``, and ``verdict_vs_original``:
  ``"faster"`` or ``"slower"`` only when that whole range lies on one side of 1, else ``"tie"``
  (``speed_verdict``);
* with ``--bf16``: ``train_ms_bf16``, our step under bfloat16 autocast timed in the same loop, and
  ``bf16_speedup = train_ms / train_ms_bf16`` (``speedup_vs_original_bf16`` with ``--against``);
* ``infer_ms``: ``eval()`` forward under ``torch.inference_mode`` (sampled kernels cached);
* ``conv_only_ms``: the same forward of :func:`gsepconv.nn.export` (frozen kernels: the bare
  convolutions with the same weights); ``infer_overhead = infer_ms / conv_only_ms``;
* ``macs``: multiply–accumulates of one inference forward, counted by PyTorch's flop counter
  (``FlopCounterMode`` counts 2 FLOPs per MAC);
* ``peak_mem_mb``: CUDA peak allocation of a training step (parameters and Adam state included);
  on CPU the bytes of the distinct storages autograd saves for backward (activations, plus the
  sampled kernels and parameters they reference). The two are not comparable across devices.

Rows go to ``results/<profile>/efficiency.csv`` (atomic) with machine and versions; the summary
printed at the end gives ratios: separable-vs-nonseparable per number of elements and the
inference overhead over conv-only time.

The *sweep* (``gsepconv bench --sweep``, :func:`run_sweep`) measures how the costs grow: the
training step time, memory, MACs and parameters of separable and non-separable SE(2) and Sim(2)
G-ResNets (and the Z2 CNN) for every number of group elements × image size of a
:class:`SweepProfile`, written to ``results/<profile>/efficiency_sweep.csv``.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..groups import SCALE_GROUPS, num_elements_text
from ..models import build_model, count_parameters
from ..nn import GroupBatchNorm, count_macs, export, kernel_cache, memory_format, saved_activation_mb
from ..nn.conv import SampledConv
from ..progress import bars_enabled
from ..version import __version__
from .against import conv_only_model, has_original, load_original, original_model
from .io import check_writable, git_commit, results_root, write_table
from .training import autocast_to


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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], Any], warmup: int, repeats: int, device: torch.device) -> list[float]:
    """Times (ms) of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    return _alternate([fn], warmup, repeats, device)[0]


def _bench_model(case: BenchCase, profile: BenchProfile | SweepProfile) -> nn.Module:
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


def _provenance(device: torch.device) -> dict[str, Any]:
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


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cast: torch.dtype | None = None) -> Callable[[], None]:
    """One training step of ``model`` (forward, cross-entropy, backward, Adam), under autocast to
    ``cast`` if given (as ``precision="bf16"`` trains)."""
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast_to(x.device, cast):
            logits = model(x)
        nn.functional.cross_entropy(logits.float(), y).backward()
        opt.step()

    return step


def _alternate(
    steps: Sequence[Callable[[], None]], warmup: int, repeats: int, device: torch.device
) -> list[list[float]]:
    """Times (ms) of several steps measured alternately (a, b, a, b, …) after ``warmup`` rounds:
    each sees the same machine state, so their ratio means something on a busy machine."""
    for _ in range(warmup):
        for step in steps:
            step()
    _sync(device)
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for i, step in enumerate(steps):
            start = time.perf_counter()
            step()
            _sync(device)
            times[i].append((time.perf_counter() - start) * 1000.0)
    return times


def bench_case(
    case: BenchCase,
    profile: BenchProfile,
    device: torch.device,
    seed: int = 0,
    compare_layout: bool = False,
    original: Any = None,
    bf16: bool = False,
) -> dict[str, Any]:
    """Measure one case; returns a result row. ``compare_layout`` also times the training step with
    plain NCHW convolutions (``train_ms_nchw``), the layout before the channels-last fast path.
    ``original`` (a :class:`gsepconv.experiments.against.Original`): also time the original
    code's model of the case, alternating with ours (``original_train_ms``, ``speedup_vs_original``).
    Every case also times its conv-only model (the same convolutions with free weights, no kernel
    nets) in both memory layouts; the faster is the float32 limit of a training step
    (``conv_only_train_ms``, its layout ``limit_layout``). ``bf16``: also our
    step under bfloat16 autocast, in the same loop (``train_ms_bf16``, ``bf16_speedup``)."""
    model, x, y, train_step = _case_setup(case, profile, profile.image_size, device, seed)
    training = _time_training(case, profile, device, model, train_step, x, y, seed, original, bf16)
    frozen = export(model.eval())
    inference = _time_inference(model, frozen, x, profile, device)
    if compare_layout:
        model.train()
        with memory_format(torch.contiguous_format):
            training["train_ms_nchw"] = statistics.median(_time(train_step, profile.warmup, profile.repeats, device))
    return {
        **_case_columns(case, profile, profile.image_size, model, frozen, x),
        **training,
        **inference,
        "mem_kind": "cuda_peak" if device.type == "cuda" else "saved_activations",
        **_provenance(device),
    }


def _case_setup(
    case: BenchCase, profile: BenchProfile | SweepProfile, image_size: int, device: torch.device, seed: int
) -> tuple[nn.Module, torch.Tensor, torch.Tensor, Callable[[], None]]:
    """The case's model (seeded), a random batch ``[B, 1, S, S]`` with labels, and its training step."""
    torch.manual_seed(seed)
    model = _bench_model(case, profile).to(device)
    x = torch.randn(profile.batch_size, 1, image_size, image_size, device=device)
    y = torch.randint(0, 10, (profile.batch_size,), device=device)
    return model, x, y, _step(model, x, y)


def _case_columns(
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


#: the memory layouts whose conv-only steps bound a training step: the limit is the faster one
LIMIT_LAYOUTS: dict[str, torch.memory_format] = {"channels_last": torch.channels_last, "nchw": torch.contiguous_format}


def in_layout(step: Callable[[], None], fmt: torch.memory_format) -> Callable[[], None]:
    """``step`` with the layers' convolutions run in the memory format ``fmt`` (``memory_format``
    of ``gsepconv.nn``) for the duration of each call."""

    def run() -> None:
        with memory_format(fmt):
            step()

    return run


def conv_only_limit(by_layout: dict[str, float]) -> tuple[float, str]:
    """The limit of a training step and the layout that gave it: the fastest of the conv-only
    steps ``{layout: ms}`` (missing, ``nan``, layouts are ignored; ``(nan, "")`` when none was
    measured). Whichever layout a machine's convolutions prefer, the limit is the machine's best."""
    measured = {layout: ms for layout, ms in by_layout.items() if ms == ms}
    if not measured:
        return float("nan"), ""
    layout = min(measured, key=measured.__getitem__)
    return measured[layout], layout


def _time_training(
    case: BenchCase,
    profile: BenchProfile,
    device: torch.device,
    model: nn.Module,
    train_step: Callable[[], None],
    x: torch.Tensor,
    y: torch.Tensor,
    seed: int,
    original: Any,
    bf16: bool,
) -> dict[str, Any]:
    """Training-step columns: ours, its conv-only model in each of ``LIMIT_LAYOUTS``, the
    original's model (if given) and our bfloat16 step (if asked), timed alternately in one loop —
    this machine's speed drifts by 2x within an hour, so only steps measured side by side
    compare — and the step's memory."""
    model.train()
    if device.type == "cuda":  # peak of our step alone, before the other models exist
        torch.cuda.reset_peak_memory_stats(device)
        train_step()
        _sync(device)
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = saved_activation_mb(model, x, y)
    steps = {"ours": train_step}
    if case.group != "Z2":  # a plain CNN is its own conv-only model (its convolutions are always channels-last)
        for layout, fmt in LIMIT_LAYOUTS.items():  # one copy per layout: each with its own Adam state
            steps[f"conv_only_{layout}"] = in_layout(_step(conv_only_model(model).train(), x, y), fmt)
    original_params = float("nan")
    if original is not None and has_original(case.group, case.implementation):
        torch.manual_seed(seed)
        theirs = (
            original_model(
                original,
                case.group,
                case.implementation,
                case.num_elements,
                widths=profile.widths,
                kernel_size=profile.kernel_size,
                hidden_features=profile.hidden_features,
                image_size=profile.image_size,
                max_scale=profile.max_scale,
            )
            .to(device)
            .train()
        )
        original_params = count_parameters(theirs)
        steps["original"] = _step(theirs, x, y)
        del theirs
    if bf16:
        steps["bf16"] = _step(model, x, y, cast=torch.bfloat16)
    repeats = max(profile.repeats, profile.against_repeats) if "original" in steps else profile.repeats
    times = dict(zip(steps, _alternate(list(steps.values()), profile.warmup, repeats, device)))
    steps.clear()  # frees the conv-only and original models
    nan = float("nan")
    train = statistics.median(times["ours"])
    by_layout = {
        layout: statistics.median(times[f"conv_only_{layout}"]) if f"conv_only_{layout}" in times else nan
        for layout in LIMIT_LAYOUTS
    }
    if case.group == "Z2":
        by_layout["channels_last"] = train
    conv_only, limit_layout = conv_only_limit(by_layout)
    original_ms = statistics.median(times["original"]) if "original" in times else nan
    q25, speedup, q75 = ratio_quartiles(paired_ratios(times["original"], times["ours"]) if "original" in times else [])
    bf16_ms = statistics.median(times["bf16"]) if "bf16" in times else nan
    return {
        "train_ms": train,
        "train_ms_min": min(times["ours"]),
        "train_ms_max": max(times["ours"]),
        "images_per_s": profile.batch_size / (train / 1000.0),
        "train_ms_nchw": nan,
        "conv_only_train_ms": conv_only,
        "limit_layout": limit_layout,
        **{f"conv_only_train_ms_{layout}": ms for layout, ms in by_layout.items()},
        "train_overhead": train / conv_only,
        "original_train_ms": original_ms,
        "original_params": original_params,
        "speedup_vs_original": speedup,
        "speedup_vs_original_q25": q25,
        "speedup_vs_original_q75": q75,
        "verdict_vs_original": speed_verdict(q25, q75),
        "train_ms_bf16": bf16_ms,
        "bf16_speedup": train / bf16_ms,
        "speedup_vs_original_bf16": original_ms / bf16_ms,
        "peak_mem_mb": peak,
        "repeats": repeats,
    }


def paired_ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """``numerator[i] / denominator[i]`` for every round ``i`` of an alternating loop (the two
    steps of one round saw the same machine state); ``ValueError`` unless both have as many."""
    if len(numerator) != len(denominator):
        raise ValueError(f"paired ratios need as many times on both sides, got {len(numerator)} and {len(denominator)}")
    return [a / b for a, b in zip(numerator, denominator)]


def ratio_quartiles(ratios: Sequence[float]) -> tuple[float, float, float]:
    """``(q25, median, q75)`` of ``ratios``, interpolating linearly between the sorted values (as
    ``numpy.quantile`` does by default); all ``nan`` when there are none."""
    if not ratios:
        return float("nan"), float("nan"), float("nan")
    ordered = sorted(ratios)

    def quantile(q: float) -> float:
        position = q * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return quantile(0.25), quantile(0.5), quantile(0.75)


def speed_verdict(q25: float, q75: float) -> str | None:
    """The verdict on a time ratio (baseline time / this time) from the quartiles of its rounds:
    ``"faster"`` when the whole interquartile range lies above 1, ``"slower"`` when it lies below
    1, else ``"tie"`` (a range that holds 1 is within this machine's noise); ``None`` when not
    measured."""
    if q25 != q25 or q75 != q75:  # nan
        return None
    if q25 > 1.0:
        return "faster"
    if q75 < 1.0:
        return "slower"
    return "tie"


def _time_inference(
    model: nn.Module, frozen: nn.Module, x: torch.Tensor, profile: BenchProfile, device: torch.device
) -> dict[str, float]:
    """Inference columns: ``eval()`` forward (kernels cached and not), the exported conv-only
    forward with the same weights, and kernel sampling alone."""

    def infer() -> None:
        with torch.inference_mode():
            model(x)

    def infer_frozen() -> None:
        with torch.inference_mode():
            frozen(x)

    def sample_kernels() -> None:
        with torch.inference_mode():
            for layer in model.modules():
                if isinstance(layer, SampledConv):
                    layer.sample_weights()

    model.eval()
    infer_ms = statistics.median(_time(infer, profile.warmup, profile.repeats, device))
    conv_ms = statistics.median(_time(infer_frozen, profile.warmup, profile.repeats, device))
    with kernel_cache(False):
        uncached = _time(infer, profile.warmup, profile.repeats, device)
    kernels = _time(sample_kernels, profile.warmup, profile.repeats, device)
    return {
        "infer_ms": infer_ms,
        "conv_only_ms": conv_ms,
        "infer_overhead": infer_ms / conv_ms,
        "infer_uncached_ms": statistics.median(uncached),
        "kernel_ms": statistics.median(kernels),
    }


def summarise_efficiency(frame: pd.DataFrame) -> str:
    """Human-readable ratios from the rows (nothing typed in)."""
    lines = []
    se2 = frame[frame.group == "SE2"]
    for n, rows in se2.groupby("n_total"):
        by_impl = rows.set_index("implementation")
        if {"nonseparable", "separable"} <= set(by_impl.index):
            r = by_impl.loc["nonseparable", "train_ms"] / by_impl.loc["separable", "train_ms"]
            m = by_impl.loc["nonseparable", "macs"] / by_impl.loc["separable", "macs"]
            lines.append(f"SE2 N={n}: separable trains {speed_words(r)} nonseparable ({m:.1f}x fewer MACs)")
    if "speedup_vs_original" in frame and frame["speedup_vs_original"].notna().any():
        lines.append(
            "side by side with the original implementation (alternating steps, this run; "
            "per round original/ours, median [q25, q75]):"
        )
        for _, row in frame[frame["speedup_vs_original"].notna()].iterrows():
            words = speed_words(row.speedup_vs_original, row.verdict_vs_original)
            lines.append(
                f"  {row.group:>8} {row.implementation:<13} N={row.num_elements:<7} ours {row.train_ms:8.1f} ms, "
                f"original {row.original_train_ms:8.1f} ms: ours trains {words} the original "
                f"({row.speedup_vs_original:.2f} [{row.speedup_vs_original_q25:.2f}, "
                f"{row.speedup_vs_original_q75:.2f}], {row.repeats} rounds); conv-only limit "
                f"{row.conv_only_train_ms:7.1f} ms ({row.limit_layout}; ours {row.train_overhead:.2f}x it)"
            )
    if "bf16_speedup" in frame and frame["bf16_speedup"].notna().any():
        lines.append("bfloat16 autocast (precision=bf16), alternating with float32 in this run:")
        for _, row in frame[frame["bf16_speedup"].notna()].iterrows():
            versus = (
                ""
                if row.speedup_vs_original_bf16 != row.speedup_vs_original_bf16
                else f"; {speed_words(row.speedup_vs_original_bf16)} the original in float32"
            )
            lines.append(
                f"  {row.group:>8} {row.implementation:<13} N={row.num_elements or '-':<7} "
                f"bf16 {row.train_ms_bf16:8.1f} ms: "
                f"{speed_words(row.bf16_speedup)} float32{versus}"
            )
    for _, row in frame.iterrows():
        layout = "" if math.isnan(row.train_ms_nchw) else f"  NCHW/fast {row.train_ms_nchw / row.train_ms:4.1f}x"
        lines.append(
            f"{row.group:>8} {row.implementation:<13} N={row.num_elements or '-':<7} train {row.train_ms:8.1f} ms "
            f"({row.images_per_s:6.0f} img/s)  infer {row.infer_ms:7.1f} ms = {row.infer_overhead:.2f}x conv-only "
            f"(uncached {row.infer_uncached_ms / row.conv_only_ms:.2f}x){layout}"
        )
    return "\n".join(lines)


def speed_words(ratio: float, verdict: str | None = None) -> str:
    """``"1.8x faster than"`` / ``"1.7x slower than"`` (never "0.6x faster") / ``"as fast as"``
    for a time ratio (baseline time / this time). With a ``verdict`` (``speed_verdict`` of the
    ratio's rounds) the words follow it: ``"tie"`` is ``"within the noise as fast as"`` whatever
    the ratio, and a ratio near 1 keeps two decimals; without one, a ratio within 5% of 1 is
    ``"as fast as"``."""
    if ratio != ratio:  # nan
        return "at an unknown speed compared with"
    if verdict == "tie":
        return "within the noise as fast as"
    if verdict is None and abs(ratio - 1) < 0.05:
        return "as fast as"
    factor = ratio if ratio > 1 else 1 / ratio
    digits = 2 if verdict is not None and factor < 1.1 else 1
    return f"{factor:.{digits}f}x {'faster' if ratio > 1 else 'slower'} than"


def run_benchmark(
    profile: str,
    device: str = "cpu",
    out: str | Path | None = None,
    cases: Sequence[BenchCase] | None = None,
    progress: bool = True,
    compare_layout: bool | None = None,
    against: str | Path | None = None,
    bf16: bool = False,
) -> pd.DataFrame:
    """Run a benchmark profile and write ``<results>/<profile>/efficiency[-gpu].csv`` atomically.
    ``against``: a checkout of the original implementation; its model of every case it has is
    timed alternately with ours (:mod:`gsepconv.experiments.against`). ``bf16``: also time our
    step under bfloat16 autocast (``precision="bf16"``)."""
    if profile not in BENCH_PROFILES:
        raise ValueError(f"unknown benchmark profile {profile!r}; choose one of {', '.join(BENCH_PROFILES)}")
    prof = BENCH_PROFILES[profile]
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but CUDA is not available on this machine; use --device cpu")
    path = Path(out) if out is not None else bench_path(profile, device)
    check_writable(path.parent, "the benchmark table", "--out")
    original = None
    if against is not None:
        original = load_original(against)
    todo = list(cases if cases is not None else prof.cases)
    rows = []
    if todo:  # one discarded pass: first-call costs (thread pools, oneDNN/cuDNN plans) are not the first case's
        bench_case(todo[0], BenchProfile(**{**prof.__dict__, "warmup": 1, "repeats": 1}), dev)

    for case in tqdm(todo, desc=f"bench {profile}", disable=not bars_enabled(progress)):
        rows.append(
            bench_case(
                case,
                prof,
                dev,
                compare_layout=prof.compare_layout if compare_layout is None else compare_layout,
                original=original,
                bf16=bf16,
            )
        )
    frame = pd.DataFrame(rows)
    write_table(path, frame.to_csv(index=False), "the benchmark table")
    return frame


def sweep_case(
    case: BenchCase, profile: SweepProfile, image_size: int, device: torch.device, seed: int = 0
) -> dict[str, Any]:
    """One point of the sweep: training step time (``train_ms``: the fastest of ``repeats`` steps
    after ``warmup``, the estimate least disturbed by other work on a shared machine; the median is
    ``train_ms_median``), memory
    (CUDA peak, or on CPU the activations saved for backward), MACs of one inference forward and
    parameters of ``case`` on ``[batch, 1, image_size, image_size]`` inputs."""
    model, x, y, train_step = _case_setup(case, profile, image_size, device, seed)
    model.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = _time(train_step, profile.warmup, profile.repeats, device)
    peak = (
        torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else saved_activation_mb(model, x, y)
    )
    model.eval()
    train_ms = min(times)
    return {
        **_case_columns(case, profile, image_size, model, export(model), x),
        "train_ms": train_ms,
        "train_ms_median": statistics.median(times),
        "train_ms_max": max(times),
        "images_per_s": profile.batch_size / (train_ms / 1000.0),
        "peak_mem_mb": peak,
        "mem_kind": "cuda_peak" if device.type == "cuda" else "saved_activations",
        "repeats": profile.repeats,
        **_provenance(device),
    }


def bench_path(profile: str, device: str = "cpu", root: str | Path | None = None) -> Path:
    """``<results>/<profile>/efficiency.csv`` (``efficiency-gpu.csv`` on CUDA), where
    :func:`run_benchmark` writes by default."""
    name = "efficiency-gpu.csv" if torch.device(device).type == "cuda" else "efficiency.csv"
    return results_root(root) / profile / name


def sweep_path(profile: str, device: str = "cpu", root: str | Path | None = None) -> Path:
    """``<results>/<profile>/efficiency_sweep.csv`` (``efficiency_sweep-gpu.csv`` on CUDA)."""
    name = "efficiency_sweep-gpu.csv" if torch.device(device).type == "cuda" else "efficiency_sweep.csv"
    return results_root(root) / profile / name


def run_sweep(profile: str, device: str = "cpu", out: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Run the sweep of ``profile`` (every case of :data:`SWEEP_PROFILES` at every image size) and
    write it atomically to ``out`` (default :func:`sweep_path`); one row per case × image size."""
    if profile not in SWEEP_PROFILES:
        raise ValueError(f"unknown sweep profile {profile!r}; choose one of {', '.join(SWEEP_PROFILES)}")
    prof = SWEEP_PROFILES[profile]
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but CUDA is not available on this machine; use --device cpu")
    path = Path(out) if out is not None else sweep_path(profile, device)
    check_writable(path.parent, "the sweep table", "--out")
    points = [(case, size) for size in prof.image_sizes for case in prof.cases]
    # one discarded step: first-call costs (thread pools, oneDNN/cuDNN plans) are not the first point's
    sweep_case(prof.cases[0], SweepProfile(**{**prof.__dict__, "warmup": 0, "repeats": 1}), prof.image_sizes[0], dev)
    rows = [
        sweep_case(case, prof, size, dev)
        for case, size in tqdm(points, desc=f"sweep {profile}", disable=not bars_enabled(progress))
    ]
    frame = pd.DataFrame(rows)
    write_table(path, frame.to_csv(index=False), "the sweep table")
    return frame


def _planned(cases: Sequence[BenchCase], sizes: Sequence[int]) -> set[tuple[str, str, str, int]]:
    return {(c.group, c.implementation, num_elements_text(c.num_elements), s) for c in cases for s in sizes}


def _measured(table: pd.DataFrame, sizes: bool = True) -> set[tuple[str, str, str, int]]:
    elems = table["num_elements"].fillna("").astype(str) if "num_elements" in table else []
    return {
        (str(g), str(i), str(n), int(s) if sizes else 0)
        for g, i, n, s in zip(
            table["group"], table["implementation"], elems, table["image_size"] if sizes else [0] * len(table)
        )
    }


def sweep_is_current(table: pd.DataFrame, profile: str) -> bool:
    """Whether a stored sweep covers every case × image size of ``profile`` with its sizes
    (batch, widths, kernel size) — a redesigned profile makes an old table stale."""
    prof = SWEEP_PROFILES[profile]
    needed = {"group", "implementation", "num_elements", "image_size", "batch_size", "widths", "kernel_size"}
    if table.empty or not needed <= set(table.columns):
        return False
    same_sizes = (
        set(table["batch_size"]) == {prof.batch_size}
        and set(table["kernel_size"]) == {prof.kernel_size}
        and set(table["widths"].astype(str)) == {",".join(map(str, prof.widths))}
    )
    return same_sizes and _planned(prof.cases, prof.image_sizes) <= _measured(table)


def bench_is_current(table: pd.DataFrame, profile: str) -> bool:
    """Whether a stored ``efficiency.csv`` covers every case of the benchmark profile with its sizes.
    Columns added since (the verdicts against the original code, the limit's layout) do not make a
    table stale here: a table measured before them still reads, and ``against_is_current``
    says whether its comparison with the original needs measuring again."""
    prof = BENCH_PROFILES[profile]
    needed = {"group", "implementation", "num_elements", "batch_size", "image_size", "widths", "kernel_size"}
    if table.empty or not needed <= set(table.columns):
        return False
    same_sizes = (
        set(table["batch_size"]) == {prof.batch_size}
        and set(table["image_size"]) == {prof.image_size}
        and set(table["kernel_size"]) == {prof.kernel_size}
        and set(table["widths"].astype(str)) == {",".join(map(str, prof.widths))}
    )
    return same_sizes and _planned(prof.cases, [0]) <= _measured(table, sizes=False)


#: the columns a comparison with the original code needs for its verdicts (and the limit's layout)
AGAINST_COLUMNS = (
    "repeats",
    "speedup_vs_original_q25",
    "speedup_vs_original_q75",
    "verdict_vs_original",
    "limit_layout",
)


def against_is_current(table: pd.DataFrame, profile: str) -> bool:
    """Whether the comparison with the original code in a stored ``efficiency.csv`` can give its
    verdicts: it has the per-round quartiles and verdicts (``AGAINST_COLUMNS``) and at least
    ``max(repeats, against_repeats)`` rounds of the benchmark profile for each case timed against
    the original. A table without the original's timings has nothing to measure again (true).
    When false, the comparison is measured again with
    ``gsepconv bench --profile <profile> --against <checkout of the original code>``."""
    prof = BENCH_PROFILES[profile]
    if "original_train_ms" not in table.columns or table["original_train_ms"].isna().all():
        return True
    if not set(AGAINST_COLUMNS) <= set(table.columns):
        return False
    timed = table[table["original_train_ms"].notna()]
    return bool(
        timed["repeats"].ge(max(prof.repeats, prof.against_repeats)).all()
        and timed["verdict_vs_original"].isin(["faster", "slower", "tie"]).all()
    )


def summarise_sweep(frame: pd.DataFrame) -> str:
    """Ratios of the sweep, one line per group × separable implementation × image size × ``N``:
    how many times faster the separable model trains than the non-separable one, and its memory
    relative to it (printed, never asserted: timings depend on the machine)."""
    lines = []
    key = ["group", "num_elements", "image_size"]
    base = frame[frame.implementation == "nonseparable"].set_index(key)
    for _, row in frame[(frame.implementation != "nonseparable") & (frame.group != "Z2")].iterrows():
        k = (row.group, row.num_elements, row.image_size)
        if k not in base.index:
            continue
        b = base.loc[k]
        lines.append(
            f"{row.group:>5} N={row.num_elements:<6} {row.image_size:>3}x{row.image_size:<3} "
            f"{row.implementation:<12} trains {speed_words(b.train_ms / row.train_ms)} nonseparable "
            f"({row.train_ms:8.1f} vs {b.train_ms:8.1f} ms), memory {row.peak_mem_mb / b.peak_mem_mb:4.2f}x, "
            f"{b.macs / row.macs:5.1f}x fewer MACs"
        )
    return "\n".join(lines)


def microbench_rotation_scale(
    batch: int = 64,
    size: int = 28,
    channels: int = 16,
    n_rot: int = 8,
    n_scale: int = 3,
    repeats: int = 5,
    device: str = "cpu",
    check: bool = True,
) -> dict[str, float]:
    """Forward+backward time (ms, best of ``repeats``) of Sim(2) separable2d's rotation×scale step,
    ``[B, C·N_r·N_s, H, W] → [B, C·N_r·N_s, H, W]``, computed three ways:

    * ``dense_1x1``: one 1×1 convolution with the product weight (what :class:`Separable2d` does);
    * ``factorised_matmul``: rotations+channels as a batched matmul on the channels-last memory
      (``N_s`` times fewer MACs), then the scale mix;
    * ``factorised_permute``: the same with scales moved into the batch (two layout permutations).
    """
    dev = torch.device(device)
    c, nr, ns = channels, n_rot, n_scale
    x = (
        torch.randn(batch, c * nr * ns, size, size, device=dev)
        .contiguous(memory_format=torch.channels_last)
        .requires_grad_()
    )
    r = torch.randn(c * nr, c * nr, device=dev, requires_grad=True)
    sc = torch.randn(c, ns, ns, device=dev, requires_grad=True)
    p = batch * size * size

    def dense() -> torch.Tensor:
        w = torch.einsum("orip,oab->oraipb", r.view(c, nr, c, nr), sc).reshape(c * nr * ns, c * nr * ns, 1, 1)
        y = nn.functional.conv2d(x, w.contiguous(memory_format=torch.channels_last))
        return y.permute(0, 2, 3, 1).reshape(p, c, nr, ns)

    def scale_mix(z: torch.Tensor) -> torch.Tensor:  # z: [P, C·N_r, N_s] -> [P, C, N_r, N_s]
        return torch.einsum("pors,oas->pora", z.view(p, c, nr, ns), sc)

    def matmul() -> torch.Tensor:
        x3 = x.permute(0, 2, 3, 1).reshape(p, c * nr, ns)  # a view of the channels-last memory
        return scale_mix(torch.matmul(x3.transpose(1, 2), r.t()).transpose(1, 2))

    def permute() -> torch.Tensor:
        xs = x.view(batch, c * nr, ns, size, size).permute(0, 2, 1, 3, 4).reshape(batch * ns, c * nr, size, size)
        z = nn.functional.conv2d(xs.contiguous(memory_format=torch.channels_last), r[:, :, None, None])
        z = z.view(batch, ns, c * nr, size, size).permute(0, 3, 4, 2, 1).reshape(p, c * nr, ns)
        return scale_mix(z)

    ways = {"dense_1x1": dense, "factorised_matmul": matmul, "factorised_permute": permute}
    if check:
        with torch.no_grad():
            ref = dense()
            for name, fn in ways.items():
                if not torch.allclose(fn(), ref, rtol=1e-4, atol=1e-3):
                    raise AssertionError(f"{name} computes a different function than dense_1x1")
    return {name: min(_time(lambda fn=fn: fn().sum().backward(), 1, repeats, dev)) for name, fn in ways.items()}


def microbench_batch_norm(
    batch: int = 64,
    size: int = 28,
    channels: int = 16,
    num_elements: int = 8,
    repeats: int = 5,
    device: str = "cpu",
    check: bool = True,
) -> dict[str, float]:
    """Forward+backward time (ms, median of alternating ``repeats``) of batch norm + ReLU on a group
    feature map ``[B, C, N, H, W]`` (statistics per channel ``C``), three ways:

    * ``group_batch_norm``: :class:`~gsepconv.nn.GroupBatchNorm` with fused ReLU on the layers'
      channels-last map (torch's reductions per column and row block, pooled over ``N``);
    * ``batchnorm3d_contiguous``: ``torch.nn.BatchNorm3d`` + ReLU on a plain contiguous map
      (what NCHW convolutions, as in the original code, hand to it);
    * ``batchnorm3d_channels_last``: the same on the channels-last map the layers produce.
    """
    dev = torch.device(device)
    shape = (batch, channels, num_elements, size, size)
    base = torch.randn(shape, device=dev) + 0.5
    cl = base.permute(0, 3, 4, 1, 2).contiguous().permute(0, 3, 4, 1, 2)  # memory [B, H, W, C, N]
    ours = GroupBatchNorm(channels, relu=True).to(dev).train()
    ref = nn.BatchNorm3d(channels).to(dev).train()
    inputs = {"group_batch_norm": cl, "batchnorm3d_contiguous": base.contiguous(), "batchnorm3d_channels_last": cl}
    grad = torch.randn(shape, device=dev)

    def run(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = inputs[name].detach().requires_grad_()
        y = ours(x) if name == "group_batch_norm" else torch.relu(ref(x))
        y.backward(grad)
        return y.detach(), x.grad

    if check:  # relative norms: float32 round-off flips the ReLU mask of a few elements at zero
        want = run("batchnorm3d_contiguous")
        for name in inputs:
            got = run(name)
            if not all(float((a - b).norm() / b.norm()) < 1e-2 for a, b in zip(got, want)):
                raise AssertionError(f"{name} computes a different function than batchnorm3d_contiguous")
    steps = [lambda name=name: run(name) for name in inputs]
    times = _alternate(steps, 1, repeats, dev)
    return {name: statistics.median(t) for name, t in zip(inputs, times)}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gsepconv bench``."""
    p = subparsers.add_parser(
        "bench",
        help="efficiency benchmark (train/inference time, memory, MACs) over groups and implementations",
        description=__doc__.split("\n\n")[0].replace("``", ""),  # plain text, not reStructuredText
        epilog="examples:\n  gsepconv bench --profile smoke\n"
        "  gsepconv bench --profile quick            # writes results/quick/efficiency.csv\n"
        "  gsepconv bench --profile paper --device cuda   # writes results/paper/efficiency-gpu.csv\n"
        "  gsepconv bench --sweep --profile quick    # writes results/quick/efficiency_sweep.csv\n"
        "  gsepconv bench --profile quick --against ../separable-group-convolutional-networks\n"
        "  gsepconv bench --profile quick --bf16 --out /tmp/bf16.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--profile",
        default="quick",
        choices=sorted(BENCH_PROFILES),
        help="sizes and cases (default: quick, as for run, results and equivariance)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--out", default=None, help="CSV path (default: <results>/<profile>/efficiency.csv)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="time and memory against the number of group elements x image size, separable vs not "
        "(writes <results>/<profile>/efficiency_sweep.csv)",
    )
    p.add_argument(
        "--micro",
        action="store_true",
        help="only the micro-benchmarks: Sim(2) separable2d's rotation x scale step three ways (dense 1x1 "
        "vs factorised) and batch norm + ReLU on a group feature map three ways (ours vs BatchNorm3d)",
    )
    p.add_argument(
        "--against",
        metavar="PATH",
        default=None,
        help="a checkout of the original implementation (git clone "
        "https://github.com/david-knigge/separable-group-convolutional-networks): time its model "
        "of each case alternately with ours, at least 7 rounds in quick and paper, and write the "
        "median per-round ratio original/ours with its quartiles and a verdict (speedup_vs_original, "
        "speedup_vs_original_q25, speedup_vs_original_q75, verdict_vs_original)",
    )
    p.add_argument(
        "--bf16",
        action="store_true",
        help="also time our training step under bfloat16 autocast (precision=bf16), alternating with float32 "
        "(columns train_ms_bf16, bf16_speedup); whether it pays depends on the hardware",
    )
    p.add_argument(
        "--compare-layout",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time training with plain NCHW convolutions (default: on for quick)",
    )
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.micro:
        times = microbench_rotation_scale(device=args.device)
        for name, ms in times.items():
            print(f"{name:<26} {ms:8.1f} ms  ({ms / times['dense_1x1']:.2f}x dense_1x1)")
        times = microbench_batch_norm(device=args.device)
        for name, ms in times.items():
            print(f"{name:<26} {ms:8.1f} ms  ({ms / times['group_batch_norm']:.2f}x group_batch_norm)")
        return 0
    if args.sweep:
        path = Path(args.out) if args.out else sweep_path(args.profile, args.device)
        frame = run_sweep(args.profile, args.device, path)
        print(summarise_sweep(frame))
        print(f"written to {path}")
        return 0
    frame = run_benchmark(
        args.profile, args.device, args.out, compare_layout=args.compare_layout, against=args.against, bf16=args.bf16
    )
    print(summarise_efficiency(frame))
    return 0


__all__ = [
    "BENCH_PROFILES",
    "BenchCase",
    "BenchProfile",
    "bench_case",
    "bench_is_current",
    "bench_path",
    "AGAINST_COLUMNS",
    "against_is_current",
    "LIMIT_LAYOUTS",
    "conv_only_limit",
    "in_layout",
    "microbench_batch_norm",
    "microbench_rotation_scale",
    "register",
    "run_benchmark",
    "summarise_efficiency",
    "paired_ratios",
    "ratio_quartiles",
    "speed_verdict",
    "speed_words",
    "SWEEP_PROFILES",
    "SweepProfile",
    "run_sweep",
    "summarise_sweep",
    "sweep_case",
    "sweep_is_current",
    "sweep_path",
]
