"""Measurements of a model on a batch: multiply–accumulates of a forward pass and the memory
autograd saves for backward. Device-independent counts, shared by the benchmark, the per-layer
cost analysis and the runner's cost columns."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .fft import conv_algorithm


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply–accumulates of one forward pass (PyTorch's flop counter / 2) with every convolution
    computed directly: the measure of the paper and of the cost formulas
    (``gsepconv.analysis.cost_formula``), whichever algorithm a layer runs by at training time
    (the Fourier path, :mod:`gsepconv.nn.fft`, does less arithmetic for large dense kernels)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode(), conv_algorithm("direct"):
        model(x)
    return int(counter.get_total_flops() // 2)


def saved_activation_mb(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Megabytes of tensors autograd saves for backward during one training forward."""
    total = 0
    seen: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = nn.functional.cross_entropy(model(x), y)
    del loss
    return total / 2**20


__all__ = ["count_macs", "saved_activation_mb"]
