"""Sim(2) non-separable group convolution: one dense ``conv2d`` over the largest scale's window,
against one ``conv2d`` per output scale, each with its own window.

The kernel of output scale ``s`` is the identity kernel dilated by ``s``: its taps outside that
scale's window are zero, so both forms compute the same function. The cost of a dense convolution
grows with the window's area, so the split saves ``Σ_s w_s² / (N_s · w_max²)`` of the
multiply-adds (k=7, max_scale 1.74, three scales: windows 7, 9, 13 → 299 / 507 taps).

Prints, per memory layout, the median training step (forward + backward) of both forms over
alternating rounds and the median ratio with its interquartile range. Run it on an idle machine:
``python benchmarks/sim2_scale_split.py --batch 16 --rounds 7``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def _step(conv, x: torch.Tensor) -> float:
    start = time.perf_counter()
    conv(x).sum().backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--channels", type=int, default=16, help="channels per group element")
    parser.add_argument("--rotations", type=int, default=4)
    parser.add_argument("--windows", type=int, nargs="+", default=[7, 9, 13], help="window of each output scale")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    scales, largest = len(args.windows), max(args.windows)
    c_in = args.channels * args.rotations * scales
    c_out_per_scale = args.channels * args.rotations
    dense = torch.randn(c_out_per_scale * scales, c_in, largest, largest, requires_grad=True)
    parts = [torch.randn(c_out_per_scale, c_in, w, w, requires_grad=True) for w in args.windows]

    def full(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, dense, padding=largest // 2)

    def split(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.conv2d(x, w, padding=w.shape[-1] // 2) for w in parts], dim=1)

    taps = sum(w * w for w in args.windows) / (scales * largest * largest)
    print(f"taps of the split / the dense form: {taps:.3f} (expected speed-up ≤ {1 / taps:.2f}×)")
    for layout, fmt in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        x = torch.randn(args.batch, c_in, args.size, args.size).contiguous(memory_format=fmt).requires_grad_()
        _step(full, x), _step(split, x)  # first calls: thread pools, oneDNN plans
        dense_s, split_s = [], []
        for _ in range(args.rounds):
            dense_s.append(_step(full, x))
            split_s.append(_step(split, x))
        ratios = [a / b for a, b in zip(dense_s, split_s)]
        q25, _, q75 = statistics.quantiles(ratios, n=4)
        dense_ms, split_ms = statistics.median(dense_s) * 1e3, statistics.median(split_s) * 1e3
        print(
            f"{layout:>13}: dense {dense_ms:7.0f} ms, split {split_ms:7.0f} ms,"
            f" dense/split {statistics.median(ratios):.2f} [{q25:.2f}, {q75:.2f}]"
        )


if __name__ == "__main__":
    main()
