"""The efficiency sweep: how the training step's time, memory, MACs and parameters grow with the
number of group elements and the image size, separable against non-separable, for every case ×
image size of a ``SweepProfile`` (``gsepconv bench --sweep``)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ...nn import export, saved_activation_mb
from ...progress import bars_enabled, tqdm
from ..io import check_writable, results_root, write_table
from .cases import (
    SWEEP_PROFILES,
    BenchCase,
    SweepProfile,
    case_columns,
    case_setup,
    measured_cases,
    planned_cases,
    provenance,
    resolve_bench,
)
from .timing import speed_words, time_calls


def sweep_case(
    case: BenchCase, profile: SweepProfile, image_size: int, device: torch.device, seed: int = 0
) -> dict[str, Any]:
    """One point of the sweep: training step time (``train_ms``: the fastest of ``repeats`` steps
    after ``warmup``, the estimate least disturbed by other work on a shared machine; the median is
    ``train_ms_median``), memory
    (CUDA peak, or on CPU the activations saved for backward), MACs of one inference forward and
    parameters of ``case`` on ``[batch, 1, image_size, image_size]`` inputs."""
    model, x, y, train_step = case_setup(case, profile, image_size, device, seed)
    model.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = time_calls(train_step, profile.warmup, profile.repeats, device)
    peak = (
        torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else saved_activation_mb(model, x, y)
    )
    model.eval()
    train_ms = min(times)
    return {
        **case_columns(case, profile, image_size, model, export(model), x),
        "train_ms": train_ms,
        "train_ms_median": statistics.median(times),
        "train_ms_max": max(times),
        "images_per_s": profile.batch_size / (train_ms / 1000.0),
        "peak_mem_mb": peak,
        "mem_kind": "cuda_peak" if device.type == "cuda" else "saved_activations",
        "repeats": profile.repeats,
        **provenance(device),
    }


def sweep_path(profile: str, device: str = "cpu", root: str | Path | None = None) -> Path:
    """``<results>/<profile>/efficiency_sweep.csv`` (``efficiency_sweep-gpu.csv`` on CUDA)."""
    name = "efficiency_sweep-gpu.csv" if torch.device(device).type == "cuda" else "efficiency_sweep.csv"
    return results_root(root) / profile / name


def run_sweep(profile: str, device: str = "cpu", out: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Run the sweep of ``profile`` (every case of :data:`SWEEP_PROFILES` at every image size) and
    write it atomically to ``out`` (default :func:`sweep_path`); one row per case × image size."""
    prof, dev = resolve_bench(SWEEP_PROFILES, profile, device, "sweep")
    path = Path(out) if out is not None else sweep_path(profile, device)
    check_writable(path.parent, "the sweep table", "--out")
    points = [(case, size) for size in prof.image_sizes for case in prof.cases]
    # one discarded step: first-call costs (thread pools, oneDNN/cuDNN plans) are not the first point's
    sweep_case(prof.cases[0], SweepProfile(**{**prof.__dict__, "warmup": 0, "repeats": 1}), prof.image_sizes[0], dev)
    rows = [
        sweep_case(case, prof, size, dev)
        for case, size in tqdm(points, desc=f"sweep {profile}", disable=not bars_enabled(progress))
    ]
    frame = pd.DataFrame(rows)
    write_table(path, frame.to_csv(index=False), "the sweep table")
    return frame


def sweep_is_current(table: pd.DataFrame, profile: str) -> bool:
    """Whether a stored sweep covers every case × image size of ``profile`` with its sizes
    (batch, widths, kernel size) — a redesigned profile makes an old table stale."""
    prof = SWEEP_PROFILES[profile]
    needed = {"group", "implementation", "num_elements", "image_size", "batch_size", "widths", "kernel_size"}
    if table.empty or not needed <= set(table.columns):
        return False
    same_sizes = (
        set(table["batch_size"]) == {prof.batch_size}
        and set(table["kernel_size"]) == {prof.kernel_size}
        and set(table["widths"].astype(str)) == {",".join(map(str, prof.widths))}
    )
    return same_sizes and planned_cases(prof.cases, prof.image_sizes) <= measured_cases(table)


def summarise_sweep(frame: pd.DataFrame) -> str:
    """Ratios of the sweep, one line per group × separable implementation × image size × ``N``:
    how many times faster the separable model trains than the non-separable one, and its memory
    relative to it (printed, never asserted: timings depend on the machine)."""
    lines = []
    key = ["group", "num_elements", "image_size"]
    base = frame[frame.implementation == "nonseparable"].set_index(key)
    for _, row in frame[(frame.implementation != "nonseparable") & (frame.group != "Z2")].iterrows():
        k = (row.group, row.num_elements, row.image_size)
        if k not in base.index:
            continue
        b = base.loc[k]
        lines.append(
            f"{row.group:>5} N={row.num_elements:<6} {row.image_size:>3}x{row.image_size:<3} "
            f"{row.implementation:<12} trains {speed_words(b.train_ms / row.train_ms)} nonseparable "
            f"({row.train_ms:8.1f} vs {b.train_ms:8.1f} ms), memory {row.peak_mem_mb / b.peak_mem_mb:4.2f}x, "
            f"{b.macs / row.macs:5.1f}x fewer MACs"
        )
    return "\n".join(lines)


__all__ = ["run_sweep", "summarise_sweep", "sweep_case", "sweep_is_current", "sweep_path"]
