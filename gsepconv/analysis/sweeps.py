r"""Equivariance error as a function of the rotation angle and of the dilation factor, for group
convolutions beside an ordinary CNN of the same shape (the control).

Every number comes from :func:`gsepconv.equivariance.check_equivariance`, one transformation at a
time, on a smooth random input: a 90° rotation is exact on the pixel grid (error = round-off for
SE(2)); any other angle and every dilation resamples the image, so part of the error is
interpolation, which the control shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd
import torch
from torch import nn

from ..equivariance import check_equivariance
from ..groups import get_group
from ..nn import GroupConv, LiftingConv, PlanarConv

__all__ = ["compare_equivariance", "demo_image", "dilation_factors", "lifted_pair", "planar_pair"]


def lifted_pair(
    group: str,
    channels: int = 4,
    kernel_size: int = 7,
    num_elements: int | tuple[int, int] | None = None,
    implementation: str = "nonseparable",
    max_scale: float | None = None,
    seed: int = 0,
) -> nn.Sequential:
    """``LiftingConv → ReLU → GroupConv`` (float64, fresh init, fixed grid):
    ``[B, 1, H, W] → [B, C, N, H, W]``."""
    torch.manual_seed(seed)
    g = get_group(group, max_scale)
    lift = LiftingConv(g, 1, channels, kernel_size, num_elements)
    conv = GroupConv(
        g, channels, channels, kernel_size, lift.num_elements, implementation=implementation, grid=lift.grid
    )
    return nn.Sequential(lift, nn.ReLU(), conv).double().eval()


def planar_pair(channels: int = 4, kernel_size: int = 7, seed: int = 0) -> nn.Sequential:
    """The control: ``Conv2d → ReLU → Conv2d`` of the same widths and kernel size (float64):
    ``[B, 1, H, W] → [B, C, 1, H, W]`` (translation-equivariant only)."""
    torch.manual_seed(seed)
    return (
        nn.Sequential(PlanarConv(1, channels, kernel_size), nn.ReLU(), PlanarConv(channels, channels, kernel_size))
        .double()
        .eval()
    )


def dilation_factors(max_scale: float, num_scales: int) -> list[float]:
    """The dilation factors of a log-uniform scale grid on ``[1, max_scale]``: ``exp(j·log S/(n−1))``."""
    if num_scales < 2:
        raise ValueError(f"num_scales must be >= 2 to have a scale step, got {num_scales}")
    return [math.exp(j * math.log(max_scale) / (num_scales - 1)) for j in range(num_scales)]


def compare_equivariance(
    models: Mapping[str, nn.Module],
    angles: Iterable[float] = (),
    scales: Iterable[float] = (),
    image_size: int = 33,
    batch_size: int = 2,
    seed: int = 0,
) -> pd.DataFrame:
    """Relative equivariance error of each model per rotation angle (degrees) and per dilation.

    Returns one row per ``(model, transform, value)`` with ``transform`` in ``{"rotation",
    "dilation"}``, ``value`` the angle in degrees or the factor, ``error`` (``nan`` where the
    transformation does not map the model's grid onto itself) and ``exact_on_pixels`` (multiples
    of 90°, the identity)."""
    if not models:
        raise ValueError("models must name at least one model, e.g. {'SE(2)': ..., 'CNN': ...}")
    angles, scales = list(angles), list(scales)
    shape = (batch_size, 1, image_size, image_size)
    rows = []
    for name, model in models.items():
        for deg in angles:
            err = check_equivariance(model, input_shape=shape, quarter_turns=(), angles=(deg,), seed=seed)
            rows.append(
                {
                    "model": name,
                    "transform": "rotation",
                    "value": float(deg),
                    "error": err[f"rot{deg:g}"],
                    "exact_on_pixels": math.isclose(deg % 90.0, 0.0, abs_tol=1e-9),
                }
            )
        for s in scales:
            err = check_equivariance(model, input_shape=shape, quarter_turns=(), scales=(s,), seed=seed)
            rows.append(
                {
                    "model": name,
                    "transform": "dilation",
                    "value": float(s),
                    "error": err[f"scale{s:g}"],
                    "exact_on_pixels": math.isclose(s, 1.0),
                }
            )
    return pd.DataFrame(rows)


def demo_image(size: int = 29, blur: float = 0.8) -> torch.Tensor:
    """A letter "F" (no rotation or reflection symmetry) on a dark background, slightly blurred:
    ``[1, 1, size, size]`` float64, so that what a transformation does is visible."""
    if size < 9:
        raise ValueError(f"size must be at least 9 pixels, got {size}")
    img = torch.zeros(size, size, dtype=torch.float64)
    u = size / 29.0  # layout on a 29-pixel design, scaled
    top, bottom, left = round(6 * u), round(23 * u), round(9 * u)
    bar = max(1, round(3 * u))
    img[top:bottom, left : left + bar] = 1.0  # stem
    img[top : top + bar, left : round(21 * u)] = 1.0  # top arm
    mid = round(13 * u)
    img[mid : mid + bar, left : round(18 * u)] = 1.0  # middle arm
    if blur > 0:
        r = int(math.ceil(3 * blur))
        t = torch.arange(-r, r + 1, dtype=torch.float64)
        g = torch.exp(-0.5 * (t / blur) ** 2)
        g = g / g.sum()
        x = img[None, None]
        x = nn.functional.conv2d(nn.functional.pad(x, (r, r, 0, 0)), g.view(1, 1, 1, -1))
        img = nn.functional.conv2d(nn.functional.pad(x, (0, 0, r, r)), g.view(1, 1, -1, 1))[0, 0]
    return img[None, None]
