r"""Continuous kernels sampled on a group grid.

Every kernel is a kernel net evaluated on **relative** coordinates only, which is what makes the
sampled kernels equivariant:

* spatial: :math:`u = h_a^{-1} y` for output element :math:`h_a` and pixel offset :math:`y`,
  with a disk mask :math:`|u| \le 1` and the normalisation :math:`1/|\det h_a|`;
* subgroup: :math:`v = \log(h_a^{-1} h_b)` for output element :math:`h_a` and input element
  :math:`h_b`, with the subgroup's mask (e.g. a smooth mask along log-scale).

``kernel_size = k`` is the size of the kernel at the identity: its taps are spaced ``2/(k-1)``
and cover ``[-1, 1]²``. Dilated kernels keep that spacing and grow: the sampled window has
``k + 2e`` taps per side, ``e = ⌈(k-1)/2 · (d-1)⌉`` with ``d = H.max_dilation(num_elements)`` (1
for rotations), i.e. it covers ``[-(1 + 2e/(k-1)), 1 + 2e/(k-1)]²`` so every transformed kernel
of the grid or of a random sample fits whole (see :func:`kernel_window`). Column index ``j`` is
the ``x`` axis and row index ``i`` is ``-y``, so ``torch.rot90`` rotates the plane by +90°. For
``k = 1`` the single point is the origin (a pointwise layer at every scale).

All coordinates are computed in float64 on the CPU (they are tiny) and cast to the kernel net's
dtype and device only when the net is evaluated, so ``model.float()`` never rounds the grids.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..groups.interface import SubGroup
from .nets import KernelNet, make_kernel_net

MASKS = ("hard", "smooth", "soft_square", "none")
#: How a kernel net's output head is initialised (option ``head_init`` of every layer):
#:
#: ``"channels"`` (default)
#:     head weights of variance ``2 / (hidden · C_in · k²)``: ``C_in`` counted only when the
#:     factor depends on the input channel, ``k²`` (the identity window, mask ignored) only for
#:     spatial factors, and the number of input group elements ``N_in`` never. This is the
#:     convention of the paper's code. Batch norm follows every convolution of the models, so the
#:     scale of a sampled kernel does not change what a normalised layer computes; it does change
#:     what is not normalised (the residual 1×1 skips added to a normalised branch) and the size
#:     of Adam's steps relative to each factor. Whether it matters is measured, not assumed:
#:     ``gsepconv compare --vary head_init=fan_in`` (chapter 4 of the book).
#: ``"fan_in"``
#:     the sampled kernel's variance is ``gain / fan_in`` with the full fan-in ``C_in · N_in ·
#:     (taps kept by the mask)`` and the hidden features' measured mean square: unit-scale
#:     activations without batch norm (He initialisation through the kernel net).
HEAD_INITS = ("channels", "fan_in")
#: logistic width of the ``soft_square`` mask (slope 2, the shape of the original implementation's mask)
SOFT_SQUARE_WIDTH = 0.5
_MASK_TOL = 1e-6
#: Largest sampled window (taps per side) of a kernel: a memory bound. At 257 taps one output
#: element's kernel coordinates take ~1 MB in float64; beyond it a large ``max_scale`` would ask
#: for gigabytes (or, at ``max_scale=1e6``, terabytes) per layer.
MAX_KERNEL_WINDOW = 257


def spatial_grid(kernel_size: int, extent: float) -> Tensor:
    """Pixel offsets ``y: [k, k, 2]`` (float64) on ``[-extent, extent]²``; ``[i, j] = (x_j, -y_i)``."""
    if kernel_size == 1:
        return torch.zeros(1, 1, 2, dtype=torch.float64)
    ticks = torch.linspace(-extent, extent, kernel_size, dtype=torch.float64)
    rows, cols = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([cols, -rows], dim=-1)


def kernel_window(
    H: SubGroup, kernel_size: int, num_elements: Any = None, sampling: str = "discretise"
) -> tuple[int, float]:
    """``(window, extent)``: the number of taps per side of the sampled kernels and the half-width
    of :func:`spatial_grid` in kernel units, for identity size ``kernel_size``.

    ``window = k + 2⌈(k-1)/2·(d-1)⌉`` with ``d = H.max_dilation(num_elements, sampling)``, so the tap spacing
    stays the identity kernel's ``2/(k-1)`` and the largest dilated kernel fits (``window = k``
    for rotations; e.g. ``k = 5`` → 9 for dilations up to 1.74). ``num_elements`` defaults to the
    subgroup's default. A 1×1 kernel stays 1×1 (pointwise at every scale)."""
    if kernel_size == 1:
        return 1, 0.0
    n = num_elements if num_elements is not None else H.default_num_elements
    half = (kernel_size - 1) / 2
    dilation = H.max_dilation(n, sampling)
    if not math.isfinite(dilation) or kernel_size + (kernel_size - 1) * (dilation - 1.0) > MAX_KERNEL_WINDOW:
        raise ValueError(
            f"kernel_size={kernel_size} dilated up to {dilation:g} (max_scale) needs a sampled window of about "
            f"{kernel_size + (kernel_size - 1) * (dilation - 1.0):.3g} taps per side, more than the "
            f"{MAX_KERNEL_WINDOW} allowed (memory); use a smaller max_scale or kernel_size"
        )
    extra = max(0, math.ceil(half * (dilation - 1.0) - 1e-9))
    return kernel_size + 2 * extra, 1.0 + extra / half


