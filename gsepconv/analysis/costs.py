r"""What one group-convolution layer costs, per implementation: parameters, multiply–accumulates
(counted by PyTorch's flop counter and given by the cost formulas of the paper's separable kernels (book chapter 04)) and time.

MACs per output pixel with :math:`N_\mathrm{in} = N_\mathrm{out} = N` and a sampled window of
:math:`w \times w` taps (:math:`w = k` for rotations; larger for dilations). Where a layer
convolves each output element :math:`h_a` over its own window :math:`w_a` (scale groups with a
hard mask, for the dense (non- and g-separable) and the separable(2d) forms: ``GroupConv.conv_windows``), :math:`w^2` is the
mean :math:`\frac1N \sum_a w_a^2`:

=================  =======================================
nonseparable       :math:`C_o N \cdot C_i N \cdot w^2`
gseparable(2d)     as nonseparable (one dense conv2d)
separable          :math:`C_o N (C_i N + w^2)`
separable2d        as separable (the rotation×scale factor runs as one 1×1 convolution)
dseparable         :math:`N C_i C_o + C_o N \cdot N w^2`
dgseparable        :math:`N C_o (C_i + N + w^2)`
=================  =======================================
"""  # noqa: E501 (a docstring line, not rewrapped: Sphinx renders it)

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..experiments.folders import results_dir
from ..experiments.io import atomic_write_text, git_commit
from ..experiments.profiles import PROFILES, LayerCostProfile
from ..groups import get_group, num_elements_text
from ..models import count_parameters
from ..nn import GroupConv, LiftingConv, count_macs
from ..version import __version__

__all__ = [
    "LAYER_COSTS_FILE",
    "LAYER_COST_PROFILES",
    "LayerCostProfile",
    "cost_formula",
    "layer_costs",
    "layer_costs_is_current",
    "layer_costs_path",
    "write_layer_costs",
]

LAYER_COSTS_FILE = "layer_costs.csv"


def cost_formula(
    implementation: str, in_channels: int, out_channels: int, num_elements: int, window: int | Sequence[int]
) -> int:
    """MACs per output pixel of one group convolution (the paper's cost formulas, ``N_in = N_out = N``).
    ``window``: the side of every element's window, or one side per output element (``N`` of them)."""
    ci, co, n = in_channels, out_channels, num_elements
    windows = [window] * n if isinstance(window, int) else list(window)
    if len(windows) != n:
        raise ValueError(f"window: give one side or {n} (one per output element), got {len(windows)}")
    nw2 = sum(w * w for w in windows)  # Σ_a w_a² = N·w² for equal windows
    formulas = {
        "nonseparable": co * ci * n * nw2,
        "gseparable": co * ci * n * nw2,  # its product kernel, convolved as nonseparable's
        "gseparable2d": co * ci * n * nw2,
        "separable": co * (n * ci * n + nw2),
        "separable2d": co * (n * ci * n + nw2),
        "dseparable": n * ci * co + co * n * nw2,
        "dgseparable": co * (n * ci + n * n + nw2),
    }
    if implementation not in formulas:
        raise ValueError(f"unknown implementation {implementation!r}; choose one of {', '.join(formulas)}")
    return formulas[implementation]


#: the layer-cost sizes of each profile (its ``layer_costs`` section)
LAYER_COST_PROFILES: dict[str, LayerCostProfile] = {name: p.layer_costs for name, p in PROFILES.items()}


