r"""Depthwise 2-D convolution whose kernel gradient is itself a depthwise convolution.

The spatial factor of the separable forms is a depthwise convolution, ``F.conv2d(x, w,
groups=C)`` with ``w`` ``[C, 1, k_h, k_w]``. Its forward and input gradient run fast on CPU
(oneDNN, channels-last), but oneDNN computes the kernel gradient
``∂L/∂w[c, j, l] = Σ_{b,y,x} g[b, c, y, x]·x_pad[b, c, s·y + j, s·x + l]`` 7–13 times slower
than the forward for the same arithmetic (``k ≥ 5``; 2 CPU cores, batch 32). That sum is a
correlation of each map with its own gradient: a depthwise convolution of the ``B·C`` padded maps
with the ``B·C`` gradients as kernels (dilated by the stride), ``k_h × k_w`` outputs each,
summed over the batch. Computed so (plain NCHW, where ``[B, C]`` is ``B·C`` maps in memory), a
training step of the convolution is up to 2.5 times faster where the kernel is large against the
map (Sim(2)'s dilated windows, R²⋊R⁺'s) and slower where it is small (``python
benchmarks/depthwise.py``).

:func:`depthwise_conv2d` is that convolution; the layers' ``conv2d``
(``gsepconv.nn.implementations``) takes it on CPU where :func:`use_depthwise` says it wins.
Its backward is made of differentiable convolutions, so it has second derivatives too.
"""

from __future__ import annotations

from functools import cache

import torch
import torch.nn.functional as F
from torch import Tensor

from .fft import checked_padding


def kernel_gradient(x: Tensor, grad: Tensor, kernel: tuple[int, int], stride: int, padding: tuple[int, int]) -> Tensor:
    """``∂L/∂w`` ``[C, 1, k_h, k_w]`` of ``F.conv2d(x, w, stride=stride, padding=padding, groups=C)``
    for the output gradient ``grad`` ``[B, C, H', W']``: each map of ``x`` ``[B, C, H, W]``
    correlated with its own gradient (a depthwise convolution of ``B·C`` maps, the gradients
    dilated by ``stride``), cropped to the kernel and summed over the batch."""
    b, c, h, w = x.shape
    maps = x.contiguous().view(1, b * c, h, w)
    kernels = grad.contiguous().view(b * c, 1, *grad.shape[-2:]).to(x.dtype)
    corr = F.conv2d(maps, kernels, None, 1, padding, stride, b * c)  # [1, B·C, ≥ k_h, ≥ k_w]
    return corr[..., : kernel[0], : kernel[1]].reshape(b, c, *kernel).sum(0).unsqueeze(1)


class _Depthwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, stride: int, padding: tuple[int, int]) -> Tensor:  # noqa: ANN001
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding)
        return F.conv2d(x, w, None, stride, padding, 1, x.shape[1])

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # noqa: ANN001
        x, w = ctx.saved_tensors
        stride, padding = ctx.conf
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = torch.nn.grad.conv2d_input(x.shape, w, grad, stride, padding, 1, x.shape[1])
        if ctx.needs_input_grad[1]:
            gw = kernel_gradient(x, grad, tuple(w.shape[-2:]), stride, padding).to(w.dtype)
        return gx, gw, None, None


def depthwise_conv2d(x: Tensor, weight: Tensor, stride: int = 1, padding: int | tuple[int, int] = 0) -> Tensor:
    """``F.conv2d(x, weight, stride=stride, padding=padding, groups=C)`` for ``x`` ``[B, C, H, W]``
    and ``weight`` ``[C, 1, k_h, k_w]``, with the kernel gradient of :func:`kernel_gradient`. The
    output is in ``x``'s memory format (as ``F.conv2d``'s)."""
    if x.dim() != 4 or weight.dim() != 4 or weight.shape[1] != 1 or weight.shape[0] != x.shape[1]:
        raise ValueError(
            f"depthwise_conv2d expects x [B, C, H, W] and weight [C, 1, k_h, k_w] with the same C, "
            f"got {tuple(x.shape)} and {tuple(weight.shape)}"
        )
    ph, pw = checked_padding("depthwise_conv2d", x, weight, padding, stride)
    return _Depthwise.apply(x, weight, stride, (ph, pw))


@cache  # asked at every qualifying convolution; the CPU does not change
def fast_here() -> bool:
    """Whether this CPU is one where the path was measured faster: an AVX-512 one. On a 2-core
    AVX2-only CPU (AMD EPYC) the same models trained slower with it: oneDNN's step over ours 0.74
    [0.74, 0.75] for R²⋊R⁺ separable N = 3 and 0.76 [0.75, 0.76] for Sim(2) separable2d 4×3
    (quick benchmark models, 7 alternating rounds), while the rule below was fitted on an AVX-512
    CPU, where they gained 1.20 and 1.17."""
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def use_depthwise(x: Tensor, weight: Tensor, groups: int) -> bool:
    """Whether ``conv2d`` takes :func:`depthwise_conv2d`: a depthwise convolution (one input and one
    output channel per group), float32 or float64 (as its kernel), on a CPU where it was measured
    faster (:func:`fast_here`), outside ``torch.compile``
    and autocast, whose kernel has more than 3×3 taps and at least a tenth as many taps as the map
    has pixels.

    The rule is measured (``python benchmarks/depthwise.py``, 2 CPU cores, batch 32, training step
    oneDNN/ours): the correlation's cost hardly depends on ``k`` while oneDNN's kernel gradient
    grows with ``k²``, and its kernels are the ``H × W`` gradient maps, which oneDNN handles worse
    the larger they are. On 28×28 maps, 5×5 and 7×7 stay with oneDNN (0.65–0.85) and 9×9 up go
    here (1.1 at 9×9, 2.3 at 11×11); on 14×14 maps 5×5 up go here (1.3–2.4). On 3×3 kernels
    oneDNN has a fast path (0.27). Measured at stride 1 with square kernels; strided and
    rectangular convolutions follow the same rule unmeasured (the function is the same either way)."""
    if x.dim() != 4 or weight.dim() != 4:
        return False
    taps = weight.shape[-2] * weight.shape[-1]
    return (
        groups > 1
        and weight.shape[1] == 1
        and weight.shape[0] == groups == x.shape[1]
        and taps > 9
        and 10 * taps >= x.shape[-2] * x.shape[-1]
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and weight.dtype == x.dtype
        and not torch.is_autocast_enabled("cpu")  # autocast would hand the backward mixed dtypes
        and not torch.compiler.is_compiling()
        and fast_here()
    )


__all__ = ["depthwise_conv2d", "fast_here", "kernel_gradient", "use_depthwise"]
