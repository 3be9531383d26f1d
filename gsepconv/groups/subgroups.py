"""Concrete subgroups: rotations SO(2), truncated dilations R⁺ and their direct product."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .interface import SubGroup, as_int_tuple

TWO_PI = 2.0 * math.pi


def _mod_two_pi(theta: Tensor) -> Tensor:
    """Angles in ``[0, 2π)``; ``torch.remainder`` alone can round a tiny negative angle up to 2π."""
    r = torch.remainder(theta, TWO_PI)
    return torch.where(r >= TWO_PI, r - TWO_PI, r)


def _wrap_angle(theta: Tensor) -> Tensor:
    """Map angles to ``[-π, π)``."""
    return _mod_two_pi(theta + math.pi) - math.pi


class SO2(SubGroup):
    r"""Rotations of the plane. Element: angle ``θ ∈ [0, 2π)``; ``g·x = R(θ) x``; ``det = 1``.

    Grid: :math:`θ_j = 2πj/N`. Kernel-net features of a relative angle: :math:`(\cos v, \sin v)`,
    which is periodic, so the kernel is continuous across :math:`±π`.
    """

    dim = 1
    embed_dim = 2
    name = "SO2"

    def product(self, g: Tensor, h: Tensor) -> Tensor:
        return _mod_two_pi(g + h)

    def inverse(self, g: Tensor) -> Tensor:
        return _mod_two_pi(-g)

    def exp(self, v: Tensor) -> Tensor:
        return _mod_two_pi(v)

    def log(self, g: Tensor) -> Tensor:
        return _wrap_angle(g)

    def matrix(self, g: Tensor) -> Tensor:
        c, s = torch.cos(g[..., 0]), torch.sin(g[..., 0])
        return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)

    def det(self, g: Tensor) -> Tensor:
        return torch.ones(g.shape[:-1], dtype=g.dtype, device=g.device)

    def check_num_elements(self, num_elements: int | Sequence[int]) -> tuple[int, ...]:
        return as_int_tuple(num_elements, 1, "SO(2)")

    def grid(self, num_elements: int | Sequence[int]) -> Tensor:
        (n,) = self.check_num_elements(num_elements)
        return (TWO_PI * torch.arange(n, dtype=torch.float64) / n)[:, None]

    def sample(self, num_elements: int | Sequence[int], generator: torch.Generator | None = None) -> Tensor:
        (n,) = self.check_num_elements(num_elements)
        offset = torch.rand((), generator=generator, dtype=torch.float64)
        return (TWO_PI * (torch.arange(n, dtype=torch.float64) + offset) / n)[:, None]

    def embed(self, v: Tensor) -> Tensor:
        return torch.cat([torch.cos(v), torch.sin(v)], dim=-1)

    def rotation_shift(self, num_elements: int | Sequence[int], angle: float) -> int | None:
        (n,) = self.check_num_elements(num_elements)
        steps = angle * n / TWO_PI
        if abs(steps - round(steps)) > 1e-9:
            return None
        return int(round(steps)) % n

    def scale_shift(self, num_elements: int | Sequence[int], log_factor: float) -> int | None:
        # dilations commute with rotations: a dilated input leaves the rotation index unchanged
        self.check_num_elements(num_elements)
        return 0


class Dilation(SubGroup):
    r"""Isotropic scalings ``s ∈ [1, S]`` (R⁺ truncated). Element: ``log s``; ``g·x = s x``;
    ``det = s²``.

    Grid: log-uniform (Haar-uniform) with step :math:`Δ = \log S/(N-1)`, both ends included:
    :math:`\log s_j = jΔ` (scales 1, 1.319, 1.74 for ``N = 3``, ``S = 1.74``).

    Random samples (``sampling="uniform"``): the same grid shifted by one offset,
    :math:`\log s_j = (j + u - \tfrac12)Δ` with ``u ~ U[0, 1)``. The spacing is the fixed grid's,
    so every relative log-scale :math:`\log(h_a^{-1}h_b) = (a-b)Δ` that ``eval()`` uses is exactly
    one that training used (kernel nets only ever see relative elements), and the fixed grid is
    the mean of the random ones. The price: a sample reaches half a step beyond ``[1, S]``
    (scales in :math:`[e^{-Δ/2}, S e^{Δ/2})`); ``max_dilation(n, "uniform")`` reports it, so the
    kernel windows of randomly sampled layers hold those kernels whole (nothing is cut, unlike the
    original's overshoot).

    Kernel features: ``v / log S``; an optional smooth Gaussian mask along relative log-scale,
    :math:`\exp(-v^2/(2σ^2))` with ``σ = mask_sigma·log S``.
    """

    dim = 1
    embed_dim = 1
    name = "Rplus"
    default_num_elements = 3

    def __init__(self, max_scale: float = 1.74, mask_sigma: float | None = None) -> None:
        if (
            not isinstance(max_scale, (int, float))
            or isinstance(max_scale, bool)
            or not math.isfinite(max_scale)
            or not max_scale >= 1.0
        ):
            raise ValueError(
                f"max_scale must be a finite number >= 1 (the largest sampled dilation), got {max_scale!r}"
            )
        if mask_sigma is not None and (
            isinstance(mask_sigma, bool)
            or not isinstance(mask_sigma, (int, float))
            or not math.isfinite(mask_sigma)
            or not mask_sigma > 0
        ):
            raise ValueError(f"mask_sigma must be a finite number > 0 or None, got {mask_sigma!r}")
        self.max_scale = float(max_scale)
        self.mask_sigma = mask_sigma

    @property
    def log_max(self) -> float:
        return math.log(self.max_scale)

    def product(self, g: Tensor, h: Tensor) -> Tensor:
        return g + h

    def inverse(self, g: Tensor) -> Tensor:
        return -g

    def exp(self, v: Tensor) -> Tensor:
        return v.clone()

    def log(self, g: Tensor) -> Tensor:
        return g.clone()

    def matrix(self, g: Tensor) -> Tensor:
        s = torch.exp(g[..., 0])
        zero = torch.zeros_like(s)
        return torch.stack([torch.stack([s, zero], -1), torch.stack([zero, s], -1)], -2)

    def det(self, g: Tensor) -> Tensor:
        return torch.exp(2.0 * g[..., 0])

    def check_num_elements(self, num_elements: int | Sequence[int]) -> tuple[int, ...]:
        return as_int_tuple(num_elements, 1, "dilations R+")

    def grid(self, num_elements: int | Sequence[int]) -> Tensor:
        (n,) = self.check_num_elements(num_elements)
        if n == 1:
            return torch.zeros(1, 1, dtype=torch.float64)
        return (torch.arange(n, dtype=torch.float64) * self.log_max / (n - 1))[:, None]

    def step(self, num_elements: int | Sequence[int]) -> float:
        r"""The grid step :math:`Δ = \log S/(N-1)` in log-scale (0 for a single element)."""
        (n,) = self.check_num_elements(num_elements)
        return self.log_max / (n - 1) if n > 1 else 0.0

    def sample(self, num_elements: int | Sequence[int], generator: torch.Generator | None = None) -> Tensor:
        (n,) = self.check_num_elements(num_elements)
        offset = torch.rand((), generator=generator, dtype=torch.float64) - 0.5
        return ((torch.arange(n, dtype=torch.float64) + offset) * self.step(n))[:, None]

    def max_dilation(self, num_elements: int | Sequence[int], sampling: str = "discretise") -> float:
        (n,) = self.check_num_elements(num_elements)
        if n == 1:  # the grid is the identity alone, and a single element is never jittered
            return 1.0
        jitter = 0.5 * self.step(n) if sampling == "uniform" else 0.0
        return math.exp(self.log_max + jitter)

    def embed(self, v: Tensor) -> Tensor:
        return v / self.log_max if self.log_max > 0 else v

    def mask(self, v: Tensor) -> Tensor:
        if self.mask_sigma is None or self.log_max == 0:
            return super().mask(v)
        sigma = self.mask_sigma * self.log_max
        return torch.exp(-0.5 * (v[..., 0] / sigma) ** 2)

    def rotation_shift(self, num_elements: int | Sequence[int], angle: float) -> int | None:
        self.check_num_elements(num_elements)
        return 0

    def scale_shift(self, num_elements: int | Sequence[int], log_factor: float) -> int | None:
        (n,) = self.check_num_elements(num_elements)
        if n == 1 or self.log_max == 0:
            return 0 if abs(log_factor) < 1e-12 else None
        steps = log_factor * (n - 1) / self.log_max
        return int(round(steps)) if abs(steps - round(steps)) < 1e-9 else None

    def __repr__(self) -> str:
        return f"Dilation(max_scale={self.max_scale:g}, mask_sigma={self.mask_sigma})"


class DirectProduct(SubGroup):
    """Direct product ``H_1 × H_2 × …`` of commuting subgroups (e.g. SO(2)×R⁺).

    Coordinates are concatenated; grids are Cartesian products flattened with the first factor
    slowest (index = i_1·N_2 + i_2 for two factors: *rotation-major* for SO(2)×R⁺).
    """

    def __init__(self, *factors: SubGroup) -> None:
        if len(factors) < 2:
            raise ValueError("DirectProduct needs at least two factors")
        self._factors = tuple(factors)
        self.dim = sum(f.dim for f in factors)
        self.embed_dim = sum(f.embed_dim for f in factors)
        self.name = "x".join(f.name for f in factors)
        self.default_num_elements = tuple(int(f.default_num_elements) for f in factors)
        bounds, start = [], 0
        for f in factors:
            bounds.append((start, start + f.dim))
            start += f.dim
        self._slices = tuple(slice(a, b) for a, b in bounds)

    @property
    def factors(self) -> tuple[SubGroup, ...]:
        return self._factors

    def split(self, g: Tensor) -> list[Tensor]:
        """Coordinates of each factor: ``[..., dim] → [[..., dim_1], [..., dim_2], …]``."""
        return [g[..., s] for s in self._slices]

    def _map(self, method: str, *args: Tensor) -> Tensor:
        parts = [getattr(f, method)(*(a[..., s] for a in args)) for f, s in zip(self._factors, self._slices)]
        return torch.cat(parts, dim=-1)

    def product(self, g: Tensor, h: Tensor) -> Tensor:
        return self._map("product", g, h)

    def inverse(self, g: Tensor) -> Tensor:
        return self._map("inverse", g)

    def exp(self, v: Tensor) -> Tensor:
        return self._map("exp", v)

    def log(self, g: Tensor) -> Tensor:
        return self._map("log", g)

    def embed(self, v: Tensor) -> Tensor:
        return self._map("embed", v)

    def matrix(self, g: Tensor) -> Tensor:
        out = None
        for f, s in zip(self._factors, self._slices):
            m = f.matrix(g[..., s])
            out = m if out is None else out @ m
        return out

    def det(self, g: Tensor) -> Tensor:
        out = None
        for f, s in zip(self._factors, self._slices):
            d = f.det(g[..., s])
            out = d if out is None else out * d
        return out

    def mask(self, v: Tensor) -> Tensor:
        out = None
        for f, s in zip(self._factors, self._slices):
            m = f.mask(v[..., s])
            out = m if out is None else out * m
        return out

    def check_num_elements(self, num_elements: int | Sequence[int]) -> tuple[int, ...]:
        values = as_int_tuple(num_elements, len(self._factors), self.name)
        for f, n in zip(self._factors, values):
            f.check_num_elements(n)
        return values

    def _cartesian(self, parts: list[Tensor]) -> Tensor:
        mesh = torch.meshgrid(*[torch.arange(p.shape[0]) for p in parts], indexing="ij")
        return torch.cat([p[m.reshape(-1)] for p, m in zip(parts, mesh)], dim=-1)

    def grid(self, num_elements: int | Sequence[int]) -> Tensor:
        ns = self.check_num_elements(num_elements)
        return self._cartesian([f.grid(n) for f, n in zip(self._factors, ns)])

    def sample(self, num_elements: int | Sequence[int], generator: torch.Generator | None = None) -> Tensor:
        ns = self.check_num_elements(num_elements)
        return self._cartesian([f.sample(n, generator=generator) for f, n in zip(self._factors, ns)])

    def max_dilation(self, num_elements: int | Sequence[int], sampling: str = "discretise") -> float:
        ns = self.check_num_elements(num_elements)
        return math.prod(f.max_dilation(n, sampling) for f, n in zip(self._factors, ns))

    def _flat_shift(self, num_elements: int | Sequence[int], method: str, value: float) -> int | None:
        ns = self.check_num_elements(num_elements)
        shifts = [getattr(f, method)(n, value) for f, n in zip(self._factors, ns)]
        if any(s is None for s in shifts):
            return None
        flat, stride = 0, 1
        for s, n in reversed(list(zip(shifts, ns))):
            flat += s * stride
            stride *= n
        return flat

    def rotation_shift(self, num_elements: int | Sequence[int], angle: float) -> int | None:
        return self._flat_shift(num_elements, "rotation_shift", angle)

    def scale_shift(self, num_elements: int | Sequence[int], log_factor: float) -> int | None:
        return self._flat_shift(num_elements, "scale_shift", log_factor)

    def __repr__(self) -> str:
        return "DirectProduct(" + ", ".join(repr(f) for f in self._factors) + ")"
