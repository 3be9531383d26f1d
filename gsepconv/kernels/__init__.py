"""Continuous kernels: kernel nets (a registry) and their sampling on relative group coordinates."""

from __future__ import annotations

from .kernel import (
    MASKS,
    GroupKernel,
    SpatialKernel,
    SubgroupKernel,
    disk_mask,
    element_windows,
    identity_support,
    kernel_window,
    spatial_grid,
    transformed_offsets,
)
from .nets import (
    KERNEL_NETS,
    MLP,
    SIREN,
    KernelNet,
    RandomFourierFeatures,
    SineLayer,
    make_kernel_net,
    register_kernel_net,
)

__all__ = [
    "KERNEL_NETS",
    "MASKS",
    "MLP",
    "SIREN",
    "SineLayer",
    "GroupKernel",
    "KernelNet",
    "RandomFourierFeatures",
    "SpatialKernel",
    "SubgroupKernel",
    "disk_mask",
    "element_windows",
    "identity_support",
    "kernel_window",
    "make_kernel_net",
    "register_kernel_net",
    "spatial_grid",
    "transformed_offsets",
]
