r"""Equivariance as an API: measure how far a layer or model is from commuting with the group.

For a transformation :math:`g` of the plane, the checks compare :math:`Φ(L_g f)` with
:math:`L_g Φ(f)`, where :math:`L_g` acts on outputs by transforming space and moving along the
group axis by the number of grid steps it induces (a roll for rotations; a shift along the scale
axis for dilations). Outputs may be group feature maps ``[B, C, N, H, W]``, planar maps
``[B, C, H, W]`` or invariant vectors ``[B, K]``. Every error is relative,
``‖Φ(L_g f) − L_g Φ(f)‖ / ‖L_g Φ(f)‖`` on the compared region.

* 90° rotations are exact on the pixel grid (``torch.rot90``): the error is round-off only
  (:func:`check_equivariance`, ``quarter_turns``).
* Other angles need interpolation: inputs are masked to a disk, rotated by bilinear resampling,
  and errors are measured on a central crop (``angles``). A *measured* approximation, not zero.
* Dilations (:func:`scale_equivariance_error`) are measured the way the scale-equivariance
  literature does it (Sosnovik et al. 2020; Worrall & Welling 2019): smooth, band-limited inputs
  whose dilation is computed exactly (sums of Gaussian bumps, :class:`BumpField`), outputs
  dilated by bicubic resampling, float64, a central spatial crop away from the borders, and only
  the part of the scale axis that both the input and the dilated input cover — without the
  truncation artefacts of a scale axis cut to ``[1, S]`` (see :func:`scale_equivariance_error`).
* :func:`equivariance_sweep` tabulates the error against the rotation angle and the dilation
  factor (a :class:`pandas.DataFrame`).

Controls matter: a plain ``nn.Conv2d`` stack is measured the same way, so a reader can tell a
small error from the floor that interpolation alone would give.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from numbers import Real

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .groups.interface import SubGroup
from .groups.subgroups import Dilation
from .nn.grid import GroupGrid

INTERPOLATIONS = ("bilinear", "bicubic")


def find_grid(module: nn.Module) -> GroupGrid | None:
    """The first :class:`GroupGrid` inside ``module`` (``None`` for plain CNNs)."""
    for m in module.modules():
        if isinstance(m, GroupGrid):
            return m
    return None


# --- argument checks ------------------------------------------------------------------------------
def _check_input_shape(input_shape: Sequence[int], square: bool = False) -> tuple[int, int, int, int]:
    """``input_shape`` must be ``(B, C, H, W)`` of positive ints (``H == W`` when ``square``)."""
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise ValueError(f"input_shape must be a sequence (B, C, H, W) of 4 positive ints, got {input_shape!r}")
    shape = tuple(input_shape)
    if len(shape) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
        raise ValueError(f"input_shape must be (B, C, H, W): 4 positive ints, got {input_shape!r}")
    if square and shape[2] != shape[3]:
        raise ValueError(f"rotations and dilations need square images, got input_shape={input_shape!r}")
    return shape  # type: ignore[return-value]


def _check_numbers(values: Iterable[float], what: str, positive: bool = False) -> tuple[float, ...]:
    """Finite real numbers (``> 0`` when ``positive``) or a ``ValueError`` naming ``what``."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{what} must be a sequence of numbers, got the string {values!r}")
    try:
        items = tuple(values)
    except TypeError:
        raise ValueError(f"{what} must be a sequence of numbers, got {values!r}") from None
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(float(v)):
            raise ValueError(f"{what} must be finite numbers, got {v!r} in {items!r}")
        if positive and not float(v) > 0:
            raise ValueError(f"{what} must be positive dilation factors (e.g. 1.32), got {v!r} in {items!r}")
        out.append(float(v))
    return tuple(out)


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
    return value


