"""Tables of the efficiency benchmark (``gsepconv bench``): per-model costs, ratios against the
non-separable model, the image-size sweep, and our training step against the original code's.

Every function takes the benchmark's rows (one per group × implementation × number of elements,
and image size in the sweep) and returns a display table with a ``model`` label per row.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from gsepconv.report.labels import add_model_labels, element_label, n_total
from gsepconv.report.summaries import in_model_order

__all__ = [
    "bench_labels",
    "efficiency_table",
    "ORIGINAL_COMPARISON_COLUMNS",
    "original_comparison",
    "speedups",
    "describe_speedups",
    "sweep_table",
]


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
