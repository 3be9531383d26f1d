"""Group-aware normalisation, pooling and read-out for feature maps ``[B, C, N, H, W]``.

Each treats the group axis ``N`` like space: statistics and pooling never mix group elements
with different roles, so they commute with the group action (rolling ``N`` and rotating ``H, W``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _check_group_map(x: Tensor, who: str) -> None:
    if x.dim() != 5:
        raise ValueError(f"{who} expects a group feature map [B, C, N, H, W], got shape {tuple(x.shape)}")


def check_input(x: Tensor, who: str) -> None:
    """Inputs must be floating point and non-empty: integer pixels (uint8 images, int64 from numpy)
    or an image without rows or columns would fail deep inside the convolution with a message that
    does not say what to do."""
    if not x.is_floating_point():
        raise ValueError(
            f"{who} expects floating-point input, got dtype {x.dtype}; convert it first, "
            f"e.g. x.float() / 255 for uint8 pixels (the gsepconv datasets also normalise them)"
        )
    if x.dim() >= 2 and 0 in x.shape[1:]:
        raise ValueError(
            f"{who} got an input of shape {tuple(x.shape)} with an empty axis: images need at least "
            f"one channel, one row and one column"
        )


def _row_blocks(m: int) -> int:
    """Row blocks of the batch-norm reductions: the largest power of two ≤ 64 dividing ``m``."""
    k = 64
    while m % k:
        k //= 2
    return k


def _per_channel(t: Tensor, k: int, c: int, n: int) -> Tensor:
    """Per-column results of the ``[M/k, k·C·N]`` view, ``[k·C·N]`` → ``[C, k·N]``."""
    return t.view(k, c, n).transpose(0, 1).reshape(c, k * n)


class _GroupBatchNormFn(torch.autograd.Function):
    """Training-mode batch norm of ``x: [M, C·N]`` with statistics per ``C`` (pooled over ``M`` and
    ``N``). On channels-last group feature maps ``x`` is a contiguous matrix and the per-column
    reductions are torch's own batch-norm kernels (vectorised along the columns, one or two reads
    of ``x``); only the tiny ``[C·N] → [C]`` pooling is written here. Memory passes per call:
    forward: statistics (2 reads), affine (read + write), ReLU (in place); backward: ReLU mask,
    both column sums Σg and Σg·(x − μ) in one read of ``g`` and ``x``, and two fused multiply-adds
    written into the ReLU mask's buffer.

    Numerics: column statistics are two-pass (mean, then squared deviations from it) in at least
    float32, each over one of up to 64 row blocks (short sums: errors ~1e-7, as float64 shows);
    they are combined over blocks and ``N`` with the law of total variance in float64, so large
    means do not cancel. Half-precision inputs are computed in float32 and the output keeps the input's
    dtype (as ``torch.nn.BatchNorm`` does under autocast)."""

    @staticmethod
    def _acc(x: Tensor) -> Tensor:
        return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, c: int, eps: float, relu: bool):  # noqa: ANN205
        m, cn = x.shape
        n = cn // c
        xa = _GroupBatchNormFn._acc(x)
        # torch's kernel sums sequentially in float32; over k row blocks (columns of the view
        # [M/k, k·C·N]) each sum is k times shorter: errors ~1e-7 instead of ~1e-5·|μ| (enough to
        # flip ReLU masks and change gradients by 1e-3, measured against float64)
        k = _row_blocks(m)
        col_mean, col_var = torch.batch_norm_update_stats(xa.view(m // k, k * cn), None, None, 0.0)  # biased
        col_mean64 = _per_channel(col_mean.to(torch.float64), k, c, n)  # [C, k·N], equal counts
        mean64 = col_mean64.mean(1)
        var64 = _per_channel(col_var.to(torch.float64), k, c, n).mean(1).clamp_min(0) + (
            col_mean64 - mean64[:, None]
        ).pow(2).mean(1)
        invstd64 = torch.rsqrt(var64 + eps)
        scale64 = weight.to(torch.float64) * invstd64
        shift64 = bias.to(torch.float64) - mean64 * scale64
        y = torch.addcmul(shift64.repeat_interleave(n).to(xa.dtype), xa, scale64.repeat_interleave(n).to(xa.dtype))
        if relu:
            y.clamp_min_(0)
        y = y.to(x.dtype)
        mean, invstd, var = mean64.to(weight.dtype), invstd64.to(weight.dtype), var64.to(weight.dtype)
        ctx.save_for_backward(x, weight, mean, invstd, y if relu else None)
        ctx.c, ctx.eps = c, eps
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, g: Tensor, _gm: Tensor, _gv: Tensor):  # noqa: ANN205
        x, weight, mean, invstd, y = ctx.saved_tensors
        c = ctx.c
        n = x.shape[1] // c
        count = x.shape[0] * n
        if y is not None:  # ReLU's own backward kernel (a fused pass; masked_fill is ~10x slower)
            g = torch.ops.aten.threshold_backward(g.contiguous(), y, 0.0)
        xa = _GroupBatchNormFn._acc(x)
        owned = y is not None and g.dtype == xa.dtype
        g = g.to(xa.dtype).contiguous()
        m, cn = x.shape
        k = _row_blocks(m)
        mean_col = mean.to(xa.dtype).repeat_interleave(n).repeat(k)  # columns of the [M/k, k·C·N] view
        ones = torch.ones_like(mean_col)
        # torch's batch-norm backward reduction with invstd = 1 and the pooled mean per column:
        # grad_weight = Σ g·(x − μ), grad_bias = Σ g, per column and row block, in one pass
        _, sum_gxc_col, sum_g_col = torch.ops.aten.native_batch_norm_backward(
            g.view(m // k, k * cn),
            xa.view(m // k, k * cn),
            ones,
            None,
            None,
            mean_col,
            ones,
            True,
            ctx.eps,
            [False, True, True],
        )
        sum_g = _per_channel(sum_g_col.to(torch.float64), k, c, n).sum(1)
        sum_gxc = _per_channel(sum_gxc_col.to(torch.float64), k, c, n).sum(1)
        inv = invstd.to(torch.float64)
        grad_weight = inv * sum_gxc  # Σ g·x̂
        a = weight.to(torch.float64) * inv
        b = -a * inv * grad_weight / count
        shift = -a * sum_g / count - b * mean.to(torch.float64)  # dx = a·g + b·(x − μ) + shift'
        # dx = a·g + shift', then += b·x: two fused passes; after the ReLU mask g is our own buffer
        # and becomes dx in place (no fresh allocation: large ones cost page faults on CPU)
        a_col, b_col, shift_col = (t.repeat_interleave(n).to(xa.dtype) for t in (a, b, shift))
        grad_x = torch.addcmul(shift_col, g, a_col, out=g) if owned else torch.addcmul(shift_col, g, a_col)
        grad_x.addcmul_(xa, b_col)
        return grad_x.to(x.dtype), grad_weight.to(weight.dtype), sum_g.to(weight.dtype), None, None, None


class GroupBatchNorm(nn.Module):
    """Batch norm with one mean/variance per channel over ``(B, N, H, W)``: ``[B, C, N, H, W]``,
    optionally followed by a fused ReLU (``relu=True``: one pass less forward and backward).

    Same parameters, buffers and state-dict keys as ``torch.nn.BatchNorm*d``. The layers keep
    feature maps channels-last (memory ``[B, H, W, C, N]``), i.e. a contiguous ``[B·H·W, C·N]``
    matrix, so normalisation needs no copy. Under CUDA autocast it computes in float32."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, relu: bool = False) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(
                f"GroupBatchNorm: num_features must be a positive integer (the channels), got {num_features!r}"
            )
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
            raise ValueError(f"GroupBatchNorm: eps must be a finite number > 0, got {eps!r}")
        if not (isinstance(momentum, (int, float)) and 0.0 <= momentum <= 1.0):
            raise ValueError(f"GroupBatchNorm: momentum must be a number in [0, 1], got {momentum!r}")
        self.num_features, self.eps, self.momentum, self.relu = num_features, eps, momentum, relu
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
        if x.is_contiguous():
            return self._forward_contiguous(x)
        flat = x.permute(0, 3, 4, 1, 2).reshape(b * h * w, c * n)
        if self.training:
            y, mean, var = _GroupBatchNormFn.apply(flat, self.weight, self.bias, c, self.eps, self.relu)
            with torch.no_grad():
                count = flat.shape[0] * n
                self.running_mean.lerp_(mean.to(self.running_mean), self.momentum)
                self.running_var.lerp_((var * count / max(count - 1, 1)).to(self.running_var), self.momentum)
                self.num_batches_tracked.add_(1)
        else:
            scale = self.weight * torch.rsqrt(self.running_var + self.eps)
            shift = self.bias - self.running_mean * scale
            y = torch.addcmul(shift.repeat_interleave(n), flat, scale.repeat_interleave(n))
            if self.relu:
                y = torch.relu(y)
        return y.view(b, h, w, c, n).permute(0, 3, 4, 1, 2)

    def _forward_contiguous(self, x: Tensor) -> Tensor:
        """Plain contiguous maps (memory ``[B, C, N, H, W]``, what dense NCHW convolutions give):
        each channel is one contiguous block per image, torch's own batch norm over the view
        ``[B, C, N·H·W]`` is the fast path, and a copy into channels-last would cost more."""
        b, c, n, h, w = x.shape
        y = torch.nn.functional.batch_norm(
            x.view(b, c, n * h * w),
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )
        if self.training:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
        if self.relu:
            y = torch.relu_(y)
        return y.view(b, c, n, h, w)

    def reset_running_stats(self) -> None:
        """Running mean 0 and variance 1 (as ``torch.nn.BatchNorm*``)."""
        self.running_mean.zero_()
        self.running_var.fill_(1.0)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}" + (", relu=True" if self.relu else "")


