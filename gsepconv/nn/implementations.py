r"""Group-convolution implementations: how the kernel factorises and how it is applied.

Notation: input ``x: [B, C_i, N_i, H, W]``, output ``[B, C_o, N_o, H', W']``, kernel size ``k``;
``u = h_a⁻¹ y`` (spatial), ``v = log(h_a⁻¹ h_b)`` (subgroup). Each implementation has

* ``sample(grid_out, grid_in) -> tuple[Tensor, ...]`` — kernel nets evaluated **once** per forward,
  vectorised over all group elements (no Python loops over elements or channels);
* ``apply(x, weights, stride, padding) -> Tensor`` — a static function of the sampled weights only,
  shared by the training path, the ``eval()`` cache and :meth:`export`.

=================  ==========================================  =====================================
name               :math:`K_{oi}(u, v)`                        computed as
=================  ==========================================  =====================================
nonseparable       :math:`k_{oi}(u, v)`                        one conv2d
separable          :math:`k^H_{oi}(v)\,k^{R^2}_o(u)`          1×1 conv over (C_i·N) then depthwise
gseparable         :math:`k^H_{oi}(v)\,k^{R^2}_{oi}(u)`       product kernel, one conv2d
dseparable         :math:`W_{io}\,k_o(u, v)`                   channel 1×1, then grouped G-conv
dgseparable        :math:`W_{io}\,k^H_o(v)\,k^{R^2}_o(u)`     channel 1×1, grouped 1×1 over H, depthwise
separable2d        :math:`k^{SO2}_{oi}\,k^{R^+}_o\,k^{R^2}_o`  1×1 (rotation×scale factor), depthwise
gseparable2d       all three factors indexed (o, i)            product kernel (no C_i-times intermediate)
=================  ==========================================  =====================================
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..groups.interface import SubGroup
from ..kernels.kernel import GroupKernel, SpatialKernel, SubgroupKernel, outermost_ring
from .depthwise import depthwise_conv2d, use_depthwise
from .fft import fft_conv2d, padding_pair, use_fft
from .patches import patch_conv2d, use_patches

Padding = int | str | tuple[int, int]


class Implementation(nn.Module):
    """Base class. Subclasses set :attr:`name` and implement :meth:`sample` and :meth:`apply`
    (which groups accept which implementation is :attr:`AffineGroup.implementations`)."""

    name: str = ""
    #: The memory layout of its convolutions per device type (a name in :data:`LAYOUTS`): the one
    #: whose whole training step has the smaller median in ``gsepconv bench --layouts`` (the table
    #: ``results/<profile>/layouts.csv``; conversions between layers are part of the step, and
    #: the table says when the difference is within the machine's noise). CUDA: NCHW for every
    #: implementation: on an H200 (cuDNN 9.19, paper sizes, ``results/paper/layouts-gpu.csv``) the
    #: channels-last steps took 1.5–2.1× as long, except ``gseparable2d`` (a tie).
    layout: ClassVar[dict[str, str]] = {"cpu": "channels_last", "cuda": "nchw"}
    #: Whether :meth:`apply` convolves each output element over its own window only (the taps its
    #: mask keeps, see :func:`_window_groups`): the dense and depthwise spatial convolutions of
    #: scale groups with a hard mask. Cost formulas read it (``GroupConv.conv_windows``).
    crops_windows: ClassVar[bool] = False

    def __init__(
        self,
        H: SubGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_elements: tuple[int, ...],
        kernel_net: str = "siren",
        net_options: dict[str, Any] | None = None,
        mask: str = "hard",
        sampling: str = "discretise",
        head_init: str = "channels",
    ) -> None:
        super().__init__()
        self.H, self.in_channels, self.out_channels, self.kernel_size = H, in_channels, out_channels, kernel_size
        self.num_elements = num_elements
        self.n = math.prod(num_elements)
        self.kernel_opts = dict(kernel_net=kernel_net, net_options=net_options, head_init=head_init)
        self.spatial_opts = dict(self.kernel_opts, num_elements=num_elements, sampling=sampling)
        self.mask = mask

    def sample(self, grid_out: Tensor, grid_in: Tensor) -> tuple[Tensor, ...]:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def apply(x: Tensor, weights: tuple[Tensor, ...], stride: int, padding: Padding) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def convolve(cls, x: Tensor, weights: tuple[Tensor, ...], stride: int, padding: Padding) -> Tensor:
        """:meth:`apply` in this implementation's :attr:`layout` for ``x``'s device."""
        with in_layer_layout(cls.layout, x.device):
            return cls.apply(x, weights, stride, padding)

    @staticmethod
    def product_kernel(weights: tuple[Tensor, ...]) -> Tensor:  # pragma: no cover
        """The equivalent dense kernel ``[C_o, N_o, C_i, N_i, k, k]`` (for tests and analysis)."""
        raise NotImplementedError


#: The memory layouts a layer's convolutions can run in, by the name used in tables and options.
LAYOUTS: dict[str, torch.memory_format] = {"channels_last": torch.channels_last, "nchw": torch.contiguous_format}

#: A layout forced on every layer by :func:`memory_format` (``None``: each layer runs in its own).
_FORCED_FORMAT: contextvars.ContextVar[torch.memory_format | None] = contextvars.ContextVar(
    "gsepconv_forced_format", default=None
)
#: The layout of the layer being applied (set by :func:`in_layer_layout`; channels-last outside).
_LAYER_FORMAT: contextvars.ContextVar[torch.memory_format] = contextvars.ContextVar(
    "gsepconv_layer_format", default=torch.channels_last
)


@contextlib.contextmanager
def memory_format(fmt: torch.memory_format) -> Iterator[None]:
    """Within the block (this thread or context only), run **every** layer's convolutions in the
    memory format ``fmt``, overriding each implementation's own :attr:`Implementation.layout`
    (the benchmark times whole models in one layout this way); the previous setting returns on exit."""
    if not isinstance(fmt, torch.memory_format):
        raise ValueError(f"memory_format expects a torch.memory_format (e.g. torch.contiguous_format), got {fmt!r}")
    token = _FORCED_FORMAT.set(fmt)
    try:
        yield
    finally:
        _FORCED_FORMAT.reset(token)


def layout_for(layout: dict[str, str], device: torch.device) -> str:
    """The layout name a per-device-type choice ``{"cpu": ..., "cuda": ...}`` gives on ``device``
    (channels-last for a device type it does not name)."""
    return layout.get(device.type, "channels_last")


@contextlib.contextmanager
def in_layer_layout(layout: dict[str, str], device: torch.device) -> Iterator[None]:
    """Within the block, :func:`conv2d` runs in ``layout``'s choice for ``device`` (unless
    :func:`memory_format` forces one): how a layer applies its implementation's layout."""
    token = _LAYER_FORMAT.set(LAYOUTS[layout_for(layout, device)])
    try:
        yield
    finally:
        _LAYER_FORMAT.reset(token)


