"""Affine groups ``G = R^2 ⋊ H``: translations (ordinary convolution) plus a subgroup ``H``.

The affine group is a thin, named wrapper: every operation a layer needs lives on ``group.H``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .interface import SubGroup
from .subgroups import SO2, Dilation, DirectProduct

#: Implementations every affine group supports (see :mod:`gsepconv.nn`).
BASE_IMPLEMENTATIONS: tuple[str, ...] = ("nonseparable", "separable", "gseparable", "dseparable", "dgseparable")
#: Extra implementations for groups whose ``H`` is a product of a rotation and a dilation factor.
PRODUCT_IMPLEMENTATIONS: tuple[str, ...] = ("separable2d", "gseparable2d")


class AffineGroup:
    """``R^2 ⋊ H`` with a name. ``group.H`` is the :class:`SubGroup` that kernels sample."""

    def __init__(self, name: str, H: SubGroup) -> None:
        if not isinstance(H, SubGroup):
            raise TypeError(f"H must be a gsepconv.groups.SubGroup, got {type(H).__name__}")
        self.name = name
        self.H = H

    @property
    def implementations(self) -> tuple[str, ...]:
        """Names of the group-convolution implementations valid for this group."""
        if len(self.H.factors) == 2:
            return BASE_IMPLEMENTATIONS + PRODUCT_IMPLEMENTATIONS
        return BASE_IMPLEMENTATIONS

    def __repr__(self) -> str:
        return f"{self.name}(H={self.H!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AffineGroup) and self.name == other.name and self.H == other.H

    def __hash__(self) -> int:
        return hash((self.name, self.H))


def SE2() -> AffineGroup:
    """Roto-translations ``R^2 ⋊ SO(2)``."""
    return AffineGroup("SE2", SO2())


def R2xRplus(max_scale: float = 1.74, mask_sigma: float | None = None) -> AffineGroup:
    """Dilation-translations ``R^2 ⋊ R⁺`` with scales truncated to ``[1, max_scale]``."""
    return AffineGroup("R2xRplus", Dilation(max_scale, mask_sigma=mask_sigma))


def Sim2(max_scale: float = 1.74, mask_sigma: float | None = None) -> AffineGroup:
    """Similarities ``R^2 ⋊ (SO(2) × R⁺)``; grids are rotation-major: index = i_rot·n_scale + i_scale."""
    return AffineGroup("Sim2", DirectProduct(SO2(), Dilation(max_scale, mask_sigma=mask_sigma)))


#: Registry of affine groups by name. ``"Z2"`` (translations only) is handled by the model builder.
GROUPS: dict[str, Callable[..., AffineGroup]] = {"SE2": SE2, "R2xRplus": R2xRplus, "Sim2": Sim2}


#: Names of the groups with a scale axis (they take ``max_scale`` and ``mask_sigma``).
SCALE_GROUPS: tuple[str, ...] = ("R2xRplus", "Sim2")


def given_options(**options: Any) -> list[str]:
    """``["max_scale=2.0", …]``: the options that were given (not ``None``), for error messages."""
    return [f"{k}={v!r}" for k, v in options.items() if v is not None]


def get_group(group: str | AffineGroup, max_scale: float | None = None, mask_sigma: float | None = None) -> AffineGroup:
    """Return an :class:`AffineGroup` from a name in :data:`GROUPS` (or pass one through).

    ``max_scale`` and ``mask_sigma`` (smooth mask along log-scale) apply to the scale groups
    (:data:`SCALE_GROUPS`); given for ``SE2`` or with a group object they are an error, never
    silently dropped."""
    given = given_options(max_scale=max_scale, mask_sigma=mask_sigma)
    if isinstance(group, AffineGroup):
        if given:
            raise ValueError(
                f"{', '.join(given)} given with the group object {group!r}: pass them to its "
                f"constructor (e.g. gsepconv.groups.Sim2(max_scale=1.74)) or give the group by name"
            )
        return group
    if not isinstance(group, str) or group not in GROUPS:
        raise ValueError(
            f"unknown group {group!r}; known groups: {', '.join(GROUPS)} (and 'Z2' for plain CNNs in build_model)"
        )
    if group not in SCALE_GROUPS:
        if given:
            raise ValueError(
                f"{', '.join(given)}: {group} has no scale axis; these options apply to "
                f"{' and '.join(SCALE_GROUPS)} only — leave them out"
            )
        return GROUPS[group]()
    options = {"mask_sigma": mask_sigma}
    if max_scale is not None:
        options["max_scale"] = max_scale
    return GROUPS[group](**options)
