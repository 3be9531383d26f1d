"""Folders found from the repository: its root, ``results/<profile>/``, its ``figures/``, ``runs/``.

The notebooks, the report and the analyses all read and write here; a notebook runs in
``notebooks/``, so the folders are found by walking up to the repository root, not from the
working directory. (:func:`gsepconv.experiments.io.results_root` and
:func:`~gsepconv.experiments.io.runs_root` are the command line's defaults: ``./results``, ``./runs``.)
"""

from __future__ import annotations

import os
from pathlib import Path

from gsepconv.experiments.profiles import get_profile

__all__ = ["ROOT_MARKER", "repo_root", "results_dir", "figures_dir", "default_runs"]

#: the file that marks the repository root (the Jupyter Book config)
ROOT_MARKER = "_config.yml"


def repo_root(start: str | Path | None = None) -> Path:
    """The repository root: the first folder at or above ``start`` (default: the current folder)
    that holds ``_config.yml``; the current folder itself when there is none (e.g. on Colab)."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ROOT_MARKER).is_file() and (folder / "gsepconv").is_dir():
            return folder
    return here


def results_dir(profile: str, root: str | Path | None = None) -> Path:
    """``results/<profile>/`` (``$GSEPCONV_RESULTS/<profile>`` when that variable is set)."""
    get_profile(profile)  # ValueError naming the valid profiles
    if root is not None:
        base = Path(root)
    elif os.environ.get("GSEPCONV_RESULTS"):
        base = Path(os.environ["GSEPCONV_RESULTS"])
    else:
        base = repo_root() / "results"
    return base / profile


def default_runs() -> Path:
    """``$GSEPCONV_RUNS``, else ``<repo>/runs`` (the folder ``gsepconv run`` uses from the repository
    root), so a notebook executed in ``notebooks/`` finds the runs trained from the root."""
    return Path(os.environ["GSEPCONV_RUNS"]) if os.environ.get("GSEPCONV_RUNS") else repo_root() / "runs"


def figures_dir(profile: str, root: str | Path | None = None) -> Path:
    """``results/<profile>/figures/``."""
    return results_dir(profile, root) / "figures"
