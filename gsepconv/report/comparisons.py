"""Model against model: differences of mean accuracy with their 95 % Student-t intervals.

:func:`compare_models` pairs rows of :func:`~gsepconv.report.summaries.experiment_summary` and
returns one :class:`Comparison` per pair (speed-up, accuracy gap, the interval of ``a − b``, paired
by seed where the per-run results allow it); :func:`fidelity_table` does the same for our code
against the original code on the seeds both have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gsepconv.experiments.compare import summarise_fidelity
from gsepconv.experiments.results import METRIC_COLUMNS
from gsepconv.experiments.stats import Interval, paired_interval, welch_interval
from gsepconv.report.labels import element_label
from gsepconv.report.summaries import epochs_as_result, is_budget

__all__ = ["Comparison", "compare_models", "fidelity_table"]


@dataclass(frozen=True)
class Comparison:
    """Model ``a`` against model ``b`` on one results table (means and stds over seeds).

    ``speedup``: ``b``'s time per epoch over ``a``'s (> 1: ``a`` is faster);
    ``accuracy_gap``: ``a``'s mean test accuracy minus ``b``'s, in points;
    ``difference``: the 95 % Student-t interval of ``a − b`` (:mod:`gsepconv.experiments.stats`):
    over the per-seed differences of the seeds both models have when ``paired``, otherwise Welch's
    unpaired interval from the two means (where seeds cannot be paired); ``None`` when there is
    neither (one seed and nothing to pair it with)."""

    a: str
    b: str
    context: dict[str, Any]
    n_a: int
    n_b: int
    acc_a: float
    acc_a_std: float
    acc_b: float
    acc_b_std: float
    epoch_s_a: float
    epoch_s_b: float
    train_s_a: float
    train_s_b: float
    params_a: int
    params_b: int
    metric: str = "test_acc"
    extra: dict[str, Any] = field(default_factory=dict)
    difference: Interval | None = None
    paired: bool = False

    @property
    def speedup(self) -> float:
        return self.epoch_s_b / self.epoch_s_a

    @property
    def accuracy_gap(self) -> float:
        return self.acc_a - self.acc_b

    @property
    def accuracy_verdict(self) -> str:
        """``"higher"``/``"lower"`` when the interval of :attr:`difference` excludes 0,
        ``"indistinguishable"`` when it contains 0, ``"one seed"`` when there is no interval
        (fewer than two paired seeds, or one seed on a side that cannot be paired)."""
        if self.difference is None or not self.difference.determined:
            return "one seed"
        return {1: "higher", -1: "lower", 0: "indistinguishable"}[self.difference.sign()]

    def difference_text(self) -> str:
        """The interval in words, e.g. ``"difference -9.3 [-14.1, -4.5] points, 95% t-interval
        over 3 paired seeds: lower"``."""
        iv = self.difference
        if iv is None:
            return (
                f"difference {self.accuracy_gap:+.1f} points, one seed and no seed to pair: no interval, undetermined"
            )
        if not iv.determined:
            return f"difference {iv.text()}: undetermined"
        kind = (
            f"t-interval over {iv.n} paired seeds"
            if self.paired
            else "Welch t-interval, unpaired because the seeds could not be paired"
        )
        verdict = {
            "higher": "higher",
            "lower": "lower",
            "indistinguishable": "indistinguishable, the interval contains 0",
        }[self.accuracy_verdict]
        return f"difference {iv.text()} points, {iv.confidence:.0%} {kind}: {verdict}"

    def sentence(self) -> str:
        """One sentence with the numbers, e.g. ``"SE(2) separable, N=8 trains 2.1× faster per
        epoch than SE(2) nonseparable, N=8 (17.9 vs 37.9 s) at 88.80 ± 0.50 vs 94.37 ± 0.21 %
        test accuracy (3 seeds each; difference -5.6 [-6.9, -4.2] points, 95% t-interval over 3
        paired seeds: lower)."``"""

        def acc(mean: float, std: float) -> str:
            return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"

        where = ", ".join(f"{k}={v}" for k, v in self.context.items() if k != "num_elements")  # in the labels
        faster = f"{self.speedup:.1f}× faster" if self.speedup >= 1 else f"{1 / self.speedup:.1f}× slower"
        seeds = (
            f"{self.n_a} seed{'s' * (self.n_a != 1)} each"
            if self.n_a == self.n_b
            else f"{self.n_a} and {self.n_b} seeds"
        )
        budget = self.extra.get("budget_s", float("nan"))
        if not math.isnan(budget):  # equal wall-clock training: epochs finished, then accuracy
            return (
                f"With the same {budget:g} s of training{' (' + where + ')' if where else ''}, {self.a} finished "
                f"{self.extra.get('epochs_a', '?')} epochs against {self.extra.get('epochs_b', '?')} for {self.b} "
                f"({faster} per epoch), reaching {acc(self.acc_a, self.acc_a_std)} vs "
                f"{acc(self.acc_b, self.acc_b_std)} % {self.metric.replace('_acc', '')} accuracy "
                f"({seeds}; {self.difference_text()})."
            )
        return (
            f"{self.a} trains {faster} per epoch than {self.b} ({self.epoch_s_a:.1f} vs {self.epoch_s_b:.1f} s)"
            f"{' (' + where + ')' if where else ''} at {acc(self.acc_a, self.acc_a_std)} vs "
            f"{acc(self.acc_b, self.acc_b_std)} % {self.metric.replace('_acc', '')} accuracy "
            f"({seeds}; {self.difference_text()})."
        )


