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


class _GroupBatchNormFn(torch.autograd.Function):
    """Training-mode batch norm of ``x: [M, C·N]`` with statistics per ``C`` (pooled over ``M`` and
    ``N``), written with column reductions and two fused passes: on channels-last group feature
    maps this is ~4× faster than ``BatchNorm1d`` on ``[M, C, N]``."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, c: int, eps: float):  # noqa: ANN205
        n = x.shape[1] // c
        count = x.shape[0] * n
        # column sums are fast contiguous reductions (var_mean over dim 0 is ~15x slower on CPU);
        # accumulate in float64 so E[x²] - E[x]² does not cancel catastrophically
        mean = x.sum(0).view(c, n).sum(1, dtype=torch.float64) / count
        var = (x * x).sum(0).view(c, n).sum(1, dtype=torch.float64) / count - mean**2
        mean, var = mean.to(x.dtype), var.to(x.dtype)
        invstd = torch.rsqrt(var.clamp_min(0) + eps)
        scale = weight * invstd
        y = torch.addcmul((bias - mean * scale).repeat_interleave(n), x, scale.repeat_interleave(n))
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.c = c
        return y, mean, var

    @staticmethod
    def backward(ctx, g: Tensor, _gm: Tensor, _gv: Tensor):  # noqa: ANN205
        x, weight, mean, invstd = ctx.saved_tensors
        c = ctx.c
        n = x.shape[1] // c
        count = x.shape[0] * n
        g = g.contiguous()
        sum_g = g.sum(0).view(c, n).sum(1)
        sum_gx = (g * x).sum(0).view(c, n).sum(1)
        grad_weight = invstd * (sum_gx - mean * sum_g)  # Σ g·x̂
        grad_bias = sum_g
        a = weight * invstd
        mean_g, mean_gxhat = sum_g / count, grad_weight / count
        b = -a * invstd * mean_gxhat
        shift = -a * mean_g - b * mean
        grad_x = torch.addcmul(torch.addcmul(shift.repeat_interleave(n), x, b.repeat_interleave(n)), g, a.repeat_interleave(n))
        return grad_x, grad_weight, grad_bias, None, None


class GroupBatchNorm(nn.Module):
    """Batch norm with one mean/variance per channel over ``(B, N, H, W)``: ``[B, C, N, H, W]``.

    Same parameters, buffers and state-dict keys as ``torch.nn.BatchNorm*d``. The layers keep
    feature maps channels-last (memory ``[B, H, W, C, N]``), i.e. a contiguous ``[B·H·W, C·N]``
    matrix, so normalisation needs no copy."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        _check_group_map(x, "GroupBatchNorm")
        b, c, n, h, w = x.shape
        if c != self.num_features:
            raise ValueError(f"GroupBatchNorm({self.num_features}) got {c} channels (shape {tuple(x.shape)})")
        flat = x.permute(0, 3, 4, 1, 2).reshape(b * h * w, c * n)
        if self.training:
            y, mean, var = _GroupBatchNormFn.apply(flat, self.weight, self.bias, c, self.eps)
            with torch.no_grad():
                count = flat.shape[0] * n
                self.running_mean.lerp_(mean.to(self.running_mean), self.momentum)
                self.running_var.lerp_((var * count / max(count - 1, 1)).to(self.running_var), self.momentum)
                self.num_batches_tracked.add_(1)
        else:
            scale = self.weight * torch.rsqrt(self.running_var + self.eps)
            shift = self.bias - self.running_mean * scale
            y = torch.addcmul(shift.repeat_interleave(n), flat, scale.repeat_interleave(n))
        return y.view(b, h, w, c, n).permute(0, 3, 4, 1, 2)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


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


class _Reduce(nn.Module):
    """Max or mean over some axes of a group feature map."""

    dims: tuple[int, ...] = ()

    def __init__(self, reduction: str = "max") -> None:
        super().__init__()
        if reduction not in ("max", "mean"):
            raise ValueError(f"reduction must be 'max' or 'mean', got {reduction!r}")
        self.reduction = reduction

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        _check_group_map(x, type(self).__name__)
        return x.amax(dim=self.dims) if self.reduction == "max" else x.mean(dim=self.dims)

    def extra_repr(self) -> str:
        return repr(self.reduction)


class GroupPool(_Reduce):
    """Pool over the group axis (max or mean): ``[B, C, N, H, W] → [B, C, H, W]`` (invariant maps)."""

    dims = (2,)


class InvariantPool(_Reduce):
    """Invariant read-out: reduce over ``(N, H, W)``: ``[B, C, N, H, W] → [B, C]``."""

    dims = (2, 3, 4)


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
