"""Per-configuration summaries of a results CSV and the learning curves of a history CSV.

Numeric summaries keep one column per statistic (``test_acc_mean``, ``test_acc_std`` …, from
:func:`gsepconv.experiments.results.summarise`); display tables hold ``"mean ± std"`` strings (from
:func:`~gsepconv.experiments.results.format_summary`) and a ``model`` label per row, in the order
the book uses (the Z2 CNN control first).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from gsepconv.experiments.results import METRIC_COLUMNS, format_summary, summarise
from gsepconv.report.labels import add_model_labels, model_order, n_total

__all__ = [
    "in_model_order",
    "is_budget",
    "epochs_as_result",
    "experiment_summary",
    "experiment_table",
    "history_curves",
    "accuracy_within",
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


def epochs_as_result(frame: pd.DataFrame) -> pd.DataFrame:
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
    summary = summarise(epochs_as_result(frame) if is_budget(frame) else frame)
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
            results = epochs_as_result(results)
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