def identity_support(H: SubGroup, kernel_size: int, mask: str, num_elements: Any = None) -> int:
    """Number of taps of the identity element's kernel that the disk mask keeps (``k²`` without a
    mask, 13 for a hard mask at ``k = 5``)."""
    window, extent = kernel_window(H, kernel_size, num_elements)
    _, weight = transformed_offsets(H, H.identity()[None], spatial_grid(window, extent), mask, normalise=False)
    return int((weight > _MASK_TOL).sum())


def _check_support(H: SubGroup, kernel_size: int, mask: str, num_elements: Any) -> None:
    if kernel_size > 1 and identity_support(H, kernel_size, mask, num_elements) < 2:
        raise ValueError(
            f"kernel_size={kernel_size} with mask={mask!r} leaves the identity kernel a single tap or none "
            f"(a disk of radius 1 on {kernel_size} taps spaced {2 / (kernel_size - 1):g} apart); use an odd "
            f"kernel_size >= 3, kernel_size=1 for a pointwise layer, or mask='none'"
        )


def disk_mask(u: Tensor, mask: str, smooth_width: float = 0.1) -> Tensor:
    """Mask on transformed coordinates ``u: [..., 2] → [...]``: ``|u| ≤ 1`` (hard), a logistic
    fall-off around radius 1 (smooth), a wide logistic fall-off around the square ``max|u_i| = 1``
    (soft_square: ``sigmoid((1 − max|u_i|) / 0.5)``, the shape of the original implementation's
    mask), or ones (none).

    Measured trade-off for R²⋊R⁺ separable at k = 5 (widths 8, 8, 16, 785 steps, rotated MNIST, 2
    seeds): test accuracy smooth 79.1 %, soft_square 83.3 % (the original code: 83.0 %),
    none 81.8 %; scale-equivariance error of a lifting + group conv stack smooth 0.29, soft_square
    0.36, none 0.65 (plain nn.Conv2d control 0.27). soft_square keeps nearly every tap of the window
    at every scale: more capacity, less exact dilation. A square is invariant to quarter turns only,
    so with rotation groups (SE2, Sim2) it keeps 90° equivariance exact but not other angles: it is
    meant for R²⋊R⁺."""
    if mask == "soft_square":
        return torch.sigmoid((1.0 - u.abs().amax(dim=-1)) / SOFT_SQUARE_WIDTH)
    r = torch.linalg.vector_norm(u, dim=-1)
    if mask == "hard":
        return (r <= 1.0 + _MASK_TOL).to(u.dtype)
    if mask == "smooth":
        return torch.sigmoid((1.0 - r) / smooth_width)
    return torch.ones_like(r)


