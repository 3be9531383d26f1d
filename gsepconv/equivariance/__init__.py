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

The modules: ``transforms`` (resampling about the centre, the compared region, the relative
error), ``signals`` (test inputs), ``scaling`` (dilations of the plane and of the model's grid),
``checks`` (rotations and :func:`check_equivariance`) and ``error_sweep``
(:func:`equivariance_sweep`); every name below is importable from ``gsepconv.equivariance``.
"""

from __future__ import annotations

from .checks import check_equivariance
from .error_sweep import equivariance_sweep
from .scaling import dilated_grids, grid_scale_factors, scale_equivariance_error, scale_errors, scale_steps
from .signals import BumpField, random_bumps, smooth_noise
from .transforms import INTERPOLATIONS, dilate, disk, find_grid, rotate

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
