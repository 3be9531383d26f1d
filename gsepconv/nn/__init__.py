"""Layers: lifting and group convolutions (every separable variant), grids, norms, pooling, and
the MAC and saved-memory counts of a model."""

from __future__ import annotations

from .conv import ExportedConv, GroupConv, LiftingConv, export, kernel_cache
from .depthwise import depthwise_conv2d
from .fft import conv_algorithm, fft_conv2d
from .grid import SAMPLINGS, GroupGrid
from .implementations import IMPLEMENTATIONS, LAYOUTS, Implementation, memory_format
from .layers import GroupBatchNorm, GroupPool, InvariantPool, PlanarConv, SpatialMaxPool, precise_batch_norm
from .measure import count_macs, saved_activation_mb

__all__ = [
    "IMPLEMENTATIONS",
    "LAYOUTS",
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
    "conv_algorithm",
    "count_macs",
    "depthwise_conv2d",
    "export",
    "fft_conv2d",
    "kernel_cache",
    "memory_format",
    "precise_batch_norm",
    "saved_activation_mb",
]