def transformed_offsets(
    H: SubGroup, grid_out: Tensor, offsets: Tensor, mask: str, normalise: bool = True
) -> tuple[Tensor, Tensor]:
    """``u = h_a⁻¹ y: [N_out, k, k, 2]`` and the weight ``mask(u) / |det h_a|: [N_out, k, k]`` (float64).

    A 1×1 kernel is a single tap at the origin, i.e. a delta, and a dilated delta normalised by
    ``1/|det h|`` is the same delta: its weight is not rescaled (otherwise pointwise layers, e.g.
    residual 1×1 skips, would weigh scales differently and break scale equivariance)."""
    g = grid_out.detach().to("cpu", torch.float64)
    inv = H.matrix(H.inverse(g))  # [N, 2, 2]
    u = torch.einsum("nab,ijb->nija", inv, offsets.to(torch.float64))
    weight = disk_mask(u, mask)
    if normalise and offsets.shape[0] > 1:
        weight = weight / H.det(g).abs()[:, None, None]
    return u, weight


def element_windows(
    H: SubGroup, grid_out: Tensor, kernel_size: int, mask: str, num_elements: Any = None, sampling: str = "discretise"
) -> list[int]:
    """For each element ``h_a`` of ``grid_out: [N, dim]``, the side of the centred square of the
    sampled window that holds every tap the mask keeps (``mask(h_a⁻¹ y) ≠ 0``): the element's own
    window, ``k`` at the identity and growing with its dilation for a hard mask; the whole sampled
    window for a smooth, soft-square or absent mask (no tap is exactly zero) and for an even
    window (no centre tap to crop around). Convolutions that crop each element's kernel to it do
    ``Σ_a w_a²`` instead of ``N · window²`` multiply–accumulates per pixel and channel pair."""
    window, extent = kernel_window(H, kernel_size, num_elements, sampling)
    if window % 2 == 0:
        return [window] * int(grid_out.shape[0])
    _, weight = transformed_offsets(H, grid_out, spatial_grid(window, extent), mask, normalise=False)
    return [2 * r + 1 for r in outermost_ring(weight != 0)]


def outermost_ring(nonzero: Tensor) -> list[int]:
    """For ``nonzero: [N, w, w]`` (odd ``w``), per element the Chebyshev radius of its outermost
    ``True`` tap around the centre (0 when none lies outside the centre tap): the element's taps
    fit in the centred ``(2r + 1)²`` square."""
    w = nonzero.shape[-1]
    ticks = torch.arange(w, device=nonzero.device)
    centre = (w - 1) // 2
    ring = torch.maximum((ticks[:, None] - centre).abs(), (ticks[None, :] - centre).abs())
    return torch.where(nonzero, ring, torch.zeros_like(ring)).amax(dim=(1, 2)).tolist()


def effective_taps(
    H: SubGroup, kernel_size: int, mask: str, num_elements: Any = None, sampling: str = "discretise"
) -> float:
    """Mean over the grid's output elements of ``Σ_y w_a(y)²`` with ``w = mask(h_a⁻¹y)/|det h_a|``:
    the spatial fan-in of a sampled kernel. It replaces ``k²`` in initialisation so that masked
    taps and the ``1/|det|`` of dilated kernels keep activations at unit scale (otherwise scale
    groups start ~4× too small)."""
    grid = H.grid(num_elements) if num_elements is not None else H.identity()[None]
    _, weight = transformed_offsets(H, grid, spatial_grid(*kernel_window(H, kernel_size, num_elements, sampling)), mask)
    return max(float(weight.pow(2).sum(dim=(1, 2)).mean()), 1e-8)


def _f64(g: Tensor) -> Tensor:
    return g.detach().to("cpu", torch.float64)


def _check_mask(mask: str) -> str:
    if mask not in MASKS:
        raise ValueError(f"unknown mask {mask!r}; choose one of {', '.join(MASKS)}")
    return mask


def check_head_init(head_init: str) -> str:
    if head_init not in HEAD_INITS:
        raise ValueError(f"unknown head_init {head_init!r}; choose one of {', '.join(HEAD_INITS)}")
    return head_init