def _check_crop(crop_fraction: float) -> float:
    if isinstance(crop_fraction, bool) or not isinstance(crop_fraction, Real) or not 0 < float(crop_fraction) <= 1:
        raise ValueError(f"crop_fraction must be a number in (0, 1], got {crop_fraction!r}")
    return float(crop_fraction)


# --- transformations of images and feature maps --------------------------------------------------
def rotate(x: Tensor, angle: float, mode: str = "bilinear") -> Tensor:
    """Rotate images ``[..., H, W]`` counter-clockwise by ``angle`` (radians) about the centre,
    zero outside; for multiples of 90° on square images this equals ``torch.rot90``."""
    return _affine(x, torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]), mode)


def dilate(x: Tensor, factor: float, mode: str = "bilinear") -> Tensor:
    r"""Magnify images ``[..., H, W]`` by ``factor`` about the centre, :math:`(L_s x)(p) = x(p/s)`
    (``mode``: ``"bilinear"`` or ``"bicubic"``, zero outside; pixel centres span ``[-1, 1]``,
    ``align_corners=True``, the convention of :func:`rotate` and ``torch.rot90``)."""
    if not factor > 0:
        raise ValueError(f"factor must be positive, got {factor!r}")
    return _affine(x, torch.eye(2, dtype=torch.float64) / factor, mode)


def _affine(x: Tensor, a: Tensor, mode: str = "bilinear") -> Tensor:
    """Resample ``x`` at ``A p`` for every output pixel ``p`` (image coordinates, y down)."""
    _check_choice(mode, INTERPOLATIONS, "interpolation")
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"arbitrary rotations/dilations need square images, got {tuple(x.shape[-2:])}")
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, *x.shape[-2:])
    theta = torch.zeros(flat.shape[0], 2, 3, dtype=x.dtype, device=x.device)
    theta[:, :, :2] = a.to(x)
    grid = F.affine_grid(theta, list(flat.shape), align_corners=True)
    out = F.grid_sample(flat, grid, mode=mode, padding_mode="zeros", align_corners=True)
    return out.reshape(*lead, *x.shape[-2:])


def disk(size: int, radius: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """``[size, size]`` indicator of pixels within ``radius`` (pixels) of the centre."""
    c = (size - 1) / 2
    ij = torch.arange(size, dtype=torch.float64) - c
    r = torch.sqrt(ij[:, None] ** 2 + ij[None, :] ** 2)
    return (r <= radius).to(dtype)


# --- test signals -------------------------------------------------------------------------------
def smooth_noise(shape: Sequence[int], sigma: float = 1.5, generator: torch.Generator | None = None) -> Tensor:
    """Gaussian noise ``shape = [B, C, H, W]`` blurred with a Gaussian of ``sigma`` pixels: a test
    signal with little energy above the pixel grid's Nyquist limit, so interpolation errors of
    non-90° transformations stay small and the measured error reflects the model."""
    noise = torch.randn(*shape, generator=generator, dtype=torch.float64)
    radius = int(math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    b, c, h, w = noise.shape
    flat = noise.reshape(b * c, 1, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), g.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), g.view(1, 1, -1, 1))
    flat = flat / flat.std()
    return flat.reshape(b, c, h, w)


