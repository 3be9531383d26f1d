r"""Dense 2-D convolution (cross-correlation, as ``F.conv2d``) by the discrete Fourier transform.

A group convolution that is not separable is one dense ``conv2d`` over ``C_i·N`` input and
``C_o·N`` output channels with a ``k × k`` kernel (``k`` up to the dilated window of the largest
scale). Directly that costs ``B·H'·W'·C_o·C_i·k²`` multiply–accumulates; in the Fourier domain
it is one ``[B, C_i] @ [C_i, C_o]`` product per frequency, ``B·L_h·(L_w/2 + 1)·C_o·C_i`` complex
multiply–accumulates for transforms of size ``L ≥ H + padding``, plus transforms that grow with
``C_i + C_o`` only. For a 7×7 kernel on 28×28 maps that is about 17 times less arithmetic; for
Sim(2)'s 13×13 window about 60 times. The result is the same function up to round-off
(float32: about ``1e-7`` of the output's scale).

The maps are transformed with ``torch.fft``; the kernel, only ``k × k`` taps, by two small
matrix products with the DFT matrices (a transform of the zero-padded kernel would cost as much as
all maps together once ``C_o`` exceeds the batch). Products run frequency-major,
``[L_h·(L_w/2+1), B, C]``, so that each is one batched matrix product. The backward pass is
written out (``_FourierConv``), not left to autograd through ``torch.fft``, whose adjoint of
``rfft2`` transforms the full complex spectrum: it needs two more products and two transforms.

Circular indexing: with ``x`` placed at the start of an ``L``-periodic array and the kernel's tap
``j`` at offset ``j - p`` (``p`` the padding), the circular correlation at ``n < H'`` only ever reads
``x`` or the zeros after it when ``L ≥ H + p`` (and ``L ≥ H'``, ``L ≥ k``): the cropped result is the padded
correlation exactly.

:func:`gsepconv.nn.conv_algorithm` chooses ``"direct"``, ``"fft"`` or ``"auto"`` (the default) for a block;
``"auto"`` takes the Fourier path where :func:`fft_is_faster` says so."""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from functools import lru_cache

import torch
from torch import Tensor

#: the algorithms :func:`gsepconv.nn.conv_algorithm` accepts
ALGORITHMS = ("direct", "fft", "auto")

_ALGORITHM: contextvars.ContextVar[str] = contextvars.ContextVar("gsepconv_conv_algorithm", default="auto")


@contextlib.contextmanager
def conv_algorithm(name: str) -> Iterator[None]:
    """Within the block (this thread or context), dense stride-1 convolutions run ``"direct"``
    (``F.conv2d``), by ``"fft"`` (:func:`gsepconv.nn.fft_conv2d`) or as :func:`gsepconv.nn.fft.fft_is_faster` decides
    (``"auto"``, the default). The function is the same up to round-off either way."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown convolution algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}")
    token = _ALGORITHM.set(name)
    try:
        yield
    finally:
        _ALGORITHM.reset(token)


def current_algorithm() -> str:
    """The algorithm :func:`gsepconv.nn.conv_algorithm` set here (``"auto"`` outside any block)."""
    return _ALGORITHM.get()


def _smooth_size(n: int) -> int:
    """The smallest ``m ≥ n`` whose prime factors are 2, 3 and 5 (fast transform sizes)."""
    m = n
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def transform_size(size: int, kernel: int, padding: int) -> int:
    """The transform length along one axis: at least ``size + padding`` (no wrap-around reaches an
    output), the output's length ``size + 2·padding - kernel + 1`` and ``kernel`` (no two taps
    alias), rounded up to a 2·3·5-smooth length."""
    return _smooth_size(max(size + padding, size + 2 * padding - kernel + 1, kernel))


def padding_pair(padding: int | tuple[int, int]) -> tuple[int, int]:
    """A convolution's padding as ``(rows, columns)``: an int pads both axes alike."""
    return (padding, padding) if isinstance(padding, int) else (int(padding[0]), int(padding[1]))


