"""Inputs of the report on demand (chapter 08's ``train`` parameter); :func:`make_all` itself never
trains.

:func:`ensure_inputs` makes sure every required input of :data:`~gsepconv.report.inputs.INPUTS`
exists for a profile, producing what ``train`` allows through the same library calls the chapters
use: :func:`gsepconv.experiments.ondemand.ensure_results` for the training grids (which also write the
per-epoch histories), :func:`~gsepconv.experiments.ondemand.ensure_table` for the benchmark, the sweep, the
equivariance report and the redundancy table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gsepconv.analysis import planned_seeds, redundancy_is_current, redundancy_table, select_run
from gsepconv.experiments.bench import (
    bench_is_current,
    bench_path,
    run_benchmark,
    run_sweep,
    sweep_is_current,
    sweep_path,
)
from gsepconv.experiments.equivariance_report import equivariance_report
from gsepconv.experiments.folders import results_dir
from gsepconv.experiments.io import atomic_write_text
from gsepconv.experiments.ondemand import check_train_mode, ensure_results, ensure_table, training_minutes
from gsepconv.report.inputs import INPUTS, input_path, missing_inputs, raise_missing

__all__ = ["ensure_inputs"]


def ensure_inputs(
    profile: str,
    train: str = "auto",
    *,
    device: str = "cpu",
    results_root: str | Path | None = None,
    runs: str | Path | None = None,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Paths of every required input of the report for ``profile``, producing the missing ones
    when ``train`` is ``"auto"`` (and rerunning everything when ``"always"``); ``"never"`` raises
    :class:`~gsepconv.report.inputs.MissingInputs` listing each missing CSV and its command.

    ``results_root``: the folder holding the profile folders (default ``$GSEPCONV_RESULTS`` or
    ``<repository>/results``); ``runs``: the run folders (default ``$GSEPCONV_RUNS`` or ``./runs``).
    """
    check_train_mode(train)
    required = [n for n, spec in INPUTS.items() if spec.required]
    if train == "never":
        raise_missing(missing_inputs(required, profile, results_root), profile)
        return {n: input_path(n, profile, results_root) for n in required}
    base = results_dir(profile, results_root).parent
    for experiment in ("mnist_rot", "mnist_rot_budget", "rotations", "cifar10"):
        ensure_results(experiment, profile, train, device=device, results=base, runs=runs, threads=threads, log=log)

    def write_equivariance() -> None:
        frame = equivariance_report(profile)
        atomic_write_text(base / profile / INPUTS["equivariance"].files[0], frame.to_csv(index=False))

    tables = [
        # progress bars where someone watches (a terminal, Colab); none in the book's stored outputs
        (
            bench_path(profile, device, base),
            lambda: run_benchmark(profile, device, bench_path(profile, device, base)),
            lambda t: bench_is_current(t, profile),
            None,
        ),
        (
            sweep_path(profile, device, base),
            lambda: run_sweep(profile, device, sweep_path(profile, device, base)),
            lambda t: sweep_is_current(t, profile),
            None,
        ),
        (base / profile / INPUTS["equivariance"].files[0], write_equivariance, None, None),
        (
            base / profile / INPUTS["redundancy"].files[0],
            lambda: redundancy_table(profile, device=device, runs=runs, results=base, log=log),
            lambda t: redundancy_is_current(t, profile),
            lambda: training_minutes([select_run("mnist_rot", profile, seed=s) for s in planned_seeds(profile)], None),
        ),  # at most: a trained run is reused
    ]
    names = ("efficiency", "efficiency_sweep", "equivariance", "redundancy")
    for name, (path, produce, is_current, minutes) in zip(names, tables):
        ensure_table(path, train, produce, INPUTS[name].command_for(profile), is_current, minutes=minutes, log=log)
    still = missing_inputs(required, profile, results_root)
    if still:  # e.g. a results table without its per-epoch history CSV
        raise_missing(still, profile)
    return {n: input_path(n, profile, results_root) for n in required}