@dataclass(frozen=True)
class BumpField:
    r"""A smooth, band-limited, compactly concentrated test image: a sum of Gaussian bumps

    .. math:: f(p) = \sum_m a_m \exp\big(-|p - c_m|^2 / (2σ^2)\big)

    with ``centres: [B, C, M, 2]`` (pixels from the image centre, ``(x, y)`` with y down),
    ``amplitudes: [B, C, M]`` and width ``sigma`` (pixels). Its dilation is exact —
    :math:`f(p/s)` is the same sum with centres :math:`s c_m` and width :math:`sσ` — so the
    dilated input carries no interpolation error. Its spectrum falls as :math:`e^{-σ^2ω^2/2}`:
    at ``σ = 2`` px the Nyquist frequency keeps ~3e-9 of the amplitude.
    """

    centres: Tensor
    amplitudes: Tensor
    sigma: float
    size: int

    def render(self, factor: float = 1.0) -> Tensor:
        """``[B, C, size, size]`` float64 image of :math:`f(p / \\text{factor})`."""
        if not factor > 0:
            raise ValueError(f"factor must be positive, got {factor!r}")
        t = torch.arange(self.size, dtype=torch.float64) - (self.size - 1) / 2
        py, px = torch.meshgrid(t, t, indexing="ij")
        c = self.centres * factor  # [B, C, M, 2]
        dx = px[None, None, None] - c[..., 0, None, None]
        dy = py[None, None, None] - c[..., 1, None, None]
        bumps = torch.exp(-(dx**2 + dy**2) / (2 * (self.sigma * factor) ** 2))
        return (self.amplitudes[..., None, None] * bumps).sum(dim=2)


def random_bumps(
    input_shape: Sequence[int],
    *,
    sigma: float = 2.0,
    num_bumps: int = 16,
    max_factor: float = 1.0,
    generator: torch.Generator | None = None,
) -> BumpField:
    """A :class:`BumpField` of ``input_shape = (B, C, H, H)`` with ``num_bumps`` bumps per image
    and channel, centres uniform in the disk that keeps the field (to ``3σ``) inside the image
    even after magnification by ``max_factor``; amplitudes standard normal.

    Raises ``ValueError`` when the image is too small for ``sigma`` and ``max_factor``."""
    b, c, h, w = _check_input_shape(input_shape, square=True)
    if not sigma > 0 or not max_factor > 0 or num_bumps < 1:
        raise ValueError(
            f"need sigma > 0, max_factor > 0, num_bumps >= 1; got {sigma!r}, {max_factor!r}, {num_bumps!r}"
        )
    radius = (h - 1) / 2 / max(max_factor, 1.0) - 3 * sigma
    if radius <= 0:
        raise ValueError(
            f"a {h}x{h} image cannot hold bumps of sigma={sigma} px magnified by {max_factor}; "
            f"use a larger image or a smaller sigma"
        )
    r = radius * torch.sqrt(torch.rand(b, c, num_bumps, generator=generator, dtype=torch.float64))
    phi = 2 * math.pi * torch.rand(b, c, num_bumps, generator=generator, dtype=torch.float64)
    centres = torch.stack([r * torch.cos(phi), r * torch.sin(phi)], dim=-1)
    amplitudes = torch.randn(b, c, num_bumps, generator=generator, dtype=torch.float64)
    return BumpField(centres, amplitudes, float(sigma), h)


# --- how a dilation moves the sampled grid ---------------------------------------------------------
def _scale_axis(H: SubGroup) -> int | None:
    """Index of the dilation factor among ``H.factors`` (``None`` if ``H`` has none)."""
    for i, f in enumerate(H.factors):
        if isinstance(f, Dilation):
            return i
    return None


def grid_scale_factors(grid: GroupGrid) -> tuple[float, ...]:
    """Dilation factors ``exp(k·Δ)``, ``k = 1 … n_scale − 1``, of whole steps of the grid's scale
    axis, with ``Δ`` read off the grid itself (``H.grid`` differences, not a formula); ``()``
    for grids without a dilation factor or with a single scale."""
    axis = _scale_axis(grid.H)
    if axis is None:
        return ()
    factor, n = grid.H.factors[axis], grid.num_elements[axis]
    logs = factor.grid(n)[:, 0]
    if n < 2:
        return ()
    delta = float(logs[1] - logs[0])
    return tuple(math.exp(k * delta) for k in range(1, n))


