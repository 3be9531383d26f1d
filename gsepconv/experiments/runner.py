"""Experiment grids: plan an experiment's runs, train them, write its results tables.

Layout::

    <runs>/<profile>/<experiment>/<run_id>/config.yaml      the run's configuration
                                           checkpoint.pt    replaced atomically after every epoch
                                           model_best.pt    best-validation weights (finished runs)
                                           metrics.json     written last: the run is finished
    <results>/<profile>/<experiment>.csv                    one row per finished run of the grid

``<runs>``: argument, env ``GSEPCONV_RUNS``, or ``./runs``; ``<results>``: argument, env
``GSEPCONV_RESULTS``, or ``./results``. A finished run is reused, an interrupted one resumes from
its checkpoint, ``force=True`` retrains from scratch.

The parts: :mod:`~gsepconv.experiments.planning` (which runs, on which devices, their status),
:mod:`~gsepconv.experiments.workers` (the pool of worker processes) and
:mod:`~gsepconv.experiments.single_run` (one run in its folder). This module puts them together
for a grid (:func:`run_experiment`) and for a whole profile (:func:`train_profile`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gsepconv.data.storage import file_lock
from gsepconv.errors import GsepconvError
from gsepconv.experiments.config import RunConfig
from gsepconv.experiments.io import runs_root
from gsepconv.experiments.planning import default_devices, describe_plan, estimated_cost, plan_frame, plan_runs
from gsepconv.experiments.registry import EXPERIMENTS, get_runs
from gsepconv.experiments.results import history_frame, history_path, results_path, rows_to_frame, write_results
from gsepconv.experiments.setup import DatasetFactory
from gsepconv.experiments.single_run import Log, load_metrics, log_stderr, run_dir_for, run_one
from gsepconv.experiments.workers import run_parallel, run_sequential, train_runs

# run_dir_for, run_one and describe_plan are listed for the command line, which imports them from here
__all__ = [
    "run_experiment",
    "train_profile",
    "RunFailed",
    "dump_yaml",
    "run_dir_for",
    "run_one",
    "describe_plan",
]


class RunFailed(GsepconvError, RuntimeError):
    """One or more runs of a grid failed (the others finished and are in the results); the command
    line exits with status 1 and says that repeating the command reuses the finished runs."""

    exit_code = 1


def run_experiment(
    experiment: str,
    profile: str,
    *,
    runs: str | Path | None = None,
    results: str | Path | None = None,
    force: bool = False,
    devices: Sequence[str] | None = None,
    dry_run: bool = False,
    progress: bool | None = None,
    threads: int | None = None,
    dataset_factory: DatasetFactory | None = None,
    configs: Sequence[RunConfig] | None = None,
    keep_rows: pd.DataFrame | None = None,
    log: Log | None = None,
) -> pd.DataFrame:
    """Run every run of ``experiment`` under ``profile``; write and return the results table.

    ``devices``: e.g. ``["cuda:0", "cuda:1"]`` runs independent runs in parallel, one worker
    process per device; ``None``: ``default_devices`` (each
    config's device, ``auto``, or on a machine without GPU the profile's
    ``cpu_devices``). ``progress`` / ``threads`` override those
    execution settings of every run (they do not change run ids). ``dry_run`` returns the planned
    runs (with their folder and status) without training. Failed runs are reported
    together at the end (:class:`RunFailed`) after the finished ones are written to the CSV.
    ``keep_rows``: rows of an earlier results table (and their histories) to keep beside the runs
    this call trains, so that only what a committed table is missing gets trained. Besides
    ``<experiment>.csv`` the per-epoch histories go to ``<experiment>_history.csv``.
    """
    log = log or log_stderr
    plan, devices = plan_runs(experiment, profile, configs, progress, threads, devices)
    root = runs_root(runs)
    if dry_run:
        return plan_frame(plan, root)

    if devices and len(devices) > 1:
        metrics, errors = run_parallel(plan, list(devices), root, force, dataset_factory, log)
    else:
        metrics, errors = run_sequential(plan, root, force, dataset_factory, log)
    frame = rows_to_frame(metrics[i] for i in sorted(metrics))
    history = history_frame(metrics[i] for i in sorted(metrics))
    frame = _write_tables(frame, history, experiment, profile, results, keep_rows, log)
    if errors:
        lines = [f"  {plan[i].run_id()}: {msg.splitlines()[0]}" for i, msg in sorted(errors.items())]
        raise RunFailed(f"{len(errors)} of {len(plan)} runs failed:\n" + "\n".join(lines))
    return frame


def _with_kept(
    frame: pd.DataFrame, history: pd.DataFrame, keep_rows: pd.DataFrame, old_history: Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``frame`` and ``history`` preceded by the rows of ``keep_rows`` that were not trained again
    (same ``run_id``) and by their epochs from the history CSV at ``old_history`` (if any)."""
    fresh = set(frame["run_id"])
    kept = keep_rows[~keep_rows["run_id"].isin(fresh)]
    frame = pd.concat([kept.reindex(columns=frame.columns), frame], ignore_index=True)
    if old_history.is_file():
        old = pd.read_csv(old_history, keep_default_na=False, na_values=[""])
        old = old[old["run_id"].isin(set(kept["run_id"]))]
        history = pd.concat([old, history], ignore_index=True) if not history.empty else old
    return frame, history


