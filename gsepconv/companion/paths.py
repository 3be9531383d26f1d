"""Folders of the companion: the repository root, ``results/<profile>/`` and its ``figures/``."""

from __future__ import annotations

import os
from pathlib import Path

from gsepconv.experiments.registry import get_profile

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


def figures_dir(profile: str, root: str | Path | None = None) -> Path:
    """``results/<profile>/figures/``."""
    return results_dir(profile, root) / "figures"
