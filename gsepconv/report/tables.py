"""Summary tables computed from the results CSVs (nothing typed in).

Numeric summaries keep one column per statistic (``test_acc_mean``, ``test_acc_std`` …, from
:func:`gsepconv.experiments.results.summarise`); display tables hold ``"mean ± std"`` strings (from
:func:`~gsepconv.experiments.results.format_summary`) and a ``model`` label per row, in the order
the book uses (the Z2 CNN control first).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gsepconv.experiments.compare import summarise_fidelity
from gsepconv.experiments.results import METRIC_COLUMNS, format_summary, summarise
from gsepconv.experiments.stats import Interval, paired_interval, welch_interval
from gsepconv.report.labels import add_model_labels, element_label, model_order, n_total

__all__ = [
    "same_runs_two_commits",
    "in_model_order",
    "bench_labels",
    "is_budget",
    "experiment_summary",
    "experiment_table",
    "history_curves",
    "accuracy_within",
    "Comparison",
    "compare_models",
    "efficiency_table",
    "original_comparison",
    "fidelity_table",
    "speedups",
    "describe_speedups",
    "sweep_table",
    "equivariance_table",
    "redundancy_summary",
    "provenance_table",
]

# columns that name the model (shown through the ``model`` label instead)
_MODEL_KEYS = (
    "group",
    "implementation",
    "num_elements",
    "sampling",
    "widths",
    "epochs",
    "kernel_size",
    "batch_size",
    "lr",
)
_DISPLAY_METRICS = ("test_acc", "test_err", "val_acc", "time_per_epoch_s", "train_time_s", "peak_mem_mb")


def in_model_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a labelled table (a ``model`` column) in the order the tables and figures show the
    models (:func:`~gsepconv.report.labels.model_order`), then by ``n_total`` and ``image_size``."""
    order = {m: k for k, m in enumerate(model_order(frame))}
    sort = frame["model"].map(order)
    extra = [c for c in ("n_total", "image_size") if c in frame.columns]
    return (
        frame.assign(_order=sort)
        .sort_values(["_order", *extra], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def is_budget(frame: pd.DataFrame) -> bool:
    """Whether the runs trained for a wall-clock budget (``time_budget_s`` set): then ``epochs`` is
    the number of epochs each run finished, a result rather than a setting."""
    return "time_budget_s" in frame.columns and pd.to_numeric(frame["time_budget_s"], errors="coerce").notna().any()


def _epochs_as_result(frame: pd.DataFrame) -> pd.DataFrame:
    """Budget runs: replace ``epochs`` by the range finished by the seeds of each configuration
    (``"7"`` or ``"7–8"``), so that seeds that finished different numbers of epochs stay one group."""
    per_run = set(METRIC_COLUMNS) | {
        "epochs",
        "seed",
        "best_epoch",
        "device",
        "torch_version",
        "gsepconv_version",
        "git_commit",
        "timestamp",
        "run_id",
    }
    keys = [c for c in frame.columns if c not in per_run]
    out = frame.copy()
    spans = out.groupby(keys, dropna=False, sort=False)["epochs"].transform(
        lambda e: f"{int(e.min())}" if e.min() == e.max() else f"{int(e.min())}–{int(e.max())}"
    )
    out["epochs"] = spans.astype(str)
    return out


def experiment_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of every metric, one row per configuration (all columns of
    :func:`~gsepconv.experiments.results.summarise`), plus ``model`` and ``n_total``, control first.
    For budget runs (:func:`is_budget`) ``epochs`` holds the range of epochs the seeds finished.

    ``frame``: a results CSV (:data:`gsepconv.experiments.results.COLUMNS`), one row per run."""
    if frame.empty:
        raise ValueError("the results table is empty: there is nothing to summarise")
    summary = summarise(_epochs_as_result(frame) if is_budget(frame) else frame)
    summary = add_model_labels(summary)
    summary["n_total"] = [n_total(v) for v in summary["num_elements"]]
    return in_model_order(summary)


def experiment_table(frame: pd.DataFrame, metrics: Sequence[str] = _DISPLAY_METRICS) -> tuple[str, pd.DataFrame]:
    """``(settings, table)``: the settings shared by every row (one line, e.g.
    ``"experiment=mnist_rot, dataset=…"``) and a display table with ``model``, the other varying
    settings, ``params``, ``n_seeds`` and one ``"mean ± std"`` column per metric (std over seeds;
    the mean alone for one seed)."""
    unknown = [m for m in metrics if m not in METRIC_COLUMNS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {list(METRIC_COLUMNS)}")
    summary = experiment_summary(frame)
    plain = summary.drop(columns=["model", "n_total"])
    settings, table = format_summary(plain, metrics=tuple(metrics))
    keep = [c for c in table.columns if c not in _MODEL_KEYS and c not in metrics and c not in ("n_seeds", "params")]
    out = pd.concat([summary[["model"]], table[keep], summary[["params"]], table[["n_seeds", *metrics]]], axis=1)
    if is_budget(frame):  # epochs finished within the budget: a result, shown beside the metrics
        out.insert(out.columns.get_loc("n_seeds") + 1, "epochs_run", summary["epochs"].astype(str))
        settings = ", ".join(part for part in settings.split(", ") if not part.startswith("epochs="))
    return settings, out


def history_curves(history: pd.DataFrame, results: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-epoch rows of a history CSV (:data:`gsepconv.experiments.results.HISTORY_COLUMNS`) with
    a ``model`` label per run; with the results table, labels also tell apart settings that only
    the results carry (widths, epochs …; joined on ``run_id``). Runs of the history that are not
    in ``results`` (an older grid) are dropped."""
    needed = {"run_id", "group", "epoch", "val_acc", "wall_time_s"}
    if not needed <= set(history.columns):
        raise ValueError(f"history lacks the columns {sorted(needed - set(history.columns))}")
    curves = history.copy()
    if results is not None:
        if is_budget(results):  # epochs finished differ between seeds: a result, not a label
            results = _epochs_as_result(results)
        extra = [c for c in _MODEL_KEYS if c in results.columns and c not in curves.columns]
        curves = curves.merge(results[["run_id", *extra]].drop_duplicates("run_id"), on="run_id", how="inner")
    curves = add_model_labels(curves)
    curves["n_total"] = [n_total(v) for v in curves.get("num_elements", pd.Series("", index=curves.index))]
    order = {m: k for k, m in enumerate(model_order(curves))}
    return (
        curves.assign(_order=curves["model"].map(order))
        .sort_values(["_order", "seed", "epoch"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def accuracy_within(curves: pd.DataFrame, budget_s: float | None = None) -> tuple[float, pd.DataFrame]:
    """``(budget, table)``: each model's best validation accuracy reached within ``budget_s`` seconds
    of wall time (mean ± std over its seeds) and the epochs it finished by then, from
    :func:`history_curves`. Default budget: the shortest complete run among the G-CNNs (the control
    excluded), i.e. every model gets the time the fastest G-CNN needed for all its epochs. A model
    with no epoch finished within the budget shows ``NaN``."""
    if budget_s is None:
        ends = curves.sort_values("epoch").groupby("run_id").tail(1)
        gcnn = ends[ends["group"] != "Z2"]
        budget_s = float((gcnn if not gcnn.empty else ends)["wall_time_s"].min())
    within = curves[curves["wall_time_s"] <= budget_s]
    per_run = within.groupby(["model", "run_id"], sort=False).agg(best=("val_acc", "max"), epochs=("epoch", "max"))
    rows = []
    for model in model_order(curves):
        runs = per_run.loc[model] if model in per_run.index.get_level_values(0) else pd.DataFrame()
        n_runs = curves.loc[curves["model"] == model, "run_id"].nunique()
        best = runs["best"] if len(runs) else pd.Series(dtype=float)
        rows.append(
            {
                "model": model,
                "runs": n_runs,
                "runs_with_an_epoch": len(runs),
                "best_val_acc_mean": best.mean() if len(best) else float("nan"),
                "best_val_acc_std": best.std(ddof=1) if len(best) > 1 else float("nan"),
                "epochs_finished": runs["epochs"].min() if len(runs) else 0,
            }
        )
    return budget_s, pd.DataFrame(rows)


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
    ``summary`` must be :func:`experiment_summary` of ``runs``, whose configurations it recovers."""
    if "seed" not in runs.columns:
        raise ValueError(f"the per-run results have no 'seed' column; columns are {list(runs.columns)}")
    prepared = _epochs_as_result(runs) if is_budget(runs) else runs
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


def compare_models(
    summary: pd.DataFrame,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    metric: str = "test_acc",
    runs: pd.DataFrame | None = None,
) -> list[Comparison]:
    """Compare the rows of :func:`experiment_summary` matching ``a`` (e.g. ``{"group": "SE2",
    "implementation": "separable"}``) with those matching ``b``.

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
        pairs = rows_a.merge(rows_b, on=keys, suffixes=("_a", "_b"))
    else:
        if len(rows_a) > 1 or len(rows_b) > 1:
            raise ValueError(f"{dict(a)} or {dict(b)} matches several rows; add criteria")
        pairs = rows_a.add_suffix("_a").reset_index(drop=True).join(rows_b.add_suffix("_b").reset_index(drop=True))
    out = []
    for _, r in pairs.iterrows():
        budgets = [
            pd.to_numeric(pd.Series([r.get(f"time_budget_s{sfx}", r.get("time_budget_s"))]), errors="coerce").iloc[0]
            for sfx in ("_a", "_b")
        ]
        extra: dict[str, Any] = {}
        if budgets[0] == budgets[1] and not math.isnan(budgets[0]):
            extra = {
                "budget_s": float(budgets[0]),
                "epochs_a": r.get("epochs_a", r.get("epochs")),
                "epochs_b": r.get("epochs_b", r.get("epochs")),
            }
        difference, paired = _difference(r, per_seed, metric)
        out.append(
            Comparison(
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
                extra=extra,
                difference=difference,
                paired=paired,
            )
        )
    return out


def bench_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """Benchmark rows with the labels the efficiency tables and figures share: ``model``,
    ``elements`` (the group elements as text) and ``n_total``."""
    out = add_model_labels(frame, distinguish=())
    out["elements"] = [element_label(v) for v in out["num_elements"]]
    if "n_total" not in out.columns:
        out["n_total"] = [n_total(v) for v in out["num_elements"]]
    return out


def efficiency_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Display table of ``gsepconv bench`` rows: model, parameters, GMACs per forward, training
    step (ms, images/s), inference (ms, and its overhead over the bare convolutions) and memory."""
    out = in_model_order(bench_labels(frame))
    table = pd.DataFrame(
        {
            "model": out["model"],
            "params": out["params"].astype(int),
            "GMACs": (out["macs"] / 1e9).round(2),
            "train_ms": out["train_ms"].round(1),
            "images_per_s": out["images_per_s"].round(0).astype(int),
            "infer_ms": out["infer_ms"].round(1),
            "infer_overhead": out["infer_overhead"].round(2),
            "memory_mb": out["peak_mem_mb"].round(1),
        }
    )
    if "mem_kind" in out.columns:
        table["memory_kind"] = out["mem_kind"]
    return table


#: columns of ``original_comparison`` (with ``--bf16`` also ``train_ms_bf16``, ``bf16_speedup``)
ORIGINAL_COMPARISON_COLUMNS = (
    "model",
    "train_ms",
    "original_train_ms",
    "speedup_vs_original",
    "speedup_vs_original_q25",
    "speedup_vs_original_q75",
    "verdict_vs_original",
    "conv_only_train_ms",
    "limit_layout",
    "train_overhead",
)


def original_comparison(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a ``gsepconv bench --against`` table that have the original's model (empty for a
    benchmark run without it): our training step, the original code's, timed alternately in one
    process (medians), the per-round ratio original ms / ours (``speedup_vs_original``: its median,
    ``speedup_vs_original_q25`` and ``speedup_vs_original_q75``: its interquartile range), the
    benchmark's ``verdict_vs_original`` (``faster``/``slower`` only when that whole range lies on
    one side of 1, else ``tie``), and the limit of ours: its conv-only step (the same convolutions
    with free weights), the faster of two memory layouts (``limit_layout``), with
    ``train_overhead`` = ours / that limit. With ``--bf16`` also our bfloat16 step. A table
    without the quartile, verdict and layout columns still reads: those columns come out empty
    (``against_is_current`` of ``gsepconv.experiments.bench`` says so)."""
    columns = list(ORIGINAL_COMPARISON_COLUMNS)
    if "original_train_ms" not in frame.columns or frame["original_train_ms"].isna().all():
        return pd.DataFrame(columns=columns)  # a benchmark run without --against
    out = in_model_order(bench_labels(frame))
    out = out[out["original_train_ms"].notna()]
    out = out.reindex(columns=[*out.columns, *(c for c in columns if c not in out.columns)])  # empty if older
    table = pd.DataFrame(
        {
            "model": out["model"],
            "train_ms": out["train_ms"].round(1),
            "original_train_ms": out["original_train_ms"].round(1),
            "speedup_vs_original": out["speedup_vs_original"].round(2),
            "speedup_vs_original_q25": out["speedup_vs_original_q25"].round(2),
            "speedup_vs_original_q75": out["speedup_vs_original_q75"].round(2),
            "verdict_vs_original": out["verdict_vs_original"],
            "conv_only_train_ms": out["conv_only_train_ms"].round(1),
            "limit_layout": out["limit_layout"],
            "train_overhead": out["train_overhead"].round(2),
        }
    )
    if "train_ms_bf16" in out.columns and out["train_ms_bf16"].notna().any():
        table["train_ms_bf16"] = out["train_ms_bf16"].round(1)
        table["bf16_speedup"] = out["bf16_speedup"].round(2)
    return table.reset_index(drop=True)


def speedups(
    frame: pd.DataFrame, keys: Sequence[str] = ("group", "num_elements"), baseline: str = "nonseparable"
) -> pd.DataFrame:
    """For every row of a benchmark table whose ``keys`` match a ``baseline`` row: how many times
    faster it trains (``train_speedup``, baseline ms / its ms), infers (when the table has
    ``infer_ms``), how many times fewer MACs
    and how much memory it needs relative to the baseline (``memory_ratio``, its MB / baseline MB).
    Columns: ``keys``, ``implementation``, ``model``, the ratios and both training times."""
    labelled = bench_labels(frame)
    labelled["num_elements"] = labelled["elements"]
    base = labelled[labelled["implementation"] == baseline]
    other = labelled[(labelled["implementation"] != baseline) & (labelled["group"] != "Z2")]
    cols = [*keys, *[c for c in ("train_ms", "infer_ms", "macs", "peak_mem_mb") if c in labelled.columns]]
    merged = other.merge(base[cols], on=list(keys), suffixes=("", "_base"))
    if merged.empty:
        return pd.DataFrame(
            columns=[
                *keys,
                "implementation",
                "model",
                "train_speedup",
                "infer_speedup",
                "mac_ratio",
                "memory_ratio",
                "train_ms",
                "train_ms_base",
            ]
        )
    out = merged[[*keys, "implementation", "model"]].copy()
    out["train_speedup"] = (merged["train_ms_base"] / merged["train_ms"]).round(2)
    if "infer_ms" in cols:
        out["infer_speedup"] = (merged["infer_ms_base"] / merged["infer_ms"]).round(2)
    out["mac_ratio"] = (merged["macs_base"] / merged["macs"]).round(1)
    out["memory_ratio"] = (merged["peak_mem_mb"] / merged["peak_mem_mb_base"]).round(2)
    out["train_ms"] = merged["train_ms"].round(1)
    out["train_ms_base"] = merged["train_ms_base"].round(1)
    out["n_total"] = [n_total(v) for v in out["num_elements"]]
    return (
        out.sort_values([k for k in ("group", "implementation", "n_total", "image_size") if k in out.columns])
        .drop(columns="n_total")
        .reset_index(drop=True)
    )


def describe_speedups(ratios: pd.DataFrame) -> list[str]:
    """One sentence per group × implementation of a :func:`speedups` / :func:`sweep_table` result:
    the range of training speed-ups (with where the smallest and largest occur), MAC ratios and
    memory ratios against the non-separable model."""
    sentences = []
    where_cols = [c for c in ("num_elements", "image_size") if c in ratios.columns]

    def where(row: pd.Series) -> str:
        parts = [f"N={row['num_elements']}" if c == "num_elements" else f"{row[c]}×{row[c]}" for c in where_cols]
        return ", ".join(parts)

    def span(values: pd.Series, digits: int) -> str:
        lo, hi = values.min(), values.max()
        return f"{lo:.{digits}f}" if round(lo, digits) == round(hi, digits) else f"{lo:.{digits}f}–{hi:.{digits}f}"

    for _, rows in ratios.groupby(["group", "implementation"], sort=False):
        lo, hi = rows.loc[rows["train_speedup"].idxmin()], rows.loc[rows["train_speedup"].idxmax()]
        name = rows["model"].iloc[0].split(",")[0]
        speed = (
            f"{lo['train_speedup']:.1f}× ({where(lo)})"
            if len(rows) == 1
            else f"{lo['train_speedup']:.1f}× ({where(lo)}) to {hi['train_speedup']:.1f}× ({where(hi)})"
        )
        sentences.append(
            f"{name} against non-separable: trains {speed} as fast, with "
            f"{span(rows['mac_ratio'], 1)}× fewer MACs and {span(rows['memory_ratio'], 2)}× the memory."
        )
    return sentences


def sweep_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Separable against non-separable in the efficiency sweep, per group, number of elements and
    image size (:func:`speedups` with ``image_size`` as a key)."""
    return speedups(frame, keys=("group", "num_elements", "image_size"))


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


def _span(values: pd.Series) -> str:
    distinct = sorted({str(v) for v in values.dropna() if str(v) != ""})
    return "; ".join(distinct) if len(distinct) <= 3 else f"{'; '.join(distinct[:3])}; … ({len(distinct)} values)"


def provenance_table(
    tables: Mapping[str, pd.DataFrame], paths: Mapping[str, Path], settings: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One row per input: file, rows, and the provenance its rows carry (profile, git commit,
    device, torch version, date range), plus the settings shared by all its rows."""
    rows = []
    for name, frame in tables.items():
        stamps = (
            pd.to_datetime(frame["timestamp"], errors="coerce", utc=True)
            if "timestamp" in frame
            else pd.Series(dtype=object)
        )
        stamps = stamps.dropna()
        dates = (
            ""
            if stamps.empty
            else (
                f"{stamps.min():%Y-%m-%d}"
                if stamps.min().date() == stamps.max().date()
                else f"{stamps.min():%Y-%m-%d} – {stamps.max():%Y-%m-%d}"
            )
        )
        rows.append(
            {
                "input": name,
                "file": Path(paths[name]).name,
                "rows": len(frame),
                "profile": _span(frame["profile"]) if "profile" in frame else "",
                "git_commit": _span(frame["git_commit"]) if "git_commit" in frame else "",
                "date": dates,
                "device": _span(frame["device"]) if "device" in frame else "",
                "torch_version": _span(frame["torch_version"]) if "torch_version" in frame else "",
                "settings": (settings or {}).get(name, ""),
            }
        )
    return pd.DataFrame(rows)


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


def same_runs_two_commits(results: pd.DataFrame, fidelity: pd.DataFrame) -> pd.DataFrame:
    """Our runs that appear in both an experiment's results table and the fidelity table (same
    ``run_id``: the same settings and seed), per model: how many, the commits that trained them
    in each table, and the mean test accuracy of each. The two tables can come from different
    commits of the library; where a model's accuracy moved between them, this table shows it
    before a reader compares the two chapters' numbers."""
    ours = fidelity[fidelity["code"] == "ours"]
    both = results.merge(ours, on="run_id", suffixes=("_results", "_fidelity"))
    rows = []
    for model, group in both.groupby("model", sort=False):
        rows.append(
            {
                "model": model,
                "runs": len(group),
                "results commit": ", ".join(sorted(set(group["git_commit_results"].astype(str)))),
                "results (% test)": round(float(group["test_acc_results"].mean()), 2),
                "fidelity commit": ", ".join(sorted(set(group["git_commit_fidelity"].astype(str)))),
                "fidelity ours (% test)": round(float(group["test_acc_fidelity"].mean()), 2),
            }
        )
    columns = ["model", "runs", "results commit", "results (% test)", "fidelity commit", "fidelity ours (% test)"]
    return pd.DataFrame(rows, columns=columns)