def _write_tables(
    frame: pd.DataFrame,
    history: pd.DataFrame,
    experiment: str,
    profile: str,
    results: str | Path | None,
    keep_rows: pd.DataFrame | None,
    log: Log,
) -> pd.DataFrame:
    """Write the results table ``frame`` and its per-epoch ``history`` of :func:`run_experiment`
    (with the rows of ``keep_rows`` not trained again, :func:`_with_kept`) under the lock of the
    results folder; both tables are attempted before an ``OSError`` is raised. Nothing is written
    when there are no rows at all. Returns the results table as written."""
    path = results_path(experiment, profile, results)
    if frame.empty and (keep_rows is None or keep_rows.empty):
        return frame
    path.parent.mkdir(parents=True, exist_ok=True)
    # one writer per results folder: the old history is read and both tables written under its lock
    with file_lock(path.parent, f"another gsepconv process is writing the results tables of {path.parent}"):
        if keep_rows is not None and not keep_rows.empty:
            frame, history = _with_kept(frame, history, keep_rows, history_path(experiment, profile, results))
        if not frame.empty:
            problems = []  # both tables are attempted: a failed one is kept elsewhere (write_results)
            for table, target in ((frame, path), (history, history_path(experiment, profile, results))):
                try:
                    write_results(table, target)
                except OSError as err:
                    problems.append(err)
            if problems:
                raise problems[0] if len(problems) == 1 else OSError("; ".join(map(str, problems)))
            log(f"wrote {path} ({len(frame)} runs) and its per-epoch history")
    return frame


def train_profile(
    profile: str,
    experiments: Sequence[str] | None = None,
    *,
    device: str | None = None,
    devices: Sequence[str] | None = None,
    runs: str | Path | None = None,
    force: bool = False,
    log: Log | None = None,
) -> dict[str, int]:
    """Train every run of ``experiments`` (default: all that ``profile`` defines) as one pool,
    longest first (``estimated_cost``), on ``devices``
    (default: ``default_devices`` of ``profile`` and ``device``,
    e.g. two one-thread CPU workers for ``quick``); results tables are not written (each
    experiment's :func:`run_experiment` then reuses the finished runs).

    Why one pool: trained grid by grid, each grid ends with one run going while the other worker
    idles, and a chapter that needs a single run trains it alone; one longest-first pool keeps
    every worker busy until the last few minutes. Returns ``{"runs": n, "failed": k}``; failed
    runs are logged and left for :func:`run_experiment` to report.
    """
    log = log or log_stderr
    names = (
        list(experiments)
        if experiments is not None
        else [name for name, e in EXPERIMENTS.items() if profile in e.profiles]
    )
    plan = [c for name in names for c in get_runs(name, profile)]
    devices = list(devices or default_devices(profile, device) or ["auto"])
    if len(devices) == 1:
        plan = [c.replace(device=devices[0]) for c in plan]
    root = runs_root(runs)
    todo = [c for c in plan if force or load_metrics(run_dir_for(c, root)) is None]
    if len(devices) > 1:
        todo.sort(key=estimated_cost, reverse=True)
    log(
        f"training {len(todo)} of the {len(plan)} runs of {', '.join(names)} (profile {profile}) on "
        f"{len(devices)} worker(s): {', '.join(devices)}" + (", longest first" if len(devices) > 1 else "")
    )
    if not todo:
        return {"runs": 0, "failed": 0}
    metrics, errors = train_runs(todo, devices, root, force=force, log=log)
    return {"runs": len(metrics), "failed": len(errors)}


def dump_yaml(obj: Any) -> str:
    """YAML text of plain data (used by the CLI)."""
    return yaml.safe_dump(obj, sort_keys=False)
