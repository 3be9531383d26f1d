"""Kernels to look at: a SIREN sampled on a fine grid for several ``ω₀``, the dense kernel of
every group-convolution implementation built with the same sizes, and how the kernel nets' head
initialisation sets the size of each factor of a separable kernel and of one Adam step on it."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch
from torch import Tensor

from ..groups import get_group
from ..kernels import make_kernel_net, spatial_grid
from ..nn import GroupBatchNorm, GroupConv, LiftingConv

__all__ = ["implementation_kernels", "siren_field", "separable_factor_steps"]


@torch.no_grad()
def siren_field(omega_0: float, resolution: int = 64, hidden_features: int = 64, num_hidden: int = 1,
                seed: int = 0) -> Tensor:
    """One output of a freshly initialised SIREN ``R² → R`` (``ω₀ = first ω₀ = omega_0``) on a
    ``resolution × resolution`` grid over ``[-1, 1]²`` (row ``i`` is ``-y``, column ``j`` is ``x``,
    as kernels are laid out): ``[resolution, resolution]``, float64, scaled to unit maximum."""
    if not omega_0 > 0:
        raise ValueError(f"omega_0 must be positive, got {omega_0!r}")
    if resolution < 1:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}")
    torch.manual_seed(seed)
    net = make_kernel_net("siren", 2, 1, fan_in=1.0, hidden_features=hidden_features, num_hidden=num_hidden,
                          omega_0=omega_0, first_omega_0=omega_0).double()
    z = spatial_grid(resolution, 1.0).reshape(-1, 2)
    values = net(z).reshape(resolution, resolution)
    return values / values.abs().max().clamp_min(1e-300)


@torch.no_grad()
def implementation_kernels(group: str = "SE2", kernel_size: int = 7, num_elements: int | Sequence[int] | None = None,
                           channels: tuple[int, int] = (2, 2), implementations: Sequence[str] | None = None,
                           seed: int = 0, **kernel_options: float) -> dict[str, Tensor]:
    """The dense kernel ``[C_o, N, C_i, N, w, w]`` (:meth:`GroupConv.product_kernel`, fixed grid)
    of each implementation of ``group`` (all of them by default), each built from the same seed
    with ``channels = (C_i, C_o)``."""
    g = get_group(group)
    impls = list(implementations or g.implementations)
    unknown = [i for i in impls if i not in g.implementations]
    if unknown:
        raise ValueError(f"implementations {unknown} are not available for {group}; choose from {', '.join(g.implementations)}")
    ci, co = channels
    out = {}
    for impl in impls:
        torch.manual_seed(seed)
        lift = LiftingConv(g, 1, ci, kernel_size, num_elements, **kernel_options)
        layer = GroupConv(g, ci, co, kernel_size, lift.num_elements, implementation=impl, grid=lift.grid,
                          **kernel_options).double().eval()
        out[impl] = layer.product_kernel().detach().clone()
    return out


def separable_factor_steps(num_elements: Sequence[int] = (4, 8, 16), head_inits: Sequence[str] = ("channels", "fan_in"),
                           channels: int = 12, kernel_size: int = 5, lr: float = 3e-3, seed: int = 0) -> pd.DataFrame:
    """For a separable SE(2) layer followed by batch norm: the standard deviation of each sampled
    factor (``subgroup`` ``k^H_{oi}(v)``, ``spatial`` ``k^{R²}_o(u)``) at initialisation, and how far
    ONE Adam step (learning rate ``lr``, the gradient of a fixed random linear read-out of the
    normalised output) moves it relative to its size, ``‖Δk‖ / ‖k‖``.

    Batch norm makes the layer's output independent of the kernels' scale, so the initial scale only
    changes the second column: Adam moves every head weight by about ``lr`` whatever its size, so a
    factor initialised small moves further relative to itself. Columns ``head_init, N, factor,
    std, relative_step``."""
    rows = []
    for head_init in head_inits:
        for n in num_elements:
            torch.manual_seed(seed)
            conv = GroupConv("SE2", channels, channels, kernel_size, n, implementation="separable", head_init=head_init)
            norm = GroupBatchNorm(channels)
            x = torch.randn(8, channels, n, 13, 13)
            readout = torch.randn(8, channels, n, 13, 13)
            grid = conv.grid.fixed
            with torch.no_grad():
                before = {"subgroup": conv.impl.subgroup(grid, grid).clone(), "spatial": conv.impl.spatial(grid).clone()}
            optimiser = torch.optim.Adam(conv.parameters(), lr=lr)
            (norm(conv(x)) * readout).mean().backward()
            optimiser.step()
            with torch.no_grad():
                after = {"subgroup": conv.impl.subgroup(grid, grid), "spatial": conv.impl.spatial(grid)}
            for factor, k in before.items():
                rows.append({"head_init": head_init, "N": n, "factor": factor, "std": float(k.std()),
                             "relative_step": float((after[factor] - k).norm() / k.norm())})
    return pd.DataFrame(rows)
