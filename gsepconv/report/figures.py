"""Figures of the report, drawn from the summary tables of :mod:`gsepconv.report.summaries` and
:mod:`gsepconv.report.efficiency`.

Every function returns a matplotlib ``Figure`` (not shown, not saved): notebooks display it,
:func:`gsepconv.report.make_all` saves it with :func:`gsepconv.analysis.style.save_figure`. The Z2 CNN
control is always drawn, in black. Error bars are one standard deviation over seeds (none for a
single seed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from gsepconv.report.efficiency import bench_labels, sweep_table
from gsepconv.report.labels import CONTROL, GROUP_NAMES, add_model_labels, model_order, model_palette
from gsepconv.report.summaries import in_model_order

__all__ = [
    "accuracy_vs",
    "validation_vs_wallclock",
    "budget_accuracy",
    "rotations_sweep",
    "natural_images",
    "efficiency_bars",
    "sweep_curves",
    "sweep_speedups",
    "equivariance_bars",
    "redundancy_bars",
]

_MARKERS = {"Z2": "s", "SE2": "o", "R2xRplus": "^", "Sim2": "D"}
_AXIS = {
    "params": "parameters",
    "train_time_s": "training time per run (s)",
    "time_per_epoch_s": "time per epoch (s)",
    "test_acc": "test accuracy (%)",
    "val_acc": "validation accuracy (%)",
    "test_err": "test error (%)",
}


def _legend_right(fig: Figure, ax: plt.Axes, **kwargs) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize="small", **kwargs
        )


def _plain_log(ax: plt.Axes, axis: str = "x") -> None:
    """Log-scale tick labels as plain numbers (``20``, ``0.5``), not ``2×10^1``; the 2 and 5
    between decades are labelled only while the axis spans at most two decades on x (three on
    y): beyond that their labels run into each other."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    low, high = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_locator(LogLocator(subs=(2, 5)))
    if low > 0 and high / low <= (100 if axis == "x" else 1000):
        target.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        target.set_minor_formatter(NullFormatter())


def _std(values: pd.Series) -> np.ndarray:
    return np.nan_to_num(values.to_numpy(dtype=float), nan=0.0)


def accuracy_vs(summary: pd.DataFrame, x: str = "params", y: str = "test_acc", title: str | None = None) -> Figure:
    """Mean ``y`` (± std over seeds) against ``x`` — ``"params"`` or a time metric
    (``"train_time_s"``, ``"time_per_epoch_s"``, with its own ± std) — one point per model of
    :func:`~gsepconv.report.summaries.experiment_summary`; log-scaled ``x``."""
    if x != "params" and f"{x}_mean" not in summary.columns:
        raise ValueError(f"cannot plot against {x!r}: use 'params' or a metric such as 'train_time_s'")
    order = model_order(summary)
    palette = model_palette(order)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for model in order:
        rows = summary[summary["model"] == model]
        xs = rows["params"].to_numpy(float) if x == "params" else rows[f"{x}_mean"].to_numpy(float)
        xerr = None if x == "params" else _std(rows[f"{x}_std"])
        marker = _MARKERS.get(str(rows["group"].iloc[0]), "o")
        ax.errorbar(
            xs,
            rows[f"{y}_mean"],
            yerr=_std(rows[f"{y}_std"]),
            xerr=xerr,
            fmt=marker,
            ms=8,
            capsize=3,
            color=palette[model],
            label=f"{model} ({int(rows['n_seeds'].max())} seed{'s' * (int(rows['n_seeds'].max()) != 1)})",
            mec="white" if model != CONTROL else "black",
        )
    ax.set_xscale("log")
    _plain_log(ax, "x")
    ax.set_xlabel(_AXIS.get(x, x) + " (log scale)")
    ax.set_ylabel(_AXIS.get(y, y))
    if title:
        ax.set_title(title)
    _legend_right(fig, ax)
    fig.tight_layout()
    return fig