def checked_padding(
    name: str, x: Tensor, weight: Tensor, padding: int | tuple[int, int], stride: int = 1
) -> tuple[int, int]:
    """``padding`` as ``(rows, columns)`` (:func:`padding_pair`) once the checks every convolution
    path of this package makes have passed: a non-negative padding, a positive stride and a kernel
    no larger than the padded input ``x`` ``[B, C, H, W]``; the error names ``name``, the caller."""
    ph, pw = padding_pair(padding)
    if ph < 0 or pw < 0 or stride < 1:
        raise ValueError(f"{name} needs a non-negative padding and a positive stride, got {padding!r}, {stride!r}")
    if x.shape[-2] + 2 * ph < weight.shape[-2] or x.shape[-1] + 2 * pw < weight.shape[-1]:
        raise ValueError(
            f"{name}: kernel {tuple(weight.shape[-2:])} is larger than the padded input {tuple(x.shape[-2:])}"
        )
    return ph, pw


def use_fft(
    x: Tensor,
    weight: Tensor,
    stride: int,
    padding: int | str | tuple[int, int],
    groups: int,
    taps: float | None = None,
) -> bool:
    """Whether the layers' ``conv2d`` takes the Fourier path here: never for
    a strided or grouped convolution, a padding given by name, a dtype other than float32 and
    float64, or under ``torch.compile``; always otherwise under ``conv_algorithm("fft")``; by
    :func:`fft_is_faster` under ``"auto"``, on CPU only (on CUDA, cuDNN chooses among its own
    algorithms). ``taps``: the direct convolution's mean taps per output channel (default
    ``k_h·k_w``; fewer where it runs per window)."""
    algorithm = _ALGORITHM.get()
    if (
        algorithm == "direct"
        or stride != 1
        or groups != 1
        or isinstance(padding, str)
        or x.dtype not in (torch.float32, torch.float64)
        or x.dim() != 4
        or weight.dim() != 4
        or torch.compiler.is_compiling()
    ):
        return False
    if algorithm == "fft":
        return True
    if x.device.type != "cpu":
        return False
    size, kernel = (x.shape[-2], x.shape[-1]), (weight.shape[-2], weight.shape[-1])
    return fft_is_faster(x.shape[0], weight.shape[1], weight.shape[0], size, kernel, padding_pair(padding), taps)


#: The cost model's weights, in units of one multiply–accumulate of the direct convolution's
#: training step (forward and both backward convolutions): per complex product of the three
#: batched frequency products, per map value and ``log2`` of the transform size of the map
#: transforms, and per kernel tap and frequency of the kernel's two transforms. Fitted on 2 CPU
#: cores by ``python benchmarks/fft_conv.py 3 --fit`` (24, 47, 50 there; rounded), whose table
#: prints the model's choice next to the measured ratio for each layer shape of the quick models.
_PRODUCT_COST = 19.0
_TRANSFORM_COST = 49.0
_KERNEL_COST = 46.0