class SpatialMaxPool(nn.Module):
    """Max-pool over ``(H, W)`` at every group element: ``[B, C, N, H, W] → [B, C, N, H', W']``."""

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride or kernel_size

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        _check_group_map(x, "SpatialMaxPool")
        b, c, n, h, w = x.shape
        if (h % self.kernel_size or w % self.kernel_size) and not torch.compiler.is_compiling():
            warnings.warn(
                f"SpatialMaxPool({self.kernel_size}) on a {h}×{w} map drops the last row/column, so the "
                "network is not exactly rotation-equivariant; use sizes divisible by the pool size",
                stacklevel=2,
            )
        flat = x.reshape(b, c * n, h, w)  # a view of either layout the layers produce
        if not (flat.is_contiguous() or flat.is_contiguous(memory_format=torch.channels_last)):
            flat = flat.contiguous(memory_format=torch.channels_last)
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

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | str = "same",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if padding in ("same", "half"):
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
        check_input(x, "PlanarConv")
        return self.conv(x[:, :, 0].contiguous(memory_format=torch.channels_last))[:, :, None]


_BATCH_NORMS = (GroupBatchNorm, nn.modules.batchnorm._BatchNorm)


@torch.no_grad()
def precise_batch_norm(model: nn.Module, batches: Iterable[Tensor]) -> int:
    """Re-estimate every batch norm's running statistics as the exact average over ``batches``
    of the statistics it sees with the rest of ``model`` in ``eval()`` mode (fixed group grid,
    cached kernels, no dropout) — "precise BN" (Wu & Johnson 2021). After training with
    ``sampling="uniform"`` the running statistics average over randomly offset grids and do not
    fit the fixed grid used for evaluation; this pass makes them fit. Returns the number of
    batches used; the model's training flags and the norms' momenta are restored."""
    norms = [m for m in model.modules() if isinstance(m, _BATCH_NORMS)]
    modes = {m: m.training for m in model.modules()}
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.train()
        m.running_mean.zero_()
        m.running_var.fill_(1.0)
    count = 0
    try:
        for count, x in enumerate(batches, start=1):
            for m in norms:  # momentum 1/k: the running value is the mean of the k batches so far
                m.momentum = 1.0 / count
            model(x)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        for m, mode in modes.items():
            m.training = mode
    return count
