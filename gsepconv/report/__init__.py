"""Every table and figure of the companion, redrawn from the results CSVs in seconds (no training).

* :func:`make_all` (``make figures`` / ``gsepconv figures``): read ``results/<profile>/*.csv``,
  write ``results/<profile>/figures/*.png|svg`` and ``results/<profile>/tables/*.csv``; a missing
  input is a :class:`MissingInputs` error naming the file and the command that produces it.
* the tables, as functions of the results CSVs: :mod:`~gsepconv.report.summaries` (mean ± std over
  seeds, learning curves), :mod:`~gsepconv.report.comparisons` (model against model, with Student-t
  intervals), :mod:`~gsepconv.report.efficiency` (benchmark costs and ratios),
  :mod:`~gsepconv.report.diagnostics` (equivariance errors, kernel redundancy) and
  :mod:`~gsepconv.report.provenance` (commits, devices and dates behind each input).
* :mod:`~gsepconv.report.figures`: the figures, as functions of those tables.
* :mod:`~gsepconv.report.claims`: the paper's claims beside sentences built from our numbers, by the
  rules of :mod:`~gsepconv.report.verdicts`, qualified by :mod:`~gsepconv.report.confounders`.
* :func:`ensure_inputs`: chapter 08's ``train`` parameter — produce missing inputs (never called by
  :func:`make_all`).
"""

from __future__ import annotations

from gsepconv.report.claims import CLAIMS, LEADERBOARD_SIM2_MNIST_ROT_ERROR, LEADERBOARD_SOURCE, claims_table
from gsepconv.report.comparisons import Comparison, compare_models, fidelity_table
from gsepconv.report.diagnostics import equivariance_table, redundancy_summary
from gsepconv.report.efficiency import describe_speedups, efficiency_table, original_comparison, speedups, sweep_table
from gsepconv.report.ensure import ensure_inputs
from gsepconv.report.inputs import INPUTS, InputSpec, MissingInputs, input_path, load_inputs, missing_inputs, read_csv
from gsepconv.report.labels import element_label, model_label, n_total
from gsepconv.report.make import NATURAL_IMAGES, PRODUCTS, make_all, tables_dir, write_table
from gsepconv.report.provenance import provenance_table, same_runs_two_commits
from gsepconv.report.summaries import accuracy_within, experiment_summary, experiment_table, history_curves
from gsepconv.report.verdicts import ClaimCheck

__all__ = [
    "CLAIMS",
    "LEADERBOARD_SIM2_MNIST_ROT_ERROR",
    "LEADERBOARD_SOURCE",
    "ClaimCheck",
    "claims_table",
    "ensure_inputs",
    "INPUTS",
    "InputSpec",
    "MissingInputs",
    "input_path",
    "load_inputs",
    "missing_inputs",
    "read_csv",
    "element_label",
    "model_label",
    "n_total",
    "NATURAL_IMAGES",
    "PRODUCTS",
    "make_all",
    "tables_dir",
    "write_table",
    "Comparison",
    "accuracy_within",
    "compare_models",
    "describe_speedups",
    "efficiency_table",
    "original_comparison",
    "fidelity_table",
    "same_runs_two_commits",
    "equivariance_table",
    "experiment_summary",
    "experiment_table",
    "history_curves",
    "provenance_table",
    "redundancy_summary",
    "speedups",
    "sweep_table",
]
