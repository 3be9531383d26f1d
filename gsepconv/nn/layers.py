"""Group-aware normalisation, pooling and read-out for feature maps ``[B, C, N, H, W]``.

Each treats the group axis ``N`` like space: statistics and pooling never mix group elements
with different roles, so they commute with the group action (rolling ``N`` and rotating ``H, W``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
import torch.nn.functional as F


def _check_group_map(x: Tensor, who: str) -> None:
    if x.dim() != 5:
        raise ValueError(f"{who} expects a group feature map [B, C, N, H, W], got shape {tuple(x.shape)}")


class GroupBatchNorm(nn.BatchNorm1d):
    """Batch norm with one mean/variance per channel over ``(B, N, H, W)``: ``[B, C, N, H, W]``.

    The layers keep feature maps channels-last (memory ``[B, H, W, C, N]``), which is a contiguous
    ``[B·H·W, C, N]`` tensor: normalising that with ``BatchNorm1d`` is a view, not a copy."""

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        _check_group_map(x, "GroupBatchNorm")
        b, c, n, h, w = x.shape
        y = super().forward(x.permute(0, 3, 4, 1, 2).reshape(b * h * w, c, n))
        return y.view(b, h, w, c, n).permute(0, 3, 4, 1, 2)


class SpatialMaxPool(nn.Module):
    """Max-pool over ``(H, W)`` at every group element: ``[B, C, N, H, W] → [B, C, N, H', W']``."""

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride or kernel_size

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        _check_group_map(x, "SpatialMaxPool")
        b, c, n, h, w = x.shape
        flat = x.reshape(b, c * n, h, w).contiguous(memory_format=torch.channels_last)
        y = F.max_pool2d(flat, self.kernel_size, self.stride)
        return y.view(b, c, n, *y.shape[-2:])

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class GroupPool(nn.Module):
    """Pool over the group axis (max or mean): ``[B, C, N, H, W] → [B, C, H, W]`` (invariant maps)."""

    def __init__(self, reduction: str = "max") -> None:
        super().__init__()
        if reduction not in ("max", "mean"):
            raise ValueError(f"reduction must be 'max' or 'mean', got {reduction!r}")
        self.reduction = reduction

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        _check_group_map(x, "GroupPool")
        return x.amax(dim=2) if self.reduction == "max" else x.mean(dim=2)


class InvariantPool(nn.Module):
    """Invariant read-out: reduce over ``(N, H, W)``: ``[B, C, N, H, W] → [B, C]``."""

    def __init__(self, reduction: str = "max") -> None:
        super().__init__()
        if reduction not in ("max", "mean"):
            raise ValueError(f"reduction must be 'max' or 'mean', got {reduction!r}")
        self.reduction = reduction

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        _check_group_map(x, "InvariantPool")
        flat = x.flatten(2)
        return flat.amax(dim=2) if self.reduction == "max" else flat.mean(dim=2)


class PlanarConv(nn.Module):
    """An ordinary ``nn.Conv2d`` acting on ``[B, C, 1, H, W]`` (or lifting ``[B, C, H, W]``): the
    translation-only (Z2) counterpart of the group layers, so one architecture serves both."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int | str = "same", bias: bool = True) -> None:
        super().__init__()
        if padding == "same":
            padding = kernel_size // 2
        elif padding == "valid":
            padding = 0
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.conv.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        if x.dim() == 4:
            x = x[:, :, None]
        if x.dim() != 5 or x.shape[2] != 1:
            raise ValueError(f"PlanarConv expects [B, C, H, W] or [B, C, 1, H, W], got {tuple(x.shape)}")
        return self.conv(x[:, :, 0].contiguous(memory_format=torch.channels_last))[:, :, None]
