"""Transformations of images and feature maps, and what every measurement shares: the argument
checks, the compared region (a central disk), the relative error and the model's input dtype.

Images ``[..., H, W]`` are resampled about their centre with pixel centres spanning ``[-1, 1]``
(``align_corners=True``), zero outside; a rotation by a multiple of 90° then equals
``torch.rot90`` on square images.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.grid import GroupGrid

__all__ = [
    "INTERPOLATIONS",
    "check_choice",
    "check_crop",
    "check_input_shape",
    "check_numbers",
    "dilate",
    "disk",
    "find_grid",
    "model_input",
    "relative_error",
    "rotate",
    "spatial_crop",
]

INTERPOLATIONS = ("bilinear", "bicubic")


def find_grid(module: nn.Module) -> GroupGrid | None:
    """The first :class:`GroupGrid` inside ``module`` (``None`` for plain CNNs)."""
    for m in module.modules():
        if isinstance(m, GroupGrid):
            return m
    return None


# --- argument checks ------------------------------------------------------------------------------
def check_input_shape(input_shape: Sequence[int], square: bool = False) -> tuple[int, int, int, int]:
    """``input_shape`` must be ``(B, C, H, W)`` of positive ints (``H == W`` when ``square``)."""
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise ValueError(f"input_shape must be a sequence (B, C, H, W) of 4 positive ints, got {input_shape!r}")
    shape = tuple(input_shape)
    if len(shape) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
        raise ValueError(f"input_shape must be (B, C, H, W): 4 positive ints, got {input_shape!r}")
    if square and shape[2] != shape[3]:
        raise ValueError(f"rotations and dilations need square images, got input_shape={input_shape!r}")
    return shape  # type: ignore[return-value]


def check_numbers(values: Iterable[float], what: str, positive: bool = False) -> tuple[float, ...]:
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


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``choices``, otherwise a ``ValueError`` naming ``what``."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
    return value


def check_crop(crop_fraction: float) -> float:
    """``crop_fraction`` as a float in ``(0, 1]``, otherwise a ``ValueError``."""
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
    check_choice(mode, INTERPOLATIONS, "interpolation")
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


# --- the compared region and the error ------------------------------------------------------------
def spatial_crop(size: int, crop_fraction: float, like: Tensor) -> Tensor:
    """``[size, size]`` mask of the central disk of radius ``crop_fraction · (size − 1) / 2``, in
    the dtype and on the device of ``like``: the region where resampled outputs are compared,
    away from the borders that a rotation or dilation moves in or out of the image."""
    return disk(size, crop_fraction * (size - 1) / 2, like.dtype).to(like.device)


def relative_error(a: Tensor, b: Tensor) -> float:
    """``‖a − b‖ / ‖b‖`` (the denominator clamped at 1e-30, so a zero reference gives a finite
    number)."""
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def model_input(module: nn.Module, x: Tensor) -> Tensor:
    """``x`` in the dtype and on the device of the module's first parameter (as it is for a
    module without parameters)."""
    param = next(module.parameters(), None)
    return x.to(param) if param is not None else x
