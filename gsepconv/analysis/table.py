"""The redundancy table of a trained model: ``results/<profile>/redundancy.csv``.

:func:`redundancy_table` takes the non-separable SE(2) runs of an experiment profile (every seed
it plans), trains each with :func:`gsepconv.experiments.run_one` unless its run folder already holds a
finished run, rebuilds the same model at initialisation, and summarises the energy spectra of both
(:func:`~gsepconv.analysis.redundancy.summarise_spectra`), beside two controls:

* ``gaussian``: i.i.d. Gaussian kernels with the trained kernels' shapes and support (no structure
  along ``H``);
* ``separable``: the profile's SE(2) separable model at initialisation, rank 1 by construction
  (a check that the measure reads 1 where it must).

Shell: ``python -m gsepconv.analysis --profile quick`` (and ``--table layer_costs`` for
``results/<profile>/layer_costs.csv``, see :mod:`gsepconv.analysis.costs`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..experiments.config import RunConfig
from ..experiments.folders import default_runs, results_dir
from ..experiments.io import atomic_write_text, git_commit
from ..experiments.registry import get_runs
from ..experiments.runfolder import BEST_WEIGHTS
from ..experiments.setup import seed_everything
from ..experiments.single_run import load_metrics, run_dir_for, run_one
from ..models import build_model
from ..version import __version__
from .costs import layer_costs_path, write_layer_costs
from .redundancy import gaussian_like, kernel_spectra, sampled_kernels, summarise_spectra

__all__ = [
    "REDUNDANCY_FILE",
    "STATES",
    "default_runs",
    "initial_model",
    "planned_seeds",
    "redundancy_is_current",
    "redundancy_path",
    "redundancy_table",
    "select_run",
    "trained_model",
]

REDUNDANCY_FILE = "redundancy.csv"
#: values of the ``state`` column, in plotting order
STATES = ("trained", "init", "gaussian", "separable")

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def select_run(
    experiment: str, profile: str, group: str = "SE2", implementation: str = "nonseparable", seed: int = 0
) -> RunConfig:
    """The run of ``experiment``/``profile`` with this group, implementation and seed."""
    runs = get_runs(experiment, profile)
    for config in runs:
        m = config.model
        if m.group == group and m.implementation == implementation and config.seed == seed:
            return config
    have = sorted({f"{c.model.group}/{c.model.implementation}/seed {c.seed}" for c in runs})
    raise ValueError(
        f"{experiment!r} under profile {profile!r} has no {group}/{implementation} run with seed {seed}; "
        f"it plans: {', '.join(have)}"
    )


def _plain_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


def initial_model(config: RunConfig, model_kwargs: dict[str, Any]) -> nn.Module:
    """The model exactly as training started it: ``build_model(**model_kwargs)`` right after
    seeding with ``config.seed`` (what :func:`gsepconv.experiments.train` does). ``model_kwargs``:
    the resolved arguments stored in the run's ``metrics.json`` (``"model_kwargs"``)."""
    seed_everything(config.seed)
    return build_model(**_plain_kwargs(model_kwargs))


def trained_model(
    config: RunConfig,
    *,
    runs: str | Path | None = None,
    device: str = "cpu",
    allow_training: bool = True,
    log: Log | None = None,
) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """``(trained, initial, metrics)`` of ``config``: the best-validation weights of its finished run
    in ``runs`` (default :func:`default_runs`), trained now on ``device`` when the run folder has
    none and ``allow_training``; the same model at initialisation; and the run's metrics. Both
    models are on the CPU in ``eval()``."""
    runs = runs if runs is not None else default_runs()
    folder = run_dir_for(config, runs)
    metrics = load_metrics(folder)
    if metrics is None:
        if not allow_training:
            raise FileNotFoundError(
                f"{folder} holds no finished run of {config.run_id()}; train it with "
                f"`gsepconv run {config.experiment} --profile {config.profile}`"
            )
        # no progress bars (notebook output); epoch lines go to ``log``
        metrics = run_one(config.replace(device=device, progress=False), runs=runs, log=log or _stderr)
    initial = initial_model(config, metrics["model_kwargs"]).eval()
    trained = initial_model(config, metrics["model_kwargs"])
    state = torch.load(folder / BEST_WEIGHTS, map_location="cpu", weights_only=True)
    trained.load_state_dict(state)
    return trained.eval(), initial, metrics


