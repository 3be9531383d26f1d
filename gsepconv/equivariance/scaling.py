r"""Scale equivariance: how a dilation moves a model's sampled grid, and the measured error.

A dilation :math:`L_s` by a factor :math:`s` magnifies the plane and shifts the scale axis of a
group feature map by ``k = H.scale_shift(num_elements, log s)`` grid steps. Because a scale axis
sampled on ``[1, S]`` is truncated, the error is measured on a dilated copy of the model's grid
(:func:`dilated_grids`), which removes the truncation artefacts exactly
(:func:`scale_equivariance_error`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from ..groups import Dilation, SubGroup
from ..nn.grid import GroupGrid
from .signals import random_bumps
from .transforms import (
    INTERPOLATIONS,
    check_choice,
    check_crop,
    check_input_shape,
    check_numbers,
    dilate,
    find_grid,
    model_input,
    relative_error,
    spatial_crop,
)

__all__ = ["dilated_grids", "grid_scale_factors", "scale_equivariance_error", "scale_errors", "scale_steps"]


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


# --- scale equivariance ---------------------------------------------------------------------------
def _dilated_inputs(
    x: Tensor | None,
    input_shape: Sequence[int],
    factors: tuple[float, ...],
    interpolation: str,
    *,
    sigma: float,
    num_bumps: int,
    seed: int,
) -> Callable[[float], Tensor]:
    """``make(s)``: the input magnified by ``s`` (``make(1.0)`` the input itself). Without ``x``,
    a :class:`BumpField` of ``input_shape`` drawn with ``seed`` and rendered exactly at every
    factor, its bumps placed so that the largest of ``factors`` keeps them inside the image;
    with ``x`` (``[B, C, H, W]``), ``x`` resampled by ``interpolation``."""
    if x is None:
        check_input_shape(input_shape, square=True)
        field = random_bumps(
            input_shape,
            sigma=sigma,
            num_bumps=num_bumps,
            max_factor=max(factors + (1.0,)),
            generator=torch.Generator().manual_seed(seed),
        )
        return field.render
    if x.dim() != 4:
        raise ValueError(f"x must be [B, C, H, W], got shape {tuple(x.shape)}")
    return lambda s: x if s == 1.0 else dilate(x, s, interpolation)


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
    factors = check_numbers(scales, "scales", positive=True)
    crop_fraction = check_crop(crop_fraction)
    check_choice(interpolation, INTERPOLATIONS, "interpolation")
    make = _dilated_inputs(x, input_shape, factors, interpolation, sigma=sigma, num_bumps=num_bumps, seed=seed)
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
    x0, xs = model_input(module, make(1.0)), model_input(module, make(s))
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
        return relative_error(y_s, y_0)
    expected = dilate(y_0, s, interpolation)
    crop = spatial_crop(y_s.shape[-1], crop_fraction, y_s)
    a, b = y_s * crop, expected * crop
    if y_s.dim() != 5 or not has_axis or grid is None or y_s.shape[2] != grid.size:
        return relative_error(a, b)
    a, dim = _split_scale_axis(a, grid)
    b, _ = _split_scale_axis(b, grid)
    n = a.shape[dim]
    if not shift_grid:  # the model's own grid: shift the expected output along the scale axis
        b = torch.roll(b, steps, dims=dim)
    keep = torch.arange(abs(steps), n) if (shift_grid or steps > 0) else torch.arange(0, n + steps)
    return relative_error(a.index_select(dim, keep.to(a.device)), b.index_select(dim, keep.to(b.device)))
