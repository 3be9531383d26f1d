"""Run folders and experiment grids.

Layout::

    <runs>/<profile>/<experiment>/<run_id>/config.yaml      the run's configuration
                                           checkpoint.pt    replaced atomically after every epoch
                                           model_best.pt    best-validation weights (finished runs)
                                           metrics.json     written last: the run is finished
    <results>/<profile>/<experiment>.csv                    one row per finished run of the grid

``<runs>``: argument, env ``GSEPCONV_RUNS``, or ``./runs``; ``<results>``: argument, env
``GSEPCONV_RESULTS``, or ``./results``. A finished run is reused, an interrupted one resumes from
its checkpoint, ``force=True`` retrains from scratch.
"""

from __future__ import annotations

import _thread
import json
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from gsepconv.data.catalogue import DATASETS
from gsepconv.data.storage import file_lock
from gsepconv.errors import GsepconvError
from gsepconv.experiments.config import RunConfig
from gsepconv.experiments.distributed import distributed_env
from gsepconv.experiments.io import check_name, runs_root
from gsepconv.experiments.profiles import get_profile
from gsepconv.experiments.registry import EXPERIMENTS, get_runs
from gsepconv.experiments.results import history_frame, history_path, results_path, rows_to_frame, write_results
from gsepconv.experiments.runfolder import (
    CONFIG_FILE,
    METRICS,
    RunFolderError,
    check_ours,
    read_metrics,
    read_run_config,
    write_run_config,
)
from gsepconv.experiments.setup import DatasetFactory, ModelBuilder, resolve_device
from gsepconv.experiments.training import EpochCallback, train
from gsepconv.groups import num_elements_text
from gsepconv.models import build_model
from gsepconv.nn import count_macs

__all__ = [
    "run_dir_for",
    "run_one",
    "run_experiment",
    "train_profile",
    "train_runs",
    "estimated_cost",
    "RunFailed",
    "load_metrics",
]

Log = Callable[[str], None]


class RunFailed(GsepconvError, RuntimeError):
    """One or more runs of a grid failed (the others finished and are in the results); the command
    line exits with status 1 and says that repeating the command reuses the finished runs."""

    exit_code = 1


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_dir_for(config: RunConfig, root: str | Path | None = None) -> Path:
    """``<runs>/<profile>/<experiment>/<run_id>``; every name is checked, so it stays under ``<runs>``."""
    return (
        runs_root(root)
        / check_name(config.profile, "profile")
        / check_name(config.experiment, "experiment")
        / check_name(config.run_id(), "run id")
    )


def load_metrics(run_dir: str | Path) -> dict[str, Any] | None:
    """The stored (validated) metrics of a finished run, or ``None``; a damaged ``metrics.json``
    is a ``gsepconv.experiments.runfolder.RunFolderError`` naming it."""
    return read_metrics(run_dir)


def run_one(
    config: RunConfig,
    *,
    runs: str | Path | None = None,
    run_dir: str | Path | None = None,
    force: bool = False,
    dataset_factory: DatasetFactory | None = None,
    callbacks: Sequence[EpochCallback] = (),
    max_epochs_this_call: int | None = None,
    log: Log | None = None,
    model_builder: ModelBuilder | None = None,
) -> dict[str, Any]:
    """Train one run in its folder, reusing stored metrics or resuming a checkpoint
    (``model_builder``: see :func:`~gsepconv.experiments.train`).

    Returns the metrics (with ``"reused": True`` when they come from an earlier call).

    One writer per run folder: the main process holds the folder's lock
    (``gsepconv.data.storage.file_lock``) while it checks and trains; a second process is
    refused. A folder whose ``config.yaml`` gsepconv did not write is refused, even with ``force``;
    a finished run is reused only if it is the configuration asked for.
    """
    config.validate()
    log = log or _stderr
    folder = Path(run_dir) if run_dir is not None else run_dir_for(config, runs)

    def train_here() -> dict[str, Any]:  # every rank trains the same model with the same loop
        return train(
            config,
            folder,
            dataset_factory=dataset_factory,
            callbacks=callbacks,
            max_epochs_this_call=max_epochs_this_call,
            resume=not force,
            log=log,
            model_builder=model_builder,
        )

    if not distributed_env().is_main:  # rank 0 checks and writes the folder; the others train along
        stored = None if force else _finished(folder, config)
        if stored is not None:
            return stored
        return {**train_here(), "reused": False}

    created = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    folder.mkdir(parents=True, exist_ok=True)
    wrote_config = False
    try:
        with file_lock(
            folder,
            "another gsepconv process is training in this run folder",
            refuse="wait for it to finish (then repeat the command: a finished run is reused), "
            "or give another run folder (--run-dir)",
        ):
            check_ours(folder)
            stored = None if force else _finished(folder, config)
            if stored is not None:
                return stored
            old = read_run_config(folder)
            if old is not None and not force and old.config_hash() != config.config_hash():
                raise RunFolderError(
                    f"{folder} holds a run of another configuration ({old.run_id()}), not "
                    f"{config.run_id()}; give another run folder (--run-dir), or --force to replace it"
                )
            if old is None or force:  # an existing config.yaml of this configuration stays as it is
                wrote_config = old is None
                write_run_config(config, folder)
            metrics = train_here()
    except BaseException:
        _remove_unstarted(folder, created, wrote_config)
        raise
    return {**metrics, "reused": False}


