"""Test signals for the equivariance checks: smooth random images whose transformations lose
little to interpolation (:func:`smooth_noise`), and sums of Gaussian bumps whose dilation is exact
(:class:`BumpField`, :func:`random_bumps`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .transforms import check_input_shape

__all__ = ["BumpField", "random_bumps", "smooth_noise"]


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
    b, c, h, w = check_input_shape(input_shape, square=True)
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
