"""Where the numbers come from: per input CSV the commits, devices, versions and dates its rows
carry, and the runs that two tables share but that different commits trained."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

__all__ = ["provenance_table", "same_runs_two_commits"]


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