def _select(summary: pd.DataFrame, criteria: Mapping[str, Any]) -> pd.DataFrame:
    mask = pd.Series(True, index=summary.index)
    for column, value in criteria.items():
        if column not in summary.columns:
            raise ValueError(f"cannot select on {column!r}: columns are {list(summary.columns)}")
        if column == "num_elements":
            mask &= summary[column].map(element_label) == element_label(value)
        else:
            mask &= summary[column].astype(str) == str(value)
    return summary[mask]


_STATS = frozenset(f"{m}_{s}" for m in METRIC_COLUMNS for s in ("mean", "std"))


def _per_seed(runs: pd.DataFrame, summary: pd.DataFrame, metric: str) -> dict[Any, pd.Series]:
    """``metric`` of every run, indexed by seed, per row of ``summary`` (keyed by the row's index):
    ``summary`` must be :func:`~gsepconv.report.summaries.experiment_summary` of ``runs``, whose
    configurations it recovers."""
    if "seed" not in runs.columns:
        raise ValueError(f"the per-run results have no 'seed' column; columns are {list(runs.columns)}")
    prepared = epochs_as_result(runs) if is_budget(runs) else runs
    keys = [c for c in summary.columns if c not in _STATS and c not in ("model", "n_total", "n_seeds")]
    absent = [k for k in keys if k not in prepared.columns]
    if absent:
        raise ValueError(
            f"the per-run results lack the summary's columns {absent}: pass the frame the summary came from"
        )
    labelled = prepared.merge(summary[keys].reset_index(names="_row"), on=keys, how="inner")
    out = {
        row: pd.to_numeric(part[metric], errors="coerce").set_axis(part["seed"].astype(int))
        for row, part in labelled.groupby("_row", sort=False)
    }
    wrong = [r for r in summary.index if len(out.get(r, ())) != int(summary.loc[r, "n_seeds"])]
    if wrong:
        raise ValueError(
            f"the per-run results do not match the summary (rows {wrong[:3]}): pass the frame it came from"
        )
    return out


def _difference(r: pd.Series, per_seed: dict[Any, pd.Series] | None, metric: str) -> tuple[Interval | None, bool]:
    """``(interval of a − b, paired)`` for one merged pair row of :func:`compare_models`."""
    n_a, n_b = int(r["n_seeds_a"]), int(r["n_seeds_b"])
    if per_seed is not None:
        seeds_a, seeds_b = per_seed[r["_row_a"]], per_seed[r["_row_b"]]
        if not (seeds_a.index.has_duplicates or seeds_b.index.has_duplicates):
            common = sorted(set(seeds_a.index) & set(seeds_b.index))
            if len(common) >= 2 or (min(n_a, n_b) < 2 and common):
                return paired_interval(seeds_a.loc[common].tolist(), seeds_b.loc[common].tolist()), True
    if min(n_a, n_b) < 2:
        return None, False
    return welch_interval(
        r[f"{metric}_mean_a"], r[f"{metric}_std_a"], n_a, r[f"{metric}_mean_b"], r[f"{metric}_std_b"], n_b
    ), False


def _pairs(
    summary: pd.DataFrame, rows_a: pd.DataFrame, rows_b: pd.DataFrame, a: Mapping[str, Any], b: Mapping[str, Any]
) -> tuple[list[str], pd.DataFrame]:
    """``(keys, pairs)``: the settings (outside the criteria ``a`` and ``b``) that vary among the
    rows of either side, and one row per pair of an ``a`` row and a ``b`` row equal on them
    (columns suffixed ``_a`` and ``_b``). Without such settings each side must be one row."""
    keys = [
        c
        for c in summary.columns
        if c not in _STATS
        and c not in a
        and c not in b
        and c not in ("model", "n_total", "params", "n_seeds", "sampling")
        and (rows_a[c].nunique(dropna=False) > 1 or rows_b[c].nunique(dropna=False) > 1)
    ]
    if keys:
        return keys, rows_a.merge(rows_b, on=keys, suffixes=("_a", "_b"))
    if len(rows_a) > 1 or len(rows_b) > 1:
        raise ValueError(f"{dict(a)} or {dict(b)} matches several rows; add criteria")
    pairs = rows_a.add_suffix("_a").reset_index(drop=True).join(rows_b.add_suffix("_b").reset_index(drop=True))
    return keys, pairs