class _KernelBase(nn.Module):
    """Shared bookkeeping: the net, its head initialisation (:data:`HEAD_INITS`), channel layout
    and coordinate dtype. ``taps``: the identity window's ``k²`` for spatial factors, 1 otherwise."""

    def __init__(
        self,
        in_features: int,
        out_channels: int,
        in_channels: int | None,
        fan_in: float,
        gain: float,
        kernel_net: str,
        net_options: dict[str, Any] | None,
        head_init: str = "channels",
        taps: int = 1,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.in_channels = in_channels
        self.head_init = check_head_init(head_init)
        self.taps = taps
        out_features = out_channels * (in_channels or 1)
        self.net: KernelNet = make_kernel_net(
            kernel_net, in_features, out_features, fan_in=fan_in, gain=gain, **(net_options or {})
        )
        if head_init == "channels":
            self.net.init_head_weights(2.0 / (self.net.hidden_features * (in_channels or 1) * taps))
        self._input_cache: tuple | None = None

    @property
    def dtype(self) -> torch.dtype:
        return self.net.head.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.net.head.weight.device

    def _inputs(self, grids: tuple[Tensor, ...], build: Callable[[], tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        """Net inputs ``[*lead, F]`` and weights ``[*lead]`` on the net's device and dtype, built (on
        the CPU, float64) once per grid: the fixed grid of ``eval()`` and ``"discretise"`` costs no
        host→device copy after the first call; a freshly sampled grid is a new entry. The cache
        holds the grid tensors themselves, so their storage cannot be reused by another grid."""
        key = (tuple((g.data_ptr(), tuple(g.shape), g.stride(), g._version) for g in grids), self.device, self.dtype)
        cached = self._input_cache
        if cached is not None and cached[0] == key:
            return cached[2]
        coords, weight = build()
        moved = (coords.to(device=self.device, dtype=self.dtype), weight.to(device=self.device, dtype=self.dtype))
        self._input_cache = (key, grids, moved)
        return moved

    def _evaluate(self, coords: Tensor, lead_shape: tuple[int, ...]) -> Tensor:
        """Evaluate the net on ``coords: [*lead_shape, F]`` and move channels to the front:
        ``→ [C_out, *lead_shape[:1], (C_in,) *lead_shape[1:]]``."""
        values = self.net(coords.reshape(-1, coords.shape[-1]))
        ci = self.in_channels
        values = values.view(*lead_shape, self.out_channels, ci or 1)
        n = len(lead_shape)
        # [lead0, lead1.., Co, Ci] -> [Co, lead0, Ci, lead1..]
        perm = [n, 0, n + 1] + list(range(1, n))
        values = values.permute(*perm)
        if ci is None:
            values = values.squeeze(2)
        return values.contiguous()


class SpatialKernel(_KernelBase):
    r"""Spatial factor :math:`k_{o[i]}(h_a^{-1} y)\,/\,|\det h_a|` for every output element.

    ``forward(grid_out: [N_out, dim]) → [C_out, N_out, (C_in,) k, k]`` (``C_in`` axis present when
    ``in_channels`` is given, i.e. the kernel depends on the input channel too). ``fan_in`` is the
    non-spatial part of the fan-in; the spatial part is :func:`effective_taps` over the grid of
    ``num_elements``.
    """

    def __init__(
        self,
        H: SubGroup,
        out_channels: int,
        in_channels: int | None,
        kernel_size: int,
        fan_in: float,
        gain: float = 2.0,
        kernel_net: str = "siren",
        net_options: dict[str, Any] | None = None,
        mask: str = "hard",
        num_elements: Any = None,
        sampling: str = "discretise",
        head_init: str = "channels",
    ) -> None:
        _check_support(H, kernel_size, _check_mask(mask), num_elements)
        taps = effective_taps(H, kernel_size, mask, num_elements, sampling)
        super().__init__(
            2, out_channels, in_channels, fan_in * taps, gain, kernel_net, net_options, head_init, kernel_size**2
        )
        self.H, self.kernel_size, self.mask = H, kernel_size, mask
        self.window, extent = kernel_window(H, kernel_size, num_elements, sampling)
        self.offsets = spatial_grid(self.window, extent)  # [window, window, 2]

    def forward(self, grid_out: Tensor) -> Tensor:
        u, w = self._inputs((grid_out,), lambda: transformed_offsets(self.H, grid_out, self.offsets, self.mask))
        values = self._evaluate(u, tuple(u.shape[:-1]))  # [Co, N, (Ci,) k, k]
        return values * (w[:, None] if self.in_channels is not None else w)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, window={self.window}, mask={self.mask!r}"


class SubgroupKernel(_KernelBase):
    r"""Subgroup factor :math:`k_{o[i]}(\log(h_a^{-1} h_b))` times the subgroup mask.

    ``forward(grid_out: [N_out, dim], grid_in: [N_in, dim]) → [C_out, N_out, (C_in,) N_in]``.
    """

    def __init__(
        self,
        H: SubGroup,
        out_channels: int,
        in_channels: int | None,
        fan_in: float,
        gain: float = 2.0,
        kernel_net: str = "siren",
        net_options: dict[str, Any] | None = None,
        head_init: str = "channels",
    ) -> None:
        super().__init__(H.embed_dim, out_channels, in_channels, fan_in, gain, kernel_net, net_options, head_init)
        self.H = H

    def _build(self, grid_out: Tensor, grid_in: Tensor) -> tuple[Tensor, Tensor]:
        v = self.H.relative(_f64(grid_out), _f64(grid_in))  # [No, Ni, dim]
        return self.H.embed(v), self.H.mask(v)

    def forward(self, grid_out: Tensor, grid_in: Tensor) -> Tensor:
        z, m = self._inputs((grid_out, grid_in), lambda: self._build(grid_out, grid_in))  # [No, Ni, F], [No, Ni]
        values = self._evaluate(z, tuple(z.shape[:-1]))  # [Co, No, (Ci,) Ni]
        return values * (m[:, None] if self.in_channels is not None else m)


class GroupKernel(_KernelBase):
    r"""Non-separable kernel :math:`k_{o[i]}(h_a^{-1} y, \log(h_a^{-1} h_b)) / |\det h_a|`.

    ``forward(grid_out, grid_in) → [C_out, N_out, (C_in,) N_in, k, k]``; ``fan_in`` excludes the
    spatial taps (see :class:`SpatialKernel`).
    """

    def __init__(
        self,
        H: SubGroup,
        out_channels: int,
        in_channels: int | None,
        kernel_size: int,
        fan_in: float,
        gain: float = 2.0,
        kernel_net: str = "siren",
        net_options: dict[str, Any] | None = None,
        mask: str = "hard",
        num_elements: Any = None,
        sampling: str = "discretise",
        head_init: str = "channels",
    ) -> None:
        _check_support(H, kernel_size, _check_mask(mask), num_elements)
        taps = effective_taps(H, kernel_size, mask, num_elements, sampling)
        super().__init__(
            2 + H.embed_dim,
            out_channels,
            in_channels,
            fan_in * taps,
            gain,
            kernel_net,
            net_options,
            head_init,
            kernel_size**2,
        )
        self.H, self.kernel_size, self.mask = H, kernel_size, mask
        self.window, extent = kernel_window(H, kernel_size, num_elements, sampling)
        self.offsets = spatial_grid(self.window, extent)  # [window, window, 2]

    def _build(self, grid_out: Tensor, grid_in: Tensor) -> tuple[Tensor, Tensor]:
        u, weight = transformed_offsets(self.H, grid_out, self.offsets, self.mask)  # [No, k, k, 2], [No, k, k]
        v = self.H.relative(_f64(grid_out), _f64(grid_in))  # [No, Ni, dim]
        no, ni, k = u.shape[0], v.shape[1], u.shape[1]
        coords = torch.cat(
            [
                u[:, None].expand(no, ni, k, k, 2),
                self.H.embed(v)[:, :, None, None, :].expand(no, ni, k, k, self.H.embed_dim),
            ],
            dim=-1,
        )
        return coords, weight[:, None] * self.H.mask(v)[:, :, None, None]  # [No, Ni, k, k, F], [No, Ni, k, k]

    def forward(self, grid_out: Tensor, grid_in: Tensor) -> Tensor:
        coords, w = self._inputs((grid_out, grid_in), lambda: self._build(grid_out, grid_in))
        values = self._evaluate(coords, tuple(coords.shape[:-1]))  # [Co, No, (Ci,) Ni, k, k]
        return values * (w[:, None] if self.in_channels is not None else w)
