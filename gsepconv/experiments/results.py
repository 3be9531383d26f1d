"""Tidy results: one CSV per experiment (``results/<profile>/<experiment>.csv``), a row per run.

Units: ``val_acc``, ``test_acc``, ``test_err`` in percent; ``val_acc`` is the best validation
accuracy (the selected epoch); ``test_acc`` is measured once, on the selected weights.
``train_time_s`` is the wall time of all epochs (training + validation, test excluded);
``time_per_epoch_s`` the mean wall time of one epoch's training pass; ``peak_mem_mb`` see
:mod:`gsepconv.experiments.training`. Summaries are computed from the rows, never typed in.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gsepconv.errors import GsepconvError
from gsepconv.experiments.io import check_name, results_root, write_table

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
    "check_results",
    "ResultsError",
    "summarise",
    "format_summary",
]

#: Columns of the results CSV, in order.
COLUMNS: tuple[str, ...] = (
    "experiment",
    "dataset",
    "stand_in_for",
    "arch",
    "group",
    "implementation",
    "num_elements",
    "sampling",
    "kernel_size",
    "widths",
    "params",
    "epochs",
    "time_budget_s",
    "batch_size",
    "lr",
    "seed",
    "val_acc",
    "test_acc",
    "test_err",
    "best_epoch",
    "train_time_s",
    "time_per_epoch_s",
    "peak_mem_mb",
    "device",
    "torch_version",
    "gsepconv_version",
    "git_commit",
    "timestamp",
    "profile",
    "run_id",
)
#: Per-run measurements, averaged by :func:`summarise`.
METRIC_COLUMNS: tuple[str, ...] = (
    "val_acc",
    "test_acc",
    "test_err",
    "train_time_s",
    "time_per_epoch_s",
    "peak_mem_mb",
)
# Provenance and per-run details: neither grouped on nor averaged.
_PER_RUN = ("seed", "best_epoch", "device", "torch_version", "gsepconv_version", "git_commit", "timestamp", "run_id")


def results_path(experiment: str, profile: str, root: str | Path | None = None) -> Path:
    """``<root>/<profile>/<experiment>.csv`` (root: argument, ``GSEPCONV_RESULTS``, ``./results``);
    both names are checked (``gsepconv.experiments.io.check_name``), so the table stays under root."""
    return results_root(root) / check_name(profile, "profile") / f"{check_name(experiment, 'experiment')}.csv"


#: Columns of the per-epoch history CSV (``results/<profile>/<experiment>_history.csv``): the run's
#: identity, then one row per epoch. ``wall_time_s`` is the cumulative wall time (training +
#: validation) at the end of the epoch, so validation accuracy can be plotted against it.
HISTORY_COLUMNS: tuple[str, ...] = (
    "run_id",
    "experiment",
    "profile",
    "group",
    "implementation",
    "num_elements",
    "seed",
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "time_s",
    "eval_time_s",
    "wall_time_s",
)


def history_path(experiment: str, profile: str, root: str | Path | None = None) -> Path:
    """``<root>/<profile>/<experiment>_history.csv`` (names checked as in :func:`results_path`)."""
    return results_root(root) / check_name(profile, "profile") / f"{check_name(experiment, 'experiment')}_history.csv"


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
    """Write the CSV atomically: the previous file stays intact if anything fails midway, and the
    new table is then kept in the temporary folder, named in the ``OSError``
    (``gsepconv.experiments.io.write_table``); a read-only or symlinked file is not replaced."""
    frame = rows if isinstance(rows, pd.DataFrame) else rows_to_frame(rows)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return write_table(path, buffer.getvalue(), "the results table")


class ResultsError(GsepconvError, ValueError):
    """A results table is malformed (columns, types, ranges, duplicate runs); the message names the
    file and the line."""


#: Checks of :func:`check_results`: numeric columns with their allowed range (``None``: unbounded)
#: and whether an empty cell is allowed.
_NUMERIC: dict[str, tuple[float | None, float | None, bool]] = {
    "kernel_size": (1, None, False),
    "params": (0, None, False),
    "epochs": (0, None, False),
    "time_budget_s": (0, None, True),
    "batch_size": (1, None, False),
    "lr": (0, None, False),
    "seed": (None, None, False),
    "val_acc": (0, 100, False),
    "test_acc": (0, 100, False),
    "test_err": (0, 100, False),
    "best_epoch": (0, None, False),
    "train_time_s": (0, None, False),
    "time_per_epoch_s": (0, None, False),
    "peak_mem_mb": (0, None, False),
}


def check_results(frame: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Validate a results table read from ``path``: every column of :data:`COLUMNS`, numbers where
    numbers belong (finite, in range: accuracies in percent), a unique non-empty ``run_id`` per
    row and ``test_acc + test_err = 100``. A violation is a :class:`ResultsError` naming the file,
    the line and the fix; returns ``frame``."""
    path = Path(path)
    fix = f"fix or delete that row, or rewrite the table with `gsepconv run {path.stem} --profile {path.parent.name}`"
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ResultsError(f"{path} lacks the column(s) {', '.join(missing)} of a gsepconv results table; {fix}")
    for i, row in enumerate(frame.to_dict("records")):
        line = f"{path} line {i + 2}"
        for column, (low, high, optional) in _NUMERIC.items():
            value = row[column]
            if isinstance(value, float) and math.isnan(value):
                if optional:
                    continue
                raise ResultsError(f"{line}: {column} is empty (a short row?); {fix}")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ResultsError(f"{line}: {column}={value!r} is not a number; {fix}") from None
            if not math.isfinite(number) or (low is not None and number < low) or (high is not None and number > high):
                bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
                raise ResultsError(f"{line}: {column}={value!r} is outside {bounds}; {fix}")
        if abs(float(row["test_acc"]) + float(row["test_err"]) - 100.0) > 1e-6:
            raise ResultsError(
                f"{line}: test_acc + test_err = {float(row['test_acc']) + float(row['test_err']):g}, not 100; {fix}"
            )
        if not isinstance(row["run_id"], str) or not row["run_id"].strip():
            raise ResultsError(f"{line}: run_id is empty; {fix}")
    duplicated = frame["run_id"].duplicated(keep="first")
    if duplicated.any():
        i = int(duplicated.to_numpy().nonzero()[0][0])
        first = int((frame["run_id"] == frame["run_id"].iloc[i]).to_numpy().nonzero()[0][0])
        raise ResultsError(
            f"{path} line {i + 2}: run_id {frame['run_id'].iloc[i]!r} repeats line {first + 2} (one row per run); {fix}"
        )
    return frame


