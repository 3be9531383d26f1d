"""The tables the book reads: where each is, the command that produces it and, for the measured
tables (benchmarks, equivariance report, redundancy, layer costs), the library call that produces
it and the rule that says whether a stored copy is still current — one registry,
:data:`INPUTS`, that the chapters (``gsepconv.report.ensure_table(name, profile, train)``), the
report and the reproduction share.

Every input lives in ``<results>/<profile>/`` (``<results>``: the ``results_root`` argument, else
``$GSEPCONV_RESULTS``, else ``<repository>/results``). A missing input is a
:class:`MissingInputs` error that names the file and the command to run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from gsepconv.analysis import (
    layer_costs_is_current,
    planned_seeds,
    redundancy_is_current,
    redundancy_table,
    select_run,
    write_layer_costs,
)
from gsepconv.experiments.bench import (
    bench_is_current,
    layouts_is_current,
    run_benchmark,
    run_layouts,
    run_sweep,
    sweep_is_current,
)
from gsepconv.experiments.equivariance_report import equivariance_report
from gsepconv.experiments.folders import results_dir
from gsepconv.experiments.io import atomic_write_text
from gsepconv.experiments.ondemand import MissingResults, training_minutes
from gsepconv.experiments.results import check_results, read_table

__all__ = [
    "InputSpec",
    "INPUTS",
    "MissingInputs",
    "Produce",
    "input_path",
    "missing_inputs",
    "load_inputs",
    "read_csv",
]


@dataclass(frozen=True)
class Produce:
    """Where a measured table is produced: ``profile``, the ``device`` it is measured on, the
    ``path`` to write, the ``runs`` folder (for tables read from trained runs) and a ``log``."""

    profile: str
    device: str
    path: Path
    runs: str | Path | None = None
    log: Callable[[str], None] | None = None


@dataclass(frozen=True)
class InputSpec:
    """One input table.

    ``files``: candidate file names in ``results/<profile>/``, the first that exists is read
    (the second, where there is one, is the table measured on a GPU); ``command``: the shell
    command that writes it (``{profile}`` is filled in); ``required``: whether
    :func:`gsepconv.report.make_all` refuses to run without it (optional inputs are drawn when
    present). A measured table also has ``produce`` (writes it, given a :class:`Produce`),
    ``is_current`` (``(table, profile) -> bool``: whether a stored copy still fits the profile
    and the code; none: any copy is current) and ``minutes`` (``profile -> minutes``, the
    estimated cost announced before producing it). Training grids have no ``produce``: they are
    made run by run (``gsepconv.experiments.ondemand.ensure_results``)."""

    name: str
    files: tuple[str, ...]
    command: str
    required: bool = True
    description: str = ""
    #: a table of training runs (one row per run): validated on read (:func:`check_results`)
    runs: bool = False
    produce: Callable[[Produce], object] | None = None
    is_current: Callable[[pd.DataFrame, str], bool] | None = None
    minutes: Callable[[str], float] | None = None

    def command_for(self, profile: str, device: str = "cpu") -> str:
        command = self.command.format(profile=profile)
        return command + (f" --device {device}" if self.produce is not None and device != "cpu" else "")

    def file_for(self, device: str = "cpu") -> str:
        """The file a measurement on ``device`` writes (the GPU variant on CUDA where there is one)."""
        on_gpu = torch.device(device).type == "cuda" and len(self.files) > 1
        return self.files[1] if on_gpu else self.files[0]


def _write_equivariance(job: Produce) -> None:
    atomic_write_text(job.path, equivariance_report(job.profile).to_csv(index=False))


def _redundancy_minutes(profile: str) -> float:
    """At most: the runs it reads are reused when already trained."""
    return training_minutes([select_run("mnist_rot", profile, seed=s) for s in planned_seeds(profile)], None)


#: Every input of the report, by name.
INPUTS: dict[str, InputSpec] = {
    s.name: s
    for s in (
        InputSpec(
            "mnist_rot",
            ("mnist_rot.csv",),
            "gsepconv run mnist_rot --profile {profile}",
            description="rotated-MNIST grid, a row per run",
            runs=True,
        ),
        InputSpec(
            "mnist_rot_history",
            ("mnist_rot_history.csv",),
            "gsepconv run mnist_rot --profile {profile}",
            description="per-epoch history of the rotated-MNIST runs",
        ),
        InputSpec(
            "mnist_rot_budget",
            ("mnist_rot_budget.csv",),
            "gsepconv run mnist_rot_budget --profile {profile}",
            description="rotated MNIST, every model trained for the same wall-clock time",
            runs=True,
        ),
        InputSpec(
            "mnist_rot_budget_history",
            ("mnist_rot_budget_history.csv",),
            "gsepconv run mnist_rot_budget --profile {profile}",
            required=False,
            description="per-epoch history of the equal-time runs",
        ),
        InputSpec(
            "rotations",
            ("rotations.csv",),
            "gsepconv run rotations --profile {profile}",
            description="SE(2) separable vs non-separable for several numbers of rotations",
            runs=True,
        ),
        InputSpec(
            "cifar10",
            ("cifar10.csv",),
            "gsepconv run cifar10 --profile {profile}",
            description="CIFAR-10 (a subset in smoke and quick)",
            runs=True,
        ),
        InputSpec(
            "cifar100",
            ("cifar100.csv",),
            "gsepconv run cifar100 --profile {profile}",
            required=False,
            description="CIFAR-100 (smoke: a labelled stand-in; paper)",
            runs=True,
        ),
        InputSpec(
            "galaxy10",
            ("galaxy10.csv",),
            "gsepconv run galaxy10 --profile {profile}",
            required=False,
            description="Galaxy10 (smoke: a labelled stand-in; paper)",
            runs=True,
        ),
        InputSpec(
            "efficiency",
            ("efficiency.csv", "efficiency-gpu.csv"),
            "gsepconv bench --profile {profile}",
            description="training/inference time, memory, MACs per model",
            produce=lambda job: run_benchmark(job.profile, job.device, job.path),
            is_current=bench_is_current,
        ),
        InputSpec(
            "efficiency_sweep",
            ("efficiency_sweep.csv", "efficiency_sweep-gpu.csv"),
            "gsepconv bench --sweep --profile {profile}",
            description="time and memory vs number of group elements and image size",
            produce=lambda job: run_sweep(job.profile, job.device, job.path),
            is_current=sweep_is_current,
        ),
        InputSpec(
            "layouts",
            ("layouts.csv", "layouts-gpu.csv"),
            "gsepconv bench --layouts --profile {profile}",
            required=False,
            description="training step per memory layout, per implementation, against the layout chosen",
            produce=lambda job: run_layouts(job.profile, job.device, job.path),
            is_current=layouts_is_current,
        ),
        InputSpec(
            "layer_costs",
            ("layer_costs.csv",),
            "python -m gsepconv.analysis --table layer_costs --profile {profile}",
            required=False,
            description="parameters, MACs and time of one layer of every implementation",
            produce=lambda job: write_layer_costs(job.profile, job.path.parent.parent, device=job.device),
            is_current=layer_costs_is_current,
        ),
        InputSpec(
            "equivariance",
            ("equivariance.csv",),
            "gsepconv equivariance --profile {profile}",
            description="equivariance errors per group and implementation",
            produce=_write_equivariance,
        ),
        InputSpec(
            "redundancy",
            ("redundancy.csv",),
            "python -m gsepconv.analysis --profile {profile}",
            description="energy share of kernel slices along the subgroup axis",
            produce=lambda job: redundancy_table(
                job.profile, device=job.device, runs=job.runs, results=job.path.parent.parent, log=job.log
            ),
            is_current=redundancy_is_current,
            minutes=_redundancy_minutes,
        ),
        InputSpec(
            "fidelity",
            ("fidelity.csv",),
            "gsepconv compare --against <a checkout of the original code> --profile {profile}",
            required=False,
            description="our models and the original code's trained under one identical loop, a row per run",
        ),
    )
}


class MissingInputs(MissingResults, FileNotFoundError):
    """Input CSVs of the report are missing; the message lists each with the command that writes it."""


def _folder(profile: str, results_root: str | Path | None) -> Path:
    return results_dir(profile, results_root)


def input_path(name: str, profile: str, results_root: str | Path | None = None) -> Path:
    """Path of input ``name`` for ``profile``: the first candidate file that exists, else the first
    candidate (``ValueError`` for an unknown name)."""
    if name not in INPUTS:
        raise ValueError(f"unknown report input {name!r}; valid inputs: {', '.join(INPUTS)}")
    folder = _folder(profile, results_root)
    candidates = [folder / f for f in INPUTS[name].files]
    return next((p for p in candidates if p.is_file()), candidates[0])


def missing_inputs(
    names: list[str] | tuple[str, ...], profile: str, results_root: str | Path | None = None
) -> dict[str, str]:
    """``{name: "<path> is missing: run `<command>`"}`` for each of ``names`` that has no file."""
    out = {}
    for name in names:
        path = input_path(name, profile, results_root)
        if not path.is_file():
            out[name] = f"{path} is missing: produce it with `{INPUTS[name].command_for(profile)}`"
    return out


def raise_missing(missing: Mapping[str, str], profile: str) -> None:
    """Raise :class:`MissingInputs` listing ``missing`` (no-op when empty)."""
    if missing:
        lines = "\n  ".join(missing.values())
        raise MissingInputs(
            f"the report for profile {profile!r} needs {len(missing)} missing input(s):\n  {lines}\n"
            f"(or execute the chapters' notebooks with train='auto', which produce them)"
        )


def read_csv(path: str | Path) -> pd.DataFrame:
    """A results CSV as written by gsepconv (empty fields are missing values, ``"none"`` stays text;
    an empty or ragged file is a ``ValueError`` naming it)."""
    return read_table(path)


def load_inputs(
    profile: str, results_root: str | Path | None = None, names: list[str] | None = None, *, allow_missing: bool = False
) -> dict[str, pd.DataFrame]:
    """Read the inputs ``names`` (default: all of :data:`INPUTS`) of ``profile``.

    A missing *required* input raises :class:`MissingInputs` naming every missing file and its
    command, unless ``allow_missing``; missing optional inputs are left out of the result."""
    names = list(INPUTS) if names is None else names
    missing = missing_inputs(names, profile, results_root)
    required = {n: m for n, m in missing.items() if INPUTS[n].required}
    if required and not allow_missing:
        raise_missing(required, profile)
    tables = {}
    for n in names:
        if n in missing:
            continue
        path = input_path(n, profile, results_root)
        tables[n] = check_results(read_table(path), path) if INPUTS[n].runs else read_table(path)
    return tables
