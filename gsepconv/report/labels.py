"""Names of models in tables and figures, one spelling everywhere.

Results files spell the number of sampled group elements differently (``"8"``, ``"4x3"`` in the
training results, ``"(4,3)"`` in the benchmark, empty for the Z2 CNN); :func:`element_label`
brings them to one form (``"8"``, ``"4×3"``) and :func:`n_total` to the total count ``N``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

__all__ = [
    "GROUP_NAMES",
    "GROUP_ORDER",
    "IMPLEMENTATION_ORDER",
    "CONTROL",
    "element_label",
    "n_total",
    "model_label",
    "add_model_labels",
    "model_order",
    "model_palette",
]

#: how each group is written in figures and tables
GROUP_NAMES: dict[str, str] = {"Z2": "Z2 CNN", "SE2": "SE(2)", "R2xRplus": "R²⋊R⁺", "Sim2": "Sim(2)"}
#: groups in the order the book presents them (unknown groups follow, alphabetically)
GROUP_ORDER: tuple[str, ...] = ("Z2", "SE2", "R2xRplus", "Sim2")
#: implementations from the most to the least factorised kernel's opposite: the full kernel first
IMPLEMENTATION_ORDER: tuple[str, ...] = (
    "none",
    "nonseparable",
    "gseparable",
    "dseparable",
    "separable",
    "dgseparable",
    "separable2d",
    "gseparable2d",
)
#: the label of the plain-CNN control
CONTROL = GROUP_NAMES["Z2"]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in ("", "nan", "None")


def element_label(value: Any) -> str:
    """``8`` / ``"8"`` → ``"8"``; ``"4x3"`` / ``"(4,3)"`` / ``(4, 3)`` → ``"4×3"``; missing → ``""``."""
    if _is_missing(value):
        return ""
    if isinstance(value, (tuple, list)):
        parts = [str(int(v)) for v in value]
    elif isinstance(value, (int,)) or (isinstance(value, float) and float(value).is_integer()):
        parts = [str(int(value))]
    else:
        parts = re.findall(r"\d+", str(value))
        if not parts:
            raise ValueError(f"cannot read a number of group elements from {value!r} (expected e.g. 8, '4x3', '(4,3)')")
    return "×".join(parts)


def n_total(value: Any) -> int:
    """Total number of sampled elements of ``H`` (``"4×3"`` → 12; missing, i.e. Z2 → 1)."""
    label = element_label(value)
    return math.prod(int(p) for p in label.split("×")) if label else 1


def model_label(group: str, implementation: str = "", num_elements: Any = None) -> str:
    """``"Z2 CNN"``, ``"SE(2) separable, N=8"``, ``"Sim(2) separable2d, N=4×3"``."""
    name = GROUP_NAMES.get(str(group), str(group))
    if str(group) == "Z2":
        return name
    elements = element_label(num_elements)
    impl = "" if _is_missing(implementation) or implementation == "none" else f" {implementation}"
    return f"{name}{impl}" + (f", N={elements}" if elements else "")


def add_model_labels(
    frame: pd.DataFrame,
    distinguish: Sequence[str] = ("widths", "epochs", "sampling", "kernel_size", "batch_size", "lr"),
) -> pd.DataFrame:
    """A copy of ``frame`` with a ``model`` column: :func:`model_label` of each row, followed by
    ``" [widths=…, …]"`` for the columns of ``distinguish`` that take several values among rows of
    the same base label (so two widths of one model stay two lines in a figure).

    ``frame`` needs ``group``, and ``implementation`` / ``num_elements`` when it has them."""
    if "group" not in frame.columns:
        raise ValueError(f"cannot label models without a 'group' column; columns are {list(frame.columns)}")
    out = frame.copy()
    impl = out["implementation"] if "implementation" in out.columns else pd.Series("", index=out.index)
    elems = out["num_elements"] if "num_elements" in out.columns else pd.Series(None, index=out.index)
    base = [model_label(g, i, n) for g, i, n in zip(out["group"], impl, elems)]
    out["model"] = base
    varying = [
        c
        for c in distinguish
        if c in out.columns and out.assign(_base=base).groupby("_base")[c].nunique(dropna=False).max() > 1
    ]
    if varying:
        out["model"] = [
            b + " [" + ", ".join(f"{c}={row[c]}" for c in varying) + "]"
            for b, (_, row) in zip(base, out[varying].iterrows())
        ]
    return out


def _sort_key(group: str, implementation: str, elements: str) -> tuple:
    g = GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER)
    i = (
        IMPLEMENTATION_ORDER.index(implementation)
        if implementation in IMPLEMENTATION_ORDER
        else len(IMPLEMENTATION_ORDER)
    )
    return (g, group, i, implementation, n_total(elements), elements)


def model_order(frame: pd.DataFrame) -> list[str]:
    """Distinct ``model`` labels of a frame made by :func:`add_model_labels`, control first, then
    by group, implementation and number of elements."""
    impl = frame["implementation"] if "implementation" in frame.columns else pd.Series("", index=frame.index)
    elems = frame["num_elements"] if "num_elements" in frame.columns else pd.Series("", index=frame.index)
    keyed = {}
    for model, g, i, n in zip(frame["model"], frame["group"], impl, elems):
        keyed.setdefault(model, (_sort_key(str(g), str(i), element_label(n)), model))
    return [m for _, m in sorted(keyed.values())]


def model_palette(models: Iterable[str]) -> dict[str, Any]:
    """A colour per model label: black for the Z2 CNN control, the colour-blind palette otherwise."""
    import seaborn as sns  # the optional `plot` extra; slow to import, needed only to draw

    models = list(dict.fromkeys(models))
    others = [m for m in models if not m.startswith(CONTROL)]
    colours = sns.color_palette("colorblind" if len(others) <= 10 else "tab20", max(len(others), 1))
    palette: dict[str, Any] = {m: colours[k % len(colours)] for k, m in enumerate(others)}
    palette.update({m: (0.0, 0.0, 0.0) for m in models if m.startswith(CONTROL)})
    return palette
