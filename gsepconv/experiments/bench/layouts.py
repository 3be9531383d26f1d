"""Which memory layout each implementation's convolutions run in, decided by measurement.

A group feature map ``[B, C, N, H, W]`` is convolved as ``[B, C·N, H, W]``, stored either
channels-last (``[B, H, W, C·N]`` in memory: 1×1 and depthwise convolutions are fast there) or
plain NCHW (a dense grouped-channel convolution can be faster there, and a channel projection
needs no copy). Which is faster depends on the implementation's convolution pattern and on the
device, so each :class:`gsepconv.nn.Implementation` names its layout per device type
(``Implementation.layout``), and this benchmark is what that choice rests on.

For one model per implementation (the benchmark profile's sizes) the whole training step is timed
with every layer forced into each layout and with the implementations' own choice, alternately,
``max(repeats, against_repeats)`` rounds. Whole steps, so the conversions between layers (lifting,
pooling, batch norm, the read-out) are counted. Per round the ratio ``nchw / channels_last`` gives
``measured_layout``: the faster one only when its interquartile range lies beyond
``1 ± LAYOUT_MARGIN``, else ``"tie"``. ``chosen_layout`` is the code's choice on this device and
``agrees`` says whether the measurement supports it (a tie supports either).
Rows go to ``results/<profile>/layouts.csv`` (``layouts-gpu.csv`` on CUDA)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ...groups import num_elements_text
from ...nn import IMPLEMENTATIONS, LAYOUTS
from ...nn.implementations import layout_for
from ...progress import bars_enabled, tqdm
from ..io import check_writable, results_root, write_table
from .benchmark import in_layout
from .cases import BENCH_PROFILES, BenchCase, BenchProfile, case_setup, provenance, resolve_bench
from .timing import alternate, as_trained, paired_ratios, ratio_quartiles

#: The smallest difference between the layouts' steps that decides a layout: the drift of the
#: ratio between runs on one 2-core machine, not the spread within one run. ``dseparable``'s
#: NCHW/channels-last, same code (commit aecb839), read 0.935 [0.926, 0.944] in one session and
#: 1.05 [1.03, 1.09] and 1.07 [1.05, 1.08] in another (earlier runs: 0.99 and 1.03): each run's
#: interquartile range is narrow, yet the median moves by up to 7 % either way, so only a
#: difference beyond 10 % is repeatable; within it, either layout is as fast.
LAYOUT_MARGIN = 0.10


def measured_layout(q25: float, q75: float, margin: float = LAYOUT_MARGIN) -> str:
    """The layout the quartiles of ``nchw / channels_last`` per round decide: ``"channels_last"``
    when the whole interquartile range lies above ``1 + margin``, ``"nchw"`` when it lies below
    ``1 - margin``, else ``"tie"`` (either layout is as fast, within what repeats)."""
    if q25 > 1.0 + margin:
        return "channels_last"
    if q75 < 1.0 - margin:
        return "nchw"
    return "tie"


def layout_cases(profile: BenchProfile) -> list[BenchCase]:
    """One case per implementation of the profile (its first, i.e. smallest, model): the layout
    is a property of the implementation, so one model each decides it."""
    seen: dict[str, BenchCase] = {}
    for case in profile.cases:
        if case.group != "Z2" and case.implementation not in seen:
            seen[case.implementation] = case
    return list(seen.values())


def bench_layout_case(case: BenchCase, profile: BenchProfile, device: torch.device, seed: int = 0) -> dict[str, Any]:
    """Time ``case``'s training step in each layout and in the implementations' own choice,
    alternately; returns a result row."""
    _model, _x, _y, step = case_setup(case, profile, profile.image_size, device, seed)
    steps = {name: in_layout(step, fmt) for name, fmt in LAYOUTS.items()}
    steps["chosen"] = step
    steps = as_trained(steps, device)  # on CUDA: deterministic cuDNN, no autotuning
    rounds = max(profile.repeats, profile.against_repeats)
    times = dict(zip(steps, alternate(list(steps.values()), profile.warmup, rounds, device)))
    q25, ratio, q75 = ratio_quartiles(paired_ratios(times["nchw"], times["channels_last"]))
    measured = measured_layout(q25, q75)
    chosen = layout_for(IMPLEMENTATIONS[case.implementation].layout, device)
    return {
        "profile": profile.name,
        "group": case.group,
        "implementation": case.implementation,
        "num_elements": num_elements_text(case.num_elements),
        "batch_size": profile.batch_size,
        "image_size": profile.image_size,
        "widths": ",".join(map(str, profile.widths)),
        "kernel_size": profile.kernel_size,
        **{f"train_ms_{name}": statistics.median(times[name]) for name in LAYOUTS},
        "train_ms_chosen": statistics.median(times["chosen"]),
        "nchw_over_channels_last": ratio,
        "nchw_over_channels_last_q25": q25,
        "nchw_over_channels_last_q75": q75,
        "measured_layout": measured,
        "chosen_layout": chosen,
        "agrees": measured in ("tie", chosen),
        "repeats": rounds,
        **provenance(device),
    }


def layouts_path(profile: str, device: str = "cpu", root: str | Path | None = None) -> Path:
    """``<results>/<profile>/layouts.csv`` (``layouts-gpu.csv`` on CUDA)."""
    name = "layouts-gpu.csv" if torch.device(device).type == "cuda" else "layouts.csv"
    return results_root(root) / profile / name


def run_layouts(
    profile: str,
    device: str = "cpu",
    out: str | Path | None = None,
    cases: Sequence[BenchCase] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run the layout benchmark of a profile and write its table atomically."""
    prof, dev = resolve_bench(BENCH_PROFILES, profile, device)
    path = Path(out) if out is not None else layouts_path(profile, device)
    check_writable(path.parent, "the layout table", "--out")
    todo = list(cases if cases is not None else layout_cases(prof))
    rows = [
        bench_layout_case(case, prof, dev)
        for case in tqdm(todo, desc=f"layouts {profile}", disable=not bars_enabled(progress))
    ]
    frame = pd.DataFrame(rows)
    write_table(path, frame.to_csv(index=False), "the layout table")
    return frame