def fft_is_faster(
    batch: int,
    in_channels: int,
    out_channels: int,
    size: tuple[int, int],
    kernel: tuple[int, int],
    padding: tuple[int, int],
    taps: float | None = None,
) -> bool:
    """A cost model for one training step (forward and both backward products) of a dense
    stride-1 convolution: direct ``B·H'·W'·C_o·C_i·taps`` (``taps`` defaults to ``k_h·k_w``) against the Fourier path's
    ``B·F·C_o·C_i`` complex products (weighted by ``_PRODUCT_COST``) and its transforms of
    ``B·(C_i + C_o)`` maps (weighted by ``_TRANSFORM_COST``·log2 of the transform size) and of
    the kernel, ``C_o·C_i·F·k_h`` (weighted by ``_KERNEL_COST``)."""
    (h, w), (kh, kw), (ph, pw) = size, kernel, padding
    ho, wo = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1
    if ho < 1 or wo < 1:
        return False
    lh, lw = transform_size(h, kh, ph), transform_size(w, kw, pw)
    freqs = lh * (lw // 2 + 1)
    direct = batch * ho * wo * out_channels * in_channels * (kh * kw if taps is None else taps)
    products = _PRODUCT_COST * batch * freqs * out_channels * in_channels
    transforms = _TRANSFORM_COST * batch * (in_channels + out_channels) * lh * lw * math.log2(lh * lw)
    kernels = _KERNEL_COST * out_channels * in_channels * freqs * kh
    return products + transforms + kernels < direct


@lru_cache(maxsize=64)
def _phases(length: int, taps: int, shift: int, freqs: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``E[u, j] = exp(-2πi·u·(j - shift)/length)`` for ``u < freqs``, ``j < taps``: the DFT of a
    kernel whose tap ``j`` sits at circular offset ``j - shift``."""
    u = torch.arange(freqs, dtype=torch.float64)[:, None]
    j = torch.arange(taps, dtype=torch.float64)[None, :] - shift
    angle = -2 * math.pi * torch.remainder(u * j, length) / length  # reduced: exact for large products
    return torch.polar(torch.ones_like(angle), angle).to(dtype=dtype, device=device)


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def _kernel_spectrum(w: Tensor, eh: Tensor, ew: Tensor) -> Tensor:
    """``K[u, v, i, o] = Σ_{j,l} eh[u, j]·ew[v, l]·w[o, i, j, l]`` as ``[F, C_i, C_o]`` (frequency-major):
    ``w`` ``[C_o, C_i, k_h, k_w]`` real, ``eh`` ``[L_h, k_h]``, ``ew`` ``[F_w, k_w]``."""
    co, ci, kh, kw = w.shape
    fw = ew.shape[0]
    wt = w.permute(2, 3, 1, 0).reshape(kh, kw, ci * co)  # [kh, kw, Ci·Co] (a small copy)
    stacked = torch.cat([ew.real, ew.imag]).to(w.dtype)  # [2·F_w, kw]: one real product for both parts
    t = torch.matmul(stacked, wt)  # [kh, 2·F_w, Ci·Co]
    t = torch.complex(t[:, :fw], t[:, fw:])  # [kh, F_w, Ci·Co]
    return (eh @ t.reshape(kh, -1)).view(eh.shape[0] * fw, ci, co)


def _kernel_adjoint(d: Tensor, eh: Tensor, ew: Tensor, lw: int, shape: torch.Size) -> Tensor:
    """The adjoint of ``_kernel_spectrum`` on the half spectrum ``d`` (``[F, C_i, C_o]``) of a
    real signal, as ``[C_o, C_i, k_h, k_w]``: ``Re Σ_{u,v} c_v·d[u, v]·eh[u, j]·ew[v, l] / (L_h·L_w)``,
    where ``c_v = 2`` counts the conjugate frequency a half spectrum leaves out and is 1 for
    ``v = 0`` and (even ``L_w``) ``v = L_w/2``."""
    co, ci, kh, kw = shape
    lh, fw = eh.shape[0], ew.shape[0]
    a = eh.transpose(0, 1) @ d.view(lh, -1)  # [kh, F_w·Ci·Co]
    parts = torch.view_as_real(a.view(kh, fw, ci * co)).permute(0, 3, 1, 2).reshape(kh, 2 * fw, ci * co)
    c = torch.full((fw, 1), 2.0 / (lh * lw), dtype=torch.float64, device=d.device)
    c[0] = 1.0 / (lh * lw)
    if lw % 2 == 0:
        c[-1] = 1.0 / (lh * lw)
    stacked = torch.cat([c * ew.real.double(), -c * ew.imag.double()]).T.to(parts.dtype)  # [kw, 2·F_w]
    g = torch.matmul(stacked, parts)  # [kh, kw, Ci·Co]
    return g.view(kh, kw, ci, co).permute(3, 2, 0, 1)


def _frequency_major(spectrum: Tensor) -> Tensor:
    """``[B, C, L_h, F_w] → [L_h·F_w, B, C]``, contiguous (one copy). A plain ``reshape`` can
    return a strided view instead (the spectrum of a channels-last map, such as the incoming
    gradient), which the batched product then copies matrix by matrix: 1.16–1.27× slower
    training steps on 28×28 maps (2 CPU cores)."""
    b, c, lh, fw = spectrum.shape
    return spectrum.permute(2, 3, 0, 1).contiguous().view(lh * fw, b, c)


def _map_major(y: Tensor, lh: int) -> Tensor:
    """``[L_h·F_w, B, C] → [B, C, L_h, F_w]`` (a view; the inverse transform reads it strided)."""
    f, b, c = y.shape
    return y.view(lh, f // lh, b, c).permute(2, 3, 0, 1)


class _FourierConv(torch.autograd.Function):
    """``F.conv2d(x, w, padding=(ph, pw))`` through the Fourier domain, with its backward.

    Conjugates are never formed: a conjugated operand makes the batched complex product fall back
    to a slow path (about 8 times slower on CPU). The forward product runs on the conjugate
    spectrum of ``x`` (``ihfft2``, unnormalised, is ``conj(rfft2)``) and gives the conjugate
    spectrum of ``y``, which ``hfft2`` (``norm="forward"``) turns back into ``y``; the backward
    products then need only the plain spectrum of the incoming gradient and transposes."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, ph: int, pw: int) -> Tensor:  # noqa: ANN001 - autograd's ctx
        b, ci, h, wd = x.shape
        co, _, kh, kw = w.shape
        lh, lw = transform_size(h, kh, ph), transform_size(wd, kw, pw)
        fw = lw // 2 + 1
        ctype = _complex(x.dtype)
        eh = _phases(lh, kh, ph, lh, ctype, x.device)
        ew = _phases(lw, kw, pw, fw, ctype, x.device)
        xc = _frequency_major(torch.fft.ihfft2(x, s=(lh, lw), norm="forward"))  # conj(X): [F, B, Ci]
        k = _kernel_spectrum(w, eh, ew)  # the kernel's DFT at offsets j - p: [F, Ci, Co]
        # y[n] = Σ_j x[n + j - p]·w[j]: Y = X·conj(K), so conj(Y) = conj(X)·K
        y = torch.fft.hfft2(_map_major(torch.bmm(xc, k), lh), s=(lh, lw), norm="forward")
        ctx.save_for_backward(xc, k)
        ctx.sizes = (h, wd, lh, lw, w.shape, ph, pw)
        return y[..., : h + 2 * ph - kh + 1, : wd + 2 * pw - kw + 1]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # noqa: ANN001 - autograd's ctx
        xc, k = ctx.saved_tensors
        h, wd, lh, lw, wshape, ph, pw = ctx.sizes
        g = _frequency_major(torch.fft.rfft2(grad, s=(lh, lw)))  # G: [F, B, Co]
        gx = gw = None
        if ctx.needs_input_grad[0]:
            # ∂/∂x[t] = Σ_n g[n]·w[t - n + p], a circular convolution: G·K (K = DFT at offsets j - p)
            gx = torch.fft.irfft2(_map_major(torch.bmm(g, k.mT), lh), s=(lh, lw))[..., :h, :wd]
        if ctx.needs_input_grad[1]:
            # ∂/∂w[j] = Σ_n g[n]·x[n + j - p] = d[j - p] with DFT(d) = conj(G)·X; its half spectrum
            # conj(X)·G is the conjugate, so Re Σ DFT(d)·e^{+iθ} = Re Σ conj(X)·G·e^{-iθ}: K's phases
            ctype = _complex(grad.dtype)
            eh = _phases(lh, wshape[-2], ph, lh, ctype, grad.device)
            ew = _phases(lw, wshape[-1], pw, lw // 2 + 1, ctype, grad.device)
            gw = _kernel_adjoint(torch.bmm(xc.mT, g), eh, ew, lw, wshape)
        return gx, gw, None, None


def fft_conv2d(x: Tensor, weight: Tensor, padding: int | tuple[int, int] = 0) -> Tensor:
    """``F.conv2d(x, weight, padding=padding)`` (stride 1, no groups, no bias) computed in the
    Fourier domain; ``x`` ``[B, C_i, H, W]`` real, ``weight`` ``[C_o, C_i, k_h, k_w]``; the output
    ``[B, C_o, H', W']`` is NCHW (a cropped view)."""
    if x.dim() != 4 or weight.dim() != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"fft_conv2d expects x [B, C_i, H, W] and weight [C_o, C_i, k_h, k_w] with the same C_i, "
            f"got {tuple(x.shape)} and {tuple(weight.shape)}"
        )
    ph, pw = checked_padding("fft_conv2d", x, weight, padding)
    return _FourierConv.apply(x, weight.to(x.dtype), ph, pw)


__all__ = [
    "ALGORITHMS",
    "checked_padding",
    "conv_algorithm",
    "current_algorithm",
    "fft_conv2d",
    "fft_is_faster",
    "padding_pair",
    "transform_size",
    "use_fft",
]
