"""One training step (forward, backward to the kernel) of the lifting layer's convolution of a
one-channel image, ``F.conv2d`` (oneDNN computes the kernel gradient) against
:func:`gsepconv.nn.patches.patch_conv2d` (a matrix product over the image's patches both ways), in
alternating rounds, on the lifting shapes of the quick benchmark's models (batch 32, 28×28
images): SE(2) N = 4, 8, 16 (7×7), R²⋊R⁺ N = 3 and Sim(2) 4×3 and 8×3 (13×13); then the same
kernels on three-channel images, which ``conv2d`` leaves to oneDNN. Prints the median times, the
median oneDNN/ours ratio with its IQR, the forward-only ratio, and ``use``, what ``conv2d`` chooses
(:func:`gsepconv.nn.patches.use_patches`), so a wrong choice shows as a row where they disagree.

``python benchmarks/patches.py [rounds]`` (default 7; about a minute on 2 CPU cores).
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
import torch.nn.functional as F

from gsepconv.nn.patches import patch_conv2d, use_patches

torch.set_num_threads(2)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7

#: (label, input channels, kernels, k)
SHAPES = [
    ("SE2 N=4", 1, 64, 7),
    ("SE2 N=8", 1, 128, 7),
    ("SE2 N=16", 1, 256, 7),
    ("R2xR+ N=3", 1, 48, 13),
    ("Sim2 4x3", 1, 192, 13),
    ("Sim2 8x3", 1, 384, 13),
    ("RGB, SE2 N=8", 3, 128, 7),
    ("RGB, Sim2 4x3", 3, 192, 13),
]


def onednn(x, w, p):
    return F.conv2d(x, w, None, 1, p).contiguous(memory_format=torch.channels_last)


def ours(x, w, p):
    return patch_conv2d(x, w, 1, p)


def timed(fn, x, w, p, backward: bool) -> float:
    t = time.perf_counter()
    if backward:
        fn(x, w, p).sum().backward()
    else:
        with torch.no_grad():
            fn(x, w, p)
    return time.perf_counter() - t


def quartiles(values: list[float]) -> list[float]:
    return statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3


print(f"{'shape':16s} {'oneDNN ms':>10s} {'ours ms':>8s} {'step ratio [IQR]':>20s} {'forward':>8s}  use")
for label, ci, co, k in SHAPES:
    torch.manual_seed(0)
    x = torch.randn(32, ci, 28, 28)
    w = torch.randn(co, ci, k, k).requires_grad_()
    fns = {"onednn": onednn, "ours": ours}
    times: dict[tuple[str, bool], list[float]] = {(n, b): [] for n in fns for b in (True, False)}
    for name in fns:  # warm-up
        timed(fns[name], x, w, k // 2, True)
    for r in range(rounds):
        for name in list(fns) if r % 2 else list(fns)[::-1]:
            for backward in (True, False):
                times[name, backward].append(timed(fns[name], x, w, k // 2, backward))
    step = sorted(a / o for a, o in zip(times["onednn", True], times["ours", True]))
    forward = statistics.median(a / o for a, o in zip(times["onednn", False], times["ours", False]))
    q = quartiles(step)
    print(
        f"{label:16s} {statistics.median(times['onednn', True]) * 1e3:10.1f} "
        f"{statistics.median(times['ours', True]) * 1e3:8.1f} {q[1]:8.2f} [{q[0]:.2f}, {q[2]:.2f}] "
        f"{forward:8.2f}  {'ours' if use_patches(x, w, 1) else 'oneDNN'}",
        flush=True,
    )
