"""Tidy results: one CSV per experiment (``results/<profile>/<experiment>.csv``), a row per run.

Units: ``val_acc``, ``test_acc``, ``test_err`` in percent; ``val_acc`` is the best validation
accuracy (the selected epoch); ``test_acc`` is measured once, on the selected weights.
``train_time_s`` is the wall time of all epochs (training + validation, test excluded);
``time_per_epoch_s`` the mean wall time of one epoch's training pass; ``peak_mem_mb`` see
:mod:`gsepconv.experiments.training`. Summaries are computed from the rows, never typed in.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from gsepconv.experiments.io import atomic_write_text, results_root

__all__ = [
    "COLUMNS",
    "METRIC_COLUMNS",
    "results_path",
    "history_path",
    "HISTORY_COLUMNS",
    "rows_to_frame",
    "history_frame",
    "write_results",
    "read_results",
    "summarise",
    "format_summary",
]

#: Columns of the results CSV, in order.
COLUMNS: tuple[str, ...] = (
    "experiment", "dataset", "stand_in_for", "arch", "group", "implementation", "num_elements",
    "sampling", "kernel_size", "widths", "params", "epochs", "time_budget_s", "batch_size", "lr", "seed",
    "val_acc", "test_acc", "test_err", "best_epoch", "train_time_s", "time_per_epoch_s",
    "peak_mem_mb", "device", "torch_version", "gsepconv_version", "git_commit", "timestamp",
    "profile", "run_id",
)
#: Per-run measurements, averaged by :func:`summarise`.
METRIC_COLUMNS: tuple[str, ...] = (
    "val_acc", "test_acc", "test_err", "train_time_s", "time_per_epoch_s", "peak_mem_mb",
)
# Provenance and per-run details: neither grouped on nor averaged.
_PER_RUN = ("seed", "best_epoch", "device", "torch_version", "gsepconv_version", "git_commit",
            "timestamp", "run_id")


def results_path(experiment: str, profile: str, root: str | Path | None = None) -> Path:
    """``<root>/<profile>/<experiment>.csv`` (root: argument, ``GSEPCONV_RESULTS``, ``./results``)."""
    return results_root(root) / profile / f"{experiment}.csv"


#: Columns of the per-epoch history CSV (``results/<profile>/<experiment>_history.csv``): the run's
#: identity, then one row per epoch. ``wall_time_s`` is the cumulative wall time (training +
#: validation) at the end of the epoch, so validation accuracy can be plotted against it.
HISTORY_COLUMNS: tuple[str, ...] = (
    "run_id", "experiment", "profile", "group", "implementation", "num_elements", "seed",
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "time_s", "eval_time_s", "wall_time_s",
)


def history_path(experiment: str, profile: str, root: str | Path | None = None) -> Path:
    """``<root>/<profile>/<experiment>_history.csv``."""
    return results_root(root) / profile / f"{experiment}_history.csv"


def history_frame(metrics: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (run, epoch) from the runs' metrics (their ``history`` lists)."""
    rows = []
    for m in metrics:
        wall = 0.0
        for h in m.get("history") or []:
            wall += float(h.get("time_s", 0.0)) + float(h.get("eval_time_s", 0.0))
            row = {c: m.get(c, "") for c in HISTORY_COLUMNS[:7]}
            row.update({c: h.get(c, "") for c in HISTORY_COLUMNS[7:14]})  # epochs count from 1
            row["wall_time_s"] = wall
            rows.append(row)
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))


def rows_to_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A frame with exactly :data:`COLUMNS` (missing values empty, extra keys dropped)."""
    return pd.DataFrame([{c: row.get(c, "") for c in COLUMNS} for row in rows], columns=list(COLUMNS))


def write_results(rows: Iterable[Mapping[str, Any]] | pd.DataFrame, path: str | Path) -> Path:
    """Write the CSV atomically: the previous file stays intact if anything fails midway."""
    frame = rows if isinstance(rows, pd.DataFrame) else rows_to_frame(rows)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return atomic_write_text(path, buffer.getvalue())


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a results CSV (``FileNotFoundError`` saying how to produce it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; produce it with `gsepconv run {path.stem} --profile {path.parent.name}`")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of :data:`METRIC_COLUMNS`, grouped by every other setting.

    Columns: the grouping columns, ``n_seeds``, then ``<metric>_mean`` and ``<metric>_std``
    (sample std; NaN for a single seed).
    """
    if frame.empty:
        return pd.DataFrame()
    keys = [c for c in frame.columns if c not in METRIC_COLUMNS and c not in _PER_RUN]
    grouped = frame.groupby(keys, dropna=False, sort=False)
    out = grouped.size().rename("n_seeds").to_frame()
    for metric in METRIC_COLUMNS:
        values = pd.to_numeric(frame[metric], errors="coerce").groupby(
            [frame[k] for k in keys], dropna=False, sort=False)
        out[f"{metric}_mean"] = values.mean()
        out[f"{metric}_std"] = values.std(ddof=1)
    return out.reset_index()


def format_summary(summary: pd.DataFrame, metrics: tuple[str, ...] = (
        "test_err", "test_acc", "val_acc", "time_per_epoch_s", "peak_mem_mb")) -> tuple[str, pd.DataFrame]:
    """A readable view of :func:`summarise`: ``(header, table)``.

    Grouping columns that are the same in every row move to the header line; each metric
    becomes one ``"mean ± std"`` column (just the mean for a single seed).
    """
    if summary.empty:
        return "", summary
    metric_cols = {f"{m}_{s}" for m in METRIC_COLUMNS for s in ("mean", "std")}
    keys = [c for c in summary.columns if c not in metric_cols and c != "n_seeds"]
    constant = [c for c in keys if summary[c].nunique(dropna=False) == 1]
    header = ", ".join(f"{c}={summary[c].iloc[0]}" for c in constant
                       if not (isinstance(summary[c].iloc[0], float) and pd.isna(summary[c].iloc[0])))
    table = summary[[c for c in keys if c not in constant] + ["n_seeds"]].copy()
    for m in metrics:
        mean, std = summary[f"{m}_mean"], summary[f"{m}_std"]
        digits = 2 if m.endswith(("acc", "err", "_s")) else 0
        table[m] = [f"{a:.{digits}f}" if pd.isna(b) else f"{a:.{digits}f} ± {b:.{digits}f}"
                    for a, b in zip(mean, std)]
    return header, table
