"""The files of a run folder, read as data: a checkpoint is loaded with ``weights_only=True``
(tensors and plain containers only, so a crafted file cannot run code), ``metrics.json`` and
``config.yaml`` are validated, and every problem is a :class:`RunFolderError` that names the file
and says what to do.

Layout (see :mod:`gsepconv.experiments.runner`)::

    config.yaml      the run's configuration (written first)
    checkpoint.pt    replaced atomically after every epoch
    model_best.pt    best-validation weights (finished runs)
    metrics.json     written last: the run is finished
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from typing import Any

import torch
import yaml

from gsepconv.errors import GsepconvError
from gsepconv.experiments.config import load_config
from gsepconv.experiments.io import atomic_write_text

__all__ = [
    "CHECKPOINT",
    "METRICS",
    "CONFIG_FILE",
    "BEST_WEIGHTS",
    "RunFolderError",
    "load_checkpoint",
    "read_metrics",
    "read_run_config",
    "write_run_config",
    "check_ours",
    "RUN_CONFIG_HEADER",
]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
CONFIG_FILE = "config.yaml"
BEST_WEIGHTS = "model_best.pt"

#: What to do about a damaged file of a run folder that the run's command writes again.
REWRITE = (
    "delete it and repeat the run's `gsepconv train`/`run` command: the run resumes from its "
    "checkpoint and writes it again"
)


class RunFolderError(GsepconvError, ValueError):
    """A run folder's file is damaged, foreign or of another configuration; the message names it."""


def load_checkpoint(path: str | Path, fix: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU: only tensors and plain data are
    unpickled. A truncated, empty or foreign file is a :class:`RunFolderError` naming ``path``
    and ending with ``fix`` (what to do, e.g. delete it or use --force)."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunFolderError(
            f"{path} was not loaded: it holds objects other than tensors and plain data, or it is "
            f"damaged ({first[:160]}); gsepconv never writes such objects and does not run a file's "
            f"code — {fix}"
        ) from None
    except FileNotFoundError:
        raise RunFolderError(f"{path} does not exist — {fix}") from None
    except Exception as err:  # torch reports truncated or empty files as RuntimeError, EOFError …
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunFolderError(
            f"{path} cannot be read, it is damaged (an interrupted copy or a full disk?): {first[:160]} — {fix}"
        ) from None


def _number(metrics: dict[str, Any], key: str, low: float, high: float) -> str | None:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"{key}={value!r} is not a finite number"
    if not low <= value <= high:
        return f"{key}={value!r} is outside [{low:g}, {high:g}]"
    return None


def read_metrics(folder: str | Path) -> dict[str, Any] | None:
    """The validated ``metrics.json`` of a finished run in ``folder``, or ``None`` when absent.

    It must be a JSON object with ``status: finished``, a ``run_id`` and accuracies in percent
    (``test_acc + test_err = 100``); anything else is a :class:`RunFolderError`."""
    path = Path(folder) / METRICS
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFolderError(f"{path} is not valid JSON ({err}); it is damaged — {REWRITE}") from None
    if not isinstance(metrics, dict):
        raise RunFolderError(f"{path} must hold a JSON object of metrics, got {type(metrics).__name__} — {REWRITE}")
    problems = []
    if metrics.get("status") != "finished":
        problems.append(f"status={metrics.get('status')!r} (expected 'finished')")
    if not isinstance(metrics.get("run_id"), str) or not metrics["run_id"]:
        problems.append("no run_id")
    problems += [p for p in (_number(metrics, k, 0.0, 100.0) for k in ("val_acc", "test_acc", "test_err")) if p]
    if not problems and abs(metrics["test_acc"] + metrics["test_err"] - 100.0) > 1e-6:
        problems.append(f"test_acc + test_err = {metrics['test_acc'] + metrics['test_err']:g}, not 100")
    if problems:
        raise RunFolderError(f"{path} holds invalid metrics ({'; '.join(problems)}) — {REWRITE}")
    return metrics


#: First line of every config.yaml gsepconv writes into a run folder: a config.yaml without it is
#: someone else's file (e.g. ``--run-dir .`` in a project folder) and is never replaced.
RUN_CONFIG_HEADER = "# gsepconv run configuration (written by gsepconv train/run for this run folder)"


def write_run_config(config: Any, folder: str | Path) -> Path:
    """Write ``folder/config.yaml`` atomically, marked with :data:`RUN_CONFIG_HEADER`."""
    return atomic_write_text(
        Path(folder) / CONFIG_FILE, RUN_CONFIG_HEADER + "\n" + yaml.safe_dump(config.to_dict(), sort_keys=False)
    )


def check_ours(folder: str | Path) -> None:
    """Refuse a folder whose ``config.yaml`` gsepconv did not write (no :data:`RUN_CONFIG_HEADER`,
    and no checkpoint or metrics of an older gsepconv beside it): it is never overwritten, not
    even with ``--force``."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.exists() and not path.is_symlink():
        return
    if path.is_file() and not path.is_symlink():
        with open(path, encoding="utf-8", errors="replace") as f:
            if f.readline().rstrip("\n") == RUN_CONFIG_HEADER:
                return
        if any((folder / name).is_file() for name in (CHECKPOINT, METRICS)):
            return  # a run folder of a gsepconv from before the header
    raise RunFolderError(
        f"{path} was not written by gsepconv (a run folder's config.yaml starts with "
        f"{RUN_CONFIG_HEADER!r}); it is left as it is, even with --force — give another run "
        f"folder (--run-dir), a new or empty one"
    )


def read_run_config(folder: str | Path) -> Any:
    """The :class:`~gsepconv.experiments.config.RunConfig` stored in ``folder/config.yaml``, or
    ``None`` when absent; an unreadable one is a :class:`RunFolderError` naming the file."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return load_config(path)
    except ValueError as err:
        raise RunFolderError(
            f"{err} — the run folder {Path(folder)} cannot be used as it is; give another "
            f"run folder, or fix or delete {path.name}"
        ) from None