def scale_steps(grid: GroupGrid | None, factor: float) -> int | None:
    """Grid steps along the scale axis that a dilation by ``factor`` induces (``H.scale_shift``):
    0 for grids without a dilation factor (and for plain CNNs, ``grid=None``), ``None`` when the
    factor is not a whole number of steps."""
    if not factor > 0:
        raise ValueError(f"factor must be positive, got {factor!r}")
    if grid is None:
        return 0
    axis = _scale_axis(grid.H)
    if axis is None:
        return 0
    return grid.H.factors[axis].scale_shift(grid.num_elements[axis], math.log(factor))


def _dilation_element(H: SubGroup, log_factor: float) -> Tensor:
    """The element of ``H`` that dilates the plane by ``exp(log_factor)``: ``[dim]`` float64."""
    parts = [
        torch.tensor([log_factor], dtype=torch.float64) if isinstance(f, Dilation) else f.identity() for f in H.factors
    ]
    return torch.cat(parts)


def _clear_kernel_caches(module: nn.Module) -> None:
    for m in module.modules():
        clear = getattr(m, "clear_kernel_cache", None)
        if callable(clear):
            clear()


@contextlib.contextmanager
def dilated_grids(module: nn.Module, log_factor: float) -> Iterator[list[GroupGrid]]:
    r"""Temporarily left-multiply the fixed grid of every :class:`GroupGrid` with a dilation factor
    inside ``module`` by the dilation :math:`e^{\text{log\_factor}}` (kernel caches are cleared on
    entry and exit). Kernels depend on relative elements only, so in the continuum
    :math:`Φ_G(L_s f) = L_s Φ_{s^{-1}G}(f)` *exactly*, for a whole network, however its layers mix
    scales: the dilated grid is what the undilated input must be seen on."""
    grids = [m for m in module.modules() if isinstance(m, GroupGrid) and _scale_axis(m.H) is not None]
    saved = [g.fixed for g in grids]
    try:
        for g in grids:
            g.fixed = g.H.product(_dilation_element(g.H, log_factor)[None], g.fixed)
        _clear_kernel_caches(module)
        yield grids
    finally:
        for g, fixed in zip(grids, saved):
            g.fixed = fixed
        _clear_kernel_caches(module)


def _split_scale_axis(y: Tensor, grid: GroupGrid) -> tuple[Tensor, int]:
    """``[B, C, N, H, W] → [B, C, *num_elements, H, W]`` and the dim of the scale axis."""
    axis = _scale_axis(grid.H)
    assert axis is not None
    return y.reshape(*y.shape[:2], *grid.num_elements, *y.shape[-2:]), 2 + axis


def _spatial_crop(size: int, crop_fraction: float, like: Tensor) -> Tensor:
    return disk(size, crop_fraction * (size - 1) / 2, like.dtype).to(like.device)


