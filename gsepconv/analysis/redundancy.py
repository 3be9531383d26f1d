r"""Redundancy of group-convolution kernels along the subgroup axis (the paper's motivation).

A group convolution samples one kernel ``K: [C_o, N_out, C_i, N_in, k, k]``. For an output
channel ``o``, an input channel ``i`` and an output element ``h_a``, the slice
``K[o, a, i]`` is a matrix

.. math:: M_{oia} \in \mathbb{R}^{N_\mathrm{in} \times k^2}, \qquad
          (M_{oia})_{b, y} = K_{oi}(h_a^{-1} y, \log(h_a^{-1} h_b)),

one row per input element ``h_b``, one column per spatial tap ``y``. If the kernel is
*separable*, :math:`K_{oi}(u, v) = k^H_{oi}(v)\,k^{\mathbb{R}^2}_{o}(u)`, every such matrix is an
outer product: rank 1. The share of the energy in the first singular value,

.. math:: E_1(M) = \sigma_1^2 / \textstyle\sum_j \sigma_j^2 \in [1/r, 1], \qquad r = \min(N_\mathrm{in}, T),

with ``T`` the number of spatial taps in the kernel's support (``k²`` without a mask; masked taps
are zero columns), measures how close a learned non-separable kernel is to that: ``1`` means the
spatial pattern is the same at every input element up to a scale factor (fully redundant along
``H``); ``1/r`` means energy is spread evenly over ``r`` independent directions.

Functions here take sampled kernels (tensors) or modules; :func:`redundancy_table` obtains a trained
non-separable SE(2) model of an experiment profile (training it if needed) and writes
``results/<profile>/redundancy.csv``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from ..nn.conv import GroupConv

__all__ = [
    "effective_rank",
    "energy_share",
    "expected_gaussian_share",
    "gaussian_like",
    "group_conv_layers",
    "kernel_spectra",
    "sampled_kernels",
    "singular_spectra",
    "subgroup_matrices",
    "summarise_spectra",
    "support_taps",
]

#: quantiles reported by :func:`summarise_spectra`
QUANTILES = (0.1, 0.5, 0.9)


def _check_kernel(kernel: Tensor) -> None:
    if not isinstance(kernel, Tensor) or kernel.dim() != 6:
        shape = tuple(kernel.shape) if isinstance(kernel, Tensor) else type(kernel).__name__
        raise ValueError(f"kernel must be a sampled group kernel [C_o, N_out, C_i, N_in, k, k], got {shape}")


def subgroup_matrices(kernel: Tensor, output_element: int | None = 0) -> Tensor:
    """The ``[N_in × k²]`` matrices of a sampled group kernel.

    Args:
        kernel: ``[C_o, N_out, C_i, N_in, k, k]`` (e.g. :meth:`GroupConv.product_kernel`).
        output_element: index ``a`` of the output element (``0``: the identity of the grid), or
            ``None`` for every output element.
    Returns:
        ``[C_o, C_i, A, N_in, k·k]`` with ``A = 1`` for one output element, ``N_out`` for all.
    """
    _check_kernel(kernel)
    co, n_out, ci, n_in, kh, kw = kernel.shape
    if output_element is None:
        sel = kernel
    else:
        if isinstance(output_element, bool) or not isinstance(output_element, int) or not 0 <= output_element < n_out:
            raise ValueError(f"output_element must be None (all) or an int in [0, {n_out}), got {output_element!r}")
        sel = kernel[:, output_element : output_element + 1]
    # [Co, A, Ci, Ni, k, k] -> [Co, Ci, A, Ni, k*k]
    return sel.permute(0, 2, 1, 3, 4, 5).reshape(co, ci, sel.shape[1], n_in, kh * kw)


def singular_spectra(kernel: Tensor, output_element: int | None = 0) -> Tensor:
    """Singular values, largest first, of every matrix of :func:`subgroup_matrices`:
    ``[C_o, C_i, A, r]`` with ``r = min(N_in, k²)`` (computed in float64)."""
    mats = subgroup_matrices(kernel, output_element).detach().to("cpu", torch.float64)
    return torch.linalg.svdvals(mats)


def energy_share(kernel: Tensor, output_element: int | None = 0) -> Tensor:
    r""":math:`\sigma_1^2/\sum_j\sigma_j^2` of every ``[N_in × k²]`` matrix: ``[C_o, C_i, A]``
    (``nan`` for an all-zero matrix). ``1`` exactly when the matrix has rank 1 (separable)."""
    s2 = singular_spectra(kernel, output_element).pow(2)
    total = s2.sum(-1)
    return torch.where(total > 0, s2[..., 0] / total.clamp_min(1e-300), torch.full_like(total, float("nan")))


def gaussian_like(kernel: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A control with the kernel's shape ``[C_o, N_out, C_i, N_in, k, k]`` and support:
    i.i.d. standard normal values on every spatial tap where the kernel is non-zero for some
    element (the disk mask), zero elsewhere (float64). Its energy shares are what "no structure
    along ``H``" looks like for matrices of this shape."""
    _check_kernel(kernel)
    support = (kernel.detach().abs().to("cpu", torch.float64).flatten(0, 3).amax(0) > 0).to(torch.float64)  # [k, k]
    noise = torch.randn(tuple(kernel.shape), generator=generator, dtype=torch.float64)
    return noise * support


