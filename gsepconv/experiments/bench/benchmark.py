"""The model benchmark: for every case of a ``BenchProfile``, the training step (alternating with
its conv-only limit, and with the original code's model and a bfloat16 step when asked),
inference with and without cached kernels, memory, parameters and MACs, written to
``results/<profile>/efficiency.csv``; and whether a stored table still covers its profile."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from ...models import count_parameters
from ...nn import LAYOUTS, export, kernel_cache, memory_format, saved_activation_mb
from ...nn.conv import SampledConv
from ...progress import bars_enabled, tqdm
from ..against import conv_only_model, has_original, load_original, original_model
from ..io import check_writable, results_root, write_table
from .cases import (
    BENCH_PROFILES,
    BenchCase,
    BenchProfile,
    case_columns,
    case_setup,
    measured_cases,
    planned_cases,
    provenance,
    resolve_bench,
)
from .timing import (
    alternate,
    as_trained,
    paired_ratios,
    ratio_quartiles,
    speed_verdict,
    speed_words,
    sync,
    time_calls,
    training_step,
    with_cudnn,
)


def bench_case(
    case: BenchCase,
    profile: BenchProfile,
    device: torch.device,
    seed: int = 0,
    original: Any = None,
    bf16: bool = False,
) -> dict[str, Any]:
    """Measure one case; returns a result row (whole models in each layout: ``gsepconv bench
    --layouts``). ``original`` (a :class:`gsepconv.experiments.against.Original`): also time the original
    code's model of the case, alternating with ours (``original_train_ms``, ``speedup_vs_original``).
    Every case also times its conv-only model (the same convolutions with free weights, no kernel
    nets) in both memory layouts; the faster is the float32 limit of a training step
    (``conv_only_train_ms``, its layout ``limit_layout``). ``bf16``: also our
    step under bfloat16 autocast, in the same loop (``train_ms_bf16``, ``bf16_speedup``). On CUDA
    every training step runs with the training loop's default cuDNN flags (deterministic, no
    autotuning), and ours also autotuned (``cudnn.benchmark``) in the same loop
    (``train_ms_cudnn_benchmark``, ``cudnn_benchmark_speedup``; ``nan`` on CPU)."""
    model, x, y, train_step = case_setup(case, profile, profile.image_size, device, seed)
    training = _time_training(case, profile, device, model, train_step, x, y, seed, original, bf16)
    frozen = export(model.eval())
    inference = _time_inference(model, frozen, x, profile, device)
    return {
        **case_columns(case, profile, profile.image_size, model, frozen, x),
        **training,
        **inference,
        "mem_kind": "cuda_peak" if device.type == "cuda" else "saved_activations",
        **provenance(device),
    }


def in_layout(step: Callable[[], None], fmt: torch.memory_format) -> Callable[[], None]:
    """``step`` with the layers' convolutions run in the memory format ``fmt`` (``memory_format``
    of ``gsepconv.nn``) for the duration of each call."""

    def run() -> None:
        with memory_format(fmt):
            step()

    return run


def conv_only_limit(by_layout: dict[str, float]) -> tuple[float, str]:
    """The limit of a training step and the layout that gave it: the fastest of the conv-only
    steps ``{layout: ms}`` (missing, ``nan``, layouts are ignored; ``(nan, "")`` when none was
    measured). Whichever layout a machine's convolutions prefer, the limit is the machine's best."""
    measured = {layout: ms for layout, ms in by_layout.items() if ms == ms}
    if not measured:
        return float("nan"), ""
    layout = min(measured, key=measured.__getitem__)
    return measured[layout], layout


def _time_training(
    case: BenchCase,
    profile: BenchProfile,
    device: torch.device,
    model: nn.Module,
    train_step: Callable[[], None],
    x: torch.Tensor,
    y: torch.Tensor,
    seed: int,
    original: Any,
    bf16: bool,
) -> dict[str, Any]:
    """Training-step columns: ours, its conv-only model in each of ``LAYOUTS``, the
    original's model (if given) and our bfloat16 step (if asked), timed alternately in one loop —
    this machine's speed drifts by 2x within an hour, so only steps measured side by side
    compare — and the step's memory."""
    model.train()
    peak = _step_memory(model, train_step, x, y, device)
    steps = {"ours": train_step}
    if device.type == "cuda":  # every step as training runs by default; ours autotuned beside it
        steps["cudnn_benchmark"] = with_cudnn(train_step, autotune=True)
    if case.group != "Z2":  # a plain CNN is its own conv-only model (its convolutions are always channels-last)
        for layout, fmt in LAYOUTS.items():  # one copy per layout: each with its own Adam state
            steps[f"conv_only_{layout}"] = in_layout(training_step(conv_only_model(model).train(), x, y), fmt)
    original_params = float("nan")
    if original is not None and has_original(case.group, case.implementation):
        steps["original"], original_params = _original_step(case, profile, device, x, y, seed, original)
    if bf16:
        steps["bf16"] = training_step(model, x, y, cast=torch.bfloat16)
    repeats = max(profile.repeats, profile.against_repeats) if "original" in steps else profile.repeats
    steps = as_trained(steps, device)
    times = dict(zip(steps, alternate(list(steps.values()), profile.warmup, repeats, device)))
    steps.clear()  # frees the conv-only and original models
    return {
        **_training_columns(case, profile, times, original_params),
        "peak_mem_mb": peak,
        "repeats": repeats,
    }


