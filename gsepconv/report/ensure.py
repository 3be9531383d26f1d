"""Inputs of the report on demand (chapter 08's ``train`` parameter); :func:`make_all` itself never
trains.

:func:`ensure_inputs` makes sure every required input of :data:`~gsepconv.report.inputs.INPUTS`
exists for a profile, producing what ``train`` allows through the same library calls the chapters
use: :func:`gsepconv.experiments.ondemand.ensure_results` for the training grids (which also
write the per-epoch histories), :func:`ensure_table` (the registry's producer and freshness rule)
for the benchmark, the sweep, the equivariance report and the redundancy table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from gsepconv.experiments.folders import results_dir
from gsepconv.experiments.ondemand import check_train_mode, ensure_csv, ensure_results
from gsepconv.report.inputs import INPUTS, Produce, input_path, missing_inputs, raise_missing

__all__ = ["ensure_inputs", "ensure_table"]

#: the measured tables every report needs, in the order a reproduction produces them
MEASURED = ("efficiency", "efficiency_sweep", "equivariance", "redundancy")


def ensure_table(
    name: str,
    profile: str,
    train: str = "auto",
    *,
    device: str = "cpu",
    results: str | Path | None = None,
    runs: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """The measured table ``name`` of the registry ``gsepconv.report.inputs.INPUTS`` for ``profile``
    (``"efficiency"``, ``"efficiency_sweep"``, ``"layouts"``, ``"layer_costs"``,
    ``"equivariance"``, ``"redundancy"``), produced as ``train`` allows: ``"auto"`` reuses the
    stored table when the registry's freshness rule accepts it, ``"always"`` measures again (once
    per reproduction), ``"never"`` fails naming the command. ``device``: where it is measured (the
    GPU variant of a benchmark on CUDA); ``results``: the folder holding the profile folders
    (default ``$GSEPCONV_RESULTS`` or ``<repository>/results``); ``runs``: the run folders of the
    trained models a table reads (redundancy)."""
    spec = INPUTS.get(name)
    if spec is None or spec.produce is None:
        measured = [n for n, s in INPUTS.items() if s.produce is not None]
        raise ValueError(f"{name!r} is not a measured table; choose one of {', '.join(measured)}")
    path = results_dir(profile, results) / spec.file_for(device)
    job = Produce(profile, device, path, runs, log)
    is_current = spec.is_current
    return ensure_csv(
        path,
        train,
        lambda: spec.produce(job),
        spec.command_for(profile, device),
        None if is_current is None else (lambda table: is_current(table, profile)),
        minutes=None if spec.minutes is None else (lambda: spec.minutes(profile)),
        log=log,
    )


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
    for name in MEASURED:
        ensure_table(name, profile, train, device=device, results=base, runs=runs, log=log)
    still = missing_inputs(required, profile, results_root)
    if still:  # e.g. a results table without its per-epoch history CSV
        raise_missing(still, profile)
    return {n: input_path(n, profile, results_root) for n in required}