def _finished(folder: Path, config: RunConfig) -> dict[str, Any] | None:
    """The stored metrics of ``folder`` marked ``reused`` if it holds the finished run of
    ``config``; ``None`` if unfinished; a :class:`RunFolderError` if it is another configuration's."""
    stored = load_metrics(folder)
    if stored is None:
        return None
    old = read_run_config(folder)
    stored_id = old.run_id() if old is not None else stored["run_id"]
    if stored_id != config.run_id() or stored["run_id"] != config.run_id():
        raise RunFolderError(
            f"{folder} holds a finished run of another configuration ({stored_id}), not the one asked "
            f"for ({config.run_id()}); give another run folder (--run-dir), or --force to replace it"
        )
    return {**stored, "reused": True}


def _remove_unstarted(folder: Path, created: list[Path], wrote_config: bool) -> None:
    """A run that failed before its first checkpoint leaves nothing behind, and only what this
    call created goes: its config file (if this call wrote the first one) and the folders it made
    (a run with a checkpoint stays, to be resumed; another process's or the user's files stay)."""
    if not folder.is_dir() or any(p.name != CONFIG_FILE for p in folder.iterdir()):
        return
    if wrote_config:
        (folder / CONFIG_FILE).unlink(missing_ok=True)
    for path in created:
        try:
            path.rmdir()
        except OSError:  # not empty (another run's folder), or gone
            break


def _cuda_available() -> bool:
    return resolve_device("auto").type == "cuda"


def cpu_devices(profile: str) -> list[str]:
    """The ``devices`` that train a profile's runs on CPU: ``["cpu"] * n`` with ``n`` the profile's
    ``training.cpu_workers`` (at most one per core), so that :func:`run_experiment` trains ``n``
    runs side by side, the cores split between them."""
    n = max(1, min(get_profile(profile).training.cpu_workers, os.cpu_count() or 1))
    return ["cpu"] * n


def default_devices(profile: str, device: str | None = None, threads: int | None = None) -> list[str] | None:
    """The ``devices`` of :func:`run_experiment` for runs meant for one ``device`` (``None``: each
    config's own, ``auto``): where they train on CPU and no thread count is imposed, the profile's
    :func:`cpu_devices` (``quick``: two one-thread workers side by side); otherwise ``[device]``."""
    on_cpu = device == "cpu" or (device is None and not _cuda_available())
    if on_cpu and threads is None:
        return cpu_devices(profile)
    return [device] if device else None


@dataclass
class _Job:
    index: int
    config: dict[str, Any]
    model_builder: ModelBuilder | None = None  # picklable (a module-level class or function)


#: seconds a worker whose parent died waits for its run to stop at a Python line before it exits hard
ORPHAN_GRACE_S = 10.0