def _step_memory(
    model: nn.Module, train_step: Callable[[], None], x: torch.Tensor, y: torch.Tensor, device: torch.device
) -> float:
    """Memory of our training step (``peak_mem_mb``): the CUDA peak of the step alone, before the
    other models exist (parameters and Adam state included); on CPU the saved activations."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        train_step()
        sync(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    return saved_activation_mb(model, x, y)


def _original_step(
    case: BenchCase,
    profile: BenchProfile,
    device: torch.device,
    x: torch.Tensor,
    y: torch.Tensor,
    seed: int,
    original: Any,
) -> tuple[Callable[[], None], float]:
    """The training step of the original code's model of ``case`` (seeded as ours) and its
    number of parameters."""
    torch.manual_seed(seed)
    theirs = original_model(
        original,
        case.group,
        case.implementation,
        case.num_elements,
        widths=profile.widths,
        kernel_size=profile.kernel_size,
        hidden_features=profile.hidden_features,
        image_size=profile.image_size,
        max_scale=profile.max_scale,
        device=device,
    ).train()
    return training_step(theirs, x, y), count_parameters(theirs)


def _training_columns(
    case: BenchCase, profile: BenchProfile, times: dict[str, list[float]], original_params: float
) -> dict[str, Any]:
    """The time columns of a row from the alternating loop's ``times`` per step: medians, the
    conv-only limit, and the per-round ratios against the original and the bfloat16 step."""
    nan = float("nan")
    train = statistics.median(times["ours"])
    by_layout = {
        layout: statistics.median(times[f"conv_only_{layout}"]) if f"conv_only_{layout}" in times else nan
        for layout in LAYOUTS
    }
    if case.group == "Z2":
        by_layout["channels_last"] = train
    conv_only, limit_layout = conv_only_limit(by_layout)
    original_ms = statistics.median(times["original"]) if "original" in times else nan
    q25, speedup, q75 = ratio_quartiles(paired_ratios(times["original"], times["ours"]) if "original" in times else [])
    bf16_ms = statistics.median(times["bf16"]) if "bf16" in times else nan
    autotuned_ms = statistics.median(times["cudnn_benchmark"]) if "cudnn_benchmark" in times else nan
    return {
        "train_ms": train,
        "train_ms_min": min(times["ours"]),
        "train_ms_max": max(times["ours"]),
        "images_per_s": profile.batch_size / (train / 1000.0),
        "conv_only_train_ms": conv_only,
        "limit_layout": limit_layout,
        **{f"conv_only_train_ms_{layout}": ms for layout, ms in by_layout.items()},
        "train_overhead": train / conv_only,
        "original_train_ms": original_ms,
        "original_params": original_params,
        "speedup_vs_original": speedup,
        "speedup_vs_original_q25": q25,
        "speedup_vs_original_q75": q75,
        "verdict_vs_original": speed_verdict(q25, q75),
        "train_ms_bf16": bf16_ms,
        "bf16_speedup": train / bf16_ms,
        "speedup_vs_original_bf16": original_ms / bf16_ms,
        "train_ms_cudnn_benchmark": autotuned_ms,
        "cudnn_benchmark_speedup": train / autotuned_ms,
    }


def _time_inference(
    model: nn.Module, frozen: nn.Module, x: torch.Tensor, profile: BenchProfile, device: torch.device
) -> dict[str, float]:
    """Inference columns: ``eval()`` forward (kernels cached and not), the exported conv-only
    forward with the same weights, and kernel sampling alone."""

    def infer() -> None:
        with torch.inference_mode():
            model(x)

    def infer_frozen() -> None:
        with torch.inference_mode():
            frozen(x)

    def sample_kernels() -> None:
        with torch.inference_mode():
            for layer in model.modules():
                if isinstance(layer, SampledConv):
                    layer.sample_weights()

    model.eval()
    infer_ms = statistics.median(time_calls(infer, profile.warmup, profile.repeats, device))
    conv_ms = statistics.median(time_calls(infer_frozen, profile.warmup, profile.repeats, device))
    with kernel_cache(False):
        uncached = time_calls(infer, profile.warmup, profile.repeats, device)
    kernels = time_calls(sample_kernels, profile.warmup, profile.repeats, device)
    return {
        "infer_ms": infer_ms,
        "conv_only_ms": conv_ms,
        "infer_overhead": infer_ms / conv_ms,
        "infer_uncached_ms": statistics.median(uncached),
        "kernel_ms": statistics.median(kernels),
    }


def summarise_efficiency(frame: pd.DataFrame) -> str:
    """Human-readable ratios from the rows (nothing typed in)."""
    lines = []
    se2 = frame[frame.group == "SE2"]
    for n, rows in se2.groupby("n_total"):
        by_impl = rows.set_index("implementation")
        if {"nonseparable", "separable"} <= set(by_impl.index):
            r = by_impl.loc["nonseparable", "train_ms"] / by_impl.loc["separable", "train_ms"]
            m = by_impl.loc["nonseparable", "macs"] / by_impl.loc["separable", "macs"]
            lines.append(f"SE2 N={n}: separable trains {speed_words(r)} nonseparable ({m:.1f}x fewer MACs)")
    if "speedup_vs_original" in frame and frame["speedup_vs_original"].notna().any():
        lines.append(
            "side by side with the original implementation (alternating steps, this run; "
            "per round original/ours, median [q25, q75]):"
        )
        for _, row in frame[frame["speedup_vs_original"].notna()].iterrows():
            words = speed_words(row.speedup_vs_original, row.verdict_vs_original)
            lines.append(
                f"  {row.group:>8} {row.implementation:<13} N={row.num_elements:<7} ours {row.train_ms:8.1f} ms, "
                f"original {row.original_train_ms:8.1f} ms: ours trains {words} the original "
                f"({row.speedup_vs_original:.2f} [{row.speedup_vs_original_q25:.2f}, "
                f"{row.speedup_vs_original_q75:.2f}], {row.repeats} rounds); conv-only limit "
                f"{row.conv_only_train_ms:7.1f} ms ({row.limit_layout}; ours {row.train_overhead:.2f}x it)"
            )
    if "bf16_speedup" in frame and frame["bf16_speedup"].notna().any():
        lines.append("bfloat16 autocast (precision=bf16), alternating with float32 in this run:")
        for _, row in frame[frame["bf16_speedup"].notna()].iterrows():
            versus = (
                ""
                if row.speedup_vs_original_bf16 != row.speedup_vs_original_bf16
                else f"; {speed_words(row.speedup_vs_original_bf16)} the original in float32"
            )
            lines.append(
                f"  {row.group:>8} {row.implementation:<13} N={row.num_elements or '-':<7} "
                f"bf16 {row.train_ms_bf16:8.1f} ms: "
                f"{speed_words(row.bf16_speedup)} float32{versus}"
            )
    for _, row in frame.iterrows():
        lines.append(
            f"{row.group:>8} {row.implementation:<13} N={row.num_elements or '-':<7} train {row.train_ms:8.1f} ms "
            f"({row.images_per_s:6.0f} img/s)  infer {row.infer_ms:7.1f} ms = {row.infer_overhead:.2f}x conv-only "
            f"(uncached {row.infer_uncached_ms / row.conv_only_ms:.2f}x)"
        )
    return "\n".join(lines)


def run_benchmark(
    profile: str,
    device: str = "cpu",
    out: str | Path | None = None,
    cases: Sequence[BenchCase] | None = None,
    progress: bool = True,
    against: str | Path | None = None,
    bf16: bool = False,
) -> pd.DataFrame:
    """Run a benchmark profile and write ``<results>/<profile>/efficiency[-gpu].csv`` atomically,
    after every case (an interrupted run keeps the cases it finished).
    ``against``: a checkout of the original implementation; its model of every case it has is
    timed alternately with ours (:mod:`gsepconv.experiments.against`). ``bf16``: also time our
    step under bfloat16 autocast (``precision="bf16"``)."""
    prof, dev = resolve_bench(BENCH_PROFILES, profile, device)
    path = Path(out) if out is not None else bench_path(profile, device)
    check_writable(path.parent, "the benchmark table", "--out")
    original = None
    if against is not None:
        original = load_original(against)
    todo = list(cases if cases is not None else prof.cases)
    rows = []
    if todo:  # one discarded pass: first-call costs (thread pools, oneDNN/cuDNN plans) are not the first case's
        bench_case(todo[0], BenchProfile(**{**prof.__dict__, "warmup": 1, "repeats": 1}), dev)

    frame = pd.DataFrame()
    for case in tqdm(todo, desc=f"bench {profile}", disable=not bars_enabled(progress)):
        rows.append(bench_case(case, prof, dev, original=original, bf16=bf16))
        # after every case: an interrupted run keeps what it measured (a table missing cases is
        # not current for its profile, see bench_is_current, so nothing mistakes it for a whole one)
        frame = pd.DataFrame(rows)
        write_table(path, frame.to_csv(index=False), "the benchmark table")
    return frame


def bench_path(profile: str, device: str = "cpu", root: str | Path | None = None) -> Path:
    """``<results>/<profile>/efficiency.csv`` (``efficiency-gpu.csv`` on CUDA), where
    :func:`run_benchmark` writes by default."""
    name = "efficiency-gpu.csv" if torch.device(device).type == "cuda" else "efficiency.csv"
    return results_root(root) / profile / name


def bench_is_current(table: pd.DataFrame, profile: str) -> bool:
    """Whether a stored ``efficiency.csv`` covers every case of the benchmark profile with its sizes.
    Columns added since (the verdicts against the original code, the limit's layout) do not make a
    table stale here: a table measured before them still reads, and ``against_is_current``
    says whether its comparison with the original needs measuring again."""
    prof = BENCH_PROFILES[profile]
    needed = {"group", "implementation", "num_elements", "batch_size", "image_size", "widths", "kernel_size"}
    if table.empty or not needed <= set(table.columns):
        return False
    same_sizes = (
        set(table["batch_size"]) == {prof.batch_size}
        and set(table["image_size"]) == {prof.image_size}
        and set(table["kernel_size"]) == {prof.kernel_size}
        and set(table["widths"].astype(str)) == {",".join(map(str, prof.widths))}
    )
    return same_sizes and planned_cases(prof.cases, [0]) <= measured_cases(table, sizes=False)


#: the columns a comparison with the original code needs for its verdicts (and the limit's layout)
AGAINST_COLUMNS = (
    "repeats",
    "speedup_vs_original_q25",
    "speedup_vs_original_q75",
    "verdict_vs_original",
    "limit_layout",
)


def against_is_current(table: pd.DataFrame, profile: str) -> bool:
    """Whether the comparison with the original code in a stored ``efficiency.csv`` can give its
    verdicts: it has the per-round quartiles and verdicts (``AGAINST_COLUMNS``) and at least
    ``max(repeats, against_repeats)`` rounds of the benchmark profile for each case timed against
    the original. A table without the original's timings has nothing to measure again (true).
    When false, the comparison is measured again with
    ``gsepconv bench --profile <profile> --against <checkout of the original code>``."""
    prof = BENCH_PROFILES[profile]
    if "original_train_ms" not in table.columns or table["original_train_ms"].isna().all():
        return True
    if not set(AGAINST_COLUMNS) <= set(table.columns):
        return False
    timed = table[table["original_train_ms"].notna()]
    return bool(
        timed["repeats"].ge(max(prof.repeats, prof.against_repeats)).all()
        and timed["verdict_vs_original"].isin(["faster", "slower", "tie"]).all()
    )


__all__ = [
    "AGAINST_COLUMNS",
    "against_is_current",
    "bench_case",
    "bench_is_current",
    "bench_path",
    "conv_only_limit",
    "in_layout",
    "run_benchmark",
    "summarise_efficiency",
]