def _best_ms(fn: Callable[[], Any], warmup: int, repeats: int, device: torch.device) -> float:
    """Best of ``repeats`` timed calls after ``warmup`` (ms): on a shared machine the minimum is the
    least disturbed measurement of a deterministic computation."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000.0)
    return min(times)


def _num_elements_for(group: str, prof: LayerCostProfile) -> int | tuple[int, int]:
    if group == "SE2":
        return prof.se2_elements
    if group == "Sim2":
        return prof.sim2_elements
    if group == "R2xRplus":
        return prof.sim2_elements[1]
    raise ValueError(f"unknown group {group!r}; choose one of SE2, R2xRplus, Sim2")


def layer_costs(
    profile: str = "smoke",
    groups: Sequence[str] = ("SE2", "Sim2"),
    implementations: Sequence[str] | None = None,
    device: str = "cpu",
    seed: int = 0,
) -> pd.DataFrame:
    """One row per group × implementation: a ``GroupConv`` of ``C → C`` channels (sizes from
    :data:`LAYER_COST_PROFILES`) on ``[B, C, N, H, W]``.

    Columns: ``params`` (kernel-net parameters, independent of ``k`` and ``N``), ``window``,
    ``macs`` (flop counter on the exported layer, i.e. the convolutions only), ``macs_formula``
    (:func:`cost_formula` × ``B·H·W``), ``kernel_ms`` (sampling the kernels), ``conv_ms`` (the
    convolutions with frozen kernels), ``train_ms`` (training forward + backward, kernels sampled
    inside), each the best of ``repeats`` after ``warmup``; then sizes and provenance."""
    if profile not in LAYER_COST_PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(LAYER_COST_PROFILES)}")
    prof = LAYER_COST_PROFILES[profile]
    old_threads = torch.get_num_threads()
    if prof.threads is not None:
        torch.set_num_threads(prof.threads)
    try:
        return _layer_costs(prof, profile, groups, implementations, device, seed)
    finally:
        torch.set_num_threads(old_threads)


def _layer_costs(
    prof: LayerCostProfile,
    profile: str,
    groups: Sequence[str],
    implementations: Sequence[str] | None,
    device: str,
    seed: int,
) -> pd.DataFrame:
    dev = torch.device(device)
    c, k, s, b = prof.channels, prof.kernel_size, prof.image_size, prof.batch_size
    rows = []
    for group_name in groups:
        group = get_group(group_name)
        num_elements = _num_elements_for(group_name, prof)
        impls = [i for i in (implementations or group.implementations) if i in group.implementations]
        n = math.prod(num_elements) if isinstance(num_elements, tuple) else num_elements
        for impl in impls:
            torch.manual_seed(seed)
            lift = LiftingConv(group, 1, c, k, num_elements, hidden_features=prof.hidden_features)
            layer = GroupConv(
                group,
                c,
                c,
                k,
                num_elements,
                implementation=impl,
                bias=False,
                grid=lift.grid,
                hidden_features=prof.hidden_features,
            ).to(dev)
            x = torch.randn(b, c, n, s, s, device=dev)

            def sample(layer: nn.Module = layer) -> None:
                with torch.no_grad():
                    layer.sample_weights()

            frozen = layer.export()

            def conv(frozen: nn.Module = frozen, x: torch.Tensor = x) -> None:
                with torch.inference_mode():
                    frozen(x)

            def step(layer: nn.Module = layer, x: torch.Tensor = x) -> None:
                layer.zero_grad(set_to_none=True)
                layer(x).square().mean().backward()

            layer.train()
            rows.append(
                {
                    "group": group_name,
                    "implementation": impl,
                    "num_elements": num_elements_text(num_elements),
                    "n_total": n,
                    "channels": c,
                    "kernel_size": k,
                    "window": layer.window,
                    "image_size": s,
                    "batch_size": b,
                    "params": count_parameters(layer),
                    "macs": count_macs(frozen, x),
                    "macs_formula": b * s * s * cost_formula(impl, c, c, n, layer.conv_windows()),
                    "kernel_ms": _best_ms(sample, prof.warmup, prof.repeats, dev),
                    "conv_ms": _best_ms(conv, prof.warmup, prof.repeats, dev),
                    "train_ms": _best_ms(step, prof.warmup, prof.repeats, dev),
                    "profile": profile,
                    "seed": seed,
                    "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({platform.machine()})",
                    "threads": torch.get_num_threads(),
                    "torch_version": torch.__version__,
                    "gsepconv_version": __version__,
                    "git_commit": git_commit(),
                }
            )
    return pd.DataFrame(rows)


def layer_costs_path(profile: str, results: str | Path | None = None) -> Path:
    """``results/<profile>/layer_costs.csv`` (see :func:`gsepconv.experiments.folders.results_dir`)."""

    return results_dir(profile, results) / LAYER_COSTS_FILE


def write_layer_costs(profile: str, results: str | Path | None = None, device: str = "cpu") -> pd.DataFrame:
    """:func:`layer_costs` of every implementation of SE(2) and Sim(2), written to
    :func:`layer_costs_path` (with a timestamp)."""
    frame = layer_costs(profile, device=device)
    frame["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_text(layer_costs_path(profile, results), frame.to_csv(index=False))
    return frame


def layer_costs_is_current(table: pd.DataFrame, profile: str) -> bool:
    """Whether a stored table has the sizes :data:`LAYER_COST_PROFILES` gives ``profile`` now."""
    prof = LAYER_COST_PROFILES.get(profile)
    needed = {"channels", "kernel_size", "image_size", "batch_size", "macs", "macs_formula"}
    if prof is None or table.empty or not needed <= set(table.columns):
        return False
    return bool(
        (table["channels"] == prof.channels).all()
        and (table["kernel_size"] == prof.kernel_size).all()
        and (table["image_size"] == prof.image_size).all()
        and (table["batch_size"] == prof.batch_size).all()
    )
