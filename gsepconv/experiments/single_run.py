"""One run in its run folder: train it, reuse its stored metrics, or resume its checkpoint.

The run folder ``<runs>/<profile>/<experiment>/<run_id>`` (layout: :mod:`gsepconv.experiments.runner`)
has one writer: the main process holds its lock while it checks the folder and trains. Everything
that trains runs goes through :func:`run_one`: the grids of :mod:`gsepconv.experiments.runner`, the
worker processes of :mod:`gsepconv.experiments.workers`, the analyses and ``gsepconv train``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gsepconv.data.storage import file_lock
from gsepconv.experiments.config import RunConfig
from gsepconv.experiments.distributed import distributed_env
from gsepconv.experiments.io import check_name, runs_root
from gsepconv.experiments.runfolder import (
    CONFIG_FILE,
    RunFolderError,
    check_ours,
    read_metrics,
    read_run_config,
    write_run_config,
)
from gsepconv.experiments.setup import DatasetFactory, ModelBuilder
from gsepconv.experiments.training import EpochCallback, train

__all__ = ["run_dir_for", "run_one", "load_metrics"]

#: where progress messages go: one line of text at a time
Log = Callable[[str], None]


def log_stderr(msg: str) -> None:
    """The default :data:`Log`: the line on standard error, flushed at once (worker processes
    write beside each other)."""
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
    log = log or log_stderr
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
    return _train_in_locked_folder(folder, config, force, train_here)


def _train_in_locked_folder(
    folder: Path, config: RunConfig, force: bool, train_here: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The main process's part of :func:`run_one`: create ``folder``, and under its lock reuse the
    finished run or write the configuration and ``train_here``. A run that fails before its first
    checkpoint leaves nothing behind (:func:`_remove_unstarted`)."""
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
            old = _stored_config(folder, config, force)
            if old is None or force:  # an existing config.yaml of this configuration stays as it is
                wrote_config = old is None
                write_run_config(config, folder)
            metrics = train_here()
    except BaseException:
        _remove_unstarted(folder, created, wrote_config)
        raise
    return {**metrics, "reused": False}


def _stored_config(folder: Path, config: RunConfig, force: bool) -> RunConfig | None:
    """The configuration ``folder`` holds (``None``: none yet); without ``force`` a
    :class:`RunFolderError` if it is not ``config``."""
    old = read_run_config(folder)
    if old is not None and not force and old.config_hash() != config.config_hash():
        raise RunFolderError(
            f"{folder} holds a run of another configuration ({old.run_id()}), not "
            f"{config.run_id()}; give another run folder (--run-dir), or --force to replace it"
        )
    return old


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
