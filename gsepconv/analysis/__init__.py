"""Analyses behind the companion's chapters 01–04: redundancy of learned kernels along the
subgroup axis, per-layer costs of every implementation, equivariance sweeps, and small drawing
helpers. Every function returns tensors or tidy ``DataFrame``\\ s; notebooks only plot them.

* :mod:`~gsepconv.analysis.redundancy`: singular-value spectra of kernel slices ``[N_in × k²]``.
* :mod:`~gsepconv.analysis.table`: ``results/<profile>/redundancy.csv`` from a trained model
  (``python -m gsepconv.analysis --profile quick``).
* :mod:`~gsepconv.analysis.costs`: parameters, MACs (flop counter and formulas) and time of one
  layer per implementation; ``results/<profile>/layer_costs.csv``
  (``python -m gsepconv.analysis --table layer_costs --profile quick``).
* :mod:`~gsepconv.analysis.kernels`: SIREN fields for several ``ω₀``; the dense kernel of every
  implementation.
* :mod:`~gsepconv.analysis.sweeps`: equivariance error against angle and dilation, with a plain-CNN
  control.
* :mod:`~gsepconv.analysis.film`: a briefly trained SE(2) G-CNN's and plain CNN's feature maps as
  the input rotates (the frames of chapter 02's animation) and their measured equivariance error.
* :mod:`~gsepconv.analysis.plots`: small drawing helpers (and the animation of those frames).
"""

from __future__ import annotations

from .costs import cost_formula, layer_costs, layer_costs_is_current, layer_costs_path, write_layer_costs
from .film import (
    RotationFilm,
    film_config,
    film_digit,
    film_errors,
    film_features,
    lift_and_group_conv,
    oriented_channel,
    rotation_film,
)
from .kernels import implementation_kernels, siren_field
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
    support_taps,
)
from .sweeps import compare_equivariance, demo_image, dilation_factors, lifted_pair, planar_pair
from .table import (
    REDUNDANCY_FILE,
    STATES,
    initial_model,
    planned_seeds,
    redundancy_is_current,
    redundancy_path,
    redundancy_table,
    select_run,
    trained_model,
)

__all__ = [
    "REDUNDANCY_FILE",
    "RotationFilm",
    "STATES",
    "compare_equivariance",
    "cost_formula",
    "demo_image",
    "dilation_factors",
    "effective_rank",
    "energy_share",
    "expected_gaussian_share",
    "film_config",
    "film_digit",
    "film_errors",
    "film_features",
    "gaussian_like",
    "group_conv_layers",
    "implementation_kernels",
    "initial_model",
    "kernel_spectra",
    "layer_costs",
    "layer_costs_is_current",
    "layer_costs_path",
    "lift_and_group_conv",
    "lifted_pair",
    "oriented_channel",
    "planar_pair",
    "planned_seeds",
    "redundancy_is_current",
    "redundancy_path",
    "redundancy_table",
    "rotation_film",
    "sampled_kernels",
    "select_run",
    "singular_spectra",
    "siren_field",
    "subgroup_matrices",
    "summarise_spectra",
    "support_taps",
    "trained_model",
    "write_layer_costs",
]
