"""Timing: steps measured alternately so that their ratios compare on a busy machine, the training
step they time, and how a ratio's rounds become a verdict and words (the quartiles of the
per-round ratios; "faster" only when the whole interquartile range lies on one side of 1)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..training import autocast_to


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that a timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], warmup: int, repeats: int, device: torch.device) -> list[float]:
    """Times (ms) of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    return alternate([fn], warmup, repeats, device)[0]


def training_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, cast: torch.dtype | None = None
) -> Callable[[], None]:
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


def with_cudnn(step: Callable[[], None], autotune: bool) -> Callable[[], None]:
    """``step`` under cuDNN's flags for the duration of each call: ``autotune=False`` as the
    training loop runs by default (``deterministic=True``: ``cudnn.deterministic`` on,
    ``cudnn.benchmark`` off), ``autotune=True`` as it runs with ``deterministic=False``
    (``cudnn.benchmark`` on: the fastest algorithm per shape, tried on the first call of each
    shape). The flags are restored after each call; they change nothing on CPU."""

    def run() -> None:
        saved = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = autotune, not autotune
        try:
            step()
        finally:
            torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved

    return run


def as_trained(steps: dict[str, Callable[[], None]], device: torch.device) -> dict[str, Callable[[], None]]:
    """``steps`` as the training loop runs them by default on ``device``: on CUDA each under
    :func:`with_cudnn` ``(autotune=False)`` (a step already wrapped with ``autotune=True`` keeps
    its own flags, the inner wrapper's); elsewhere unchanged."""
    if device.type != "cuda":
        return steps
    return {name: with_cudnn(step, autotune=False) for name, step in steps.items()}


def alternate(
    steps: Sequence[Callable[[], None]], warmup: int, repeats: int, device: torch.device
) -> list[list[float]]:
    """Times (ms) of several steps measured alternately (a, b, a, b, …) after ``warmup`` rounds:
    each sees the same machine state, so their ratio means something on a busy machine."""
    for _ in range(warmup):
        for step in steps:
            step()
    sync(device)
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for i, step in enumerate(steps):
            start = time.perf_counter()
            step()
            sync(device)
            times[i].append((time.perf_counter() - start) * 1000.0)
    return times


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


__all__ = [
    "as_trained",
    "with_cudnn",
    "alternate",
    "paired_ratios",
    "ratio_quartiles",
    "speed_verdict",
    "speed_words",
    "sync",
    "time_calls",
    "training_step",
]
