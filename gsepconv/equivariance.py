r"""Equivariance as an API: measure how far a layer or model is from commuting with the group.

For a transformation :math:`g` of the plane, :func:`check_equivariance` compares ``f(g·x)`` with
``g·f(x)``, where ``g`` acts on outputs by transforming space and shifting the group axis by the
number of grid steps it induces (a roll for rotations; a shift along the scale axis for dilations,
comparing only the scales present in both). Outputs may be group feature maps ``[B, C, N, H, W]``,
planar maps ``[B, C, H, W]`` or invariant vectors ``[B, K]``.

* 90° rotations are exact on the pixel grid (``torch.rot90``): the error is round-off only.
* Other angles and dilations need interpolation: inputs are masked to a disk, transformed by
  bilinear resampling, and errors are measured on a central crop. These are *measured*
  approximations, not zero.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .groups.base import SubGroup
from .nn.grid import GroupGrid


def find_grid(module: nn.Module) -> GroupGrid | None:
    """The first :class:`GroupGrid` inside ``module`` (``None`` for plain CNNs)."""
    for m in module.modules():
        if isinstance(m, GroupGrid):
            return m
    return None


def rotate(x: Tensor, angle: float) -> Tensor:
    """Rotate images ``[..., H, W]`` counter-clockwise by ``angle`` (radians) about the centre,
    bilinear, zero outside; for multiples of 90° on square images this equals ``torch.rot90``."""
    return _affine(x, torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]))


def dilate(x: Tensor, factor: float) -> Tensor:
    """Magnify images ``[..., H, W]`` by ``factor`` about the centre (bilinear, zero outside)."""
    return _affine(x, torch.eye(2) / factor)


def _affine(x: Tensor, a: Tensor) -> Tensor:
    """Resample ``x`` at ``A p`` for every output pixel ``p`` (image coordinates, y down)."""
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"arbitrary rotations/dilations need square images, got {tuple(x.shape[-2:])}")
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, *x.shape[-2:])
    theta = torch.zeros(flat.shape[0], 2, 3, dtype=x.dtype, device=x.device)
    theta[:, :, :2] = a.to(x)
    grid = F.affine_grid(theta, list(flat.shape), align_corners=True)
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.reshape(*lead, *x.shape[-2:])


def disk(size: int, radius: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """``[size, size]`` indicator of pixels within ``radius`` (pixels) of the centre."""
    c = (size - 1) / 2
    ij = torch.arange(size, dtype=torch.float64) - c
    r = torch.sqrt(ij[:, None] ** 2 + ij[None, :] ** 2)
    return (r <= radius).to(dtype)


def _transform_output(y: Tensor, spatial, shift_axis: tuple[SubGroup, tuple[int, ...]] | None, rot_shift: int | None, scale_steps: int | None) -> tuple[Tensor, Tensor | None]:
    """Apply the output action. Returns the transformed tensor and a validity mask along ``N``."""
    if y.dim() == 2:
        return y, None
    y = spatial(y)
    if y.dim() == 4 or shift_axis is None:
        return y, None
    H, num_elements = shift_axis
    if rot_shift is not None and rot_shift != 0:
        y = torch.roll(y, rot_shift, dims=2)
    valid = None
    if scale_steps:
        # shift along the (last) scale factor axis; elements shifted in from outside are invalid
        ns = num_elements[-1]
        b, c, n, h, w = y.shape
        y6 = y.reshape(b, c, n // ns, ns, h, w)
        shifted = torch.zeros_like(y6)
        valid6 = torch.zeros(n // ns, ns, dtype=torch.bool)
        if scale_steps > 0:
            shifted[:, :, :, scale_steps:] = y6[:, :, :, : ns - scale_steps]
            valid6[:, scale_steps:] = True
        else:
            shifted[:, :, :, : ns + scale_steps] = y6[:, :, :, -scale_steps:]
            valid6[:, : ns + scale_steps] = True
        y, valid = shifted.reshape(b, c, n, h, w), valid6.reshape(n)
    return y, valid


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


def _relative_error(a: Tensor, b: Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


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
) -> dict[str, float]:
    """Relative error ``‖f(g·x) − g·f(x)‖ / ‖g·f(x)‖`` per transformation (module in eval mode).

    Args:
        module: a layer or model; its first :class:`GroupGrid` tells how outputs move along ``N``.
        x: input (default: :func:`smooth_noise` of ``input_shape``; disk-masked for non-90° checks).
        quarter_turns: exact checks with ``torch.rot90`` (keys ``"rot90"``, ``"rot180"`` …).
        angles: other rotation angles in degrees (keys ``"rot45"`` …), measured with interpolation
            on the central ``crop_fraction`` of the image.
        scales: dilation factors (keys ``"scale1.32"`` …), measured likewise; for scale groups use the
            grid's own steps (e.g. ``exp(log(max_scale)/(n_scale-1))``).
    Returns:
        ``{name: relative error}``; ``nan`` where a transformation does not map the sampled grid
        onto itself (e.g. 45° with 4 rotations).
    """
    was_training = module.training
    module.eval()
    try:
        if x is None:
            gen = torch.Generator().manual_seed(seed)
            x = smooth_noise(input_shape, generator=gen)
            param = next(module.parameters(), None)
            if param is not None:
                x = x.to(param)
        grid = grid or find_grid(module)
        shift_axis = (grid.H, grid.num_elements) if grid is not None else None
        y = module(x)
        results: dict[str, float] = {}
        for k in quarter_turns:
            angle = k * math.pi / 2
            shift = grid.H.rotation_shift(grid.num_elements, angle) if grid is not None else 0
            name = f"rot{90 * k}"
            if shift is None:
                results[name] = float("nan")
                continue
            y_t = module(torch.rot90(x, k, dims=(-2, -1)))
            expected, _ = _transform_output(y, lambda t: torch.rot90(t, k, dims=(-2, -1)), shift_axis, shift, None)
            results[name] = _relative_error(y_t, expected)
        size = x.shape[-1]
        if list(angles) or list(scales):
            xm = x * disk(size, (size - 1) / 2, x.dtype).to(x.device)
            ym = module(xm)
            crop = disk(size, crop_fraction * (size - 1) / 2, ym.dtype).to(ym.device)
        for deg in angles:
            angle = math.radians(deg)
            shift = grid.H.rotation_shift(grid.num_elements, angle) if grid is not None else 0
            name = f"rot{deg:g}"
            if shift is None:
                results[name] = float("nan")
                continue
            y_t = module(rotate(xm, angle))
            expected, _ = _transform_output(ym, lambda t: rotate(t, angle), shift_axis, shift, None)
            results[name] = _masked_error(y_t, expected, crop, None)
        for s in scales:
            name = f"scale{s:g}"
            steps = _scale_steps(grid, s)
            if steps is None:
                results[name] = float("nan")
                continue
            y_t = module(dilate(xm, s))
            expected, valid = _transform_output(ym, lambda t: dilate(t, s), shift_axis, None, steps)
            results[name] = _masked_error(y_t, expected, crop, valid)
        return results
    finally:
        module.train(was_training)


def _scale_steps(grid: GroupGrid | None, factor: float) -> int | None:
    if grid is None:
        return 0
    last = grid.H.factors[-1]
    n_last = grid.num_elements[-1]
    return last.scale_shift(n_last, math.log(factor))


def _masked_error(y_t: Tensor, expected: Tensor, crop: Tensor, valid: Tensor | None) -> float:
    if y_t.dim() == 2:
        return _relative_error(y_t, expected)
    if y_t.shape[-1] != crop.shape[-1]:
        size = y_t.shape[-1]
        crop = F.interpolate(crop[None, None], size=(size, size), mode="nearest")[0, 0]
    a, b = y_t * crop, expected * crop
    if valid is not None:
        a, b = a[:, :, valid], b[:, :, valid]
    return _relative_error(a, b)


__all__ = ["check_equivariance", "dilate", "disk", "find_grid", "rotate", "smooth_noise"]
