"""The companion: the notebook runner and book build, and the one import the notebooks need.

The notebooks in ``notebooks/`` stay thin: they call these functions (and the rest of the
library) and only show, plot and explain. This package is the top layer: it runs the notebooks and
builds the book (:mod:`~gsepconv.companion.reproduce`, which drives
:mod:`~gsepconv.companion.notebooks`, :mod:`~gsepconv.companion.stamps`,
:mod:`~gsepconv.companion.execute` and :mod:`~gsepconv.companion.book`; and
:mod:`~gsepconv.companion.publish`), fetches
the committed results (``gsepconv.companion.committed``), and gathers the notebooks' helpers
that live in the layers below, where the report and the analyses use them too: folders
(``gsepconv.experiments.folders``), results on demand (``gsepconv.experiments.ondemand``),
figure style and saving (``gsepconv.analysis.style``).

* :func:`repo_root` / :func:`results_dir` / :func:`figures_dir`: folders, found from the notebook's
  working directory (walk up to ``_config.yml``; on Colab, the current folder).
* :func:`ensure_results`: an experiment's results table for a profile, trained only as the
  ``train`` mode allows (``"auto"``: reuse ``results/<profile>/<experiment>.csv`` when it covers
  every planned run, train what is missing; ``"always"``: rerun; ``"never"``: fail clearly).
* :func:`committed_results`: the folder holding ``results/<profile>/`` with the committed tables
  in it (fetched and checksummed where gsepconv is installed without the repository, e.g. Colab).
* :func:`check_device`: a chapter's ``device`` parameter (``"auto"``: CUDA when present).
* :func:`save_figure`: write a figure as PNG and SVG to ``results/<profile>/figures/``;
  :func:`save_animation`: an animation as a GIF beside it.

Before ``train="auto"`` trains anything it prints what is missing and its estimated cost; on a
notebook front end it starts nothing longer than a few minutes unasked (:class:`TrainingNotStarted`).
"""

from __future__ import annotations

from gsepconv.analysis.style import save_animation, save_figure, set_style
from gsepconv.companion.committed import ResultsUnavailable, committed_results
from gsepconv.experiments.folders import figures_dir, repo_root, results_dir
from gsepconv.experiments.ondemand import (
    TRAIN_MODES,
    MissingResults,
    TrainingNotStarted,
    check_device,
    check_train_mode,
    ensure_csv,
    ensure_results,
    training_minutes,
)
from gsepconv.report.ensure import ensure_table

__all__ = [
    "repo_root",
    "results_dir",
    "figures_dir",
    "save_figure",
    "save_animation",
    "set_style",
    "TRAIN_MODES",
    "MissingResults",
    "TrainingNotStarted",
    "ResultsUnavailable",
    "committed_results",
    "check_device",
    "training_minutes",
    "ensure_results",
    "ensure_table",
    "ensure_csv",
    "check_train_mode",
]
