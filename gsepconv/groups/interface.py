"""The interface every subgroup ``H`` of ``GL(2)`` implements.

Elements of ``H`` are stored as real coordinate vectors ``g: [..., dim]`` (angle ``θ`` for SO(2),
``log s`` for dilations). The group operations below are all that kernels and layers ever ask for.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import torch
from torch import Tensor


def num_elements_text(num_elements: int | Sequence[int] | None) -> str:
    """How tables and run names write a number of elements: ``8`` → ``"8"``, ``(4, 3)`` → ``"4x3"``
    (rotations × scales, the form configs also accept), ``None`` → ``""``."""
    if num_elements is None:
        return ""
    if isinstance(num_elements, (tuple, list)):
        return "x".join(str(int(v)) for v in num_elements)
    return str(int(num_elements))


class SubGroup(abc.ABC):
    """A Lie subgroup ``H ⊂ GL(2)`` acting on ``R^2``, sampled on a finite set of elements.

    Subclasses implement the group law on coordinate vectors. ``num_elements`` has one integer per
    factor (``(n,)`` for SO(2) or dilations, ``(n_rot, n_scale)`` for SO(2)×R⁺); grids over several
    factors are flattened with the *first* factor slowest (rotation-major).
    """

    #: number of real coordinates of an element (dimension of the Lie algebra)
    dim: int
    #: number of features :meth:`embed` produces for a kernel network
    embed_dim: int
    #: short name used in reprs and result tables
    name: str

    # --- group law -------------------------------------------------------------------------
    @abc.abstractmethod
    def product(self, g: Tensor, h: Tensor) -> Tensor:
        """Group product ``g·h``; ``g, h: [..., dim]`` (broadcast) → ``[..., dim]``."""

    @abc.abstractmethod
    def inverse(self, g: Tensor) -> Tensor:
        """Inverse ``g⁻¹``; ``[..., dim] → [..., dim]``."""

    def identity(self, dtype: torch.dtype = torch.float64, device: torch.device | None = None) -> Tensor:
        """The identity element ``e: [dim]``."""
        return self.exp(torch.zeros(self.dim, dtype=dtype, device=device))

    @abc.abstractmethod
    def exp(self, v: Tensor) -> Tensor:
        """Exponential map from Lie-algebra coordinates ``v: [..., dim]`` to canonical elements."""

    @abc.abstractmethod
    def log(self, g: Tensor) -> Tensor:
        """Logarithm: the canonical Lie-algebra coordinates of ``g`` (angles in ``[-π, π)``)."""

    @abc.abstractmethod
    def matrix(self, g: Tensor) -> Tensor:
        """The 2×2 matrix by which ``g`` acts on ``R^2``: ``[..., dim] → [..., 2, 2]``."""

    def det(self, g: Tensor) -> Tensor:
        """``det`` of the action matrix: ``[..., dim] → [...]``."""
        return torch.linalg.det(self.matrix(g))

    def act(self, g: Tensor, x: Tensor) -> Tensor:
        """Left action on points: ``g: [..., dim]``, ``x: [..., 2]`` → ``g·x: [..., 2]``."""
        return (self.matrix(g) @ x.unsqueeze(-1)).squeeze(-1)

    def relative(self, g_out: Tensor, g_in: Tensor) -> Tensor:
        """``log(g_a⁻¹ g_b)`` for all pairs: ``[N_out, dim], [N_in, dim] → [N_out, N_in, dim]``."""
        return self.log(self.product(self.inverse(g_out)[:, None], g_in[None, :]))

    # --- sampling --------------------------------------------------------------------------
    @abc.abstractmethod
    def check_num_elements(self, num_elements: int | Sequence[int]) -> tuple[int, ...]:
        """Validate ``num_elements`` and return it as a tuple with one entry per factor."""

    @abc.abstractmethod
    def grid(self, num_elements: int | Sequence[int]) -> Tensor:
        """Deterministic grid of elements ``[N, dim]`` (float64), identity first."""

    @abc.abstractmethod
    def sample(self, num_elements: int | Sequence[int], generator: torch.Generator | None = None) -> Tensor:
        """The grid shifted by one random offset of less than a grid step: ``[N, dim]`` (float64).

        Every element stays inside the group's (possibly truncated) domain.
        """

    #: number of elements sampled when a layer is given none
    default_num_elements: int | tuple[int, ...] = 8

    def size(self, num_elements: int | Sequence[int]) -> int:
        """Total number of sampled elements ``N``."""
        return math.prod(self.check_num_elements(num_elements))

    # --- kernel-network interface ----------------------------------------------------------
    @abc.abstractmethod
    def embed(self, v: Tensor) -> Tensor:
        """Features of Lie-algebra coordinates for a kernel net: ``[..., dim] → [..., embed_dim]``."""

    def mask(self, v: Tensor) -> Tensor:
        """Weights in ``[0, 1]`` on relative coordinates ``v: [..., dim] → [...]`` (ones by default)."""
        return torch.ones(v.shape[:-1], dtype=v.dtype, device=v.device)

    def max_dilation(self, num_elements: int | Sequence[int], sampling: str = "discretise") -> float:
        """The largest factor by which an element of the fixed grid (``sampling="discretise"``) or
        also of any random sample (``"uniform"``) of ``num_elements`` elements dilates the plane
        (1 for rotations). Kernel windows are sized with it, so every transformed kernel fits whole
        (see :func:`gsepconv.kernels.kernel_window`)."""
        self.check_num_elements(num_elements)
        return 1.0

    @property
    def factors(self) -> tuple[SubGroup, ...]:
        """The direct factors of ``H`` (just ``(self,)`` for a simple group)."""
        return (self,)

    # --- how the sampled grid moves under transformations of the plane ---------------------
    def rotation_shift(self, num_elements: int | Sequence[int], angle: float) -> int | None:
        """Roll (in flat grid indices) that a rotation of the plane by ``angle`` induces on the
        grid, or ``None`` when the grid is not closed under it."""
        return None

    def scale_shift(self, num_elements: int | Sequence[int], log_factor: float) -> int | None:
        """Shift along the grid induced by a dilation ``exp(log_factor)`` (``None`` if none)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


def as_int_tuple(num_elements: int | Sequence[int], length: int, what: str) -> tuple[int, ...]:
    """Normalise ``num_elements`` to a tuple of ``length`` positive ints or raise a clear error."""
    if isinstance(num_elements, bool):
        raise TypeError(f"num_elements must be an int or a tuple of ints, got {num_elements!r}")
    if isinstance(num_elements, int):
        values: tuple = (num_elements,)
    elif isinstance(num_elements, Sequence) and not isinstance(num_elements, str):
        values = tuple(num_elements)
    else:
        raise TypeError(
            f"num_elements for {what} must be {'an int' if length == 1 else f'a tuple of {length} ints'}, "
            f"got {num_elements!r}"
        )
    if len(values) != length or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        expected = "an int like 8" if length == 1 else f"a tuple of {length} ints like (8, 3) = (n_rot, n_scale)"
        raise ValueError(f"num_elements for {what} must be {expected}, got {num_elements!r}")
    if any(v < 1 for v in values):
        raise ValueError(f"num_elements for {what} must be positive, got {num_elements!r}")
    return values
