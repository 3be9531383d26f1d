"""gsepconv.report: summary tables, comparisons, claims and make_all on small synthetic CSVs whose
means, stds and ratios are known in closed form."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gsepconv.experiments.results import COLUMNS, HISTORY_COLUMNS
from gsepconv.report import (
    INPUTS,
    LEADERBOARD_SIM2_MNIST_ROT_ERROR,
    PRODUCTS,
    MissingInputs,
    accuracy_within,
    claims_table,
    compare_models,
    describe_speedups,
    element_label,
    experiment_summary,
    experiment_table,
    history_curves,
    make_all,
    model_label,
    n_total,
    redundancy_summary,
    speedups,
)
from gsepconv.report.claims import check_redundancy, check_separable_accuracy_time
from gsepconv.report.verdicts import VERDICTS, combine, comparison_support

PROFILE = "smoke"
# (group, implementation, num_elements, params, test accuracies per seed, time per epoch per seed)
MNIST = [
    ("Z2", "none", "1", 1000, (90.0, 91.0, 92.0), (1.0, 1.0, 1.0)),
    ("SE2", "nonseparable", "8", 5000, (95.0, 96.0, 97.0), (40.0, 40.0, 40.0)),
    ("SE2", "separable", "8", 6000, (95.5, 96.0, 96.5), (10.0, 10.0, 10.0)),
    ("Sim2", "separable2d", "4x3", 7000, (97.0, 97.5, 98.0), (20.0, 20.0, 20.0)),
]


def _runs(experiment: str, spec, dataset: str = "mnist_rot_seeded", arch: str = "resnet") -> pd.DataFrame:
    rows = []
    for group, impl, n, params, accs, times in spec:
        for seed, (acc, t) in enumerate(zip(accs, times)):
            rows.append(
                {
                    "experiment": experiment,
                    "dataset": dataset,
                    "stand_in_for": "",
                    "arch": arch,
                    "group": group,
                    "implementation": impl,
                    "num_elements": n,
                    "sampling": "none" if group == "Z2" else "discretise",
                    "kernel_size": 5,
                    "widths": "8,8,16",
                    "params": params,
                    "epochs": 3,
                    "batch_size": 64,
                    "lr": 0.003,
                    "seed": seed,
                    "val_acc": acc + 0.1,
                    "test_acc": acc,
                    "test_err": 100 - acc,
                    "best_epoch": 3,
                    "train_time_s": 3 * t,
                    "time_per_epoch_s": t,
                    "peak_mem_mb": 100.0,
                    "device": "cpu",
                    "torch_version": "2.14.1",
                    "gsepconv_version": "0.1.0",
                    "git_commit": "abc123def456",
                    "timestamp": f"2026-11-2{seed}T10:00:00+00:00",
                    "profile": PROFILE,
                    "run_id": f"{arch}-{group}-{impl}-n{n}-s{seed}",
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _budget_runs() -> pd.DataFrame:
    """Equal wall-clock runs: 60 s each; seeds of one model finish different numbers of epochs."""
    frame = _runs("mnist_rot_budget", MNIST)
    frame["time_budget_s"] = 60.0
    epochs = {
        "Z2": (50, 50, 50),
        "SE2-nonseparable": (1, 2, 2),
        "SE2-separable": (6, 6, 6),
        "Sim2-separable2d": (3, 3, 3),
    }
    for key, per_seed in epochs.items():
        group, _, impl = key.partition("-")
        mask = (frame["group"] == group) & ((frame["implementation"] == impl) if impl else True)
        frame.loc[mask, "epochs"] = list(per_seed)
    return frame


def _history(results: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in results.itertuples():
        for epoch in (1, 2, 3):
            rows.append(
                {
                    "run_id": r.run_id,
                    "experiment": r.experiment,
                    "profile": r.profile,
                    "group": r.group,
                    "implementation": r.implementation,
                    "num_elements": r.num_elements,
                    "seed": r.seed,
                    "epoch": epoch,
                    "train_loss": 1.0 / epoch,
                    "train_acc": r.test_acc - 3 + epoch,
                    "val_loss": 1.0 / epoch,
                    "val_acc": r.test_acc - 3 + epoch,
                    "time_s": r.time_per_epoch_s,
                    "eval_time_s": 0.5,
                    "wall_time_s": epoch * (r.time_per_epoch_s + 0.5),
                }
            )
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))


def _bench_rows(sizes=(28,), sweep: bool = False) -> pd.DataFrame:
    rows = []
    for size in sizes:
        scale = (size / 28) ** 2
        for group, impl, n, nt, ms, macs, mem in [
            ("Z2", "none", "", 1, 5.0, 1e8, 10.0),
            ("SE2", "nonseparable", "4", 4, 100.0, 4e10, 50.0),
            ("SE2", "separable", "4", 4, 25.0, 2e9, 40.0),
            ("SE2", "nonseparable", "8", 8, 400.0, 1.6e11, 100.0),
            ("SE2", "separable", "8", 8, 50.0, 4e9, 80.0),
            ("Sim2", "nonseparable", "(4,3)", 12, 900.0, 3.6e11, 150.0),
            ("Sim2", "separable2d", "(4,3)", 12, 90.0, 1.2e10, 120.0),
        ]:
            row = {
                "profile": PROFILE,
                "group": group,
                "implementation": impl,
                "num_elements": n,
                "n_total": nt,
                "batch_size": 8,
                "image_size": size,
                "widths": "8,8,16",
                "kernel_size": 5,
                "params": 1000 * nt,
                "macs": macs * scale,
                "train_ms": ms * scale,
                "images_per_s": 8 / (ms * scale / 1000),
                "peak_mem_mb": mem * scale,
                "mem_kind": "saved_activations",
                "device": "cpu (x86_64)",
                "threads": 2,
                "torch_version": "2.14.1",
                "gsepconv_version": "0.1.0",
                "git_commit": "abc123def456",
                "timestamp": "2026-11-28T10:00:00+00:00",
            }
            if not sweep:
                row.update({"infer_ms": ms * scale / 3, "infer_overhead": 1.1, "conv_only_ms": ms * scale / 3.3})
            rows.append(row)
    return pd.DataFrame(rows)


def _equivariance() -> pd.DataFrame:
    rows = []
    for group, impl, n, rot90, rot45, scale in [
        ("SE2", "nonseparable", "8", 1e-15, 0.1, math.nan),
        ("SE2", "separable", "8", 2e-15, 0.12, math.nan),
        ("R2xRplus", "separable", "3", 1.2, 0.9, 0.5),
        ("Sim2", "separable2d", "(8,3)", 3e-15, 0.2, 0.3),
    ]:
        rows.append(
            {
                "group": group,
                "implementation": impl,
                "num_elements": n,
                "rot90_error": rot90,
                "rot45_error": rot45,
                "scale_error": scale,
                "profile": PROFILE,
                "git_commit": "abc123def456",
                "torch_version": "2.14.1",
                "timestamp": "2026-11-28T10:00:00+00:00",
            }
        )
    return pd.DataFrame(rows)


def _redundancy(trained: float = 0.8, init: float = 0.5, gaussian: float = 0.45, seeds: int = 1) -> pd.DataFrame:
    """A redundancy table of ``seeds`` trained runs; run ``s``'s trained share is ``trained + 0.01 (s - 1)``
    (so the paired differences trained − init are ``trained - init - 0.01, …``: sd 0.01 over three runs)."""
    rows = []
    for seed in range(seeds):
        for state, share in (
            ("trained", trained + 0.01 * (seed - 1) * (seeds > 1)),
            ("init", init),
            ("gaussian", gaussian),
            ("separable", 1.0),
        ):
            for layer_index, layer in enumerate(("features.2.body.0", "features.8")):
                for component in (1, 2):
                    value = share if component == 1 else 1 - share
                    rows.append(
                        {
                            "state": state,
                            "layer_index": layer_index,
                            "layer": layer,
                            "kernel_shape": "4x8x4x8x5x5",
                            "rank_max": 8,
                            "component": component,
                            "energy_fraction_mean": value,
                            "energy_fraction_std": 0.01,
                            "matrices": 16,
                            "energy_fraction_q10": value - 0.05,
                            "energy_fraction_q50": value,
                            "energy_fraction_q90": value + 0.05,
                            "cumulative_energy_mean": value,
                            "uniform_share": 1 / 8,
                            "experiment": "mnist_rot",
                            "run_id": f"resnet-SE2-x-s{seed}",
                            "test_acc": 95.0,
                            "profile": PROFILE,
                            "seed": seed,
                            "git_commit": "abc123def456",
                            "timestamp": "2026-11-28T10:00:00+00:00",
                        }
                    )
    return pd.DataFrame(rows)


def _write_all(root: Path, skip: tuple[str, ...] = ()) -> Path:
    folder = root / PROFILE
    folder.mkdir(parents=True, exist_ok=True)
    mnist = _runs("mnist_rot", MNIST)
    rotations = _runs(
        "rotations",
        [("SE2", "nonseparable", str(n), 5000, (90.0 + n / 4, 91.0 + n / 4), (n * 1.0, n * 1.0)) for n in (4, 8)]
        + [("SE2", "separable", str(n), 6000, (90.0 + n / 4, 91.0 + n / 4), (n / 4, n / 4)) for n in (4, 8)],
    )
    cifar = _runs("cifar10", [s for s in MNIST if s[0] != "Sim2"], dataset="cifar10_subset", arch="allcnnc")
    budget = _budget_runs()
    tables = {
        "mnist_rot.csv": mnist,
        "mnist_rot_history.csv": _history(mnist),
        "rotations.csv": rotations,
        "mnist_rot_budget.csv": budget,
        "mnist_rot_budget_history.csv": _history(budget),
        "cifar10.csv": cifar,
        "efficiency.csv": _bench_rows(),
        "efficiency_sweep.csv": _bench_rows((28, 56), sweep=True),
        "equivariance.csv": _equivariance(),
        "redundancy.csv": _redundancy(),
    }
    for name, frame in tables.items():
        if name not in skip:
            frame.to_csv(folder / name, index=False)
    return folder


# ---------------------------------------------------------------------------------------- labels
def test_element_labels_and_totals() -> None:
    assert [element_label(v) for v in (8, "8", "4x3", "(4,3)", (4, 3), "", None, float("nan"))] == [
        "8",
        "8",
        "4×3",
        "4×3",
        "4×3",
        "",
        "",
        "",
    ]
    assert [n_total(v) for v in ("(8,3)", "16", "")] == [24, 16, 1]
    assert model_label("Z2", "none", 1) == "Z2 CNN"
    assert model_label("Sim2", "separable2d", "(4,3)") == "Sim(2) separable2d, N=4×3"


# ---------------------------------------------------------------------------------------- tables
def test_experiment_table_mean_and_std_over_seeds() -> None:
    settings, table = experiment_table(_runs("mnist_rot", MNIST))
    assert "experiment=mnist_rot" in settings and "widths=8,8,16" in settings
    assert list(table["model"]) == [
        "Z2 CNN",
        "SE(2) nonseparable, N=8",
        "SE(2) separable, N=8",
        "Sim(2) separable2d, N=4×3",
    ]  # control first
    row = table.set_index("model")
    assert row.loc["Z2 CNN", "test_acc"] == "91.00 ± 1.00"  # mean of 90, 91, 92; sample std 1
    assert row.loc["SE(2) separable, N=8", "test_acc"] == "96.00 ± 0.50"
    assert row.loc["SE(2) nonseparable, N=8", "time_per_epoch_s"] == "40.00 ± 0.00"
    assert (table["n_seeds"] == 3).all() and row.loc["Sim(2) separable2d, N=4×3", "params"] == 7000


def test_single_seed_shows_the_mean_alone() -> None:
    one = _runs("mnist_rot", [("SE2", "separable", "8", 6000, (95.25,), (10.0,))])
    assert experiment_table(one)[1]["test_acc"].iloc[0] == "95.25"


def test_budget_runs_keep_seeds_together_and_report_epochs_run() -> None:
    frame = _budget_runs()
    settings, table = experiment_table(frame)
    assert "time_budget_s=60.0" in settings and "epochs=" not in settings
    row = table.set_index("model")
    assert (table["n_seeds"] == 3).all()  # seeds that finished 1 or 2 epochs are one model
    assert row.loc["SE(2) nonseparable, N=8", "epochs_run"] == "1–2" and row.loc["Z2 CNN", "epochs_run"] == "50"
    [c] = compare_models(
        experiment_summary(frame),
        {"group": "SE2", "implementation": "separable"},
        {"group": "SE2", "implementation": "nonseparable"},
    )
    assert c.extra["budget_s"] == 60.0
    curves = history_curves(_history(frame), frame)
    assert curves["model"].nunique() == 4  # seeds with different epochs run share their model's label
    assert c.sentence().startswith(
        "With the same 60 s of training, SE(2) separable, N=8 finished 6 epochs against 1–2 for SE(2) nonseparable, N=8"
    )


def test_labels_tell_apart_widths_of_one_model() -> None:
    frame = _runs("mnist_rot", MNIST[1:2])
    wide = frame.assign(widths="16,16,32", run_id=frame["run_id"] + "-wide")
    table = experiment_table(pd.concat([frame, wide]))[1]
    assert sorted(table["model"]) == [
        "SE(2) nonseparable, N=8 [widths=16,16,32]",
        "SE(2) nonseparable, N=8 [widths=8,8,16]",
    ]


T95_DF2 = 4.302652730  # two-sided 95 % Student-t critical value, 2 degrees of freedom (any table)
SEP, NONSEP = {"group": "SE2", "implementation": "separable"}, {"group": "SE2", "implementation": "nonseparable"}


def test_compare_models_ratios_and_paired_interval() -> None:
    runs = _runs("mnist_rot", MNIST)
    summary = experiment_summary(runs)
    [c] = compare_models(summary, SEP, NONSEP, runs=runs)
    assert c.speedup == pytest.approx(4.0) and c.accuracy_gap == pytest.approx(0.0)
    # per seed: 95.5 - 95, 96 - 96, 96.5 - 97 = 0.5, 0, -0.5: mean 0, sd 0.5
    assert c.paired and c.difference.n == 3 and c.difference.sd == pytest.approx(0.5)
    assert (
        c.difference.high == pytest.approx(T95_DF2 * 0.5 / math.sqrt(3)) and c.accuracy_verdict == "indistinguishable"
    )
    sentence = c.sentence()
    assert "4.0× faster" in sentence and "96.00 ± 0.50 vs 96.00 ± 1.00" in sentence
    assert "difference +0.0 [-1.2, +1.2] points, 95% t-interval over 3 paired seeds: indistinguishable" in sentence
    [z] = compare_models(summary, {"group": "Sim2"}, {"group": "Z2"}, runs=runs)
    assert z.accuracy_gap == pytest.approx(6.5) and z.accuracy_verdict == "higher"  # 7, 6.5, 6 per seed
    assert compare_models(summary, {"group": "R2xRplus"}, {"group": "Z2"}, runs=runs) == []


def test_pairing_by_seed_can_overturn_the_two_standard_error_rule() -> None:
    """The old rule called a gap real when it exceeded twice the unpaired standard error. Paired by
    seed, the same numbers can read the other way, both ways round."""

    def verdicts(sep_accs, nonsep_accs):
        runs = _runs(
            "mnist_rot",
            [
                ("SE2", "nonseparable", "8", 5000, nonsep_accs, (40.0,) * 3),
                ("SE2", "separable", "8", 6000, sep_accs, (10.0,) * 3),
            ],
        )
        [c] = compare_models(experiment_summary(runs), SEP, NONSEP, runs=runs)
        se = math.sqrt(pd.Series(sep_accs).var() / 3 + pd.Series(nonsep_accs).var() / 3)
        two_se = "indistinguishable" if abs(c.accuracy_gap) <= 2 * se else "higher"
        return two_se, c

    # seeds that are hard for both models: a large spread shared by the seeds, a steady +1 gain
    two_se, c = verdicts((81.0, 91.0, 96.0), (80.0, 90.0, 95.0))
    assert two_se == "indistinguishable" and c.accuracy_verdict == "higher"
    assert (c.difference.low, c.difference.high) == (pytest.approx(1.0), pytest.approx(1.0))  # the same +1 per seed
    assert comparison_support(c) == "supports"
    # a gain of 4 that is twice the standard error but varies 2..6 between seeds: t(2 df) = 4.30, not 2
    two_se, c = verdicts((90.0, 92.0, 94.0), (88.0, 88.0, 88.0))
    assert two_se == "higher" and c.accuracy_verdict == "indistinguishable"
    assert c.difference.low == pytest.approx(4 - T95_DF2 * 2 / math.sqrt(3)) and c.difference.low < 0
    assert comparison_support(c) == "ties"


def test_seeds_that_cannot_be_paired() -> None:
    # one seed in common: no interval, whatever the gap
    one = _runs(
        "mnist_rot",
        [
            ("SE2", "nonseparable", "8", 5000, (80.0,), (40.0,)),
            ("SE2", "separable", "8", 6000, (95.0, 96.0, 97.0), (10.0,) * 3),
        ],
    )
    [c] = compare_models(experiment_summary(one), SEP, NONSEP, runs=one)
    assert c.accuracy_verdict == "one seed" and comparison_support(c) == "undetermined"
    assert "difference +15.0 (1 seed, no interval): undetermined" in c.sentence()
    # disjoint seeds, three each: Welch's unpaired interval, and the sentence says why
    disjoint = _runs("mnist_rot", MNIST[1:3])
    disjoint.loc[disjoint["implementation"] == "separable", "seed"] += 10
    [w] = compare_models(experiment_summary(disjoint), SEP, NONSEP, runs=disjoint)
    assert not w.paired and w.difference.determined and w.accuracy_verdict == "indistinguishable"
    assert "Welch t-interval, unpaired because the seeds could not be paired" in w.sentence()
    # without the per-run results only the summary is known: the same fallback
    [s] = compare_models(experiment_summary(_runs("mnist_rot", MNIST)), SEP, NONSEP)
    assert not s.paired and (s.difference.low, s.difference.high) == (
        pytest.approx(w.difference.low),
        pytest.approx(w.difference.high),
    )
    with pytest.raises(ValueError, match="do not match the summary"):
        compare_models(experiment_summary(_runs("mnist_rot", MNIST)), SEP, NONSEP, runs=one)


def test_compare_models_pairs_a_sweep_per_number_of_elements() -> None:
    frame = _runs(
        "rotations",
        [
            ("SE2", impl, str(n), 5000, (90.0, 92.0), (n * f, n * f))
            for n in (4, 8, 16)
            for impl, f in (("nonseparable", 1.0), ("separable", 0.5))
        ],
    )
    found = compare_models(
        experiment_summary(frame), {"implementation": "separable"}, {"implementation": "nonseparable"}
    )
    assert [c.context["num_elements"] for c in found] == ["4", "8", "16"]
    assert all(c.speedup == pytest.approx(2.0) for c in found)


def test_history_curves_label_runs_and_keep_their_order() -> None:
    results = _runs("mnist_rot", MNIST)
    curves = history_curves(_history(results), results)
    assert len(curves) == 3 * len(results)
    assert curves["model"].iloc[0] == "Z2 CNN"
    run = curves[curves["run_id"] == results["run_id"].iloc[3]]
    assert list(run["epoch"]) == [1, 2, 3] and list(run["wall_time_s"]) == [40.5, 81.0, 121.5]
    with pytest.raises(ValueError, match="wall_time_s"):
        history_curves(_history(results).drop(columns="wall_time_s"))


def test_accuracy_within_the_fastest_gcnn_budget() -> None:
    results = _runs("mnist_rot", MNIST)
    budget, table = accuracy_within(history_curves(_history(results), results))
    assert budget == pytest.approx(31.5)  # separable: 3 epochs of 10 s + 0.5 s validation
    row = table.set_index("model")
    assert row.loc["Z2 CNN", "best_val_acc_mean"] == pytest.approx(91.0) and row.loc["Z2 CNN", "epochs_finished"] == 3
    assert math.isnan(row.loc["SE(2) nonseparable, N=8", "best_val_acc_mean"])  # first epoch ends at 40.5 s
    assert row.loc["SE(2) nonseparable, N=8", "epochs_finished"] == 0
    assert row.loc["Sim(2) separable2d, N=4×3", "best_val_acc_mean"] == pytest.approx(95.5)  # after 1 epoch
    assert row.loc["Sim(2) separable2d, N=4×3", "best_val_acc_std"] == pytest.approx(0.5)


def test_speedups_of_the_benchmark() -> None:
    ratios = speedups(_bench_rows())
    se2 = ratios[(ratios["group"] == "SE2")].set_index("num_elements")
    assert se2.loc["4", "train_speedup"] == pytest.approx(4.0) and se2.loc["8", "train_speedup"] == pytest.approx(8.0)
    assert se2.loc["8", "mac_ratio"] == pytest.approx(40.0) and se2.loc["8", "memory_ratio"] == pytest.approx(0.8)
    sim2 = ratios[ratios["group"] == "Sim2"].iloc[0]
    assert sim2["num_elements"] == "4×3" and sim2["train_speedup"] == pytest.approx(10.0)
    se2_sentence, sim2_sentence = describe_speedups(ratios)
    assert se2_sentence.startswith("SE(2) separable against non-separable: trains 4.0× (N=4) to 8.0× (N=8)")
    assert "20.0–40.0× fewer MACs" in se2_sentence and "0.80× the memory" in se2_sentence
    assert "Sim(2) separable2d" in sim2_sentence


def test_redundancy_summary_means_over_layers() -> None:
    table = redundancy_summary(_redundancy(trained=0.8, init=0.5))
    last = table.iloc[-1]
    assert last["layer"] == "mean over layers" and last["trained"] == pytest.approx(0.8) and last["init"] == 0.5
    assert list(table.columns[:5]) == ["layer", "trained", "init", "gaussian", "separable"]


def test_redundancy_bars_average_the_seeds_and_show_each_one() -> None:
    from gsepconv.report.figures import redundancy_bars

    frame = _redundancy(trained=0.8, init=0.5, seeds=3)
    fig = redundancy_bars(frame)
    ax = fig.axes[0]
    heights = sorted(round(bar.get_height(), 6) for bar in ax.patches)
    # two layers × four states; trained is the mean of 0.79, 0.80, 0.81 over the three seeds
    assert heights == sorted([0.8, 0.8, 0.5, 0.5, 0.45, 0.45, 1.0, 1.0])
    dots = [c for c in ax.collections if getattr(c, "get_offsets", None) is not None and len(c.get_offsets()) == 6]
    assert dots, "each seed's value should be drawn as a dot (3 seeds × 2 layers per state)"
    assert "3 seeds" in ax.get_title()


# ---------------------------------------------------------------------------------------- claims
def test_combine_verdicts() -> None:
    assert combine(["supports", "supports"]) == "reproduced"
    assert combine(["supports", "ties"]) == "partly"  # some support, none against
    assert combine(["supports", "against"]) == "mixed" and combine(["supports", "ties", "against"]) == "mixed"
    assert combine(["against", "against"]) == "not reproduced"
    assert combine(["ties", "ties"]) == "not reproduced" and combine(["ties", "against"]) == "not reproduced"  # no win
    assert combine(["undetermined"]) == "undetermined"
    assert combine(["supports", "undetermined"]) == "reproduced where decidable"
    assert combine(["supports", "ties", "undetermined"]) == "partly where decidable"
    assert combine(["against", "undetermined"]) == "not reproduced where decidable"
    with pytest.raises(ValueError, match="combine takes"):
        combine(["supports", "wins"])
    outcomes = ("supports", "ties", "against", "undetermined")
    assert {combine([x, y]).removesuffix(" where decidable") for x in outcomes for y in outcomes} <= set(VERDICTS)


def test_a_faster_tie_does_not_reproduce_beat() -> None:
    """Claim 4 says separable G-CNNs *beat* non-separable ones: faster at equal accuracy is a tie."""
    runs = _runs("mnist_rot", MNIST)
    summary = experiment_summary(runs)
    [tie] = compare_models(summary, SEP, NONSEP, runs=runs)
    assert tie.accuracy_verdict == "indistinguishable" and tie.speedup > 1
    assert comparison_support(tie) == "ties"
    [win] = compare_models(summary, {"group": "Sim2"}, {"group": "Z2"}, runs=runs)
    assert comparison_support(win, need_faster=False) == "supports"


def _rotation_runs(separable_accs=(90.0, 91.0)) -> pd.DataFrame:
    """The rotations sweep: non-separable at 90, 91 % for N = 4, 8; separable 4× faster, at ``separable_accs``."""
    return _runs(
        "rotations",
        [
            ("SE2", impl, str(n), p, accs, (t, t))
            for n in (4, 8)
            for impl, p, accs, t in (
                ("nonseparable", 5000, (90.0, 91.0), 4.0),
                ("separable", 6000, separable_accs, 1.0),
            )
        ],
    )


def test_claims_read_the_numbers() -> None:
    data = {
        "mnist_rot": _runs("mnist_rot", MNIST),
        "efficiency": _bench_rows(),
        "equivariance": _equivariance(),
        "redundancy": _redundancy(seeds=3),
        "rotations": _rotation_runs(),
    }
    claims = claims_table(data, "quick").set_index("claim")
    assert list(claims.columns) == ["statement", "verdict", "evidence", "confounders", "inputs"]
    assert (
        claims.loc[1, "verdict"] == "reproduced"
        and "0.800 trained (mean over 3 trained runs)" in claims.loc[1, "evidence"]
    )
    assert "trained − init +0.300 [" in claims.loc[1, "evidence"] and "3 trained runs" in claims.loc[1, "confounders"]
    assert (
        claims.loc[2, "verdict"] == "reproduced" and "N=8: 40.0× fewer MACs, 8.0× faster" in claims.loc[2, "evidence"]
    )
    assert "one benchmark machine (cpu (x86_64), 2 threads)" in claims.loc[2, "confounders"]
    assert claims.loc[3, "verdict"] == "reproduced" and "3.0e-15" in claims.loc[3, "evidence"]
    assert "freshly initialised" in claims.loc[3, "confounders"]
    # 4x faster everywhere, but accuracy ties (mnist_rot within its interval, rotations equal per seed): no "beat"
    assert claims.loc[4, "verdict"] == "not reproduced"
    four = claims.loc[4, "confounders"]
    assert "the paper trains 300 epochs" in four and "not in the 'smoke' plan" in four  # synthetic run ids
    assert "stand-in data: mnist_rot_seeded for mnist_rot" not in four  # _runs leaves stand_in_for empty
    assert "cost = time per epoch on cpu, one machine" in four
    assert claims.loc[5, "verdict"].startswith("reproduced") and "not comparable" in claims.loc[5, "verdict"]
    ours = 100 - 97.5
    assert (
        f"{ours:.2f} %" in claims.loc[5, "evidence"]
        and f"{LEADERBOARD_SIM2_MNIST_ROT_ERROR} %" in claims.loc[5, "evidence"]
    )
    five = claims.loc[5, "confounders"]
    assert (
        "Sim(2) sampled at N=4×3 (the paper profile: N=16×3)" in five and "not comparable outside the 'paper'" in five
    )
    assert "cost =" not in five  # the claim is about accuracy

    def claim4(separable_mnist, separable_rotations=(90.0, 91.0)) -> str:
        mnist = _runs("mnist_rot", [MNIST[1], ("SE2", "separable", "8", 6000, separable_mnist, (10.0,) * 3)])
        changed = dict(data, mnist_rot=mnist, rotations=_rotation_runs(separable_rotations))
        return claims_table(changed, "quick").set_index("claim").loc[4, "verdict"]

    assert claim4((96.0, 97.0, 98.0)) == "partly"  # +1 on every seed, the rotations tie
    assert claim4((96.0, 97.0, 98.0), (85.0, 85.5)) == "mixed"  # the rotations sweep goes against it
    assert claim4((90.0, 90.5, 91.0)) == "not reproduced"  # lower, and the rotations tie

    one = check_redundancy(_redundancy())
    assert one.verdict == "undetermined: rests on one trained seed" and "one trained seed" in one.confounders
    assert "0.800 trained (resnet-SE2-x-s0, test accuracy 95.00 %)" in one.evidence
    # trained 0.02 above the initialisation (a tie: below the 0.05 margin), 0.07 above Gaussian matrices
    assert check_redundancy(_redundancy(trained=0.52, init=0.5, seeds=3)).verdict == "partly"
    assert check_redundancy(_redundancy(trained=0.4, init=0.5, seeds=3)).verdict == "not reproduced"


def test_budget_confounders_name_the_epochs_finished() -> None:
    check, [c] = check_separable_accuracy_time({"mnist_rot_budget": _budget_runs()})
    assert c.extra["budget"] and check.verdict == "not reproduced"  # 96.0 vs 96.0 per seed pair: a tie
    assert (
        "mnist_rot_budget: 60 s of training per run, epochs finished 6 (SE(2) separable, N=8) vs "
        "1–2 (SE(2) nonseparable, N=8, no more than its first epoch)"
    ) in check.confounders
    assert "training length" not in check.confounders  # no fixed-epoch experiment here


# ---------------------------------------------------------------------------------------- make_all
def test_make_all_refuses_missing_inputs_and_names_the_command(tmp_path: Path) -> None:
    folder = _write_all(tmp_path, skip=("mnist_rot_history.csv", "efficiency_sweep.csv"))
    with pytest.raises(MissingInputs) as info:
        make_all(PROFILE, tmp_path)
    message = str(info.value)
    assert "mnist_rot_history.csv is missing" in message and f"gsepconv run mnist_rot --profile {PROFILE}" in message
    assert f"gsepconv bench --sweep --profile {PROFILE}" in message
    assert isinstance(info.value, FileNotFoundError)
    assert not (folder / "figures").exists() and not (folder / "tables").exists()  # nothing written


def test_make_all_writes_every_product_and_redraws_from_the_csvs(tmp_path: Path) -> None:
    folder = _write_all(tmp_path)
    out = make_all(PROFILE, tmp_path)
    figures = {p.name for p in PRODUCTS if p.kind == "figure"}
    tables = {p.name for p in PRODUCTS if p.kind == "table"} - {
        "cifar100",
        "galaxy10",
        "cifar100_summary",
        "galaxy10_summary",
        "fidelity",
    }
    assert set(out["figures"]) == figures and set(out["tables"]) == tables
    for name in figures:
        for fmt in ("png", "svg"):
            path = folder / "figures" / f"{name}.{fmt}"
            assert path.stat().st_size > 1000, path
    assert set(out["skipped"]) == {
        "table:cifar100",
        "table:galaxy10",
        "table:cifar100_summary",
        "table:galaxy10_summary",
        "table:fidelity",
    }  # optional inputs absent
    table = pd.read_csv(folder / "tables" / "mnist_rot.csv", keep_default_na=False).set_index("model")
    assert table.loc["SE(2) separable, N=8", "test_acc"] == "96.00 ± 0.50"
    summary = pd.read_csv(folder / "tables" / "mnist_rot_summary.csv").set_index("model")
    assert summary.loc["Z2 CNN", "test_acc_mean"] == pytest.approx(91.0)
    provenance = pd.read_csv(folder / "tables" / "provenance.csv").set_index("input")
    assert provenance.loc["mnist_rot", "git_commit"] == "abc123def456" and provenance.loc["mnist_rot", "rows"] == 12
    assert provenance.loc["mnist_rot", "date"] == "2026-11-20 – 2026-11-22"
    claims = pd.read_csv(folder / "tables" / "claims.csv")
    assert list(claims["claim"]) == [1, 2, 3, 4, 5] and claims["confounders"].notna().all()

    # redrawn from the CSVs: change a result, the figure and the table change
    before = (folder / "figures" / "mnist_rot_accuracy_vs_params.png").read_bytes()
    mnist = pd.read_csv(folder / "mnist_rot.csv", keep_default_na=False, na_values=[""])
    mnist.loc[mnist["implementation"] == "separable", ["test_acc", "test_err"]] = 50.0  # a valid table: acc + err = 100
    mnist.to_csv(folder / "mnist_rot.csv", index=False)
    make_all(PROFILE, tmp_path)
    assert (folder / "figures" / "mnist_rot_accuracy_vs_params.png").read_bytes() != before
    table = pd.read_csv(folder / "tables" / "mnist_rot.csv", keep_default_na=False).set_index("model")
    assert table.loc["SE(2) separable, N=8", "test_acc"] == "50.00 ± 0.00"


def test_make_all_without_the_original_says_how_to_measure_it(tmp_path: Path) -> None:
    """A reproduction benchmarks without ``--against``: the book's side-by-side table then holds
    one row naming the command (an empty csv-table fails the strict book build)."""
    folder = _write_all(tmp_path)
    efficiency = pd.read_csv(folder / "efficiency.csv")
    efficiency.drop(columns=[c for c in efficiency.columns if c.startswith("original_")]).to_csv(
        folder / "efficiency.csv", index=False
    )
    make_all(PROFILE, tmp_path)
    table = pd.read_csv(folder / "tables" / "efficiency_vs_original.csv")
    assert len(table) == 1 and table["train_ms"].isna().all()
    assert f"gsepconv bench --profile {PROFILE} --against" in table.loc[0, "model"]


def test_make_all_allow_missing_deletes_stale_products(tmp_path: Path) -> None:
    folder = _write_all(tmp_path)
    stale = folder / "figures" / "redundancy_energy.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    (folder / "redundancy.csv").unlink()
    for name in (
        "efficiency.csv",
        "efficiency_sweep.csv",
        "equivariance.csv",
        "rotations.csv",
        "cifar10.csv",
        "mnist_rot_history.csv",
        "mnist_rot_budget.csv",
        "mnist_rot_budget_history.csv",
    ):
        (folder / name).unlink()
    out = make_all(PROFILE, tmp_path, allow_missing=True)
    assert not stale.exists()
    assert "figure:redundancy_energy" in out["skipped"]
    assert "python -m gsepconv.analysis --profile smoke" in out["skipped"]["figure:redundancy_energy"]
    assert set(out["figures"]) == {"mnist_rot_accuracy_vs_params", "mnist_rot_accuracy_vs_time"}
    claims = pd.read_csv(folder / "tables" / "claims.csv").set_index("claim")
    assert claims.loc[1, "verdict"] == "undetermined"


def test_make_all_rejects_unknown_profile(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid profiles"):
        make_all("huge", tmp_path)


def test_every_input_names_a_command() -> None:
    for spec in INPUTS.values():
        assert spec.command_for("quick").endswith("--profile quick") and spec.files


def test_original_comparison_keeps_the_rows_timed_against_the_original(tmp_path) -> None:
    from gsepconv.report.efficiency import original_comparison

    nan = float("nan")
    frame = pd.DataFrame(
        [
            # group, implementation, elements, ours, original, conv-only, params, original params, bf16
            ("SE2", "separable", "8", 500.0, 1250.0, 480.0, 177082, 180000, 1100.0),
            ("SE2", "dgseparable", "8", 400.0, nan, 390.0, 50000, nan, nan),  # no original model
            ("Sim2", "separable2d", "8x3", 4000.0, 6000.0, 3600.0, 209830, 210000, 5000.0),
        ],
        columns=[
            "group",
            "implementation",
            "num_elements",
            "train_ms",
            "original_train_ms",
            "conv_only_train_ms",
            "params",
            "original_params",
            "train_ms_bf16",
        ],
    )
    frame["speedup_vs_original"] = frame.original_train_ms / frame.train_ms
    frame["train_overhead"] = frame.train_ms / frame.conv_only_train_ms
    frame["bf16_speedup"] = frame.train_ms / frame.train_ms_bf16
    assert original_comparison(frame.drop(columns=["original_train_ms"])).empty  # a bench without --against
    # a table measured before the per-round quartiles, verdicts and limit layouts still reads
    old = original_comparison(frame)
    assert len(old) == 2 and old["speedup_vs_original"].tolist() == [2.5, 1.5]
    assert old["train_overhead"].tolist() == [round(500 / 480, 2), round(4000 / 3600, 2)]
    assert old["bf16_speedup"].tolist() == [round(500 / 1100, 2), 0.8]
    assert "Sim(2)" in old["model"].iloc[1]
    for column in ("speedup_vs_original_q25", "speedup_vs_original_q75", "verdict_vs_original", "limit_layout"):
        assert old[column].isna().all(), column
    # as measured now: the quartiles of the per-round ratio, the verdict, the limit's layout
    frame["speedup_vs_original_q25"] = [2.41, nan, 0.93]
    frame["speedup_vs_original_q75"] = [2.62, nan, 1.71]
    frame["verdict_vs_original"] = ["faster", None, "tie"]
    frame["limit_layout"] = ["nchw", "channels_last", "channels_last"]
    table = original_comparison(frame)
    assert list(table.columns)[:10] == [
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
    ]
    assert table["verdict_vs_original"].tolist() == ["faster", "tie"]
    assert table["speedup_vs_original_q25"].tolist() == [2.41, 0.93] and table["limit_layout"].tolist() == [
        "nchw",
        "channels_last",
    ]
    # and through a CSV, as the report reads it
    path = tmp_path / "efficiency.csv"
    frame.to_csv(path, index=False)
    from gsepconv.report.inputs import read_csv

    assert original_comparison(read_csv(path)).equals(table)


def test_fidelity_table_pairs_the_codes_by_seed():
    from gsepconv.report import fidelity_table

    rows = [
        dict(model="SE2 separable", code=code, seed=s, test_acc=acc)
        for code, accs in (("ours", (86.0, 88.0, 87.0)), ("original", (85.0, 86.0, 87.0)))
        for s, acc in enumerate(accs)
    ]
    rows.append(dict(model="SE2 separable", code="ours", seed=7, test_acc=10.0))  # unpaired: left out
    table = fidelity_table(pd.DataFrame(rows))
    row = table.iloc[0]
    assert row["seeds"] == 3
    assert row["ours (% test)"] == "87.00 ± 1.00" and row["original (% test)"] == "86.00 ± 1.00"
    # differences 1, 2, 0: mean 1, sd 1, t(0.975, 2) = 4.303 -> ± 2.48
    assert row["ours − original [95 % CI]"] == "+1.00 [-1.48, +3.48]"


def test_same_runs_two_commits_pairs_runs_by_id_and_names_both_commits():
    import pandas as pd

    from gsepconv.report import same_runs_two_commits

    results = pd.DataFrame(
        {"run_id": ["a-s0", "a-s1", "b-s0"], "test_acc": [70.0, 72.0, 88.0], "git_commit": ["old", "old", "old"]}
    )
    fidelity = pd.DataFrame(
        {
            "model": ["A", "A", "A", "A", "C"],
            "code": ["ours", "ours", "original", "original", "ours"],
            "run_id": ["a-s0", "a-s1", "a-s0", "a-s1", "c-s0"],
            "test_acc": [86.0, 88.0, 50.0, 50.0, 10.0],
            "git_commit": ["new", "new", "new", "new", "new"],
        }
    )
    table = same_runs_two_commits(results, fidelity)
    assert table.to_dict("records") == [
        {
            "model": "A",
            "runs": 2,
            "results commit": "old",
            "results (% test)": 71.0,
            "fidelity commit": "new",
            "fidelity ours (% test)": 87.0,
        }
    ]  # the original's rows and runs in only one table are left out


def test_measured_tables_come_from_one_registry(tmp_path) -> None:
    """Every table a chapter measures (benchmark, sweep, layouts, layer costs, equivariance,
    redundancy) is one entry of ``INPUTS`` with its producer and command; ``ensure_table`` takes a
    name, refuses anything else, and under ``train="never"`` names the command of a missing table."""
    from gsepconv.experiments.ondemand import MissingResults
    from gsepconv.report.ensure import MEASURED, ensure_table
    from gsepconv.report.inputs import INPUTS

    measured = {n for n, spec in INPUTS.items() if spec.produce is not None}
    assert measured == {"efficiency", "efficiency_sweep", "layouts", "layer_costs", "equivariance", "redundancy"}
    assert set(MEASURED) <= measured and all(INPUTS[n].required for n in MEASURED)
    assert INPUTS["efficiency"].file_for("cuda") == "efficiency-gpu.csv"
    assert INPUTS["efficiency"].file_for("cpu") == "efficiency.csv"
    assert INPUTS["layouts"].command_for("paper", "cuda") == "gsepconv bench --layouts --profile paper --device cuda"
    with pytest.raises(ValueError, match="not a measured table; choose one of"):
        ensure_table("mnist_rot", "smoke", "never", results=tmp_path)
    with pytest.raises(MissingResults, match=r"gsepconv bench --layouts --profile smoke"):
        ensure_table("layouts", "smoke", "never", results=tmp_path)


def test_log_axes_label_the_twos_and_fives_only_where_they_fit() -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from gsepconv.report.figures import efficiency_bars

    wide = _bench_rows()
    wide.loc[wide.index[-1], "train_ms"] = wide["train_ms"].min() * 1000  # three decades
    fig = efficiency_bars(wide)
    assert isinstance(fig.axes[0].xaxis.get_minor_formatter(), NullFormatter), "2 and 5 labels would collide"
    plt.close(fig)
    narrow = _bench_rows()
    narrow["train_ms"] = np.linspace(100.0, 900.0, len(narrow))
    fig = efficiency_bars(narrow)
    labels = [t.get_text() for t in fig.axes[0].xaxis.get_minorticklabels() if t.get_text()]
    assert labels, "within two decades the 2 and 5 ticks keep their labels"
    plt.close(fig)
