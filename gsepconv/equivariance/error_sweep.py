"""The equivariance error of a model against the rotation angle and the dilation factor, as a
table (one row per transformation and seed), for the sweeps of the book's tables and figures."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd
from torch import nn

from ..nn.grid import GroupGrid
from .checks import check_equivariance
from .scaling import scale_equivariance_error, scale_steps
from .transforms import check_input_shape, check_numbers, find_grid

__all__ = ["equivariance_sweep"]

_COLUMNS = ["transformation", "angle", "factor", "grid_steps", "seed", "error"]


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
    shape = check_input_shape(input_shape, square=True)
    degrees = check_numbers(angles, "angles")
    factors = check_numbers(scales, "scales", positive=True)
    seed_list = [int(v) for v in check_numbers(seeds, "seeds")]
    grid = grid or find_grid(model)
    rows: list[dict] = []
    for seed in seed_list:
        rows += _rotation_rows(model, shape, degrees, grid, seed, crop_fraction)
        rows += _scale_rows(
            model,
            shape,
            factors,
            grid,
            seed,
            crop_fraction=crop_fraction,
            interpolation=interpolation,
            exclude_truncation=exclude_truncation,
        )
    return pd.DataFrame(rows, columns=_COLUMNS)


def _rotation_error(
    model: nn.Module, shape: Sequence[int], deg: float, grid: GroupGrid | None, seed: int, crop_fraction: float
) -> float:
    """The error of one rotation by ``deg`` degrees: a multiple of 90° is checked exactly with
    ``torch.rot90`` (0 for a whole number of turns), any other angle by bilinear interpolation on
    the central ``crop_fraction`` of a disk-masked input."""
    turns = deg / 90.0
    if abs(turns - round(turns)) < 1e-12:
        k = int(round(turns)) % 4
        errs = check_equivariance(model, input_shape=shape, quarter_turns=(k,) if k else (), grid=grid, seed=seed)
        return errs.get(f"rot{90 * k}", 0.0)
    errs = check_equivariance(
        model,
        input_shape=shape,
        quarter_turns=(),
        angles=(deg,),
        grid=grid,
        seed=seed,
        crop_fraction=crop_fraction,
    )
    return errs[f"rot{deg:g}"]


def _rotation_rows(
    model: nn.Module,
    shape: Sequence[int],
    degrees: Sequence[float],
    grid: GroupGrid | None,
    seed: int,
    crop_fraction: float,
) -> list[dict]:
    """One row per angle of ``degrees`` for input ``seed``, with the roll the rotation induces on
    the group axis (``nan`` where the grid is not closed under it)."""
    rows = []
    for deg in degrees:
        error = _rotation_error(model, shape, deg, grid, seed, crop_fraction)
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
    return rows


def _scale_rows(
    model: nn.Module,
    shape: Sequence[int],
    factors: Sequence[float],
    grid: GroupGrid | None,
    seed: int,
    *,
    crop_fraction: float,
    interpolation: str,
    exclude_truncation: bool,
) -> list[dict]:
    """One row per dilation factor of ``factors`` for input ``seed`` (one call of
    :func:`~gsepconv.equivariance.scale_equivariance_error` for all of them), with the
    shift the dilation induces along the scale axis (``nan`` between grid steps)."""
    if not factors:
        return []
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
    rows = []
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
    return rows