def support_taps(kernel: Tensor) -> int:
    """Number of spatial taps ``T`` where the kernel ``[C_o, N_out, C_i, N_in, k, k]`` is non-zero for
    some channel pair or element (the disk mask's support; ``k²`` without a mask)."""
    _check_kernel(kernel)
    return int((kernel.detach().abs().flatten(0, 3).amax(0) > 0).sum())


def group_conv_layers(module: nn.Module) -> list[tuple[str, GroupConv]]:
    """``(name, layer)`` of every :class:`GroupConv` inside ``module`` (itself included), in order."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(module).__name__}")
    return [(name or type(m).__name__, m) for name, m in module.named_modules() if isinstance(m, GroupConv)]


@torch.no_grad()
def sampled_kernels(module: nn.Module, min_kernel_size: int = 2) -> list[tuple[str, GroupConv, Tensor]]:
    """``(name, layer, dense kernel [C_o, N, C_i, N, k, k])`` of every group convolution with a
    spatial window of at least ``min_kernel_size`` (1×1 skips have nothing to factorise), sampled
    on the fixed grid (``eval()``; the module's mode is restored)."""
    was_training = module.training
    module.eval()
    try:
        return [
            (name, layer, layer.product_kernel().detach().clone())
            for name, layer in group_conv_layers(module)
            if layer.window >= min_kernel_size
        ]
    finally:
        module.train(was_training)


def kernel_spectra(
    module_or_kernels: nn.Module | Sequence[tuple[str, Tensor]],
    output_element: int | None = 0,
    state: str = "",
) -> pd.DataFrame:
    """Energy fractions of every ``[N_in × k²]`` matrix of every group convolution, long format.

    Args:
        module_or_kernels: a model or layer (its :class:`GroupConv` layers with spatial kernels
            larger than 1×1 are analysed), or ``[(layer name, kernel [C_o, N, C_i, N, k, k]), …]``.
        output_element: see :func:`subgroup_matrices` (``0`` = identity; ``None`` = all).
        state: a label copied into the ``state`` column (``"trained"``, ``"init"`` …).
    Returns:
        One row per ``(layer, out_channel, in_channel, output_element, component)`` with
        ``energy_fraction`` :math:`\\sigma_j^2/\\sum\\sigma^2` (component 1 is :func:`energy_share`),
        ``singular_value``, ``rank_max = min(N_in, T)`` (:func:`support_taps`; components beyond it
        are zero by construction and left out), ``layer_index`` and ``kernel_shape``.
    """
    if isinstance(module_or_kernels, nn.Module):
        kernels = [(name, k) for name, _, k in sampled_kernels(module_or_kernels)]
    else:
        kernels = list(module_or_kernels)
    frames = []
    for index, (name, kernel) in enumerate(kernels):
        r = max(1, min(kernel.shape[3], support_taps(kernel)))
        sv = singular_spectra(kernel, output_element)[..., :r]  # [Co, Ci, A, r]
        co, ci, a, r = sv.shape
        s2 = sv.pow(2)
        frac = s2 / s2.sum(-1, keepdim=True).clamp_min(1e-300)
        o, i, e, j = torch.meshgrid(torch.arange(co), torch.arange(ci), torch.arange(a), torch.arange(r), indexing="ij")
        elements = e if output_element is None else torch.full_like(e, output_element)
        frames.append(
            pd.DataFrame(
                {
                    "state": state,
                    "layer": name,
                    "layer_index": index,
                    "kernel_shape": "x".join(map(str, kernel.shape)),
                    "out_channel": o.reshape(-1).numpy(),
                    "in_channel": i.reshape(-1).numpy(),
                    "output_element": elements.reshape(-1).numpy(),
                    "component": (j + 1).reshape(-1).numpy(),
                    "rank_max": r,
                    "singular_value": sv.reshape(-1).numpy(),
                    "energy_fraction": frac.reshape(-1).numpy(),
                }
            )
        )
    if not frames:
        raise ValueError("found no group convolution with a spatial kernel larger than 1x1 to analyse")
    return pd.concat(frames, ignore_index=True)


def summarise_spectra(spectra: pd.DataFrame, quantiles: Iterable[float] = QUANTILES) -> pd.DataFrame:
    """Per ``(state, layer, component)``: mean, std and quantiles of the energy fraction over all
    matrices of the layer, and the mean cumulative energy of the first ``component`` directions.
    Component 1's row summarises the energy share :math:`E_1`."""
    needed = {"state", "layer", "layer_index", "kernel_shape", "component", "rank_max", "energy_fraction"}
    missing = needed - set(spectra.columns)
    if missing:
        raise ValueError(f"spectra lacks the columns {sorted(missing)} (make it with kernel_spectra)")
    keys = ["state", "layer_index", "layer", "kernel_shape", "rank_max", "component"]
    grouped = spectra.groupby(keys, sort=True)["energy_fraction"]
    out = grouped.agg(energy_fraction_mean="mean", energy_fraction_std="std", matrices="count").reset_index()
    for q in quantiles:
        out[f"energy_fraction_q{round(100 * q):02d}"] = grouped.quantile(q).to_numpy()
    out["cumulative_energy_mean"] = out.groupby(["state", "layer_index"])["energy_fraction_mean"].cumsum()
    out["uniform_share"] = 1.0 / out["rank_max"]
    return out


def effective_rank(fractions: Tensor) -> Tensor:
    r"""Entropy effective rank :math:`\exp(-\sum_j p_j \log p_j)` of energy fractions ``[..., r]``
    (1 for rank one, ``r`` for a flat spectrum)."""
    p = fractions.clamp_min(1e-300)
    return torch.exp(-(fractions * torch.log(p)).sum(-1))


def expected_gaussian_share(n_rows: int, n_cols: int, samples: int = 2000, seed: int = 0) -> float:
    """Mean energy share of an ``n_rows × n_cols`` standard Gaussian matrix (Monte Carlo, for the
    control line of plots)."""
    if n_rows < 1 or n_cols < 1:
        raise ValueError(f"matrix sizes must be positive, got {n_rows} x {n_cols}")
    gen = torch.Generator().manual_seed(seed)
    m = torch.randn(samples, n_rows, n_cols, generator=gen, dtype=torch.float64)
    s2 = torch.linalg.svdvals(m).pow(2)
    return float((s2[:, 0] / s2.sum(-1)).mean())