def current_format() -> torch.memory_format:
    """The memory format :func:`conv2d` uses here: the forced one, else the current layer's."""
    forced = _FORCED_FORMAT.get()
    return _LAYER_FORMAT.get() if forced is None else forced


def conv2d(x: Tensor, weight: Tensor, stride: int = 1, padding: Padding = 0, groups: int = 1) -> Tensor:
    """``F.conv2d`` (no bias, no dilation) in the current layer's memory format
    (:func:`current_format`): channels-last, where depthwise and 1×1 convolutions are fast, or
    plain NCHW, where a dense grouped-channel convolution may be; the output is in that format too.
    A no-op conversion when the input is already in it. A dense stride-1 convolution takes the
    Fourier path (:mod:`gsepconv.nn.fft`) where :func:`~gsepconv.nn.fft.conv_algorithm` asks for
    it or its cost model expects it to be faster; a depthwise one larger than 3×3 on CPU computes
    its kernel gradient as a depthwise convolution (:mod:`gsepconv.nn.depthwise`); one of a
    one-channel image on CPU is a matrix product over its patches (:mod:`gsepconv.nn.patches`). Every
    implementation and the lifting layer convolve through it."""
    fmt = current_format()
    if not isinstance(padding, str) and use_patches(x, weight, groups, stride, padding):
        return patch_conv2d(x, weight, stride, padding).contiguous(memory_format=fmt)
    if use_fft(x, weight, stride, padding, groups):
        return fft_conv2d(x, weight, padding).contiguous(memory_format=fmt)  # type: ignore[arg-type]
    if not isinstance(padding, str) and use_depthwise(x, weight, groups):
        return depthwise_conv2d(x.contiguous(memory_format=fmt), weight.contiguous(memory_format=fmt), stride, padding)
    y = F.conv2d(
        x.contiguous(memory_format=fmt), weight.contiguous(memory_format=fmt), None, stride, padding, 1, groups
    )
    # A one-channel input (the lifting layer's image) is both layouts at once, and the convolution
    # then returns NCHW: convert here, once, rather than at every later layer and residual sum.
    return y if y.is_contiguous(memory_format=fmt) else y.contiguous(memory_format=fmt)


def flat(x: Tensor) -> Tensor:
    """``[B, C, N, H, W] → [B, C·N, H, W]`` (a view for the layers' own channels-last outputs)."""
    b, c, n, h, w = x.shape
    return x.reshape(b, c * n, h, w)


