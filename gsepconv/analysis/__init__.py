"""Analyses behind the companion's chapters 01–04: redundancy of learned kernels along the
subgroup axis, per-layer costs of every implementation, equivariance sweeps, and small drawing
helpers. Every function returns tensors or tidy ``DataFrame``\\ s; notebooks only plot them.

* :mod:`~gsepconv.analysis.redundancy`: singular-value spectra of kernel slices ``[N_in × k²]``.
* :mod:`~gsepconv.analysis.table`: ``results/<profile>/redundancy.csv`` from a trained model
  (``python -m gsepconv.analysis --profile quick``).
"""

from __future__ import annotations

from .redundancy import (
    effective_rank,
    energy_share,
    expected_gaussian_share,
    gaussian_like,
    group_conv_layers,
    kernel_spectra,
    sampled_kernels,
    singular_spectra,
    subgroup_matrices,
    summarise_spectra,
)
from .table import (
    REDUNDANCY_FILE,
    STATES,
    initial_model,
    redundancy_is_current,
    redundancy_path,
    redundancy_table,
    select_run,
    trained_model,
)

__all__ = [
    "REDUNDANCY_FILE",
    "STATES",
    "effective_rank",
    "energy_share",
    "expected_gaussian_share",
    "gaussian_like",
    "group_conv_layers",
    "initial_model",
    "kernel_spectra",
    "redundancy_is_current",
    "redundancy_path",
    "redundancy_table",
    "sampled_kernels",
    "select_run",
    "singular_spectra",
    "subgroup_matrices",
    "summarise_spectra",
    "trained_model",
]