def _relative_error(a: Tensor, b: Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def _model_input(module: nn.Module, x: Tensor) -> Tensor:
    param = next(module.parameters(), None)
    return x.to(param) if param is not None else x


# --- scale equivariance ---------------------------------------------------------------------------
@torch.no_grad()
def scale_equivariance_error(
    module: nn.Module,
    x: Tensor | None = None,
    *,
    scales: Iterable[float],
    input_shape: Sequence[int] = (2, 1, 41, 41),
    crop_fraction: float = 0.5,
    interpolation: str = "bicubic",
    exclude_truncation: bool = True,
    sigma: float = 2.0,
    num_bumps: int = 16,
    grid: GroupGrid | None = None,
    seed: int = 0,
) -> dict[str, float]:
    r"""Relative scale-equivariance error :math:`‖Φ(L_s f) − L_s Φ(f)‖ / ‖L_s Φ(f)‖` per factor.

    :math:`(L_s f)(p) = f(p/s)` magnifies the input; on group feature maps ``[B, C, N, H, W]``
    :math:`L_s` magnifies space (``interpolation``, ``align_corners=True``) and shifts the scale
    axis by ``k = H.scale_shift(num_elements, log s)`` grid steps (output scale :math:`s_j` of the
    magnified input is scale :math:`s_{j-k}` of the original).

    **The compared region.** The scale axis is truncated to ``[1, S]``: the magnified input's
    scale-:math:`s_0` channel has no counterpart, and every layer that mixes scales spreads that
    (and the missing channel :math:`s_{N}` of the original) over *all* output channels — after one
    group convolution on 3 scales nothing is free of it. These truncation artefacts are a
    property of cutting the axis, not of the discretisation, so with ``exclude_truncation=True``
    (default) they are removed exactly: the network on the dilated grid :math:`s^{-1}G` (see
    :func:`dilated_grids`) computes :math:`Φ(f)` on the scales :math:`s_{j-k}` that
    :math:`Φ(L_s f)` needs, and channels are compared only where both passes sample scales
    inside ``[1, S]`` (``j ≥ |k|``; for ``s < 1`` the magnified pass uses :math:`sG`).
    What remains is the pixel-grid error: aliasing of dilated kernels, interpolation of the
    outputs, borders. ``exclude_truncation=False`` keeps the model's own grid in both passes and
    compares the channels that both cover (the artefacts included).

    Spatially, errors are taken on the central disk of radius ``crop_fraction`` of the output,
    and the default input is a :class:`BumpField` (``sigma`` px, dilated exactly, sized so that
    the magnified field still fits). Outputs without a group axis (``[B, C, H, W]`` dilated in
    space only; ``[B, K]`` compared as they are) are measured on the model's own grid.

    **What it cannot see, and its floor.** The dilated-grid reference assumes that channel ``j``
    of the group axis belongs to grid element ``j`` (true of every layer here: kernels are
    functions of the grid); a permutation of the axis applied after the layers acts on both
    passes alike and goes unnoticed — ``exclude_truncation=False`` on a layer without scale
    mixing catches it. Resampling the outputs costs ~1–2 % even for outputs as smooth as the
    input (bicubic, ``σ = 2`` px bumps magnified by 1.5), so errors of a few percent are at the
    floor; a plain ``nn.Conv2d`` control is the yardstick (0.3–0.6 at one step of 1.32).

    Args:
        module: a layer or model (evaluated in ``eval()``, float64 recommended).
        x: an input ``[B, C, H, H]`` (dilated by ``interpolation``); default: random bumps of
            ``input_shape`` drawn with ``seed``.
        scales: dilation factors ``s > 0``; for scale groups whole grid steps
            (:func:`grid_scale_factors`), otherwise the entry is ``nan``.
        grid: the :class:`GroupGrid` describing the output's group axis (default: the first one
            in ``module``; ``None`` for plain CNNs).
    Returns:
        ``{"scale1.32": error, …}`` (keys formatted with ``:g``).
    """
    factors = _check_numbers(scales, "scales", positive=True)
    crop_fraction = _check_crop(crop_fraction)
    _check_choice(interpolation, INTERPOLATIONS, "interpolation")
    if x is None:
        _check_input_shape(input_shape, square=True)
        field = random_bumps(
            input_shape,
            sigma=sigma,
            num_bumps=num_bumps,
            max_factor=max(factors + (1.0,)),
            generator=torch.Generator().manual_seed(seed),
        )
        make = field.render
    else:
        if x.dim() != 4:
            raise ValueError(f"x must be [B, C, H, W], got shape {tuple(x.shape)}")
        make = lambda s: x if s == 1.0 else dilate(x, s, interpolation)  # noqa: E731
    grid = grid or find_grid(module)
    was_training = module.training
    module.eval()
    try:
        modes = (exclude_truncation,)
        return {
            f"scale{s:g}": scale_errors(module, make, s, grid, crop_fraction, interpolation, modes)[0] for s in factors
        }
    finally:
        module.train(was_training)


def scale_errors(
    module: nn.Module,
    make,
    s: float,
    grid: GroupGrid | None,
    crop_fraction: float,
    interpolation: str,
    modes: tuple[bool, ...],
) -> list[float]:
    """The error of :func:`scale_equivariance_error` for each ``exclude_truncation`` in ``modes``,
    sharing the forward passes the modes have in common: the equivariance report measures both
    modes of one dilation ``s`` for the cost of one."""
    steps = scale_steps(grid, s)
    if steps is None:
        return [float("nan") for _ in modes]
    has_axis = grid is not None and _scale_axis(grid.H) is not None and steps != 0
    if has_axis and any(modes) and not any(isinstance(m, GroupGrid) for m in module.modules()):
        raise ValueError(
            "exclude_truncation=True needs the model's GroupGrid to evaluate it on the dilated grid "
            "(an exported model has none); pass exclude_truncation=False"
        )
    x0, xs = _model_input(module, make(1.0)), _model_input(module, make(s))
    down = -abs(math.log(s))
    outputs: dict[tuple[str, bool], Tensor] = {}

    def run(which: str, shifted: bool) -> Tensor:
        if (which, shifted) not in outputs:
            with dilated_grids(module, down) if shifted else contextlib.nullcontext():
                outputs[(which, shifted)] = module(xs if which == "dilated" else x0)
        return outputs[(which, shifted)]

    errors = []
    for exclude in modes:
        shift_grid = has_axis and exclude
        y_s = run("dilated", shift_grid and s < 1)
        y_0 = run("original", shift_grid and s > 1)
        errors.append(_compare_dilated(y_s, y_0, s, steps, grid, crop_fraction, interpolation, has_axis, shift_grid))
    return errors


def _compare_dilated(
    y_s: Tensor,
    y_0: Tensor,
    s: float,
    steps: int,
    grid: GroupGrid | None,
    crop_fraction: float,
    interpolation: str,
    has_axis: bool,
    shift_grid: bool,
) -> float:
    """Relative error between ``y_s = Φ(L_s f)`` and ``L_s y_0`` on the compared region."""
    if y_s.dim() == 2:
        return _relative_error(y_s, y_0)
    expected = dilate(y_0, s, interpolation)
    crop = _spatial_crop(y_s.shape[-1], crop_fraction, y_s)
    a, b = y_s * crop, expected * crop
    if y_s.dim() != 5 or not has_axis or grid is None or y_s.shape[2] != grid.size:
        return _relative_error(a, b)
    a, dim = _split_scale_axis(a, grid)
    b, _ = _split_scale_axis(b, grid)
    n = a.shape[dim]
    if not shift_grid:  # the model's own grid: shift the expected output along the scale axis
        b = torch.roll(b, steps, dims=dim)
    keep = torch.arange(abs(steps), n) if (shift_grid or steps > 0) else torch.arange(0, n + steps)
    return _relative_error(a.index_select(dim, keep.to(a.device)), b.index_select(dim, keep.to(b.device)))


# --- rotations, and all checks at once --------------------------------------------------------------
def _roll_group_axis(y: Tensor, shift: int) -> Tensor:
    return torch.roll(y, shift, dims=2) if y.dim() == 5 and shift else y


@torch.no_grad()
def check_equivariance(
    module: nn.Module,
    x: Tensor | None = None,
    *,
    input_shape: Sequence[int] = (2, 1, 28, 28),
    quarter_turns: Iterable[int] = (1, 2, 3),
    angles: Iterable[float] = (),
    scales: Iterable[float] = (),
    crop_fraction: float = 0.5,
    grid: GroupGrid | None = None,
    seed: int = 0,
    interpolation: str = "bicubic",
    exclude_truncation: bool = True,
) -> dict[str, float]:
    """Relative error ``‖f(g·x) − g·f(x)‖ / ‖g·f(x)‖`` per transformation (module in eval mode).

    Args:
        module: a layer or model; its first :class:`GroupGrid` tells how outputs move along ``N``.
        x: input ``[B, C, H, W]`` (default: :func:`smooth_noise` of ``input_shape``; disk-masked
            for non-90° rotations; scales default to :func:`random_bumps` instead).
        quarter_turns: exact checks with ``torch.rot90`` (keys ``"rot90"``, ``"rot180"`` …).
        angles: other rotation angles in degrees (keys ``"rot45"`` …), measured with bilinear
            interpolation on the central ``crop_fraction`` of the image.
        scales: dilation factors (keys ``"scale1.32"`` …), measured by
            :func:`scale_equivariance_error` (``interpolation``, ``exclude_truncation``); for
            scale groups use whole grid steps (:func:`grid_scale_factors`).
    Returns:
        ``{name: relative error}``; ``nan`` where a transformation does not map the sampled grid
        onto itself (e.g. 45° with 4 rotations, a dilation between grid steps).
    """
    shape = _check_input_shape(input_shape if x is None else tuple(x.shape))
    turns_f = _check_numbers(quarter_turns, "quarter_turns")
    if any(k != round(k) for k in turns_f):
        raise ValueError(
            f"quarter_turns must be whole numbers of 90° turns, got {quarter_turns!r}; use angles for others"
        )
    turns = tuple(int(k) for k in turns_f)
    degrees = _check_numbers(angles, "angles")
    factors = _check_numbers(scales, "scales", positive=True)
    crop_fraction = _check_crop(crop_fraction)
    was_training = module.training
    module.eval()
    try:
        grid = grid or find_grid(module)
        results: dict[str, float] = {}
        if turns or degrees:
            if x is None:
                x_rot = _model_input(module, smooth_noise(shape, generator=torch.Generator().manual_seed(seed)))
            else:
                x_rot = x
            results.update(_rotation_errors(module, x_rot, turns, degrees, grid, crop_fraction))
        if factors:
            results.update(
                scale_equivariance_error(
                    module,
                    x,
                    scales=factors,
                    input_shape=shape,
                    crop_fraction=crop_fraction,
                    interpolation=interpolation,
                    exclude_truncation=exclude_truncation,
                    grid=grid,
                    seed=seed,
                )
            )
        return results
    finally:
        module.train(was_training)


def _rotation_errors(
    module: nn.Module,
    x: Tensor,
    turns: tuple[int, ...],
    degrees: tuple[float, ...],
    grid: GroupGrid | None,
    crop_fraction: float,
) -> dict[str, float]:
    """Quarter turns (exact) and other angles (bilinear, on a central crop). With ``degrees`` the
    input is masked to its inscribed disk (nothing is rotated out of the image), and the quarter
    turns reuse that input and its output."""
    if degrees:
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"arbitrary rotations need square images, got {tuple(x.shape[-2:])}")
        size = x.shape[-1]
        x = x * disk(size, (size - 1) / 2, x.dtype).to(x.device)
    y = module(x)
    results: dict[str, float] = {}
    for k in turns:
        shift = grid.H.rotation_shift(grid.num_elements, k * math.pi / 2) if grid is not None else 0
        name = f"rot{90 * k}"
        if shift is None:
            results[name] = float("nan")
            continue
        y_t = module(torch.rot90(x, k, dims=(-2, -1)))
        expected = y if y.dim() == 2 else _roll_group_axis(torch.rot90(y, k, dims=(-2, -1)), shift)
        results[name] = _relative_error(y_t, expected)
    for deg in degrees:
        angle = math.radians(deg)
        shift = grid.H.rotation_shift(grid.num_elements, angle) if grid is not None else 0
        name = f"rot{deg:g}"
        if shift is None:
            results[name] = float("nan")
            continue
        y_t = module(rotate(x, angle))
        if y.dim() == 2:
            results[name] = _relative_error(y_t, y)
            continue
        expected = _roll_group_axis(rotate(y, angle), shift)
        crop = _spatial_crop(y_t.shape[-1], crop_fraction, y_t)
        results[name] = _relative_error(y_t * crop, expected * crop)
    return results