def validation_vs_wallclock(curves: pd.DataFrame, title: str | None = None) -> Figure:
    """Validation accuracy after every epoch against the cumulative wall time of the run
    (training + validation), one line per run (seeds share their model's colour), from
    :func:`~gsepconv.report.summaries.history_curves`."""
    order = model_order(curves)
    palette = model_palette(order)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for model in order:
        rows = curves[curves["model"] == model]
        for k, (_, run) in enumerate(rows.groupby("run_id", sort=False)):
            run = run.sort_values("epoch")
            ax.plot(
                run["wall_time_s"],
                run["val_acc"],
                marker=_MARKERS.get(str(run["group"].iloc[0]), "o"),
                ms=4,
                lw=1.5,
                alpha=0.85,
                color=palette[model],
                label=model if k == 0 else None,
            )
    ax.set_xscale("log")
    _plain_log(ax, "x")
    ax.set_xlabel("wall-clock time since the start of the run (s, log scale)")
    ax.set_ylabel(_AXIS["val_acc"])
    if title:
        ax.set_title(title)
    _legend_right(fig, ax)
    fig.tight_layout()
    return fig


def budget_accuracy(summary: pd.DataFrame, title: str | None = None) -> Figure:
    """Equal wall-clock training: test accuracy (± std over seeds) of every model (left) and the
    epochs it finished within the budget (right), from the summary of a budget experiment."""
    order = model_order(summary)
    palette = model_palette(order)
    rows = summary.set_index("model").loc[order]
    fig, (ax_acc, ax_ep) = plt.subplots(
        1, 2, figsize=(10, 0.5 * len(order) + 1.6), sharey=True, gridspec_kw={"width_ratios": (3, 1.4)}
    )
    y = np.arange(len(order))[::-1]
    for yi, model in zip(y, order):
        ax_acc.errorbar(
            rows.loc[model, "test_acc_mean"],
            yi,
            xerr=np.nan_to_num([rows.loc[model, "test_acc_std"]]),
            fmt=_MARKERS.get(str(rows.loc[model, "group"]), "o"),
            color=palette[model],
            ms=8,
            capsize=3,
        )
        epochs = str(rows.loc[model, "epochs"])
        top = float(epochs.split("–")[-1])
        ax_ep.barh(yi, top, color=palette[model], alpha=0.85)
        ax_ep.annotate(epochs, (top, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize="small")
    ax_acc.set_yticks(y, order)
    ax_acc.set_xlabel(_AXIS["test_acc"])
    ax_ep.set_xlabel("epochs finished")
    budget = pd.to_numeric(rows["time_budget_s"], errors="coerce").dropna() if "time_budget_s" in rows else pd.Series()
    seeds = int(rows["n_seeds"].max())
    fig.suptitle(
        title
        or (
            f"Equal training time ({budget.iloc[0]:g} s of training per run" if len(budget) else "Equal training time ("
        )
        + f"; {seeds} seed{'s' * (seeds != 1)})",
        fontsize="medium",
    )
    fig.tight_layout()
    return fig


def rotations_sweep(summary: pd.DataFrame, title: str | None = None) -> Figure:
    """Two panels against the number of rotations ``N``: test accuracy (± std) and time per epoch
    (log scale), one line per implementation (from the ``rotations`` experiment's summary)."""
    impls = list(dict.fromkeys(summary.sort_values("n_total")["implementation"]))
    colours = dict(zip(impls, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for impl in impls:
        rows = summary[summary["implementation"] == impl].sort_values("n_total")
        for ax, metric in zip(axes, ("test_acc", "time_per_epoch_s")):
            ax.errorbar(
                rows["n_total"],
                rows[f"{metric}_mean"],
                yerr=_std(rows[f"{metric}_std"]),
                marker="o",
                capsize=3,
                color=colours[impl],
                label=f"{GROUP_NAMES.get(str(rows['group'].iloc[0]), '')} {impl}",
            )
    ticks = sorted(summary["n_total"].unique())
    for ax, metric in zip(axes, ("test_acc", "time_per_epoch_s")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("number of rotations N")
        ax.set_ylabel(_AXIS[metric])
    axes[1].set_yscale("log")
    _plain_log(axes[1], "y")
    axes[1].set_ylabel("time per epoch (s, log scale)")
    axes[0].legend(frameon=False, fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def natural_images(summaries: Mapping[str, pd.DataFrame], title: str | None = None) -> Figure:
    """One row per experiment (CIFAR-10, …): test accuracy (± std) and time per epoch of every model,
    as horizontal points, the Z2 CNN control first."""
    if not summaries:
        raise ValueError("no natural-image results to draw")
    fig, axes = plt.subplots(
        len(summaries),
        2,
        figsize=(10, 0.45 * sum(len(s) for s in summaries.values()) + 1.3 * len(summaries)),
        squeeze=False,
    )
    palette = model_palette(model_order(pd.concat(list(summaries.values()), ignore_index=True)))
    for (name, summary), (ax_acc, ax_time) in zip(summaries.items(), axes):
        order = model_order(summary)
        rows = summary.set_index("model").loc[order]
        y = np.arange(len(order))[::-1]
        for ax, metric in ((ax_acc, "test_acc"), (ax_time, "time_per_epoch_s")):
            for yi, model in zip(y, order):
                ax.errorbar(
                    rows.loc[model, f"{metric}_mean"],
                    yi,
                    xerr=_std(pd.Series([rows.loc[model, f"{metric}_std"]])),
                    fmt=_MARKERS.get(str(rows.loc[model, "group"]), "o"),
                    color=palette[model],
                    ms=8,
                    capsize=3,
                )
            ax.set_yticks(y, order if ax is ax_acc else [""] * len(order))
            ax.set_xlabel(_AXIS[metric])
        ax_time.set_xscale("log")
        _plain_log(ax_time, "x")
        ax_time.set_xlabel("time per epoch (s, log scale)")
        dataset = rows["dataset"].iloc[0] if "dataset" in rows else name
        stand_in = rows["stand_in_for"].iloc[0] if "stand_in_for" in rows else None
        label = f"{name}: trained on {dataset}" + (
            f", a stand-in for {stand_in}" if isinstance(stand_in, str) and stand_in else ""
        )
        ax_acc.set_title(label, loc="left", fontsize="medium")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def efficiency_bars(frame: pd.DataFrame, title: str | None = None) -> Figure:
    """Training step time and memory of every benchmarked model (``gsepconv bench`` rows), log scale."""
    labelled = in_model_order(bench_labels(frame))
    order = list(labelled["model"])
    families = _families(labelled)  # one colour per group x implementation, whatever N
    palette = model_palette(list(dict.fromkeys(families)))
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 0.38 * len(order) + 1.4), sharey=True)
    y = np.arange(len(order))[::-1]
    colours = [palette[f] for f in families]
    axes[0].barh(y, labelled["train_ms"], color=colours)
    axes[1].barh(y, labelled["peak_mem_mb"], color=colours)
    axes[0].set_yticks(y, order)
    axes[0].set_xscale("log")
    _plain_log(axes[0], "x")
    axes[0].set_xlabel("training step (ms, log scale)")
    kind = str(labelled["mem_kind"].iloc[0]) if "mem_kind" in labelled else ""
    axes[1].set_xlabel("memory (MB" + (f", {kind.replace('_', ' ')}" if kind else "") + ")")
    for ax, col, fmt in ((axes[0], "train_ms", "{:.0f}"), (axes[1], "peak_mem_mb", "{:.0f}")):
        for yi, v in zip(y, labelled[col]):
            ax.annotate(
                fmt.format(v), (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize="x-small"
            )
    sizes = (
        f"batch {labelled['batch_size'].iloc[0]}, {labelled['image_size'].iloc[0]}×{labelled['image_size'].iloc[0]}, "
        f"widths {labelled['widths'].iloc[0]}, k={labelled['kernel_size'].iloc[0]}"
        if "batch_size" in labelled
        else ""
    )
    fig.suptitle(
        title or f"G-ResNet training step and memory ({sizes}; {labelled['device'].iloc[0]})", fontsize="medium"
    )
    fig.tight_layout()
    return fig


def _families(frame: pd.DataFrame) -> list[str]:
    """``"SE(2) separable"`` per row (the model label without the number of elements)."""
    return [
        f"{GROUP_NAMES.get(str(g), str(g))} {i}" if str(g) != "Z2" else CONTROL
        for g, i in zip(frame["group"], frame["implementation"])
    ]


def sweep_curves(frame: pd.DataFrame, title: str | None = None) -> Figure:
    """The efficiency sweep: training step time (top) and memory (bottom) against the number of
    group elements, one column per image size, one line per group × implementation (log–log)."""
    labelled = bench_labels(frame)
    labelled["family"] = _families(labelled)
    sizes = sorted(labelled["image_size"].unique())
    families = list(dict.fromkeys(_families(in_model_order(labelled))))
    palette = model_palette(families)
    fig, axes = plt.subplots(
        2, len(sizes), figsize=(3.6 * len(sizes) + 2.6, 6.2), sharex=True, sharey="row", squeeze=False
    )
    for col, size in enumerate(sizes):
        at = labelled[labelled["image_size"] == size]
        for family in families:
            rows = at[at["family"] == family].sort_values("n_total")
            if rows.empty:
                continue
            marker = _MARKERS.get(str(rows["group"].iloc[0]), "o")
            style = "--" if family == CONTROL else "-"
            for row, metric in enumerate(("train_ms", "peak_mem_mb")):
                axes[row, col].plot(
                    rows["n_total"], rows[metric], style, marker=marker, color=palette[family], label=family
                )
        axes[0, col].set_title(f"{size}×{size} images", fontsize="medium")
        axes[1, col].set_xlabel("group elements N (log scale)")
    ticks = sorted(labelled["n_total"].unique())
    for ax in axes.flat:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        _plain_log(ax, "y")
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(plt.NullLocator())
    kind = str(labelled["mem_kind"].iloc[0]).replace("_", " ") if "mem_kind" in labelled else ""
    axes[0, 0].set_ylabel("training step (ms)")
    axes[1, 0].set_ylabel(f"memory (MB{', ' + kind if kind else ''})")
    _legend_right(fig, axes[0, -1])
    fig.suptitle(
        title or f"Cost against the number of group elements and image size ({labelled['device'].iloc[0]})",
        fontsize="medium",
    )
    fig.tight_layout()
    return fig


def sweep_speedups(frame: pd.DataFrame, title: str | None = None) -> Figure:
    """How many times faster each separable implementation trains than the non-separable one of the
    same group, against the number of group elements, one line per image size."""
    ratios = sweep_table(frame)
    if ratios.empty:
        raise ValueError("the sweep has no separable/non-separable pairs to compare")
    ratios["n_total"] = [math.prod(int(p) for p in str(v).split("×")) for v in ratios["num_elements"]]
    pairs = list(dict.fromkeys(zip(ratios["group"], ratios["implementation"])))
    sizes = sorted(ratios["image_size"].unique())
    colours = dict(zip(sizes, plt.cm.viridis(np.linspace(0.1, 0.85, len(sizes)))))
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.8 * len(pairs) + 1.5, 3.6), squeeze=False, sharey=True)
    for ax, (group, impl) in zip(axes[0], pairs):
        for size in sizes:
            rows = ratios[
                (ratios["group"] == group) & (ratios["implementation"] == impl) & (ratios["image_size"] == size)
            ].sort_values("n_total")
            ax.plot(rows["n_total"], rows["train_speedup"], marker="o", color=colours[size], label=f"{size}×{size}")
        ax.axhline(1.0, color="grey", lw=1, ls=":")
        ax.set_title(f"{GROUP_NAMES.get(group, group)}: {impl} vs nonseparable", fontsize="medium")
        ax.set_xscale("log", base=2)
        ticks = sorted(ratios.loc[ratios["group"] == group, "n_total"].unique())
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("group elements N")
    axes[0, 0].set_ylabel("training speed-up (×)")
    _legend_right(fig, axes[0, -1], title="image size")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def equivariance_bars(frame: pd.DataFrame, errors: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """Relative equivariance error of every row of the equivariance report (log scale): one row of
    bars per model, one colour per ``*_error`` column. Round-off (< 1e-12) is drawn at its value;
    missing measurements (no scale axis) are left out."""
    labelled = add_model_labels(frame, distinguish=())
    errors = list(errors or [c for c in frame.columns if c.endswith("_error")])
    order = list(dict.fromkeys(labelled["model"]))
    colours = dict(zip(errors, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(order) + 1.6))
    height = 0.8 / len(errors)
    y = np.arange(len(order))[::-1]
    for k, error in enumerate(errors):
        values = labelled.drop_duplicates("model").set_index("model").loc[order, error].to_numpy(float)
        ax.barh(
            y + ((len(errors) - 1) / 2 - k) * height,
            np.clip(values, 1e-17, None),
            height,
            color=colours[error],
            label=error.replace("_error", ""),
        )
    ax.set_xscale("log")
    ax.set_xlim(left=1e-17)
    ax.set_yticks(y, order)
    ax.set_xlabel("relative error (log scale; ~1e-15 is round-off)")
    ax.set_title(title or "Equivariance error per group and implementation", fontsize="medium")
    _legend_right(fig, ax)
    fig.tight_layout()
    return fig


def redundancy_bars(frame: pd.DataFrame, title: str | None = None) -> Figure:
    """Energy share of the first singular component of the kernel slices per layer, one bar per state.

    A bar is the median over the layer's kernel slices (the mean when ``redundancy.csv`` carries no
    quantiles), averaged over the seeds in the table; its whiskers are the 10–90 % range of the slices,
    also averaged over seeds. With several seeds each seed's own value is drawn as a dot on its bar, so
    the spread between trained networks stays visible."""
    first = frame[frame["component"] == 1]
    if "seed" not in first:
        first = first.assign(seed=0)
    states = list(dict.fromkeys(first["state"]))
    layers = first[["layer_index", "layer"]].drop_duplicates().sort_values("layer_index")
    colours = dict(zip(states, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, ax = plt.subplots(figsize=(max(6.5, 1.3 * len(layers) + 2.5), 4.0))
    width = 0.8 / len(states)
    centre = "energy_fraction_q50" if "energy_fraction_q50" in first else "energy_fraction_mean"
    spread = {"energy_fraction_q10", "energy_fraction_q90"} <= set(first.columns)
    columns = [centre] + (["energy_fraction_q10", "energy_fraction_q90"] if spread else [])
    many_seeds = first["seed"].nunique() > 1
    for k, state in enumerate(states):
        of_state = first[first["state"] == state]
        rows = of_state.groupby("layer_index")[columns].mean().loc[layers["layer_index"]]
        x = np.arange(len(layers)) + (k - (len(states) - 1) / 2) * width
        yerr = None
        if spread:
            yerr = np.vstack([rows[centre] - rows["energy_fraction_q10"], rows["energy_fraction_q90"] - rows[centre]])
        ax.bar(x, rows[centre], width, yerr=yerr, capsize=2, color=colours[state], label=state)
        if many_seeds:
            position = dict(zip(layers["layer_index"], x))
            ax.scatter(of_state["layer_index"].map(position), of_state[centre], s=6, color="black", alpha=0.6, zorder=4)
    if "uniform_share" in first:
        ax.scatter(
            np.arange(len(layers)),
            first.groupby("layer_index")["uniform_share"].first().loc[layers["layer_index"]],
            marker="_",
            s=400,
            color="black",
            label="1/r (no redundancy)",
            zorder=3,
        )
    ax.set_xticks(np.arange(len(layers)), layers["layer"], rotation=20, ha="right", fontsize="small")
    ax.set_ylabel("energy share of the first component")
    ax.set_ylim(0, 1.05)
    seeds = first["seed"].nunique()
    default = "Redundancy along the rotation axis (1 = rank one, separable)"
    if many_seeds:
        default += f"\nbars: mean over {seeds} seeds, dots: each seed"
    ax.set_title(title or default, fontsize="medium")
    _legend_right(fig, ax)
    fig.tight_layout()
    return fig
