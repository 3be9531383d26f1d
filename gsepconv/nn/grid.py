"""The sampled grid of subgroup elements, shared by all layers of a network.

Design: one :class:`GroupGrid` per network. The lifting layer (the entry point) draws fresh
elements at the start of every training forward pass; every group convolution reads the same
elements, so all layers of one forward pass see the same elements (needed for residual
connections and for equivariance in expectation). A group convolution that finds the draw it used
in its previous call still current draws itself (:meth:`GroupGrid.elements_for`), so group
convolutions used without their lifting layer still see fresh elements every pass. With ``sampling="discretise"``, or
in ``eval()``, the deterministic grid is used, so evaluation is deterministic. Feature maps stay
plain tensors, so ``nn.Sequential(lift, nn.ReLU(), gconv)`` works.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..groups.interface import SubGroup

SAMPLINGS = ("discretise", "uniform")


class GroupGrid(nn.Module):
    """Elements ``[N, dim]`` of ``H`` used by the layers that share this grid.

    Args:
        H: the subgroup.
        num_elements: ``int`` or ``(n_rot, n_scale)`` for product groups.
        sampling: ``"discretise"`` (fixed grid) or ``"uniform"`` (grid shifted by a random offset,
            fresh at each training forward pass; the fixed grid in ``eval()``).
    """

    def __init__(self, H: SubGroup, num_elements: int | Sequence[int], sampling: str = "discretise") -> None:
        super().__init__()
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLINGS)}")
        self.H = H
        self.num_elements = H.check_num_elements(num_elements)
        self.sampling = sampling
        # float64 on the CPU, deliberately not a buffer: ``model.float()`` must not round it.
        self.fixed = H.grid(self.num_elements)
        self._sampled: Tensor | None = None
        self.generator: torch.Generator | None = None
        #: how many random grids have been drawn (layers compare it with the last one they used)
        self.draws = 0

    @property
    def size(self) -> int:
        """Number of elements ``N``."""
        return int(self.fixed.shape[0])

    @property
    def is_random(self) -> bool:
        """True while forward passes use randomly offset elements (uniform sampling, training)."""
        return self.sampling == "uniform" and self.training

    def resample(self) -> None:
        """Draw fresh random elements (no-op unless :attr:`is_random`)."""
        if self.is_random:
            self._sampled = self.H.sample(self.num_elements, generator=self.generator)
            self.draws += 1

    def elements_for(self, layer: nn.Module, draws_first: bool) -> Tensor:
        """The elements ``layer`` uses in this forward pass. ``draws_first``: the layer starts the
        pass (a lifting layer, or a layer with its own grid) and draws fresh elements. Any other
        layer that finds the draw it used last time still current knows that no layer started a
        new pass (e.g. a stack of group convolutions without their lifting layer) and draws
        itself, so a shared random grid is never silently frozen."""
        if self.is_random:
            if draws_first or self._sampled is None or getattr(layer, "_grid_draw", None) == self.draws:
                self.resample()
            layer._grid_draw = self.draws
        return self.elements()

    def elements(self) -> Tensor:
        """The current elements ``[N, dim]`` (float64, CPU; kernels move their coordinates)."""
        if self.is_random:
            if self._sampled is None:
                self.resample()
            assert self._sampled is not None
            return self._sampled
        return self.fixed

    def extra_repr(self) -> str:
        return f"H={self.H!r}, num_elements={self.num_elements}, sampling={self.sampling!r}"
