"""One Sim(2) ``GroupConv`` training step (kernel sampling, forward, backward) with its windowed
convolution as one ``conv2d`` over the whole window (before) against the implementation's one
``conv2d`` per output window (after), in alternating rounds, per memory layout; medians, IQRs and
the median ratio. Non-separable: the dense convolution is split; separable and separable2d: the
depthwise spatial convolution after the 1×1 channel mixing.

``python benchmarks/sim2_split_layer.py [implementation] [kernel_size] [mask]`` (defaults:
nonseparable, 7, hard; a mask without exact zeros, e.g. smooth, is not split and shows the
overhead of finding that out).
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from gsepconv.groups import Sim2
from gsepconv.nn import GroupConv
from gsepconv.nn.implementations import (
    IMPLEMENTATIONS,
    LAYOUTS,
    _crop_margins,
    _rotation_scale,
    conv2d,
    flat,
    memory_format,
    unflat,
)

torch.set_num_threads(2)
impl = sys.argv[1] if len(sys.argv) > 1 else "nonseparable"
k = int(sys.argv[2]) if len(sys.argv) > 2 else 7
mask = sys.argv[3] if len(sys.argv) > 3 else "hard"
torch.manual_seed(0)
layer = GroupConv(Sim2(max_scale=1.74), 16, 16, k, (4, 3), implementation=impl, mask=mask)
x = torch.randn(16, 16, 12, 28, 28, requires_grad=True)


def before(x, weights, stride, padding):
    """The whole window in one convolution: dense, or 1×1 then depthwise."""
    if impl == "nonseparable":
        (kern,) = weights
        co, no, ci, ni, kh, kw = kern.shape
        return unflat(conv2d(flat(x), kern.reshape(co * no, ci * ni, kh, kw), stride, padding), co)
    a, s = (_rotation_scale(*weights[:2]), weights[2]) if impl == "separable2d" else weights
    co, no, ci, ni = a.shape
    z = conv2d(flat(x), a.reshape(co * no, ci * ni, 1, 1))
    return unflat(conv2d(z, s.reshape(co * no, 1, *s.shape[-2:]), stride, padding, groups=co * no), co)


def step(fn):
    t = time.perf_counter()
    weights = layer.sample_weights()
    y = fn(x, weights, 1, layer.padding)
    y.sum().backward()
    return time.perf_counter() - t


print(impl, "window", layer.window, "margins", _crop_margins(layer.sample_weights()[-1]))
for name, fmt in LAYOUTS.items():
    with memory_format(fmt):
        step(before)
        step(IMPLEMENTATIONS[impl].apply)
        b, a = [], []
        for _ in range(9):
            b.append(step(before))
            a.append(step(IMPLEMENTATIONS[impl].apply))
    r = [p / q for p, q in zip(b, a)]
    q1, _, q3 = statistics.quantiles(r, n=4)
    qb = statistics.quantiles(b, n=4)
    qa = statistics.quantiles(a, n=4)
    print(
        f"{name:>13} k={k}: before {statistics.median(b) * 1e3:.0f} ms [IQR {qb[0] * 1e3:.0f}-{qb[2] * 1e3:.0f}], "
        f"after {statistics.median(a) * 1e3:.0f} ms [IQR {qa[0] * 1e3:.0f}-{qa[2] * 1e3:.0f}], "
        f"before/after {statistics.median(r):.2f} [{q1:.2f}, {q3:.2f}]"
    )
