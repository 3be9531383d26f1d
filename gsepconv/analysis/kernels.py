"""Kernels to look at: a SIREN sampled on a fine grid for several ``ω₀``, the dense kernel of
every group-convolution implementation built with the same sizes, and the initialisation
conventions of a model's kernel nets."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from ..groups import get_group
from ..kernels import GroupKernel, SineLayer, SpatialKernel, SubgroupKernel, make_kernel_net, spatial_grid
from ..nn import GroupConv, LiftingConv

__all__ = ["implementation_kernels", "kernel_net_conventions", "siren_field"]


@torch.no_grad()
def siren_field(
    omega_0: float, resolution: int = 64, hidden_features: int = 64, num_hidden: int = 1, seed: int = 0
) -> Tensor:
    """One output of a freshly initialised SIREN ``R² → R`` (``ω₀ = first ω₀ = omega_0``) on a
    ``resolution × resolution`` grid over ``[-1, 1]²`` (row ``i`` is ``-y``, column ``j`` is ``x``,
    as kernels are laid out): ``[resolution, resolution]``, float64, scaled to unit maximum."""
    if not omega_0 > 0:
        raise ValueError(f"omega_0 must be positive, got {omega_0!r}")
    if resolution < 1:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}")
    torch.manual_seed(seed)
    net = make_kernel_net(
        "siren",
        2,
        1,
        fan_in=1.0,
        hidden_features=hidden_features,
        num_hidden=num_hidden,
        omega_0=omega_0,
        first_omega_0=omega_0,
    ).double()
    z = spatial_grid(resolution, 1.0).reshape(-1, 2)
    values = net(z).reshape(resolution, resolution)
    return values / values.abs().max().clamp_min(1e-300)


@torch.no_grad()
def implementation_kernels(
    group: str = "SE2",
    kernel_size: int = 7,
    num_elements: int | Sequence[int] | None = None,
    channels: tuple[int, int] = (2, 2),
    implementations: Sequence[str] | None = None,
    seed: int = 0,
    **kernel_options: float,
) -> dict[str, Tensor]:
    """The dense kernel ``[C_o, N, C_i, N, w, w]`` (:meth:`GroupConv.product_kernel`, fixed grid)
    of each implementation of ``group`` (all of them by default), each built from the same seed
    with ``channels = (C_i, C_o)``."""
    g = get_group(group)
    impls = list(implementations or g.implementations)
    unknown = [i for i in impls if i not in g.implementations]
    if unknown:
        raise ValueError(
            f"implementations {unknown} are not available for {group}; choose from {', '.join(g.implementations)}"
        )
    ci, co = channels
    out = {}
    for impl in impls:
        torch.manual_seed(seed)
        lift = LiftingConv(g, 1, ci, kernel_size, num_elements, **kernel_options)
        layer = (
            GroupConv(g, ci, co, kernel_size, lift.num_elements, implementation=impl, grid=lift.grid, **kernel_options)
            .double()
            .eval()
        )
        out[impl] = layer.product_kernel().detach().clone()
    return out


def kernel_net_conventions(model: nn.Module) -> pd.DataFrame:
    """One row per kernel net of ``model`` (lifting, group and skip convolutions): ``layer``,
    ``factor`` (``spatial`` ``k^{R²}(u)``, ``subgroup`` ``k^H(v)``, ``group`` ``k(u, v)``),
    ``hidden`` (the net's width), ``hidden_bias_zero`` (every hidden sine layer's bias is 0),
    ``head_std`` (the output layer's weight std) and ``channels_std`` ``√(2 / (hidden · C_in · k²))``,
    the ``"channels"`` head initialisation (:data:`gsepconv.kernels.kernel.HEAD_INITS`) with ``C_in``
    counted when the factor is indexed by the input channel and ``k²`` for spatial factors."""
    rows = []
    for name, module in model.named_modules():
        if not isinstance(module, (SpatialKernel, SubgroupKernel, GroupKernel)):
            continue
        net = module.net
        sines = [m for m in net.modules() if isinstance(m, SineLayer)]
        factor = {SpatialKernel: "spatial", SubgroupKernel: "subgroup", GroupKernel: "group"}[type(module)]
        rows.append(
            {
                "layer": name.rsplit(".", 1)[0],
                "factor": factor,
                "hidden": net.hidden_features,
                "hidden_bias_zero": all(bool((s.linear.bias == 0).all()) for s in sines[1:]),
                "head_std": float(net.head.weight.detach().std()),
                "channels_std": math.sqrt(2.0 / (net.hidden_features * (module.in_channels or 1) * module.taps)),
            }
        )
    return pd.DataFrame(rows)