def redundancy_path(profile: str, results: str | Path | None = None) -> Path:
    """``results/<profile>/redundancy.csv`` (``results``: the folder holding the profile folders;
    default: :func:`gsepconv.experiments.folders.results_dir`)."""

    return results_dir(profile, results) / REDUNDANCY_FILE


def planned_seeds(profile: str, experiment: str = "mnist_rot") -> tuple[int, ...]:
    """The seeds the profile trains its non-separable SE(2) model with in ``experiment``."""
    seeds = sorted(
        {
            c.seed
            for c in get_runs(experiment, profile)
            if (c.model.group, c.model.implementation) == ("SE2", "nonseparable")
        }
    )
    if not seeds:
        select_run(experiment, profile)  # raises, listing what the profile plans
    return tuple(seeds)


def redundancy_table(
    profile: str,
    *,
    experiment: str = "mnist_rot",
    seeds: Sequence[int] | None = None,
    device: str = "cpu",
    runs: str | Path | None = None,
    results: str | Path | None = None,
    output_element: int | None = 0,
    allow_training: bool = True,
    write: bool = True,
    log: Log | None = None,
) -> pd.DataFrame:
    """Summarised energy spectra (one row per seed × state × layer × component) of the profile's
    trained non-separable SE(2) models (``seeds``; default every seed the profile trains, so the
    claim compares runs, not one run), each beside its own initialisation and controls; written to
    :func:`redundancy_path` when ``write``. Columns: those of
    :func:`~gsepconv.analysis.redundancy.summarise_spectra`, then ``output_elements``, the run
    (``experiment``, ``run_id``, ``test_acc``) and provenance (``profile``, ``seed``, ``device``,
    ``torch_version``, ``gsepconv_version``, ``git_commit``, ``timestamp``)."""
    seeds = tuple(seeds) if seeds is not None else planned_seeds(profile, experiment)
    tables = [
        _seed_spectra(profile, experiment, seed, device, runs, output_element, allow_training, log) for seed in seeds
    ]
    table = pd.concat(tables, ignore_index=True)
    if write:
        atomic_write_text(redundancy_path(profile, results), table.to_csv(index=False))
    return table


