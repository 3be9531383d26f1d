"""One training step (forward, backward to input and kernel) of a dense stride-1 ``conv2d``, direct
(``F.conv2d``, NCHW) against the Fourier path (:func:`gsepconv.nn.fft.fft_conv2d`), in alternating
rounds, on the layer shapes of the quick benchmark's models (SE(2) N = 4, 8, 16 and Sim(2) 4×3 at
k = 7, batch 32, widths 16, 16, 32) and a few where the Fourier path should lose (3×3 kernels, the
lifting layer's one input channel, 7×7 maps). Prints the median times, the median direct/Fourier
ratio with its IQR, and what ``conv_algorithm("auto")`` chooses (:func:`fft_is_faster`), so a
wrong choice shows as a row where the measured ratio and the choice disagree.

``python benchmarks/fft_conv.py [rounds]`` (default 5; about 2 minutes on 2 CPU cores).
``--fit`` also prints the least-squares costs of the model's terms for this machine.
"""

from __future__ import annotations

import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from gsepconv.nn.fft import fft_conv2d, fft_is_faster, transform_size

torch.set_num_threads(2)
args = [a for a in sys.argv[1:] if not a.startswith("--")]
rounds = int(args[0]) if args else 5
fit = "--fit" in sys.argv

#: (label, batch, C_i, C_o, H, k, padding)
SHAPES = [
    ("SE2 N=4, 28x28", 32, 64, 64, 28, 7, 3),
    ("SE2 N=4, 14x14 in", 32, 64, 128, 14, 7, 3),
    ("SE2 N=4, 14x14", 32, 128, 128, 14, 7, 3),
    ("SE2 N=8, 28x28", 32, 128, 128, 28, 7, 3),
    ("SE2 N=8, 14x14", 32, 256, 256, 14, 7, 3),
    ("SE2 N=16, 28x28", 32, 256, 256, 28, 7, 3),
    ("Sim2 4x3, 28x28, 13x13 window", 32, 192, 192, 28, 13, 6),
    ("Sim2 4x3, 14x14, 13x13 window", 32, 384, 384, 14, 13, 6),
    ("5x5 kernel", 32, 128, 128, 28, 5, 2),
    ("3x3 kernel", 32, 64, 64, 28, 3, 1),
    ("3x3 valid on 7x7", 32, 128, 128, 7, 3, 0),
    ("16 -> 64 channels", 32, 16, 64, 28, 7, 3),
    ("lifting, 1 channel", 32, 1, 64, 28, 7, 3),
]


def step(fn, x, w, p) -> float:
    t = time.perf_counter()
    fn(x, w, p).sum().backward()
    return time.perf_counter() - t


def direct(x, w, p):
    return F.conv2d(x, w, padding=p)


rows, terms = [], []
for label, b, ci, co, h, k, p in SHAPES:
    torch.manual_seed(0)
    x = torch.randn(b, ci, h, h, requires_grad=True)
    w = torch.randn(co, ci, k, k, requires_grad=True)
    step(direct, x, w, p), step(fft_conv2d, x, w, p)  # warm-up
    td, tf = [], []
    for r in range(rounds):
        pair = ((direct, td), (fft_conv2d, tf)) if r % 2 == 0 else ((fft_conv2d, tf), (direct, td))
        for fn, out in pair:
            out.append(step(fn, x, w, p))
    ratios = sorted(d / f for d, f in zip(td, tf))
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    choice = "fft" if fft_is_faster(b, ci, co, (h, h), (k, k), (p, p)) else "direct"
    measured = "fft" if q[0] > 1 else "direct" if q[2] < 1 else "tie"
    agree = "yes" if measured in (choice, "tie") else "NO"
    rows.append(
        (label, statistics.median(td) * 1e3, statistics.median(tf) * 1e3, statistics.median(ratios), q, choice, agree)
    )
    print(
        f"{label:32s} direct {rows[-1][1]:7.1f} ms  fft {rows[-1][2]:7.1f} ms  "
        f"direct/fft {rows[-1][3]:5.2f} [{q[0]:.2f}, {q[2]:.2f}]  auto: {choice:6s} agrees: {agree}",
        flush=True,
    )
    lh = transform_size(h, k, p)
    freqs = lh * (lh // 2 + 1)
    ho = h + 2 * p - k + 1
    terms.append(
        (
            b * ho * ho * ci * co * k * k,
            b * freqs * ci * co,
            b * (ci + co) * lh * lh * math.log2(lh * lh),
            ci * co * freqs * k,
            statistics.median(td),
            statistics.median(tf),
        )
    )

if fit:
    d = torch.tensor([t[0] for t in terms], dtype=torch.float64)
    a = torch.tensor([t[1:4] for t in terms], dtype=torch.float64)
    td = torch.tensor([t[4] for t in terms], dtype=torch.float64)
    tf = torch.tensor([t[5] for t in terms], dtype=torch.float64)
    per_mac = (td @ d) / (d @ d)  # seconds per direct multiply–accumulate (one step)
    # relative errors weigh small and large layers alike
    cost = torch.linalg.lstsq(a / tf[:, None], (tf / per_mac / tf)[:, None]).solution.squeeze(1)
    print(
        f"fit (direct MAC = 1): product {cost[0]:.2f}, transform {cost[1]:.2f}, kernel {cost[2]:.2f}; "
        f"direct step {per_mac * 1e12:.1f} ps per MAC"
    )
