"""The companion's chapters and the choices a reproduction takes: which notebooks, which profile,
device and train mode, and the errors a reproduction stops with.

The chapters are Jupytext percent files ``notebooks/NN_name.py`` (the only source).
:func:`find_notebooks` lists them in order and :func:`select_notebooks` picks the ones a command
line names; :func:`check_choices` refuses an unknown profile, device or train mode before anything
runs. The errors live here, at the bottom of the runner, because every later step (loading,
stamping, executing, building the book) raises them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import util
from pathlib import Path

import torch

from gsepconv.errors import GsepconvError
from gsepconv.experiments.ondemand import TRAIN_MODES
from gsepconv.experiments.profiles import PROFILES

__all__ = [
    "ReproduceError",
    "UsageError",
    "MissingDependency",
    "NotebookFailed",
    "BookBuildFailed",
    "Notebook",
    "find_notebooks",
    "select_notebooks",
    "check_choices",
    "require_modules",
]

NOTEBOOK_DIR = "notebooks"
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[a-z0-9_]+\.py$")
DEVICE_PATTERN = re.compile(r"^(cpu|cuda|cuda:\d+)$")
DEVICE_CHOICES = "cpu, cuda, cuda:N"
#: the modules executing the notebooks needs: (import name, distribution)
NOTEBOOK_DEPS = (
    ("jupytext", "jupytext"),
    ("papermill", "papermill"),
    ("ipykernel", "ipykernel"),
    ("nbformat", "nbformat"),
)
INSTALL_HINT = 'pip install -c constraints.txt -e ".[docs]"   (or `make book`, which sets everything up)'

Log = Callable[[str], None]


# ------------------------------------------------------------------------------------ errors
class ReproduceError(GsepconvError):
    """A reproduction that cannot go on; the message says what to do (exit status 1)."""

    exit_code = 1


class UsageError(ReproduceError):
    """An unknown profile, device, train mode or notebook (exit status 2)."""

    exit_code = 2


class MissingDependency(ReproduceError):
    """A package or tool of the companion is not installed (exit status 2)."""

    exit_code = 2


class NotebookFailed(ReproduceError):
    """A notebook raised: which one, where, and the command that reruns it."""

    def __init__(
        self, notebook: str, cell: int, line: int | None, first_line: str, error: str, output: Path, command: str
    ) -> None:
        self.notebook, self.cell, self.line, self.first_line = notebook, cell, line, first_line
        self.error, self.output, self.command = error, output, command
        where = f"cell {cell}" + (f" (line {line} of {NOTEBOOK_DIR}/{notebook}.py)" if line else "")
        super().__init__(
            f"notebook {notebook} failed in {where}: {first_line}\n"
            f"  {error}\n"
            f"  executed notebook with the traceback: {output}\n"
            f"  fix it and rerun just this notebook:  {command}"
        )


class BookBuildFailed(ReproduceError):
    """``jupyter-book build -W -n`` reported a warning or an error."""


# --------------------------------------------------------------------------------- notebooks
@dataclass(frozen=True)
class Notebook:
    """One chapter source, ``notebooks/NN_name.py``."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def number(self) -> str:
        return self.path.name[:2]


def find_notebooks(root: str | Path) -> list[Notebook]:
    """The chapters ``<root>/notebooks/NN_name.py``, in order."""
    folder = Path(root) / NOTEBOOK_DIR
    found = sorted(p for p in folder.glob("*.py") if NOTEBOOK_PATTERN.match(p.name))
    return [Notebook(p) for p in found]


def select_notebooks(notebooks: Sequence[Notebook], selection: str | Sequence[str] | None) -> list[Notebook]:
    """The notebooks named by ``selection`` ("03,05", "3", "05_rotated_mnist"; ``None``: all)."""
    if selection is None:
        return list(notebooks)
    items = selection.split(",") if isinstance(selection, str) else list(selection)
    items = [s.strip() for s in items if s.strip()]
    if not items:
        raise UsageError("--notebooks is empty; give numbers or names such as 03,05")
    chosen: list[Notebook] = []
    for item in items:
        key = item[:-3] if item.endswith(".py") else item
        key = Path(key).name
        matches = [nb for nb in notebooks if key == nb.name or (key.isdigit() and int(key) == int(nb.number))]
        if not matches:
            valid = ", ".join(nb.name for nb in notebooks) or f"(none: no {NOTEBOOK_DIR}/NN_name.py found)"
            raise UsageError(f"unknown notebook {item!r}; valid notebooks: {valid}")
        for nb in matches:
            if nb not in chosen:
                chosen.append(nb)
    return sorted(chosen, key=lambda nb: nb.name)


def check_choices(profile: str, device: str, train: str) -> None:
    """A :class:`UsageError` naming the valid choices for an unknown profile, device or train mode."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        raise UsageError(f"unknown device {device!r}; valid devices: {DEVICE_CHOICES}")
    if train not in TRAIN_MODES:
        raise UsageError(f"unknown train mode {train!r}; valid modes: {', '.join(TRAIN_MODES)}")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} asked for, but torch sees no CUDA device here; use --device cpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise UsageError(
                f"device {device!r} does not exist: torch sees {torch.cuda.device_count()} CUDA "
                f"device(s), cuda:0 … cuda:{torch.cuda.device_count() - 1}"
            )


def require_modules(deps: Sequence[tuple[str, str]], what: str) -> None:
    """A :class:`MissingDependency` naming every distribution of ``deps`` (``(import name,
    distribution)`` pairs) that is not installed, and how to install it; ``what`` needs them."""
    missing = [dist for module, dist in deps if util.find_spec(module) is None]
    if missing:
        raise MissingDependency(f"{what} needs {', '.join(missing)}, which is not installed; {INSTALL_HINT}")