def _seed_spectra(
    profile: str,
    experiment: str,
    seed: int,
    device: str,
    runs: str | Path | None,
    output_element: int | None,
    allow_training: bool,
    log: Log | None,
) -> pd.DataFrame:
    """The rows of :func:`redundancy_table` for one seed's run."""
    config = select_run(experiment, profile, seed=seed)
    trained, initial, metrics = trained_model(config, runs=runs, device=device, allow_training=allow_training, log=log)
    trained_kernels = [(name, k) for name, _, k in sampled_kernels(trained)]
    gen = torch.Generator().manual_seed(seed)
    frames = [
        kernel_spectra(trained_kernels, output_element, state="trained"),
        kernel_spectra(initial, output_element, state="init"),
        kernel_spectra(
            [(name, gaussian_like(k, gen)) for name, k in trained_kernels], output_element, state="gaussian"
        ),
    ]
    try:
        separable = select_run(experiment, profile, implementation="separable", seed=seed)
        frames.append(
            kernel_spectra(
                initial_model(separable, {**metrics["model_kwargs"], "implementation": "separable"}),
                output_element,
                state="separable",
            )
        )
    except ValueError:  # the profile has no separable SE(2) run: no rank-1 control row
        pass
    spectra = pd.concat(frames, ignore_index=True)
    table = summarise_spectra(spectra)
    table["state"] = pd.Categorical(table["state"], categories=list(STATES), ordered=True)
    table = table.sort_values(["state", "layer_index", "component"]).reset_index(drop=True)
    table["state"] = table["state"].astype(str)
    provenance = {
        "output_elements": "identity"
        if output_element == 0
        else ("all" if output_element is None else str(output_element)),
        "experiment": experiment,
        "run_id": config.run_id(),
        "test_acc": metrics.get("test_acc", float("nan")),
        "profile": profile,
        "seed": seed,
        "device": metrics.get("device", device),
        "torch_version": torch.__version__,
        "gsepconv_version": __version__,
        "git_commit": git_commit(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    for key, value in provenance.items():
        table[key] = value
    return table


def redundancy_is_current(table: pd.DataFrame, profile: str, experiment: str = "mnist_rot") -> bool:
    """Whether a stored redundancy table was made from the runs the profile plans now, every seed
    (run ids hash the configuration, so a redesigned profile makes an old table stale)."""
    if "run_id" not in table.columns or table.empty:
        return False
    planned = {select_run(experiment, profile, seed=s).run_id() for s in planned_seeds(profile, experiment)}
    return set(table["run_id"].astype(str)) == planned


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gsepconv.analysis --profile quick``: write ``results/<profile>/redundancy.csv``."""
    parser = argparse.ArgumentParser(
        prog="python -m gsepconv.analysis",
        description="Redundancy of a trained non-separable SE(2) G-CNN's kernels along the rotation axis: "
        "energy spectra of every [N_in x k^2] kernel slice, trained vs initialisation vs controls. "
        "Trains the run when its folder holds no finished run.",
    )
    parser.add_argument(
        "--table",
        choices=("redundancy", "layer_costs"),
        default="redundancy",
        help="redundancy.csv (default; trains the run if needed) or layer_costs.csv (per-layer "
        "parameters, MACs and time of every implementation)",
    )
    parser.add_argument("--profile", default="quick", help="experiment profile (smoke, quick, paper; default quick)")
    parser.add_argument("--experiment", default="mnist_rot", help="experiment whose SE2 nonseparable run is analysed")
    parser.add_argument(
        "--seeds", default=None, help="comma-separated seeds to analyse (default: every seed the profile trains)"
    )
    parser.add_argument("--device", default="cpu", help="device for training when needed (cpu, cuda, cuda:N)")
    parser.add_argument("--runs", default=None, help="runs folder (default: $GSEPCONV_RUNS or <repo>/runs)")
    parser.add_argument("--results", default=None, help="results folder (default: $GSEPCONV_RESULTS or <repo>/results)")
    parser.add_argument(
        "--all-elements", action="store_true", help="analyse the slices of every output element, not only the identity"
    )
    parser.add_argument("--no-train", action="store_true", help="fail instead of training a missing run")
    args = parser.parse_args(argv)
    if args.table == "layer_costs":
        costs = write_layer_costs(args.profile, args.results, args.device)
        with pd.option_context("display.width", 160):
            print(
                costs[
                    [
                        "group",
                        "implementation",
                        "window",
                        "params",
                        "macs",
                        "macs_formula",
                        "kernel_ms",
                        "conv_ms",
                        "train_ms",
                    ]
                ].to_string(index=False)
            )
        print(f"written to {layer_costs_path(args.profile, args.results)}")
        return 0
    table = redundancy_table(
        args.profile,
        experiment=args.experiment,
        seeds=None if args.seeds is None else [int(v) for v in args.seeds.split(",")],
        device=args.device,
        runs=args.runs,
        results=args.results,
        output_element=None if args.all_elements else 0,
        allow_training=not args.no_train,
    )
    first = table[table["component"] == 1]
    with pd.option_context("display.width", 160):
        print(
            first[
                ["state", "layer", "kernel_shape", "energy_fraction_mean", "energy_fraction_q50", "uniform_share"]
            ].to_string(index=False)
        )
    print(f"written to {redundancy_path(args.profile, args.results)}")
    return 0