def read_results(path: str | Path) -> pd.DataFrame:
    """Read and validate (:func:`check_results`) a results CSV; ``FileNotFoundError`` saying how
    to produce a missing one, :class:`ResultsError` naming the file and line of a malformed one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; produce it with `gsepconv run {path.stem} --profile {path.parent.name}`"
        )
    return check_results(read_table(path), path)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV as gsepconv writes them (empty fields are missing values, ``"none"`` stays text); an
    empty or ragged file is a :class:`ResultsError` naming it."""
    path = Path(path)
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise ResultsError(
            f"{path} is empty; delete it and produce it again (its command is in the chapter or `gsepconv --help`)"
        ) from None
    except pd.errors.ParserError as err:
        raise ResultsError(
            f"{path} is malformed: {' '.join(str(err).split())} (a row with more fields than "
            f"the header); fix that row, or delete the file and produce it again"
        ) from None


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
            [frame[k] for k in keys], dropna=False, sort=False
        )
        out[f"{metric}_mean"] = values.mean()
        out[f"{metric}_std"] = values.std(ddof=1)
    return out.reset_index()


def format_summary(
    summary: pd.DataFrame,
    metrics: tuple[str, ...] = ("test_err", "test_acc", "val_acc", "time_per_epoch_s", "peak_mem_mb"),
) -> tuple[str, pd.DataFrame]:
    """A readable view of :func:`summarise`: ``(header, table)``.

    Grouping columns that are the same in every row move to the header line; each metric
    becomes one ``"mean ± std"`` column (just the mean for a single seed).
    """
    if summary.empty:
        return "", summary
    metric_cols = {f"{m}_{s}" for m in METRIC_COLUMNS for s in ("mean", "std")}
    keys = [c for c in summary.columns if c not in metric_cols and c != "n_seeds"]
    constant = [c for c in keys if summary[c].nunique(dropna=False) == 1]
    header = ", ".join(
        f"{c}={summary[c].iloc[0]}"
        for c in constant
        if not (isinstance(summary[c].iloc[0], float) and pd.isna(summary[c].iloc[0]))
    )
    table = summary[[c for c in keys if c not in constant] + ["n_seeds"]].copy()
    for m in metrics:
        mean, std = summary[f"{m}_mean"], summary[f"{m}_std"]
        digits = 2 if m.endswith(("acc", "err", "_s")) else 0
        table[m] = [f"{a:.{digits}f}" if pd.isna(b) else f"{a:.{digits}f} ± {b:.{digits}f}" for a, b in zip(mean, std)]
    return header, table
