"""One training step (forward, backward to input and kernel) of a depthwise convolution,
``F.conv2d(..., groups=C)`` in channels-last (oneDNN computes the kernel gradient) against
:func:`gsepconv.nn.depthwise.depthwise_conv2d` (the kernel gradient as a depthwise convolution of
the maps with their gradients), in alternating rounds, on the depthwise shapes of the quick
benchmark's separable models (batch 32): SE(2) N = 4, 8, 16 at k = 7, the windows of Sim(2)'s and
R²⋊R⁺'s scales, and 3×3, which ``conv2d`` leaves to oneDNN. Prints the median times and the
median oneDNN/ours ratio with its IQR; ``use`` is what ``conv2d`` chooses
(:func:`gsepconv.nn.depthwise.use_depthwise`), so a wrong choice shows as a row where they disagree.

``python benchmarks/depthwise.py [rounds]`` (default 7; about two minutes on 2 CPU cores).
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
import torch.nn.functional as F

from gsepconv.nn.depthwise import depthwise_conv2d, use_depthwise

torch.set_num_threads(2)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7

#: (label, batch, channels, H, k)
SHAPES = [
    ("SE2 N=4, 28x28", 32, 64, 28, 7),
    ("SE2 N=4, 14x14", 32, 128, 14, 7),
    ("SE2 N=8, 28x28", 32, 128, 28, 7),
    ("SE2 N=8, 14x14", 32, 256, 14, 7),
    ("SE2 N=16, 28x28", 32, 256, 28, 7),
    ("SE2 N=16, 14x14", 32, 512, 14, 7),
    ("Sim2 4x3 small scales, 28x28", 32, 128, 28, 7),
    ("Sim2 4x3 largest scale, 28x28", 32, 64, 28, 11),
    ("Sim2 8x3 largest scale, 28x28", 32, 128, 28, 11),
    ("Sim2 4x3 largest scale, 14x14", 32, 128, 14, 11),
    ("R2xR+ one scale, 28x28", 32, 16, 28, 9),
    ("5x5 kernel, 28x28", 32, 128, 28, 5),
    ("9x9 kernel, 28x28", 32, 128, 28, 9),
    ("5x5 kernel, 14x14", 32, 128, 14, 5),
    ("3x3 kernel, 28x28", 32, 128, 28, 3),
]


def step(fn, x, w, p) -> float:
    t = time.perf_counter()
    fn(x, w, p).sum().backward()
    return time.perf_counter() - t


def onednn(x, w, p):
    return F.conv2d(x, w, None, 1, p, 1, x.shape[1])


def ours(x, w, p):
    return depthwise_conv2d(x, w, 1, p)


print(f"{'shape':32s} {'oneDNN ms':>10s} {'ours ms':>8s} {'ratio [IQR]':>20s}  use")
for label, b, c, h, k in SHAPES:
    torch.manual_seed(0)
    x = torch.randn(b, c, h, h).contiguous(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(c, 1, k, k).contiguous(memory_format=torch.channels_last).requires_grad_()
    times: dict[str, list[float]] = {"onednn": [], "ours": []}
    fns = {"onednn": onednn, "ours": ours}
    for name in fns:  # warm-up
        step(fns[name], x, w, k // 2)
    for r in range(rounds):
        for name in list(fns) if r % 2 else list(fns)[::-1]:
            times[name].append(step(fns[name], x, w, k // 2))
    ratios = sorted(a / o for a, o in zip(times["onednn"], times["ours"]))
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    print(
        f"{label:32s} {statistics.median(times['onednn']) * 1e3:10.1f} {statistics.median(times['ours']) * 1e3:8.1f} "
        f"{q[1]:8.2f} [{q[0]:.2f}, {q[2]:.2f}]  {'ours' if use_depthwise(x, w, c) else 'oneDNN'}",
        flush=True,
    )