def unflat(y: Tensor, c: int) -> Tensor:
    """``[B, C·N, H, W] → [B, C, N, H, W]`` (always a view): a flat convolution's output as a
    function on the group, the inverse of :func:`flat`."""
    return y.view(y.shape[0], c, y.shape[1] // c, *y.shape[-2:])


def _channel_projection(x: Tensor, proj: Tensor) -> Tensor:
    """The same channel mixing ``[C_o, C_i]`` at every element: ``[B, C_i, N, H, W] → [B, C_o·N, H, W]``
    with ``C_o·C_i`` weights (not an ``N``-times larger block-diagonal 1×1 convolution).

    In plain NCHW the map is ``[B, C_i, N·H·W]`` in memory, so the projection is one batched
    matrix product with no copy: ``bmm`` with the weight expanded over the batch (``matmul``
    folds the batch into one product, and so transposes and copies the map and its result:
    2.1–2.4× slower forward and backward, SE(2) dseparable's shapes, 2 CPU cores). In
    channels-last the elements are moved into the batch and back (copies), so the projection is
    one 1×1 convolution there."""
    b, ci, n, h, w = x.shape
    if current_format() == torch.contiguous_format:
        return torch.bmm(proj.expand(b, *proj.shape), x.contiguous().view(b, ci, n * h * w)).view(b, -1, h, w)
    z = conv2d(x.transpose(1, 2).reshape(b * n, ci, h, w), proj[:, :, None, None])  # [B·N, Co, H, W]
    return z.view(b, n, -1, h, w).transpose(1, 2).reshape(b, -1, h, w)


#: Attribute under which :func:`_window_groups` memoises its answer on a kernel tensor (with the
#: tensor's version counter, so an in-place edit is seen): the ``eval()`` cache and an exported
#: layer return the same kernel tensor at every call, and find the zero taps only once.
_GROUPS_ATTR = "_gsepconv_window_groups"


def _crop_margins(k: Tensor) -> list[int]:
    """For a kernel indexed by output element on its second axis, dense ``[C_o, N_o, C_i, N_i, w, w]``
    or depthwise (the spatial factor of the separable forms) ``[C_o, N_o, w, w]``, the number of
    outer rings of taps of each output element that are exactly zero for every channel and input
    element (``≤ w // 2``; a NaN tap counts as non-zero). A scale group's hard disk mask zeroes
    every tap outside the window of the element's dilation; a smooth, soft-square or absent mask
    zeroes none."""
    co, no, w = k.shape[0], k.shape[1], k.shape[-1]
    # Reduced over one contiguous middle axis, by amax and amin (no |k| copy): 5× faster than
    # abs().amax over the axes (0, 2, 3) of a [32, 12, 32, 12, 13, 13] kernel (2 CPU cores).
    v = k.detach().reshape(co, no, -1, w * w)
    nonzero = (torch.maximum(v.amax(2), -v.amin(2)) != 0).any(0).view(no, w, w)
    centre = (k.shape[-1] - 1) // 2
    return [centre - r for r in outermost_ring(nonzero)]


class _Window(NamedTuple):
    """Output elements whose kernels share ``margin`` all-zero outer rings, and their channels
    ``(o, element)`` in a ``[B, C_o·N_o, H, W]`` map (see :func:`_channels`)."""

    margin: int
    elements: Tensor | slice
    channels: Tensor | slice


def _window_groups(k: Tensor, padding: Padding) -> list[_Window] | None:
    """The output elements of a kernel (dense or depthwise, as in :func:`_crop_margins`) grouped by
    how many all-zero outer rings their kernels share (:class:`_Window`), margins ascending, each
    margin's elements in periodic parts (:func:`_periodic_parts`); ``None`` when one convolution
    over the whole window is all there is to do: no zero ring (rotation groups; scale groups with a
    mask that zeroes no tap), an even or non-square window, a padding given by name, or tracing by
    ``torch.compile`` (the groups depend on the values)."""
    if (
        k.shape[1] < 2
        or k.shape[-1] != k.shape[-2]
        or k.shape[-1] % 2 == 0
        or isinstance(padding, str)
        or torch.compiler.is_compiling()
    ):
        return None
    memo = getattr(k, _GROUPS_ATTR, None)
    if memo is not None and memo[0] == k._version:
        return memo[1]
    margins = _crop_margins(k)
    groups: list[_Window] | None = None
    if any(margins):
        groups = []
        for m in sorted(set(margins)):
            idx = [n for n, mn in enumerate(margins) if mn == m]
            for part in _periodic_parts(idx, len(margins)):
                channels = _channels(part, k.shape[0], len(margins), k.device)
                step = part[1] - part[0] if len(part) > 1 else 1
                if part == list(range(part[0], part[-1] + 1, step)):
                    groups.append(_Window(m, slice(part[0], part[-1] + 1, step), channels))
                else:
                    groups.append(_Window(m, torch.tensor(part, device=k.device), channels))
    with contextlib.suppress(AttributeError, RuntimeError):  # memo only; tensors that refuse it recompute
        setattr(k, _GROUPS_ATTR, (k._version, groups))
    return groups


def _periodic_parts(idx: list[int], n: int) -> list[list[int]]:
    """``idx`` (sorted elements of ``n``) as the fewest progressions ``a, a + t, …`` of ``n / t``
    elements each (cosets of a step ``t`` dividing ``n``, ``t < n``), or ``[idx]`` when it is no
    union of such. A rotation-major grid's elements of one scale are one: their channels
    ``(o, element)`` then form a strided slice of a feature map's channels, which a convolution
    reads and its gradient writes without a gather (an ``index_select`` of a channels-last map
    costs about 15 times the copy of the strided slice). Elements that are no such union (a block
    of a scale-major grid) keep an index, and their parts are gathered."""
    members = set(idx)
    for t in range(1, n):
        if n % t == 0:
            starts = [a for a in idx if a < t]
            if all(a + j * t in members for a in starts for j in range(n // t)) and len(starts) * (n // t) == len(idx):
                return [list(range(a, n, t)) for a in starts]
    return [idx]


def _channels(elements: list[int], co: int, no: int, device: torch.device) -> Tensor | slice:
    """The channels ``(o, element)`` (o-major, ``C_o·N_o`` in all) of ``elements`` of every output
    channel ``o``: a slice where they form a progression (see :func:`_periodic_parts`), else an
    index (computed once per kernel, with the groups)."""
    flat_idx = [o * no + e for o in range(co) for e in elements]
    step = flat_idx[1] - flat_idx[0] if len(flat_idx) > 1 else 1
    if step > 0 and flat_idx == list(range(flat_idx[0], flat_idx[-1] + 1, step)):
        return slice(flat_idx[0], flat_idx[-1] + 1, step)
    return torch.tensor(flat_idx, device=device)


class _Assemble(torch.autograd.Function):
    """Writes parts ``[B, |S_j|, H, W]`` into the channels ``S_j`` (slices or indices) of one
    ``[B, C, H, W]`` output in the current memory format. Its backward hands each part its slice
    of the gradient (a view) instead of autograd's chain of ``index_copy_``, whose backward clones
    and zero-fills the full gradient once per part."""

    @staticmethod
    def forward(ctx, channels: int, selections: list[Tensor | slice], *parts: Tensor) -> Tensor:  # noqa: ANN001
        first = parts[0]
        out = torch.empty(
            (first.shape[0], channels, *first.shape[-2:]),
            dtype=first.dtype,
            device=first.device,
            memory_format=current_format(),
        )
        for sel, y in zip(selections, parts):
            if isinstance(sel, slice):
                out[:, sel] = y
            else:
                out.index_copy_(1, sel, y)
        ctx.selections = selections
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # noqa: ANN001
        return (None, None, *(grad[:, sel] for sel in ctx.selections))


class _Cut(torch.autograd.Function):
    """Cuts parts out of ``x`` ``[B, C, H, W]``: part ``j`` is channels ``[a_j, b_j)`` cropped by
    ``(c_h, c_w)`` pixels on each side, contiguous in ``x``'s memory format (a copy, so that a
    convolution reads it without copying again). The adjoint of :class:`_Assemble`: its backward
    writes every part's gradient into one gradient of ``x`` (zero where no part reads), where
    autograd's slices would each zero-fill and add a full-size gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, cuts: list[tuple[int, int, int, int]]) -> tuple[Tensor, ...]:  # noqa: ANN001
        fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        h, w = x.shape[-2:]
        ctx.cuts, ctx.fmt, ctx.shape, ctx.dtype, ctx.device = cuts, fmt, x.shape, x.dtype, x.device
        return tuple(x[:, a:b, ch : h - ch, cw : w - cw].contiguous(memory_format=fmt) for a, b, ch, cw in cuts)

    @staticmethod
    def backward(ctx, *grads: Tensor) -> tuple[Tensor | None, ...]:  # noqa: ANN001
        # autograd hands a zero gradient for a part nothing used (materialised), never None
        h, w = ctx.shape[-2:]
        spans = sorted((a, b) for a, b, _, _ in ctx.cuts)
        covers = [a for a, _ in spans] == [0] + [b for _, b in spans[:-1]] and spans[-1][1] == ctx.shape[1]
        out = torch.empty(ctx.shape, dtype=ctx.dtype, device=ctx.device, memory_format=ctx.fmt)
        if not (covers and all(ch == cw == 0 for _, _, ch, cw in ctx.cuts)):
            out.zero_()  # channels or a border no part reads
        for g, (a, b, ch, cw) in zip(grads, ctx.cuts):
            out[:, a:b, ch : h - ch, cw : w - cw] = g
        return out, None


def _mean_taps(groups: list[_Window], n: int, w: int) -> float:
    """The mean number of taps per output element of the per-window convolutions of ``groups``
    (:func:`_window_groups`) of ``n`` elements with a ``w × w`` window."""
    sizes = [len(range(n)[g.elements]) if isinstance(g.elements, slice) else len(g.elements) for g in groups]
    return sum(s * (w - 2 * g.margin) ** 2 for g, s in zip(groups, sizes)) / n


def _split_conv(
    x: Tensor,
    k: Tensor,
    groups: list[_Window],
    stride: int,
    padding: Padding,
    pointwise: Tensor | None = None,
) -> Tensor:
    r"""One convolution per group of output elements, each over the centre ``w - 2m`` taps of its
    kernels (the ``m`` outer rings are zero, so the function is the same up to round-off).

    Dense (``pointwise`` ``None``): ``conv2d(x, k.reshape(C_o·N_o, C_i·N_i, w, w), stride, padding)``
    for ``k`` ``[C_o, N_o, C_i, N_i, w, w]``. Separable (``pointwise`` ``[C_o, N_o, C_i, N_i]``, ``k``
    the spatial factor ``[C_o, N_o, w, w]``): the 1×1 channel mixing then the depthwise
    convolution, ``conv2d(conv2d(x, pointwise), k, groups=C_o·N_o)``. The mixing of every group
    is one 1×1 convolution of the whole input (its output channels in group order), out of which
    each group's channels are cut (:class:`_Cut`, a copy): one pass over the input and one input
    gradient, where a 1×1 convolution per group reads the input and writes a full-size input
    gradient once per group. A few percent, and within the machine's drift between runs: per
    group/one 1×1 for the quick Sim(2) separable2d 4×3 model's training step 1.08 [1.07, 1.10] in
    one run and 1.02 [1.00, 1.07] in another (2 CPU cores, 7 alternating rounds); for the layer
    alone 1.02 [0.89, 1.05] and 1.06 [1.05, 1.07] (``python benchmarks/split_pointwise.py``);
    equal for R²⋊R⁺'s 3 scales. The input's channels are never gathered (a gather forward costs
    a copy, and its backward a zeroed full-size gradient per group: 1.15× slower Sim(2)
    separable2d steps, 1.23× separable). The output's channels are written as strided slices where the
    groups' channels are slices (rotation-major grids).

    Cropping ``m`` taps on each side and padding ``m`` less keeps every output aligned at any
    stride: where the padding is smaller than ``m``, the input is cropped by the difference instead
    (a negative padding; the pointwise mixing commutes with it). The parts are written
    into one ``[B, C_o, N_o, H', W']`` output in the current memory format."""
    co, no, w = k.shape[0], k.shape[1], k.shape[-1]
    ph, pw = padding_pair(padding)

    def select(t: Tensor, elements: Tensor | slice) -> Tensor:
        return t[:, elements] if isinstance(elements, slice) else t.index_select(1, elements)

    # the input each group convolves: cropped where the padding is smaller than its margin
    crops = [(max(0, m - ph), max(0, m - pw)) for m, _, _ in groups]

    def crop(t: Tensor, ch: int, cw: int) -> Tensor:
        return t[..., ch : t.shape[-2] - ch, cw : t.shape[-1] - cw]

    if pointwise is None:
        inputs = [crop(x, *c) for c in crops]
    else:  # each group's 1×1 mixing rows [C_o·n, C_i·N_i], its output channels (o, element)
        rows = [select(pointwise, g.elements).reshape(-1, pointwise.shape[2] * pointwise.shape[3]) for g in groups]
        if len(groups) == 1:  # nothing to cut: crop (the mixing commutes with it), then mix
            inputs = [conv2d(crop(x, *crops[0]), rows[0][:, :, None, None])]
        else:  # every group's mixing as one convolution (rows in group order), then its channels cut
            z = conv2d(x, torch.cat(rows)[:, :, None, None])
            bounds = itertools.accumulate((r.shape[0] for r in rows), initial=0)
            inputs = _Cut.apply(z, [(a, a + r.shape[0], *c) for a, r, c in zip(bounds, rows, crops)])
    parts, selections = [], []
    for (m, elements, channels), xin in zip(groups, inputs):
        kernel = select(k[..., m : w - m, m : w - m], elements)
        n = kernel.shape[1]
        weight = kernel.reshape(co * n, -1, w - 2 * m, w - 2 * m)
        pad = (max(0, ph - m), max(0, pw - m))
        y = conv2d(xin, weight, stride, pad, groups=1 if pointwise is None else co * n)
        parts.append(y)  # channels (o, element), o-major, as the output's
        selections.append(channels)
    if len(parts) == 1:  # every element's kernel has the same zero rings: one smaller convolution
        return unflat(parts[0], co)
    return unflat(_Assemble.apply(co * no, selections, *parts), co)


class NonSeparable(Implementation):
    name = "nonseparable"
    # One dense convolution over C_i·N channels. Run directly, NCHW was the faster layout on 2 CPU
    # cores (quick benchmark, SE(2) N = 4, batch 32: 0.955x channels-last's step). With the
    # Fourier path (gsepconv.nn.fft), which the quick models' 7×7 layers take on CPU, the layer
    # reads and writes either layout. Once its spectra were made frequency-major by one contiguous
    # copy whatever the input's layout (commit 40fc490), NCHW became the faster layout again:
    # NCHW/channels-last 0.94 [0.81, 0.99] (N = 4) and 0.95 [0.94, 0.96] (gseparable N = 8),
    # `gsepconv bench --layouts`, 7 rounds (before: 1.11 [1.03, 1.16] and 1.05 [1.02, 1.10]).
    layout: ClassVar[dict[str, str]] = {"cpu": "nchw", "cuda": "nchw"}
    crops_windows = True

    def __init__(
        self,
        H: SubGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_elements: tuple[int, ...],
        **kw: Any,
    ) -> None:
        super().__init__(H, in_channels, out_channels, kernel_size, num_elements, **kw)
        self.kernel = GroupKernel(
            H, out_channels, in_channels, kernel_size, fan_in=in_channels * self.n, mask=self.mask, **self.spatial_opts
        )

    def sample(self, grid_out: Tensor, grid_in: Tensor) -> tuple[Tensor, ...]:
        return (self.kernel(grid_out, grid_in),)  # [Co, No, Ci, Ni, k, k]

    @staticmethod
    def apply(x: Tensor, weights: tuple[Tensor, ...], stride: int, padding: Padding) -> Tensor:
        (k,) = weights
        co, no, ci, ni, kh, kw = k.shape
        groups = _window_groups(k, padding)
        whole = k.reshape(co * no, ci * ni, kh, kw)
        fx = flat(x)
        # The Fourier path costs the same for any window: where it wins against the direct
        # per-window convolutions, it convolves with the whole window at once (and conv2d, which
        # weighs it against the whole window directly, then takes it too).
        if groups is not None and not use_fft(fx, whole, stride, padding, 1, _mean_taps(groups, no, kw)):
            return _split_conv(fx, k, groups, stride, padding)
        return unflat(conv2d(fx, whole, stride, padding), co)

    @staticmethod
    def product_kernel(weights: tuple[Tensor, ...]) -> Tensor:
        return weights[0]


class Separable(Implementation):
    name = "separable"
    crops_windows = True

    def __init__(
        self,
        H: SubGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_elements: tuple[int, ...],
        **kw: Any,
    ) -> None:
        super().__init__(H, in_channels, out_channels, kernel_size, num_elements, **kw)
        self.subgroup = SubgroupKernel(
            H, out_channels, in_channels, fan_in=in_channels * self.n, gain=2.0, **self.kernel_opts
        )
        self.spatial = SpatialKernel(
            H, out_channels, None, kernel_size, fan_in=1.0, gain=1.0, mask=self.mask, **self.spatial_opts
        )

    def sample(self, grid_out: Tensor, grid_in: Tensor) -> tuple[Tensor, ...]:
        return self.subgroup(grid_out, grid_in), self.spatial(grid_out)  # [Co,No,Ci,Ni], [Co,No,k,k]

    @staticmethod
    def apply(x: Tensor, weights: tuple[Tensor, ...], stride: int, padding: Padding) -> Tensor:
        a, s = weights
        co, no, ci, ni = a.shape
        groups = _window_groups(s, padding)  # scale groups with a hard mask: a window per scale
        if groups is not None:
            return _split_conv(flat(x), s, groups, stride, padding, pointwise=a)
        z = conv2d(flat(x), a.reshape(co * no, ci * ni, 1, 1))
        return unflat(conv2d(z, s.reshape(co * no, 1, *s.shape[-2:]), stride, padding, groups=co * no), co)

    @staticmethod
    def product_kernel(weights: tuple[Tensor, ...]) -> Tensor:
        a, s = weights
        return a[..., None, None] * s[:, :, None, None]


class GSeparable(Implementation):
    name = "gseparable"

    def __init__(
        self,
        H: SubGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_elements: tuple[int, ...],
        **kw: Any,
    ) -> None:
        super().__init__(H, in_channels, out_channels, kernel_size, num_elements, **kw)
        self.subgroup = SubgroupKernel(
            H, out_channels, in_channels, fan_in=in_channels * self.n, gain=2.0, **self.kernel_opts
        )
        self.spatial = SpatialKernel(
            H, out_channels, in_channels, kernel_size, fan_in=1.0, gain=1.0, mask=self.mask, **self.spatial_opts
        )

    def sample(self, grid_out: Tensor, grid_in: Tensor) -> tuple[Tensor, ...]:
        a = self.subgroup(grid_out, grid_in)  # [Co, No, Ci, Ni]
        s = self.spatial(grid_out)  # [Co, No, Ci, k, k]
        return (a[..., None, None] * s[:, :, :, None],)

    apply = staticmethod(NonSeparable.apply)
    crops_windows = True  # through NonSeparable.apply
    layout = NonSeparable.layout  # the same dense convolution
    product_kernel = staticmethod(NonSeparable.product_kernel)


class DSeparable(Implementation):
    name = "dseparable"
    # NCHW: its channel projection is one batched product there, without a copy. Whole training
    # steps in either layout are within the machine's drift between sessions (``bench --layouts``
    # read NCHW/channels-last 0.94 and 1.07 for the same code), so either is as fast on this CPU.
    layout: ClassVar[dict[str, str]] = {"cpu": "nchw", "cuda": "nchw"}

    def __init__(
        self,
        H: SubGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_elements: tuple[int, ...],
        **kw: Any,
    ) -> None:
        super().__init__(H, in_channels, out_channels, kernel_size, num_elements, **kw)
        self.projection = nn.Parameter(
            torch.empty(out_channels, in_channels).uniform_(-1, 1) * math.sqrt(3.0 / in_channels)
        )
        self.kernel = GroupKernel(
            H, out_channels, None, kernel_size, fan_in=self.n, gain=2.0, mask=self.mask, **self.spatial_opts
        )

    def sample(self, grid_out: Tensor, grid_in: Tensor) -> tuple[Tensor, ...]:
        return self.projection, self.kernel(grid_out, grid_in)  # [Co, Ci], [Co, No, Ni, k, k]

    @staticmethod
    def apply(x: Tensor, weights: tuple[Tensor, ...], stride: int, padding: Padding) -> Tensor:
        p, k = weights
        co, no, ni = k.shape[:3]
        z = _channel_projection(x, p)  # [B, Co·Ni, H, W]
        return unflat(conv2d(z, k.reshape(co * no, ni, *k.shape[-2:]), stride, padding, groups=co), co)

    @staticmethod
    def product_kernel(weights: tuple[Tensor, ...]) -> Tensor:
        p, k = weights
        return p[:, None, :, None, None, None] * k[:, :, None]


class DGSeparable(Implementation):
    name = "dgseparable"

    def __init__(
        self,
        H: SubGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_elements: tuple[int, ...],
        **kw: Any,
    ) -> None:
        super().__init__(H, in_channels, out_channels, kernel_size, num_elements, **kw)
        self.projection = nn.Parameter(
            torch.empty(out_channels, in_channels).uniform_(-1, 1) * math.sqrt(3.0 / in_channels)
        )
        self.subgroup = SubgroupKernel(H, out_channels, None, fan_in=self.n, gain=1.0, **self.kernel_opts)
        self.spatial = SpatialKernel(
            H, out_channels, None, kernel_size, fan_in=1.0, gain=2.0, mask=self.mask, **self.spatial_opts
        )

    def sample(self, grid_out: Tensor, grid_in: Tensor) -> tuple[Tensor, ...]:
        return (
            self.projection,
            self.subgroup(grid_out, grid_in),
            self.spatial(grid_out),
        )  # [Co,Ci], [Co,No,Ni], [Co,No,k,k]

    @staticmethod
    def apply(x: Tensor, weights: tuple[Tensor, ...], stride: int, padding: Padding) -> Tensor:
        p, a, s = weights
        co, no, ni = a.shape
        z = _channel_projection(x, p)  # [B, Co·Ni, H, W]
        z = conv2d(z, a.reshape(co * no, ni, 1, 1), groups=co)
        return unflat(conv2d(z, s.reshape(co * no, 1, *s.shape[-2:]), stride, padding, groups=co * no), co)

    @staticmethod
    def product_kernel(weights: tuple[Tensor, ...]) -> Tensor:
        p, a, s = weights
        return p[:, None, :, None, None, None] * (a[..., None, None] * s[:, :, None])[:, :, None]


def _factor_grids(grid: Tensor, H: SubGroup, num_elements: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """Split a rotation-major product grid ``[N_r·N_s, dim]`` into ``[N_r, d_r]`` and ``[N_s, d_s]``."""
    nr, ns = num_elements
    g = grid.reshape(nr, ns, grid.shape[-1])
    rot, scale = H.split(g)  # type: ignore[attr-defined]
    return rot[:, 0], scale[0, :]


def _rotation_scale(r: Tensor, sc: Tensor) -> Tensor:
    """Product of the rotation factor ``[C_o, N_r, C_i, N_r']`` and the scale factor
    (``[C_o, N_s, N_s']``, or ``[C_o, N_s, C_i, N_s']`` per input channel) as one rotation-major
    subgroup kernel ``[C_o, N_r·N_s, C_i, N_r'·N_s']``."""
    co, nr, ci, nri = r.shape
    if sc.dim() == 3:
        sc = sc[:, :, None, :]
    ns, nsi = sc.shape[1], sc.shape[3]
    h = r[:, :, None, :, :, None] * sc[:, None, :, :, None, :]  # [Co, Nr, Ns, Ci, Nr', Ns']
    return h.reshape(co, nr * ns, ci, nri * nsi)


class _RotationScaleSeparable(Implementation):
    """Shared construction of the Sim(2) factorisations: a rotation kernel indexed (o, i), and a
    scale kernel and a spatial kernel indexed (o) (separable2d) or (o, i) (gseparable2d).

    Nothing here depends on which factor is a rotation: for any ``H = F₁ × F₂`` (grid flattened
    first-factor-major) the kernel of ``F₁`` mixes channels and that of ``F₂`` is per output
    channel; "rotation" and "scale" name Sim(2)'s ``SO(2) × R⁺``. Tested with the factors swapped."""

    per_input_channel = False

    def __init__(
        self,
        H: SubGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_elements: tuple[int, ...],
        **kw: Any,
    ) -> None:
        super().__init__(H, in_channels, out_channels, kernel_size, num_elements, **kw)
        rot, dil = H.factors
        nr, ns = num_elements
        ci = in_channels if self.per_input_channel else None
        self.rotation = SubgroupKernel(
            rot, out_channels, in_channels, fan_in=in_channels * nr, gain=2.0, **self.kernel_opts
        )
        self.scale = SubgroupKernel(dil, out_channels, ci, fan_in=ns, gain=1.0, **self.kernel_opts)
        self.spatial = SpatialKernel(
            H, out_channels, ci, kernel_size, fan_in=1.0, gain=1.0, mask=self.mask, **self.spatial_opts
        )

    def factors(self, grid_out: Tensor, grid_in: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Rotation ``[Co, Nr, Ci, Nr']``, scale ``[Co, Ns, (Ci,) Ns']``, spatial ``[Co, N, (Ci,) k, k]``."""
        rot_out, scale_out = _factor_grids(grid_out, self.H, self.num_elements)
        rot_in, scale_in = _factor_grids(grid_in, self.H, self.num_elements)
        return self.rotation(rot_out, rot_in), self.scale(scale_out, scale_in), self.spatial(grid_out)


class Separable2d(_RotationScaleSeparable):
    name = "separable2d"
    crops_windows = True  # through Separable.apply

    def sample(self, grid_out: Tensor, grid_in: Tensor) -> tuple[Tensor, ...]:
        return self.factors(grid_out, grid_in)

    @staticmethod
    def apply(x: Tensor, weights: tuple[Tensor, ...], stride: int, padding: Padding) -> Tensor:
        # The rotation×scale factor as one 1×1 convolution over (C_i·N) channels, then depthwise.
        # The fully factorised order (rotations+channels per input scale, then scales) needs
        # C_o·N·(C_i·N_r + N_s) instead of C_o·N·C_i·N MACs, but two layout permutations of the
        # feature map per layer; on 2 CPU cores (Sim(2) 8×3 ResNet step) that order is ~25 %
        # slower than this form, which computes the identical function.
        r, sc, s = weights
        return Separable.apply(x, (_rotation_scale(r, sc), s), stride, padding)

    @staticmethod
    def product_kernel(weights: tuple[Tensor, ...]) -> Tensor:
        r, sc, s = weights
        return Separable.product_kernel((_rotation_scale(r, sc), s))


class GSeparable2d(_RotationScaleSeparable):
    name = "gseparable2d"
    per_input_channel = True

    def sample(self, grid_out: Tensor, grid_in: Tensor) -> tuple[Tensor, ...]:
        r, sc, s = self.factors(grid_out, grid_in)
        return (_rotation_scale(r, sc)[..., None, None] * s[:, :, :, None],)

    apply = staticmethod(NonSeparable.apply)
    crops_windows = True  # through NonSeparable.apply
    layout = NonSeparable.layout  # the same dense convolution
    product_kernel = staticmethod(NonSeparable.product_kernel)


#: Registry of group-convolution implementations by name.
IMPLEMENTATIONS: dict[str, type[Implementation]] = {
    cls.name: cls for cls in (NonSeparable, Separable, GSeparable, DSeparable, DGSeparable, Separable2d, GSeparable2d)
}
