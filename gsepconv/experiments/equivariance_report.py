"""Equivariance report: rotation and scale equivariance errors of every group × implementation,
beside plain-CNN control rows, written to ``results/<profile>/equivariance.csv``.

Each case is a lifting layer followed by one group convolution of the implementation (float64,
freshly initialised, the deterministic grid); the control is the same stack with ``nn.Conv2d``
(``group="Z2"``, ``role="control"``), measured on the same inputs and seeds. Columns:

* ``rot90_error``: exact 90° rotation (``torch.rot90``): round-off (~1e-15) for SE(2) and Sim(2).
* ``rot45_error``: 45° with bilinear interpolation on a smooth disk-masked input (measured).
* ``scale_error``: one step of the scale grid (``scale_step``), measured with
  :func:`gsepconv.equivariance.scale_equivariance_error`: exactly dilated smooth inputs, bicubic
  dilation of the outputs, a central crop, and only the scales both passes cover, without the
  truncation artefacts of the ``[1, S]`` scale axis.
* ``scale_error_truncated``: the same comparison on the model's own grid (the channels that
  both cover, the truncation artefacts included) — what the report measured before.

Which rows control which: ``equivariant_to`` says what a network is built to respect. For
rotations the models are SE(2) and Sim(2) and the controls Z2 and R²⋊R⁺; for scales the models
are R²⋊R⁺ and Sim(2) and the controls Z2 and SE(2). :func:`summarise` groups the rows so.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ..equivariance import check_equivariance, find_grid, grid_scale_factors, random_bumps, scale_errors
from ..groups import SCALE_GROUPS, get_group, num_elements_text
from ..nn import GroupConv, GroupGrid, LiftingConv
from ..version import __version__
from .io import check_writable, git_commit, results_root, write_table
from .profiles import PROFILES, EquivarianceProfile

#: what each group's networks are built to be equivariant to (besides translations)
EQUIVARIANT_TO = {"Z2": "translation", "SE2": "rotation", "R2xRplus": "scale", "Sim2": "rotation+scale"}


#: the equivariance report's sizes of each profile (its ``equivariance`` section)
REPORT_PROFILES: dict[str, EquivarianceProfile] = {name: p.equivariance for name, p in PROFILES.items()}


def _group_stack(group_name: str, impl: str, prof: EquivarianceProfile, max_scale: float, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    group = get_group(group_name, max_scale if group_name in SCALE_GROUPS else None)
    ne = prof.num_elements[group_name]
    lift = LiftingConv(group, 1, prof.channels, prof.kernel_size, ne)
    conv = GroupConv(group, prof.channels, prof.channels, prof.kernel_size, ne, implementation=impl, grid=lift.grid)
    return nn.Sequential(lift, conv).double()


def control_stack(channels: int, kernel_size: int, seed: int) -> nn.Module:
    """The control: the same two-layer stack with ``nn.Conv2d`` (PyTorch's default init), float64."""
    torch.manual_seed(seed)
    pad = kernel_size // 2
    return nn.Sequential(
        nn.Conv2d(1, channels, kernel_size, padding=pad), nn.Conv2d(channels, channels, kernel_size, padding=pad)
    ).double()


def _measure(model: nn.Module, prof: EquivarianceProfile, step: float, seed: int) -> dict[str, float]:
    """rot90/rot45 (:func:`check_equivariance`) and one scale step with and without the truncation
    artefacts (:func:`~gsepconv.equivariance.scale_equivariance_error`, sharing forward passes)."""
    shape = (prof.batch, 1, prof.image_size, prof.image_size)
    rot = check_equivariance(model, input_shape=shape, quarter_turns=(1,), angles=(45,), seed=seed)
    field = random_bumps(shape, max_factor=step, generator=torch.Generator().manual_seed(seed))
    model.eval()
    with torch.no_grad():
        scale, truncated = scale_errors(model, field.render, step, find_grid(model), 0.5, "bicubic", (True, False))
    return {
        "rot90_error": rot["rot90"],
        "rot45_error": rot["rot45"],
        "scale_step": step,
        "scale_error": scale,
        "scale_error_truncated": truncated,
    }


def equivariance_report(
    profile: str = "quick", max_scale: float = 1.74, seeds: tuple[int, ...] | None = None
) -> pd.DataFrame:
    """One row per network × seed: group × implementation (``role="model"``) and the ``nn.Conv2d``
    control (``group="Z2"``, ``role="control"``), with rot90, rot45 and one-scale-step errors.

    ``seeds`` overrides the profile's seeds (controls and headline implementations)."""
    if profile not in REPORT_PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(REPORT_PROFILES)}")
    prof = REPORT_PROFILES[profile]
    seeds = tuple(seeds) if seeds is not None else prof.seeds
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds must be a non-empty tuple of ints, got {seeds!r}")
    n_scale = prof.num_elements["R2xRplus"]
    # one step of the scale grid, read off the grid itself; every row is measured at it
    step = grid_scale_factors(GroupGrid(get_group("R2xRplus", max_scale).H, n_scale))[0]
    common = {
        "kernel_size": prof.kernel_size,
        "image_size": prof.image_size,
        "dtype": "float64",
        "interpolation": "bicubic",
        "profile": profile,
        "torch_version": torch.__version__,
        "gsepconv_version": __version__,
        "git_commit": git_commit(),
        "device": "cpu",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    rows = []
    for seed in seeds:
        model = control_stack(prof.channels, prof.kernel_size, seed)
        rows.append(
            {
                "group": "Z2",
                "implementation": "conv2d",
                "num_elements": "1",
                "role": "control",
                "equivariant_to": EQUIVARIANT_TO["Z2"],
                "seed": seed,
                **_measure(model, prof, step, seed),
                **common,
            }
        )
    for name, num_elements in prof.num_elements.items():
        for impl in get_group(name).implementations:
            for seed in seeds if (name, impl) in prof.headline else seeds[:1]:
                model = _group_stack(name, impl, prof, max_scale, seed)
                rows.append(
                    {
                        "group": name,
                        "implementation": impl,
                        "num_elements": num_elements_text(num_elements),
                        "role": "model",
                        "equivariant_to": EQUIVARIANT_TO[name],
                        "seed": seed,
                        **_measure(model, prof, step, seed),
                        **common,
                    }
                )
    return pd.DataFrame(rows)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per transformation (``rot45``, ``scale``) and group: mean, std, min and max of the error over
    implementations and seeds, with ``role`` = model where the group is built for the
    transformation and control where not."""
    out = []
    for transformation, column, symmetry in (
        ("rot45", "rot45_error", "rotation"),
        ("scale", "scale_error", "scale"),
        ("scale (truncation incl.)", "scale_error_truncated", "scale"),
    ):
        for group, part in frame.groupby("group", sort=False):
            values = part[column].dropna()
            if values.empty:
                continue
            role = "model" if symmetry in EQUIVARIANT_TO.get(group, "") else "control"
            out.append(
                {
                    "transformation": transformation,
                    "group": group,
                    "role": role,
                    "rows": len(values),
                    "mean": values.mean(),
                    "std": values.std(ddof=1) if len(values) > 1 else float("nan"),
                    "min": values.min(),
                    "max": values.max(),
                }
            )
    return pd.DataFrame(out)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gsepconv equivariance``."""
    p = subparsers.add_parser(
        "equivariance",
        help="measure equivariance errors of every group x implementation, with controls",
        description=__doc__.split("\n\n")[0].replace("``", ""),  # plain text, not reStructuredText
        epilog="example:\n  gsepconv equivariance --profile quick   # writes results/quick/equivariance.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--profile", default="quick", choices=sorted(REPORT_PROFILES))
    p.add_argument("--out", default=None, help="CSV path (default: <results>/<profile>/equivariance.csv)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    path = Path(args.out) if args.out else results_root() / args.profile / "equivariance.csv"
    check_writable(path.parent, "the equivariance table", "--out")
    frame = equivariance_report(args.profile)
    write_table(path, frame.to_csv(index=False), "the equivariance table")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.3g}".format):
        print(
            frame[
                [
                    "group",
                    "implementation",
                    "role",
                    "seed",
                    "rot90_error",
                    "rot45_error",
                    "scale_error",
                    "scale_error_truncated",
                ]
            ].to_string(index=False)
        )
        print()
        print(summarise(frame).to_string(index=False))
    print(f"written to {path}")
    return 0
