"""Rotation equivariance, and :func:`check_equivariance`: every check of a layer or model at once
(quarter turns exact on the pixel grid, other angles interpolated, dilations from
:func:`~gsepconv.equivariance.scale_equivariance_error`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from ..nn.grid import GroupGrid
from .scaling import scale_equivariance_error
from .signals import smooth_noise
from .transforms import (
    check_crop,
    check_input_shape,
    check_numbers,
    disk,
    find_grid,
    model_input,
    relative_error,
    rotate,
    spatial_crop,
)

__all__ = ["check_equivariance"]


def _roll_group_axis(y: Tensor, shift: int) -> Tensor:
    return torch.roll(y, shift, dims=2) if y.dim() == 5 and shift else y


def _whole_turns(quarter_turns: Iterable[int]) -> tuple[int, ...]:
    """``quarter_turns`` as ints, or a ``ValueError`` when one is not a whole number of turns."""
    turns = check_numbers(quarter_turns, "quarter_turns")
    if any(k != round(k) for k in turns):
        raise ValueError(
            f"quarter_turns must be whole numbers of 90° turns, got {quarter_turns!r}; use angles for others"
        )
    return tuple(int(k) for k in turns)


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
    shape = check_input_shape(input_shape if x is None else tuple(x.shape))
    turns = _whole_turns(quarter_turns)
    degrees = check_numbers(angles, "angles")
    factors = check_numbers(scales, "scales", positive=True)
    crop_fraction = check_crop(crop_fraction)
    was_training = module.training
    module.eval()
    try:
        grid = grid or find_grid(module)
        results: dict[str, float] = {}
        if turns or degrees:
            x_rot = (
                x
                if x is not None
                else model_input(module, smooth_noise(shape, generator=torch.Generator().manual_seed(seed)))
            )
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
        results[name] = relative_error(y_t, expected)
    for deg in degrees:
        angle = math.radians(deg)
        shift = grid.H.rotation_shift(grid.num_elements, angle) if grid is not None else 0
        name = f"rot{deg:g}"
        if shift is None:
            results[name] = float("nan")
            continue
        y_t = module(rotate(x, angle))
        if y.dim() == 2:
            results[name] = relative_error(y_t, y)
            continue
        expected = _roll_group_axis(rotate(y, angle), shift)
        crop = spatial_crop(y_t.shape[-1], crop_fraction, y_t)
        results[name] = relative_error(y_t * crop, expected * crop)
    return results
