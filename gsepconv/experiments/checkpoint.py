"""The checkpoint of a training run: the state of the loop, every random generator, and the
model, optimiser, scheduler and scaler, written atomically after every epoch and read back as data.

Everything is stored as tensors and plain lists (RNG states included), so a checkpoint is read with
``torch.load(weights_only=True)`` (``gsepconv.experiments.runfolder.load_checkpoint``): a crafted
file cannot run code. A checkpoint of another configuration or format is refused with what to do.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from gsepconv.experiments.config import ConfigError, RunConfig
from gsepconv.experiments.io import atomic_torch_save
from gsepconv.experiments.runfolder import CONFIG_FILE, RunFolderError, load_checkpoint, read_run_config

__all__ = [
    "CHECKPOINT_FORMAT",
    "TrainState",
    "cpu_state_dict",
    "load_training_checkpoint",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
]

#: 2: RNG states as plain lists and tensors (loadable with ``weights_only=True``).
CHECKPOINT_FORMAT = 2


@dataclass
class TrainState:
    """Where the loop stands: epochs done, the best validation so far and its weights, the
    per-epoch history, and whether a time budget is spent."""

    epoch: int = 0
    best_epoch: int = -1
    best_val_acc: float = -1.0
    best_val_loss: float = math.inf
    best_weights: dict[str, torch.Tensor] | None = None
    history: list[dict[str, Any]] | None = None
    budget_exhausted: bool = False


def cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s weights on the CPU (the best-validation weights kept in memory)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def rng_state() -> dict[str, Any]:
    """Every generator's state as tensors, lists and numbers (no numpy arrays, no tuples of
    objects), so that the checkpoint loads with ``weights_only=True``."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, config: RunConfig, trainables: dict[str, Any], state: TrainState) -> None:
    """Everything a resumed run needs (atomic: an interrupted write leaves the previous one)."""
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": config.to_dict(),
            "config_hash": config.config_hash(),
            **{name: obj.state_dict() for name, obj in trainables.items()},
            "state": vars(state),
            "rng": rng_state(),
        },
        path,
    )


def load_training_checkpoint(path: Path, config: RunConfig, trainables: dict[str, Any]) -> TrainState:
    """Load a checkpoint of ``config`` into the model, optimiser, scheduler and scaler; restore
    the random generators; return the training state.

    The folder's ``config.yaml`` (when there is one) is compared with ``config`` before the
    checkpoint is opened, and the checkpoint is read as data (:func:`load_checkpoint`)."""
    fix = "delete it to restart the run from epoch 0, or use --force"
    stored = read_run_config(path.parent)
    if stored is not None and stored.config_hash() != config.config_hash():
        raise ConfigError(
            f"{path.parent / CONFIG_FILE} belongs to another configuration ({stored.run_id()}, "
            f"not {config.run_id()}); use another run folder, or --force to replace it"
        )
    ckpt = load_checkpoint(path, fix)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        newer = isinstance(found, int) and found > CHECKPOINT_FORMAT
        raise RunFolderError(
            f"{path} has checkpoint format {found!r}, this gsepconv reads format {CHECKPOINT_FORMAT}"
            + (" (written by a newer gsepconv: upgrade it)" if newer else "")
            + f" — {fix}"
        )
    if ckpt.get("config_hash") != config.config_hash():
        raise ConfigError(f"{path} belongs to another configuration; delete the folder or use --force")
    try:
        for name, obj in trainables.items():
            obj.load_state_dict(ckpt[name])
        set_rng_state(ckpt["rng"])
        return TrainState(**ckpt["state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise RunFolderError(
            f"{path} does not hold a complete checkpoint ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}) — {fix}"
        ) from None
