"""Every table and figure of the companion, redrawn from the results CSVs in seconds (no training).

* :func:`make_all` (``make figures`` / ``gsepconv figures``): read ``results/<profile>/*.csv``,
  write ``results/<profile>/figures/*.png|svg`` and ``results/<profile>/tables/*.csv``; a missing
  input is a :class:`MissingInputs` error naming the file and the command that produces it.
* :mod:`~gsepconv.report.tables`: summaries (mean ± std over seeds), comparisons, ratios, provenance.
* :mod:`~gsepconv.report.figures`: the figures, as functions of those tables.
* :mod:`~gsepconv.report.claims`: the paper's claims beside sentences built from our numbers.
* :func:`ensure_inputs`: chapter 08's ``train`` parameter — produce missing inputs (never called by
  :func:`make_all`).
"""

from __future__ import annotations

from gsepconv.report.claims import (
    CLAIMS,
    LEADERBOARD_SIM2_MNIST_ROT_ERROR,
    LEADERBOARD_SOURCE,
    ClaimCheck,
    claims_table,
)
from gsepconv.report.ensure import ensure_inputs
from gsepconv.report.inputs import INPUTS, InputSpec, MissingInputs, input_path, load_inputs, missing_inputs, read_csv
from gsepconv.report.labels import element_label, model_label, n_total
from gsepconv.report.make import NATURAL_IMAGES, PRODUCTS, make_all, tables_dir, write_table
from gsepconv.report.tables import (
    Comparison,
    accuracy_within,
    compare_models,
    describe_speedups,
    efficiency_table,
    equivariance_table,
    experiment_summary,
    experiment_table,
    fidelity_table,
    history_curves,
    original_comparison,
    provenance_table,
    redundancy_summary,
    same_runs_two_commits,
    speedups,
    sweep_table,
)

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
