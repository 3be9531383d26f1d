"""Load a trained model from its run folder, and predict with it.

Typical use::

    import gsepconv
    run = gsepconv.load_run("runs/quick/mnist_rot/resnet-SE2-separable-n8-s0-1a2b3c4d")
    run.model                     # eval mode, best-validation weights, on the CPU
    run.config, run.metrics       # the RunConfig it was trained with, its stored metrics
    table = predict(run, split="test", limit=100)   # one row per image: label, predicted, confidence

or from the shell: ``gsepconv predict RUN_FOLDER --split test``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from gsepconv.experiments.config import RunConfig
from gsepconv.experiments.runfolder import (
    BEST_WEIGHTS,
    CONFIG_FILE,
    METRICS,
    RunFolderError,
    load_checkpoint,
    read_metrics,
    read_run_config,
)
from gsepconv.experiments.setup import load_splits
from gsepconv.models import build_model

__all__ = ["TrainedRun", "load_run", "predict"]


@dataclass
class TrainedRun:
    """A finished run: ``model`` (eval mode, best-validation weights), its ``config``, its
    stored ``metrics`` and its ``folder``."""

    model: nn.Module
    config: RunConfig
    metrics: dict[str, Any]
    folder: Path


def load_run(folder: str | Path, device: str | torch.device = "cpu") -> TrainedRun:
    """The trained model of the finished run in ``folder`` (a folder holding ``config.yaml``,
    ``metrics.json`` and ``model_best.pt``), rebuilt with the exact model arguments it was trained
    with and moved to ``device``. A missing or unfinished run is a ``FileNotFoundError`` that says
    what is missing and how to finish it; a damaged or foreign file is a ``ValueError``
    (``gsepconv.experiments.runfolder.RunFolderError``) naming it. The weights are read as
    data (``weights_only=True``): a crafted file cannot run code."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a run folder (expected <runs>/<profile>/<experiment>/<run id>; "
            f"`gsepconv run <experiment> --dry-run` lists them)"
        )
    missing = [name for name in (CONFIG_FILE, METRICS, BEST_WEIGHTS) if not (folder / name).is_file()]
    if missing:
        hint = (
            " — the run is unfinished: repeat its `gsepconv train`/`run` command to resume it"
            if (folder / CONFIG_FILE).is_file()
            else ""
        )
        raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}{hint}")
    config = read_run_config(folder)
    metrics = read_metrics(folder)
    kwargs = metrics.get("model_kwargs") or config.model.build_kwargs()
    model = build_model(**kwargs)
    state = load_checkpoint(folder / BEST_WEIGHTS, "repeat the run's command with --force to train it again")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise RunFolderError(
            f"{folder / BEST_WEIGHTS} does not fit the model {kwargs} (was the run folder "
            f"edited by another version of gsepconv?): {str(err).splitlines()[0]}"
        ) from None
    return TrainedRun(model.to(device).eval(), config, metrics, folder)


def predict(
    run: TrainedRun, split: str = "test", limit: int | None = None, batch_size: int = 256, dataset_factory: Any = None
) -> pd.DataFrame:
    """Predictions of ``run.model`` on ``split`` of the dataset it was trained on (the first
    ``limit`` images of the run's own subset of that split): one row per image with ``index``,
    ``label``, ``predicted`` and ``confidence`` (softmax probability of the prediction)."""
    datasets = load_splits(run.config, dataset_factory)
    if split not in datasets:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(datasets)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    ds = datasets[split]
    if limit is not None:
        ds = Subset(ds, range(min(limit, len(ds))))
    device = next(run.model.parameters()).device
    rows = []
    start = 0
    with torch.no_grad():
        for x, y in DataLoader(ds, batch_size=batch_size, shuffle=False):
            probs = torch.softmax(run.model(x.to(device)).float(), dim=1).cpu()
            conf, pred = probs.max(1)
            for i in range(len(y)):
                rows.append(
                    {"index": start + i, "label": int(y[i]), "predicted": int(pred[i]), "confidence": float(conf[i])}
                )
            start += len(y)
    return pd.DataFrame(rows, columns=["index", "label", "predicted", "confidence"])
