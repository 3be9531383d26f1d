"""Lie groups: the subgroups ``H`` and the affine groups ``G = R^2 ⋊ H`` built on them.

Layers never switch on a group's type: they ask the group for ``grid``, ``sample``, ``inverse``,
``product``, ``log``, ``matrix`` and ``det`` (see :class:`SubGroup`). Adding a group means writing one
subclass of :class:`SubGroup` and, optionally, an :class:`AffineGroup` factory.
"""

from __future__ import annotations

from .affine import GROUPS, SCALE_GROUPS, SE2, AffineGroup, R2xRplus, Sim2, get_group
from .interface import SubGroup, num_elements_text
from .subgroups import SO2, Dilation, DirectProduct

__all__ = [
    "num_elements_text",
    "GROUPS",
    "SCALE_GROUPS",
    "AffineGroup",
    "DirectProduct",
    "Dilation",
    "R2xRplus",
    "SE2",
    "SO2",
    "Sim2",
    "SubGroup",
    "get_group",
]
