"""Experiments: configurations, profiles, resumable training, tidy results.

Typical use::

    from gsepconv.experiments import get_runs, run_experiment, summarise
    table = run_experiment("mnist_rot", "quick")        # trains what is missing, writes the CSV
    print(summarise(table))

or from the shell: ``gsepconv run mnist_rot --profile quick`` (see ``gsepconv --help``).
"""

from __future__ import annotations

from gsepconv.experiments.config import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    load_config,
    save_config,
)
from gsepconv.experiments.profiles import PROFILES, Profile, get_profile
from gsepconv.experiments.registry import EXPERIMENTS, Experiment, get_runs, list_experiments
from gsepconv.experiments.results import (
    COLUMNS,
    read_results,
    results_path,
    summarise,
    write_results,
)
from gsepconv.experiments.runner import RunFailed, run_experiment
from gsepconv.experiments.setup import build_checked_model, load_splits
from gsepconv.experiments.single_run import load_metrics, run_dir_for, run_one
from gsepconv.experiments.training import ConfigError, train

__all__ = [
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "load_config",
    "save_config",
    "EXPERIMENTS",
    "PROFILES",
    "Experiment",
    "Profile",
    "get_profile",
    "get_runs",
    "list_experiments",
    "COLUMNS",
    "read_results",
    "results_path",
    "summarise",
    "write_results",
    "RunFailed",
    "load_metrics",
    "run_dir_for",
    "run_experiment",
    "run_one",
    "ConfigError",
    "build_checked_model",
    "load_splits",
    "train",
]
