"""Tables of what the trained layers do: equivariance errors and the redundancy of their kernels."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from gsepconv.report.labels import add_model_labels

__all__ = ["equivariance_table", "redundancy_summary"]


def _sci(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{float(value):.2g}"


def equivariance_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Display table of the equivariance report: a ``model`` label and each ``*_error`` column in
    two significant digits (relative errors; round-off is ~1e-15)."""
    out = add_model_labels(frame, distinguish=())
    errors = [c for c in out.columns if c.endswith("_error")]
    if not errors:
        raise ValueError(f"the equivariance table has no '*_error' column; columns are {list(frame.columns)}")
    table = out[["model"]].copy()
    for c in [c for c in ("kind", "control", "role") if c in out.columns]:
        table[c] = out[c]
    for c in errors:
        table[c] = out[c].map(_sci)
    return table


def redundancy_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Energy share of the first singular component (mean over each layer's kernel slices), one row
    per layer and a last row ``"mean over layers"``, one column per state (trained, init, gaussian,
    separable — those present), from ``redundancy.csv``."""
    needed = {"state", "layer_index", "layer", "component", "energy_fraction_mean"}
    if not needed <= set(frame.columns):
        raise ValueError(f"redundancy table lacks the columns {sorted(needed - set(frame.columns))}")
    first = frame[frame["component"] == 1]
    states = list(dict.fromkeys(first["state"]))
    table = first.pivot_table(
        index=["layer_index", "layer"], columns="state", values="energy_fraction_mean", sort=True
    )[states]
    table.loc[(len(table), "mean over layers"), :] = table.mean(axis=0)
    table = table.reset_index().drop(columns="layer_index")
    table.columns.name = None
    if "uniform_share" in first.columns:
        uniform = first.groupby("layer")["uniform_share"].first()
        table["uniform_share"] = table["layer"].map(uniform)
        table.loc[table.index[-1], "uniform_share"] = float(uniform.mean())
    return table.round(3)