def _watch_parent(label: str, orphaned: threading.Event, grace: float = ORPHAN_GRACE_S) -> threading.Thread | None:
    """In a worker process: when the process that started it dies (a killed notebook kernel, a
    killed ``gsepconv`` command), stop. A daemon thread waits on the parent's sentinel, sets
    ``orphaned``, interrupts the run (``KeyboardInterrupt`` in the main thread: checkpoint writes
    are atomic, so nothing half-written stays) and exits the process after ``grace`` seconds
    whatever the run is doing. Without this a worker would train on, writing to its run folder,
    with nobody to read its results."""
    parent = mp.parent_process()
    if parent is None:
        return None

    def watch() -> None:
        parent.join()  # returns when the parent is gone
        orphaned.set()
        _stderr(f"[{label}] the process that started this worker is gone; stopping")
        _thread.interrupt_main()
        time.sleep(grace)
        os._exit(3)

    thread = threading.Thread(target=watch, name="gsepconv-parent-watch", daemon=True)
    thread.start()
    return thread


def _worker(
    device: str,
    label: str,
    jobs: Any,
    results: Any,
    runs: str | None,
    force: bool,
    factory: DatasetFactory | None,
    cpu_threads: int,
) -> None:
    """One process per device: take jobs until the sentinel, report (index, metrics | error);
    stop when the parent process dies (:func:`_watch_parent`)."""
    orphaned = threading.Event()
    _watch_parent(label, orphaned)
    if not device.startswith("cuda"):
        torch.set_num_threads(cpu_threads)  # CPU workers share the cores instead of oversubscribing
    _stderr(f"[{label}] started")
    while not orphaned.is_set():
        try:
            job = jobs.get()
        except KeyboardInterrupt:
            return
        if job is None or orphaned.is_set():
            return
        config = RunConfig.from_dict(job.config).replace(device=device)
        try:
            metrics = run_one(
                config,
                runs=runs,
                force=force,
                dataset_factory=factory,
                log=lambda m: _stderr(f"[{label}] {m}"),
                model_builder=job.model_builder,
            )
            results.put((job.index, metrics, None))
        except BaseException as err:  # reported to the parent, which decides
            if orphaned.is_set():
                return
            results.put((job.index, None, f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


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
    process per device; ``None``: :func:`default_devices` (each config's device, ``auto``, or on a
    machine without GPU the profile's :func:`cpu_devices`). ``progress`` / ``threads``
    override those execution settings of every run (they do not change run ids). ``dry_run`` returns the
    planned runs (with their folder and status) without training. Failed runs are reported
    together at the end (:class:`RunFailed`) after the finished ones are written to the CSV.
    ``keep_rows``: rows of an earlier results table (and their histories) to keep beside the runs
    this call trains, so that only what a committed table is missing gets trained. Besides
    ``<experiment>.csv`` the per-epoch histories go to ``<experiment>_history.csv``.
    """
    log = log or _stderr
    plan, devices = _plan_runs(experiment, profile, configs, progress, threads, devices)
    root = runs_root(runs)
    if dry_run:
        return _plan_frame(plan, root)

    metrics: dict[int, dict[str, Any]] = {}
    errors: dict[int, str] = {}
    if devices and len(devices) > 1:
        metrics, errors = _run_parallel(plan, list(devices), root, force, dataset_factory, log)
    else:
        metrics, errors = _run_sequential(plan, root, force, dataset_factory, log)
    frame = rows_to_frame(metrics[i] for i in sorted(metrics))
    history = history_frame(metrics[i] for i in sorted(metrics))
    frame = _write_tables(frame, history, experiment, profile, results, keep_rows, log)
    if errors:
        lines = [f"  {plan[i].run_id()}: {msg.splitlines()[0]}" for i, msg in sorted(errors.items())]
        raise RunFailed(f"{len(errors)} of {len(plan)} runs failed:\n" + "\n".join(lines))
    return frame


def _plan_runs(
    experiment: str,
    profile: str,
    configs: Sequence[RunConfig] | None,
    progress: bool | None,
    threads: int | None,
    devices: Sequence[str] | None,
) -> tuple[list[RunConfig], Sequence[str] | None]:
    """``(plan, devices)``: the runs of :func:`run_experiment` (``configs``, or the experiment's
    runs under ``profile``) with its ``progress`` and ``threads`` overrides, and the devices
    (``devices``, or :func:`default_devices`); a single device is written into every config."""
    plan = list(configs) if configs is not None else get_runs(experiment, profile)
    if progress is not None:
        plan = [c.replace(progress=progress) for c in plan]
    if threads is not None:
        plan = [c.replace(threads=threads) for c in plan]
    if devices is None:
        devices = default_devices(profile, threads=threads)
    if devices and len(devices) == 1:
        plan = [c.replace(device=devices[0]) for c in plan]
    return plan, devices


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


#: Effective multiply-accumulates per second of one CPU thread, only to put time budgets in the
#: unit of :func:`estimated_cost`. MAC counts do not predict time closely: on a 2-core CPU
#: (quick profile) MACs / time varies ~5x between models (large non-separable convolutions run
#: fastest per MAC), which is why the estimate orders runs and is never shown as a time.
NOMINAL_MACS_PER_S = 1.2e10
#: forward MACs per image of each model :func:`estimated_cost` has counted (key: model and dataset)
_FORWARD_MACS: dict[str, int] = {}


def estimated_cost(config: RunConfig) -> float:
    """Relative cost of one run, to schedule the longest first: forward MACs per image
    (``torch.utils.flop_counter`` on the built model) × (3 × training images + evaluated images)
    / :data:`NOMINAL_MACS_PER_S`; a time-budgeted run costs at most its budget plus evaluation.
    Only the order matters: the estimate is never shown as a time."""
    cls = DATASETS[config.data.name]
    sizes = cls.splits or {}

    def size(split: str, subset: int | None) -> int:
        full = sizes.get(split, 10_000)
        return min(subset, full) if subset else full

    key = json.dumps([config.model_kwargs(), config.data.name], sort_keys=True, default=str)
    if key not in _FORWARD_MACS:  # seeds of one model share it: count once per process
        with torch.random.fork_rng():
            model = build_model(**config.model_kwargs()).eval()
            _FORWARD_MACS[key] = count_macs(model, torch.zeros(1, cls.in_channels, *cls.image_size))
    macs = _FORWARD_MACS[key]
    train_images = size("train", config.data.train_subset) * config.epochs
    eval_images = size("val", config.data.val_subset) * config.epochs + size("test", config.data.test_subset)
    train_s = 3 * macs * train_images / NOMINAL_MACS_PER_S
    if config.time_budget_s is not None:
        train_s = min(train_s, float(config.time_budget_s))
        eval_images = size("test", config.data.test_subset) + size("val", config.data.val_subset) * 2
    return train_s + macs * eval_images / NOMINAL_MACS_PER_S


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
    longest first (:func:`estimated_cost`), on ``devices`` (default: :func:`default_devices` of
    ``profile`` and ``device``, e.g. two one-thread CPU workers for ``quick``); results
    tables are not written (each experiment's :func:`run_experiment` then reuses the finished runs).

    Why one pool: trained grid by grid, each grid ends with one run going while the other worker
    idles, and a chapter that needs a single run trains it alone; one longest-first pool keeps
    every worker busy until the last few minutes. Returns ``{"runs": n, "failed": k}``; failed
    runs are logged and left for :func:`run_experiment` to report.
    """
    log = log or _stderr
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


def train_runs(
    plan: Sequence[RunConfig],
    devices: Sequence[str],
    runs: str | Path | None = None,
    *,
    force: bool = False,
    log: Log | None = None,
    builders: Sequence[ModelBuilder | None] | None = None,
) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """Train ``plan`` in its run folders under ``runs``: side by side, one worker process per
    entry of ``devices`` when there are several, else one after another in this process.
    ``builders[i]`` builds run ``i``'s model (``None``: ours). Returns ``(metrics, errors)`` by
    plan index; a failed run is logged and the others go on."""
    root, log = runs_root(runs), log or _stderr
    if len(devices) > 1:
        return _run_parallel(plan, list(devices), root, force, None, log, builders)
    return _run_sequential(plan, root, force, None, log, builders)


def _plan_frame(plan: Sequence[RunConfig], root: Path) -> pd.DataFrame:
    rows = []
    for c in plan:
        folder = run_dir_for(c, root)
        status = (
            "finished" if (folder / METRICS).is_file() else "partial" if (folder / "checkpoint.pt").is_file() else "new"
        )
        ne = c.model.num_elements
        rows.append(
            {
                "run_id": c.run_id(),
                "status": status,
                "dataset": c.data.name,
                "arch": c.model.arch,
                "group": c.model.group,
                "implementation": "none" if c.model.group == "Z2" else c.model.implementation,
                "num_elements": num_elements_text(ne),
                "widths": ",".join(map(str, c.model.widths)),
                "kernel_size": c.model.kernel_size,
                "epochs": c.epochs,
                "train_subset": c.data.train_subset,
                "batch_size": c.batch_size,
                "optimizer": c.optim.name,
                "lr": c.optim.lr,
                "seed": c.seed,
                "folder": str(folder),
            }
        )
    return pd.DataFrame(rows)


def _run_sequential(
    plan: Sequence[RunConfig],
    root: Path,
    force: bool,
    factory: DatasetFactory | None,
    log: Log,
    builders: Sequence[ModelBuilder | None] | None = None,
) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """Train ``plan`` one run after another in this process: ``(metrics, errors)`` by plan index
    (a failed run is logged and the next one starts). ``builders[i]``: run ``i``'s model builder
    (``None``: ours)."""
    metrics: dict[int, dict[str, Any]] = {}
    errors: dict[int, str] = {}
    for i, config in enumerate(plan):
        log(f"[{i + 1}/{len(plan)}] {config.experiment}/{config.run_id()}")
        try:
            metrics[i] = run_one(
                config,
                runs=root,
                force=force,
                dataset_factory=factory,
                log=log,
                model_builder=builders[i] if builders else None,
            )
            if metrics[i].get("reused"):
                log(f"[{i + 1}/{len(plan)}] reused the finished run")
        except KeyboardInterrupt:
            raise
        except Exception as err:
            errors[i] = f"{type(err).__name__}: {err}"
            log(f"[{i + 1}/{len(plan)}] FAILED: {errors[i]}")
    return metrics, errors


def _run_parallel(
    plan: Sequence[RunConfig],
    devices: list[str],
    root: Path,
    force: bool,
    factory: DatasetFactory | None,
    log: Log,
    builders: Sequence[ModelBuilder | None] | None = None,
) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    ctx = mp.get_context("spawn")
    cpu_threads = max(1, (os.cpu_count() or 1) // len(devices))
    jobs, results = ctx.Queue(), ctx.Queue()
    for i, config in enumerate(plan):
        jobs.put(_Job(i, config.to_dict(), builders[i] if builders else None))
    for _ in devices:
        jobs.put(None)
    workers = [
        ctx.Process(
            target=_worker,
            args=(d, f"worker {k} {d}", jobs, results, str(root), force, factory, cpu_threads),
            daemon=False,
        )
        for k, d in enumerate(devices)
    ]
    for w in workers:
        w.start()
    metrics: dict[int, dict[str, Any]] = {}
    errors: dict[int, str] = {}
    try:
        while len(metrics) + len(errors) < len(plan):
            try:
                index, m, err = results.get(timeout=5)
            except Exception:  # queue.Empty: check that the workers are alive
                if not any(w.is_alive() for w in workers) and results.empty():
                    for i in range(len(plan)):
                        if i not in metrics and i not in errors:
                            errors[i] = "worker process died"
                    break
                continue
            done = len(metrics) + len(errors) + 1
            if err is None:
                metrics[index] = m
                log(f"[{done}/{len(plan)}] finished {plan[index].run_id()}")
            else:
                errors[index] = err
                log(f"[{done}/{len(plan)}] FAILED {plan[index].run_id()}: {err.splitlines()[0]}")
    finally:
        for w in workers:
            w.join(timeout=10)
            if w.is_alive():
                w.terminate()
    return metrics, errors


def describe_plan(frame: pd.DataFrame) -> str:
    """Human-readable listing of a dry-run frame."""
    if frame.empty:
        return "(no runs)"
    return frame.drop(columns=["folder"]).to_string(index=False)


def dump_yaml(obj: Any) -> str:
    """YAML text of plain data (used by the CLI)."""
    return yaml.safe_dump(obj, sort_keys=False)
