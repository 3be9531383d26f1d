"""Efficiency sweep (``gsepconv bench --sweep``): every case at every image size, with provenance;
MAC counts (exact, unlike timings) grow as the cost formulas say. Timing ratios are printed, never
asserted."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from gsepconv.cli import main
from gsepconv.experiments.bench import (
    BENCH_PROFILES,
    SWEEP_PROFILES,
    bench_is_current,
    run_sweep,
    sweep_is_current,
)
from gsepconv.groups import num_elements_text


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory) -> tuple[pd.DataFrame, str]:
    out = tmp_path_factory.mktemp("sweep") / "efficiency_sweep.csv"
    import io
    from contextlib import redirect_stdout

    printed = io.StringIO()
    with redirect_stdout(printed):
        assert main(["bench", "--sweep", "--profile", "smoke", "--threads", "1", "--out", str(out)]) == 0
    return pd.read_csv(out, keep_default_na=False, na_values=[""]), printed.getvalue()


def test_sweep_covers_every_case_at_every_size(smoke_sweep) -> None:
    frame, printed = smoke_sweep
    prof = SWEEP_PROFILES["smoke"]
    assert len(frame) == len(prof.cases) * len(prof.image_sizes)
    assert set(frame["image_size"]) == set(prof.image_sizes)
    for column in ("train_ms", "peak_mem_mb", "macs", "params", "device", "torch_version", "git_commit", "timestamp"):
        assert frame[column].notna().all(), column
    assert (frame["train_ms"] > 0).all() and (frame["macs"] > 0).all() and (frame["peak_mem_mb"] > 0).all()
    assert sweep_is_current(frame, "smoke") and not sweep_is_current(frame, "quick")
    assert not sweep_is_current(frame[frame["image_size"] != prof.image_sizes[-1]], "smoke")
    assert re.search(r"(faster than|slower than|as fast as) nonseparable", printed) and "written to" in printed


def test_sweep_macs_follow_the_cost_formulas(smoke_sweep) -> None:
    frame, _ = smoke_sweep
    se2 = frame[frame["group"] == "SE2"]
    for size, rows in se2.groupby("image_size"):
        macs = rows.pivot_table(index="n_total", columns="implementation", values="macs")
        ratio = macs["nonseparable"] / macs["separable"]
        assert ratio.is_monotonic_increasing and (ratio > 1).all(), (size, ratio)
    # the same model on a larger image: more MACs, the same parameters
    for _, rows in frame.groupby(["group", "implementation", "num_elements"], dropna=False):
        rows = rows.sort_values("image_size")
        assert rows["macs"].is_monotonic_increasing and rows["params"].nunique() == 1


def test_sweep_and_bench_reject_unknown_profiles() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        run_sweep("huge")


def test_bench_is_current_checks_cases_and_sizes() -> None:
    prof = BENCH_PROFILES["smoke"]
    rows = [
        {
            "group": c.group,
            "implementation": c.implementation,
            "num_elements": num_elements_text(c.num_elements),
            "batch_size": prof.batch_size,
            "image_size": prof.image_size,
            "widths": ",".join(map(str, prof.widths)),
            "kernel_size": prof.kernel_size,
        }
        for c in prof.cases
    ]
    frame = pd.DataFrame(rows)
    assert bench_is_current(frame, "smoke")
    assert not bench_is_current(frame.iloc[1:], "smoke")
    assert not bench_is_current(frame.assign(batch_size=prof.batch_size + 1), "smoke")


def test_against_is_current_asks_for_the_verdicts_and_enough_rounds() -> None:
    """A table measured before the per-round verdicts still passes :func:`bench_is_current` (it
    reads, nothing is re-measured behind the reader's back) but not ``against_is_current``, which
    asks for ``gsepconv bench --against`` again; so does a table with too few rounds."""
    from gsepconv.experiments.bench import against_is_current

    quick = BENCH_PROFILES["quick"]
    rounds = max(quick.repeats, quick.against_repeats)
    nan = float("nan")
    now = pd.DataFrame(
        {
            "group": ["Z2", "SE2"],
            "original_train_ms": [nan, 400.0],
            "repeats": [quick.repeats, rounds],
            "speedup_vs_original_q25": [nan, 2.2],
            "speedup_vs_original_q75": [nan, 2.4],
            "verdict_vs_original": [None, "faster"],
            "limit_layout": ["channels_last", "nchw"],
        }
    )
    assert against_is_current(now, "quick")
    assert not against_is_current(now.drop(columns=["verdict_vs_original", "limit_layout"]), "quick")  # older
    assert not against_is_current(now.assign(repeats=3), "quick")  # three rounds: no quartiles to speak of
    assert not against_is_current(now.assign(verdict_vs_original=[None, None]), "quick")
    without = pd.DataFrame({"group": ["SE2"], "original_train_ms": [nan]})  # a bench without --against
    assert against_is_current(without, "quick") and against_is_current(
        without.drop(columns="original_train_ms"), "quick"
    )


def test_the_committed_quick_benchmark_still_reads() -> None:
    """results/quick/efficiency.csv as committed: current for the chapter, and its comparison with
    the original reads with this code's columns (empty verdicts when it predates them)."""
    from pathlib import Path

    from gsepconv.experiments.bench import against_is_current
    from gsepconv.experiments.results import read_table
    from gsepconv.report.efficiency import ORIGINAL_COMPARISON_COLUMNS, original_comparison

    table = read_table(Path(__file__).resolve().parents[2] / "results" / "quick" / "efficiency.csv")
    assert bench_is_current(table, "quick")
    comparison = original_comparison(table)
    assert tuple(comparison.columns[: len(ORIGINAL_COMPARISON_COLUMNS)]) == ORIGINAL_COMPARISON_COLUMNS
    assert len(comparison) > 0 and comparison["speedup_vs_original"].gt(0).all()
    verdicts = comparison["verdict_vs_original"]
    assert (
        verdicts.isin(["faster", "slower", "tie"]).all()
        if against_is_current(table, "quick")
        else verdicts.isna().all()
    )
