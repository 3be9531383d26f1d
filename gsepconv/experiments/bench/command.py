"""``gsepconv bench``: the model benchmark, ``--sweep`` and ``--micro`` from the command line."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import torch

from .benchmark import run_benchmark, summarise_efficiency
from .cases import BENCH_PROFILES
from .layouts import layouts_path, run_layouts, summarise_layouts
from .micro import microbench_batch_norm, microbench_rotation_scale
from .sweep import run_sweep, summarise_sweep, sweep_path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gsepconv bench``, described by the first paragraph of the package's docstring."""
    summary = importlib.import_module(__package__).__doc__.split("\n\n")[0]
    p = subparsers.add_parser(
        "bench",
        help="efficiency benchmark (train/inference time, memory, MACs) over groups and implementations",
        description=summary.replace("``", ""),  # plain text, not reStructuredText
        epilog="examples:\n  gsepconv bench --profile smoke\n"
        "  gsepconv bench --profile quick            # writes results/quick/efficiency.csv\n"
        "  gsepconv bench --profile paper --device cuda   # writes results/paper/efficiency-gpu.csv\n"
        "  gsepconv bench --sweep --profile quick    # writes results/quick/efficiency_sweep.csv\n"
        "  gsepconv bench --layouts --profile quick  # writes results/quick/layouts.csv\n"
        "  gsepconv bench --profile quick --against ../separable-group-convolutional-networks\n"
        "  gsepconv bench --profile quick --bf16 --out /tmp/bf16.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--profile",
        default="quick",
        choices=sorted(BENCH_PROFILES),
        help="sizes and cases (default: quick, as for run, results and equivariance)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--out", default=None, help="CSV path (default: <results>/<profile>/efficiency.csv)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="time and memory against the number of group elements x image size, separable vs not "
        "(writes <results>/<profile>/efficiency_sweep.csv)",
    )
    p.add_argument(
        "--layouts",
        action="store_true",
        help="which memory layout (channels_last or nchw) makes each implementation's training step faster, "
        "against the layout the code chooses (writes <results>/<profile>/layouts.csv)",
    )
    p.add_argument(
        "--micro",
        action="store_true",
        help="only the micro-benchmarks: Sim(2) separable2d's rotation x scale step three ways (dense 1x1 "
        "vs factorised) and batch norm + ReLU on a group feature map three ways (ours vs BatchNorm3d)",
    )
    p.add_argument(
        "--against",
        metavar="PATH",
        default=None,
        help="a checkout of the original implementation (git clone "
        "https://github.com/david-knigge/separable-group-convolutional-networks): time its model "
        "of each case alternately with ours, at least 7 rounds in quick and paper, and write the "
        "median per-round ratio original/ours with its quartiles and a verdict (speedup_vs_original, "
        "speedup_vs_original_q25, speedup_vs_original_q75, verdict_vs_original)",
    )
    p.add_argument(
        "--bf16",
        action="store_true",
        help="also time our training step under bfloat16 autocast (precision=bf16), alternating with float32 "
        "(columns train_ms_bf16, bf16_speedup); whether it pays depends on the hardware",
    )
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.micro:
        times = microbench_rotation_scale(device=args.device)
        for name, ms in times.items():
            print(f"{name:<26} {ms:8.1f} ms  ({ms / times['dense_1x1']:.2f}x dense_1x1)")
        times = microbench_batch_norm(device=args.device)
        for name, ms in times.items():
            print(f"{name:<26} {ms:8.1f} ms  ({ms / times['group_batch_norm']:.2f}x group_batch_norm)")
        return 0
    if args.layouts:
        path = Path(args.out) if args.out else layouts_path(args.profile, args.device)
        frame = run_layouts(args.profile, args.device, path)
        print(summarise_layouts(frame))
        print(f"written to {path}")
        return 0 if frame["agrees"].all() else 1
    if args.sweep:
        path = Path(args.out) if args.out else sweep_path(args.profile, args.device)
        frame = run_sweep(args.profile, args.device, path)
        print(summarise_sweep(frame))
        print(f"written to {path}")
        return 0
    frame = run_benchmark(args.profile, args.device, args.out, against=args.against, bf16=args.bf16)
    print(summarise_efficiency(frame))
    return 0


__all__ = ["register"]
