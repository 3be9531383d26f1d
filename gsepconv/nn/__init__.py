"""Layers: lifting and group convolutions (every separable variant), grids, norms, pooling."""

from __future__ import annotations

from .conv import ExportedConv, GroupConv, LiftingConv, export, kernel_cache
from .grid import SAMPLINGS, GroupGrid
from .implementations import IMPLEMENTATIONS, Implementation, memory_format
from .layers import GroupBatchNorm, GroupPool, InvariantPool, PlanarConv, SpatialMaxPool, precise_batch_norm

__all__ = [
    "IMPLEMENTATIONS",
    "SAMPLINGS",
    "ExportedConv",
    "GroupBatchNorm",
    "GroupConv",
    "GroupGrid",
    "GroupPool",
    "Implementation",
    "InvariantPool",
    "LiftingConv",
    "PlanarConv",
    "SpatialMaxPool",
    "export",
    "kernel_cache",
    "memory_format",
    "precise_batch_norm",
]