def _budget_extra(r: pd.Series) -> dict[str, Any]:
    """For a pair trained for the same wall-clock budget: the budget (s) and the epochs each side
    finished in it (:attr:`Comparison.extra`); ``{}`` otherwise."""
    budgets = [
        pd.to_numeric(pd.Series([r.get(f"time_budget_s{sfx}", r.get("time_budget_s"))]), errors="coerce").iloc[0]
        for sfx in ("_a", "_b")
    ]
    if budgets[0] == budgets[1] and not math.isnan(budgets[0]):
        return {
            "budget_s": float(budgets[0]),
            "epochs_a": r.get("epochs_a", r.get("epochs")),
            "epochs_b": r.get("epochs_b", r.get("epochs")),
        }
    return {}


def _comparison(r: pd.Series, keys: list[str], per_seed: dict[Any, pd.Series] | None, metric: str) -> Comparison:
    """The :class:`Comparison` of one pair row of :func:`_pairs`."""
    difference, paired = _difference(r, per_seed, metric)
    return Comparison(
        a=r["model_a"],
        b=r["model_b"],
        context={k: (element_label(r[k]) if k == "num_elements" else r[k]) for k in keys},
        n_a=int(r["n_seeds_a"]),
        n_b=int(r["n_seeds_b"]),
        acc_a=float(r[f"{metric}_mean_a"]),
        acc_a_std=float(r[f"{metric}_std_a"]),
        acc_b=float(r[f"{metric}_mean_b"]),
        acc_b_std=float(r[f"{metric}_std_b"]),
        epoch_s_a=float(r["time_per_epoch_s_mean_a"]),
        epoch_s_b=float(r["time_per_epoch_s_mean_b"]),
        train_s_a=float(r["train_time_s_mean_a"]),
        train_s_b=float(r["train_time_s_mean_b"]),
        params_a=int(r["params_a"]),
        params_b=int(r["params_b"]),
        metric=metric,
        extra=_budget_extra(r),
        difference=difference,
        paired=paired,
    )


def compare_models(
    summary: pd.DataFrame,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    metric: str = "test_acc",
    runs: pd.DataFrame | None = None,
) -> list[Comparison]:
    """Compare the rows of :func:`~gsepconv.report.summaries.experiment_summary` matching ``a``
    (e.g. ``{"group": "SE2", "implementation": "separable"}``) with those matching ``b``.

    When either side has several rows (e.g. a sweep over ``num_elements``), rows are paired on the
    settings that vary among them and one :class:`Comparison` is returned per pair; an empty list
    when either model is absent.

    ``runs``: the per-run results ``summary`` was made from (with their ``seed`` column). With
    them, the accuracy difference is paired by seed (:func:`~gsepconv.experiments.stats.paired_interval`
    over the seeds both models have); without them, or where the models have fewer than two seeds
    in common but at least two each, it falls back to Welch's unpaired interval of the means."""
    rows_a, rows_b = _select(summary, a), _select(summary, b)
    if rows_a.empty or rows_b.empty:
        return []
    per_seed = _per_seed(runs, summary, metric) if runs is not None else None
    rows_a, rows_b = rows_a.assign(_row=rows_a.index), rows_b.assign(_row=rows_b.index)
    keys, pairs = _pairs(summary, rows_a, rows_b, a, b)
    return [_comparison(r, keys, per_seed, metric) for _, r in pairs.iterrows()]


def fidelity_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The fidelity table of the book: per model, our and the original code's mean ± sd test
    accuracy over the seeds both have, and the paired difference ours − original with its 95 %
    Student-t interval (:func:`gsepconv.experiments.compare.summarise_fidelity`)."""
    summary = summarise_fidelity(frame)

    def interval(r: Any) -> str:
        if r.seeds < 2:
            return f"{r.diff_mean:+.2f} (one seed)"
        return f"{r.diff_mean:+.2f} [{r.diff_low:+.2f}, {r.diff_high:+.2f}]"

    return pd.DataFrame(
        {
            "model": summary["model"],
            "seeds": summary["seeds"],
            "ours (% test)": [f"{m:.2f} ± {s:.2f}" for m, s in zip(summary["ours_mean"], summary["ours_sd"])],
            "original (% test)": [
                f"{m:.2f} ± {s:.2f}" for m, s in zip(summary["original_mean"], summary["original_sd"])
            ],
            "ours − original [95 % CI]": [interval(r) for r in summary.itertuples(index=False)],
        }
    )
