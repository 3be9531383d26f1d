"""The optimiser and the learning-rate schedule of a run: per step, or over a wall-clock budget."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn as nn

from gsepconv.experiments.config import RunConfig

__all__ = ["BudgetClock", "lr_lambda", "make_optimizer"]


def lr_lambda(total_steps: int, warmup_steps: int, schedule: str) -> Callable[[int], float]:
    """The learning-rate factor per step: linear warm-up over ``warmup_steps``, then constant or
    cosine to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


class BudgetClock:
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


def make_optimizer(config: RunConfig, params: Iterator[nn.Parameter]) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD with momentum, as ``config.optim`` names it."""
    o = config.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, weight_decay=o.weight_decay, momentum=o.momentum)