def layouts_is_current(table: pd.DataFrame, profile: str) -> bool:
    """Whether a stored layout table covers every implementation of the profile at its sizes, and
    each row's ``chosen_layout`` is still the code's choice on that row's device (a changed
    ``Implementation.layout`` makes the table stale: it must be measured again)."""
    prof = BENCH_PROFILES[profile]
    needed = {"implementation", "batch_size", "image_size", "widths", "chosen_layout", "device"}
    if table.empty or not needed <= set(table.columns):
        return False
    same_sizes = (
        set(table["batch_size"]) == {prof.batch_size}
        and set(table["image_size"]) == {prof.image_size}
        and set(table["widths"].astype(str)) == {",".join(map(str, prof.widths))}
    )
    device_type = "cuda" if not str(table["device"].iloc[0]).startswith("cpu") else "cpu"
    chosen = {
        str(i): layout_for(IMPLEMENTATIONS[str(i)].layout, torch.device(device_type))
        for i in table["implementation"]
        if str(i) in IMPLEMENTATIONS
    }
    return (
        same_sizes
        and {c.implementation for c in layout_cases(prof)} <= set(table["implementation"].astype(str))
        and all(chosen.get(str(i)) == str(c) for i, c in zip(table["implementation"], table["chosen_layout"]))
    )


def summarise_layouts(frame: pd.DataFrame) -> str:
    """One line per implementation: both layouts' steps, the ratio with its quartiles, and whether
    the code's choice is what was measured."""
    lines = ["training step per layout (alternating rounds; ratio nchw/channels_last, median [q25, q75]):"]
    for _, row in frame.iterrows():
        check = "agrees" if row.agrees else f"DISAGREES: measured {row.measured_layout}"
        lines.append(
            f"  {row.group:>8} {row.implementation:<13} N={row.num_elements:<6} "
            f"channels_last {row.train_ms_channels_last:8.1f} ms, nchw {row.train_ms_nchw:8.1f} ms "
            f"({row.nchw_over_channels_last:.2f} [{row.nchw_over_channels_last_q25:.2f}, "
            f"{row.nchw_over_channels_last_q75:.2f}]); faster: {row.measured_layout}; "
            f"chosen: {row.chosen_layout} ({row.train_ms_chosen:.1f} ms), {check}"
        )
    return "\n".join(lines)


__all__ = [
    "bench_layout_case",
    "layout_cases",
    "layouts_is_current",
    "layouts_path",
    "run_layouts",
    "summarise_layouts",
]
