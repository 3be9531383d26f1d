r"""A convolution of a one-channel image as one matrix product over its patches (im2col).

The lifting layer convolves the image ``x`` ``[B, 1, H, W]`` with ``C_o·N`` sampled kernels
``w`` ``[C_o·N, 1, k_h, k_w]``. oneDNN runs that forward fast but computes its kernel gradient
``∂L/∂w[o, j, l] = Σ_{b,y,x} g[b, o, y, x]·x_pad[b, s·y + j, s·x + l]`` 3–4 times slower than a
plain matrix product of the same arithmetic would (its one-input-channel case has no blocked
kernel): on 2 CPU cores the lifting layer's training step took 21 ms of SE(2)'s N = 8 model
and 80 ms of Sim(2)'s 4×3 (13×13 windows, 192 kernels), against 11 and 31 ms here.

Written over the patches ``P`` ``[B·H'·W', k_h·k_w]`` of the padded image (row ``(b, y, x)`` holds
the window whose top-left tap is at ``(s·y, s·x)``), both directions are single matrix products
with the weight ``W`` ``[C_o, k_h·k_w]``:

.. math:: Y = P\,W^\top \quad ([B·H'·W', C_o],\ \text{the output in channels-last order}),
   \qquad \frac{\partial L}{\partial W} = G^\top P,

and ``P`` costs one copy of ``k_h·k_w`` values per pixel of a one-channel image (17 MB for a
batch of 32 28×28 images and 13×13 windows), kept from the forward for the backward when the
image needs no gradient (the lifting layer's case). The input gradient, where asked for, is
oneDNN's (``conv2d_input``). ``python benchmarks/patches.py`` measures the training step on the
lifting shapes of the quick benchmark's models.

:func:`patch_conv2d` is that convolution; the layers' ``conv2d``
(``gsepconv.nn.implementations``) takes it where :func:`use_patches` says so.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .fft import checked_padding, padding_pair


def _output_size(x: Tensor, weight: Tensor, stride: int, padding: tuple[int, int]) -> tuple[int, int]:
    """``(H', W')`` of ``F.conv2d(x, weight, stride=stride, padding=padding)`` (≤ 0 where the
    kernel is larger than the padded input)."""
    ho = (x.shape[-2] + 2 * padding[0] - weight.shape[-2]) // stride + 1
    wo = (x.shape[-1] + 2 * padding[1] - weight.shape[-1]) // stride + 1
    return ho, wo


def patch_rows(x: Tensor, kernel: tuple[int, int], stride: int, padding: tuple[int, int]) -> Tensor:
    """The patches of ``x`` ``[B, C, H, W]`` as rows ``[B·H'·W', C·k_h·k_w]`` (a copy), in the order
    of ``F.conv2d``'s output pixels and of its weight's flattened ``[C, k_h, k_w]``; differentiable."""
    ph, pw = padding
    b, c = x.shape[:2]
    xp = F.pad(x, (pw, pw, ph, ph)) if ph or pw else x
    windows = xp.unfold(2, kernel[0], stride).unfold(3, kernel[1], stride)  # [B, C, H', W', k_h, k_w]
    return windows.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kernel[0] * kernel[1])


class _Patches(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, stride: int, padding: tuple[int, int]) -> Tensor:  # noqa: ANN001
        co, kernel = w.shape[0], (w.shape[-2], w.shape[-1])
        rows = patch_rows(x, kernel, stride, padding)
        ho, wo = _output_size(x, w, stride, padding)
        y = rows @ w.reshape(co, -1).t()  # [B·H'·W', C_o]
        # with the image needing a gradient, the backward rebuilds the patches from it (so that
        # its own graph reaches the image: second derivatives); otherwise it reuses these
        ctx.save_for_backward(x, w, None if ctx.needs_input_grad[0] else rows)
        ctx.conf = (stride, padding)
        return y.view(x.shape[0], ho, wo, co).permute(0, 3, 1, 2)  # channels-last [B, C_o, H', W']

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # noqa: ANN001
        x, w, rows = ctx.saved_tensors
        stride, padding = ctx.conf
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = torch.nn.grad.conv2d_input(x.shape, w, grad, stride, padding)
        if ctx.needs_input_grad[1]:
            if rows is None:
                rows = patch_rows(x, (w.shape[-2], w.shape[-1]), stride, padding)
            g = grad.permute(0, 2, 3, 1).reshape(-1, w.shape[0])  # a view of a channels-last gradient
            gw = (g.t() @ rows.to(g.dtype)).view(w.shape).to(w.dtype)
        return gx, gw, None, None


def patch_conv2d(x: Tensor, weight: Tensor, stride: int = 1, padding: int | tuple[int, int] = 0) -> Tensor:
    """``F.conv2d(x, weight, stride=stride, padding=padding)`` for ``x`` ``[B, C, H, W]`` and
    ``weight`` ``[C_o, C, k_h, k_w]`` as a matrix product over the patches of ``x``, with first and
    second derivatives. The output is channels-last (the order the product writes)."""
    if x.dim() != 4 or weight.dim() != 4 or weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"patch_conv2d expects x [B, C, H, W] and weight [C_o, C, k_h, k_w] with the same C, "
            f"got {tuple(x.shape)} and {tuple(weight.shape)}"
        )
    ph, pw = checked_padding("patch_conv2d", x, weight, padding, stride)
    return _Patches.apply(x, weight, stride, (ph, pw))


#: The most patch values :func:`use_patches` lets the path hold (``B·H'·W'·C·k_h·k_w``): 2²⁵,
#: 128 MB in float32, kept from the forward for the backward. The quick models' lifting layers
#: hold 1.2–4.2 million for the benchmark's batch of 32 28×28 images (7×7 and 13×13 kernels) and
#: 2.5–8.5 million for training's batch of 64; beyond the limit (large grey images), oneDNN
#: convolves without the copy.
MAX_PATCH_ELEMENTS = 2**25


def _patch_count(x: Tensor, weight: Tensor, stride: int, padding: int | tuple[int, int]) -> int:
    """``B·H'·W'·C·k_h·k_w``: the values :func:`patch_rows` would copy (0 for a kernel larger than
    the padded input or a bad padding, which :func:`patch_conv2d` then reports)."""
    ho, wo = _output_size(x, weight, max(stride, 1), padding_pair(padding))
    return x.shape[0] * max(ho, 0) * max(wo, 0) * x.shape[1] * weight.shape[-2] * weight.shape[-1]


def use_patches(x: Tensor, weight: Tensor, groups: int, stride: int = 1, padding: int | tuple[int, int] = 0) -> bool:
    """Whether ``conv2d`` takes :func:`patch_conv2d`: a dense convolution of a one-channel map
    (the lifting layer of a grey-scale image) with a kernel of more than one tap that needs a
    gradient (training; in evaluation the forward alone stays with oneDNN), float32 or float64 (as
    its kernel), on CPU, outside ``torch.compile`` and autocast, whose patches (at ``stride`` and
    ``padding``) would hold at most :data:`MAX_PATCH_ELEMENTS` values.

    Measured (``python benchmarks/patches.py``, 2 CPU cores, AVX2, batch 32 of 28×28 images,
    oneDNN/ours, 7 alternating rounds) on the 7×7 and 13×13 lifting kernels of the quick
    benchmark's models (48 to 384 kernels): the training step 1.9–2.9 times faster, the forward
    alone 0.8–1.5 (so it is not taken without a gradient). With three input channels (an RGB
    image) the patches are three times larger and oneDNN has a blocked kernel: 0.74–0.77, so those
    stay with oneDNN. Measured on one CPU type only (the kernel gradient oneDNN lacks is the
    same code on others)."""
    if x.dim() != 4 or weight.dim() != 4:
        return False
    return (
        groups == 1
        and x.shape[1] == weight.shape[1] == 1
        and weight.shape[-2] * weight.shape[-1] > 1
        and _patch_count(x, weight, stride, padding) <= MAX_PATCH_ELEMENTS
        and weight.requires_grad
        and torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and weight.dtype == x.dtype
        and not torch.is_autocast_enabled("cpu")  # autocast would hand the backward mixed dtypes
        and not torch.compiler.is_compiling()
    )


__all__ = ["MAX_PATCH_ELEMENTS", "patch_conv2d", "patch_rows", "use_patches"]
