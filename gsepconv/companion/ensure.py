"""Results on demand: what a notebook's ``train`` parameter means.

``train="auto"``
    Use ``results/<profile>/<experiment>.csv`` when it holds every run the profile plans (run ids
    include a hash of the configuration, so a changed profile counts as missing); train only the
    missing runs and keep the rest.
``train="always"``
    Run the whole grid now (finished runs in the runs folder are reused, so an interrupted
    reproduction resumes; use a fresh runs folder to retrain from scratch).
``train="never"``
    Never train: a missing table or run is a :class:`MissingResults` error saying what to run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pandas as pd

from gsepconv.companion.paths import repo_root, results_dir
from gsepconv.errors import GsepconvError
from gsepconv.experiments.registry import get_runs
from gsepconv.experiments.results import read_results, results_path
from gsepconv.experiments.runner import default_devices, run_experiment

TRAIN_MODES = ("auto", "always", "never")
#: Set by ``gsepconv reproduce --train always`` for the notebooks it runs: a time (``time.time()``)
#: since which tables count as produced by this reproduction, so a later chapter that needs the
#: same table (chapter 08 needs them all) reads it instead of producing it a second time.
FRESH_SINCE = "GSEPCONV_FRESH_SINCE"


def _produced_since_start(path: Path) -> bool:
    since = os.environ.get(FRESH_SINCE)
    if not since or not path.is_file():
        return False
    try:
        return path.stat().st_mtime >= float(since)
    except ValueError:
        raise ValueError(f"${FRESH_SINCE} must be a time in seconds (time.time()), got {since!r}") from None


class MissingResults(GsepconvError, RuntimeError):
    """Results a notebook needs are missing and ``train="never"`` forbids producing them."""


def check_train_mode(train: str) -> str:
    """``train`` itself, or a ``ValueError`` listing the valid modes."""
    if train not in TRAIN_MODES:
        raise ValueError(f"unknown train mode {train!r}; choose one of {', '.join(TRAIN_MODES)}")
    return train


def ensure_results(
    experiment: str,
    profile: str,
    train: str = "auto",
    *,
    device: str | None = None,
    results: str | Path | None = None,
    runs: str | Path | None = None,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """The results table of ``experiment`` under ``profile`` (one row per planned run, in plan
    order), training what ``train`` allows. ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:0"`` …
    (default: each run's own, ``auto``)."""
    check_train_mode(train)
    # folders of the repository (not of the working directory, e.g. notebooks/), unless given or
    # set by $GSEPCONV_RESULTS / $GSEPCONV_RUNS
    results = results if results is not None else results_dir(profile).parent
    if runs is None:
        runs = os.environ.get("GSEPCONV_RUNS") or repo_root() / "runs"
    plan = get_runs(experiment, profile)
    wanted = [c.run_id() for c in plan]
    path = results_path(experiment, profile, results)
    existing = read_results(path) if path.is_file() else None
    have = set(existing["run_id"]) if existing is not None else set()
    missing = [c for c in plan if c.run_id() not in have]
    if train == "never" and missing:
        names = ", ".join(c.run_id() for c in missing[:4]) + (" …" if len(missing) > 4 else "")
        raise MissingResults(
            f"{path} lacks {len(missing)} of the {len(plan)} runs that profile {profile!r} plans for "
            f"{experiment!r} ({names}); run `gsepconv run {experiment} --profile {profile}` or execute "
            f"the notebook with train='auto'")
    if train == "always" or missing:
        todo = plan if train == "always" else missing
        run_experiment(experiment, profile, configs=todo, devices=default_devices(profile, device, threads),
                       results=results, runs=runs, threads=threads,
                       keep_rows=None if train == "always" else existing, log=log)
        existing = read_results(path)
    frame = existing.set_index("run_id").loc[wanted].reset_index()
    return frame[[c for c in existing.columns]]


def ensure_table(
    path: str | Path,
    train: str,
    produce: Callable[[], object],
    command: str,
    is_current: Callable[[pd.DataFrame], bool] | None = None,
) -> pd.DataFrame:
    """A table that is not a training grid (benchmark, equivariance report, redundancy …):
    ``produce()`` writes ``path``; it is called when ``train="always"``, or when ``train="auto"``
    and the file is missing (or ``is_current(table)`` is false). ``command`` is the shell command
    that produces it, quoted in the :class:`MissingResults` message for ``train="never"``.
    Under ``train="always"`` a table already produced in the running reproduction
    (:data:`FRESH_SINCE`) is read, not produced again."""
    check_train_mode(train)
    path = Path(path)
    table = pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None
    stale = table is None or (is_current is not None and not is_current(table))
    if train == "never" and stale:
        raise MissingResults(f"{path} is {'missing' if table is None else 'out of date'}; run `{command}` "
                             f"or execute the notebook with train='auto'")
    if (train == "always" and not _produced_since_start(path)) or stale:
        produce()
        if not path.is_file():
            raise RuntimeError(f"`{command}` did not write {path}")
        table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert table is not None
    return table
