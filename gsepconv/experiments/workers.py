"""Train a plan of runs: one after another in this process, or side by side in a pool of worker
processes, one per device.

Workers are spawned (``multiprocessing`` ``spawn``): each imports this module afresh, so what it
is given (the target :func:`_worker`, a job, a dataset factory, a model builder) must be picklable
by module path. A worker stops when the process that started it dies (:func:`_watch_parent`).
"""

from __future__ import annotations

import _thread
import multiprocessing as mp
import os
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gsepconv.experiments.config import RunConfig
from gsepconv.experiments.io import runs_root
from gsepconv.experiments.setup import DatasetFactory, ModelBuilder
from gsepconv.experiments.single_run import Log, log_stderr, run_one

__all__ = ["train_runs", "ORPHAN_GRACE_S"]

#: seconds a worker whose parent died waits for its run to stop at a Python line before it exits hard
ORPHAN_GRACE_S = 10.0


@dataclass
class _Job:
    index: int
    config: dict[str, Any]
    model_builder: ModelBuilder | None = None  # picklable (a module-level class or function)


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
    root, log = runs_root(runs), log or log_stderr
    if len(devices) > 1:
        return run_parallel(plan, list(devices), root, force, None, log, builders)
    return run_sequential(plan, root, force, None, log, builders)


def run_sequential(
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


def run_parallel(
    plan: Sequence[RunConfig],
    devices: list[str],
    root: Path,
    force: bool,
    factory: DatasetFactory | None,
    log: Log,
    builders: Sequence[ModelBuilder | None] | None = None,
) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """Train ``plan`` in one spawned worker process per entry of ``devices`` (the CPU cores split
    between them): ``(metrics, errors)`` by plan index, as the workers report them; runs left
    when every worker is gone are errors (``worker process died``)."""
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
    try:
        return _collect(plan, results, workers, log)
    finally:
        for w in workers:
            w.join(timeout=10)
            if w.is_alive():
                w.terminate()


def _collect(
    plan: Sequence[RunConfig], results: Any, workers: Sequence[Any], log: Log
) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """Read the workers' reports off ``results`` until every run of ``plan`` has one, or every
    worker is gone and nothing is left to read."""
    metrics: dict[int, dict[str, Any]] = {}
    errors: dict[int, str] = {}
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
    return metrics, errors


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
        log_stderr(f"[{label}] the process that started this worker is gone; stopping")
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
    log_stderr(f"[{label}] started")
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
                log=lambda m: log_stderr(f"[{label}] {m}"),
                model_builder=job.model_builder,
            )
            results.put((job.index, metrics, None))
        except BaseException as err:  # reported to the parent, which decides
            if orphaned.is_set():
                return
            results.put((job.index, None, f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