# --- sweeps for tables and figures -----------------------------------------------------------------
def equivariance_sweep(
    model: nn.Module,
    input_shape: Sequence[int] = (2, 1, 41, 41),
    *,
    angles: Iterable[float] = (),
    scales: Iterable[float] = (),
    seeds: Iterable[int] = (0,),
    crop_fraction: float = 0.5,
    interpolation: str = "bicubic",
    exclude_truncation: bool = True,
    grid: GroupGrid | None = None,
) -> pd.DataFrame:
    """Equivariance error against the rotation angle and the dilation factor, one row per
    transformation and seed.

    Rotations by multiples of 90° use ``torch.rot90`` (exact on the pixel grid), other angles
    bilinear interpolation on a disk-masked smooth input (:func:`check_equivariance`); dilations
    use :func:`scale_equivariance_error`. Columns: ``transformation`` (``"rotation"`` or
    ``"scale"``), ``angle`` (degrees; ``nan`` for scales), ``factor`` (``nan`` for rotations),
    ``grid_steps`` (roll or scale shift the transformation induces on the model's grid; ``nan``
    where the grid is not closed under it, and then ``error`` is ``nan`` too), ``seed`` and
    ``error`` (relative). ``seed`` draws the random input (the model is used as given).
    """
    shape = _check_input_shape(input_shape, square=True)
    degrees = _check_numbers(angles, "angles")
    factors = _check_numbers(scales, "scales", positive=True)
    seed_list = [int(v) for v in _check_numbers(seeds, "seeds")]
    grid = grid or find_grid(model)
    rows: list[dict] = []
    for seed in seed_list:
        for deg in degrees:
            turns = deg / 90.0
            exact = abs(turns - round(turns)) < 1e-12
            if exact:
                errs = check_equivariance(
                    model,
                    input_shape=shape,
                    quarter_turns=(int(round(turns)) % 4,) if round(turns) % 4 else (),
                    grid=grid,
                    seed=seed,
                )
                error = errs.get(f"rot{90 * (int(round(turns)) % 4)}", 0.0)
            else:
                errs = check_equivariance(
                    model,
                    input_shape=shape,
                    quarter_turns=(),
                    angles=(deg,),
                    grid=grid,
                    seed=seed,
                    crop_fraction=crop_fraction,
                )
                error = errs[f"rot{deg:g}"]
            shift = grid.H.rotation_shift(grid.num_elements, math.radians(deg)) if grid is not None else 0
            rows.append(
                {
                    "transformation": "rotation",
                    "angle": deg,
                    "factor": float("nan"),
                    "grid_steps": float("nan") if shift is None else shift,
                    "seed": seed,
                    "error": error,
                }
            )
        if factors:
            errs = scale_equivariance_error(
                model,
                scales=factors,
                input_shape=shape,
                crop_fraction=crop_fraction,
                interpolation=interpolation,
                exclude_truncation=exclude_truncation,
                grid=grid,
                seed=seed,
            )
            for s in factors:
                steps = scale_steps(grid, s)
                rows.append(
                    {
                        "transformation": "scale",
                        "angle": float("nan"),
                        "factor": s,
                        "grid_steps": float("nan") if steps is None else steps,
                        "seed": seed,
                        "error": errs[f"scale{s:g}"],
                    }
                )
    columns = ["transformation", "angle", "factor", "grid_steps", "seed", "error"]
    return pd.DataFrame(rows, columns=columns)


__all__ = [
    "INTERPOLATIONS",
    "BumpField",
    "check_equivariance",
    "dilate",
    "dilated_grids",
    "disk",
    "equivariance_sweep",
    "find_grid",
    "grid_scale_factors",
    "random_bumps",
    "rotate",
    "scale_equivariance_error",
    "scale_errors",
    "scale_steps",
    "smooth_noise",
]
