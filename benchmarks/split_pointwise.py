"""The 1×1 channel mixing of a separable Sim(2) layer split by output window: one 1×1
convolution per window group (each reads the whole input and writes a full-size input gradient,
the formulation before ``_Cut``) against the implementation's one 1×1 convolution whose channels
are then cut per group (``_Cut``). A ``GroupConv`` training step (kernel sampling, forward,
backward) at the quick models' 28×28 shapes, its input laid out as the layers write it
(channels-last ``[B, C·N, H, W]``), in alternating rounds; medians and the median ratio with its
interquartile range.

``python benchmarks/split_pointwise.py [implementation] [kernel_size] [rotations] [scales]``
(defaults: separable2d, 7, 4, 3; ``separable`` takes the same path).
"""

from __future__ import annotations

import statistics
import sys

import torch

from gsepconv.experiments.bench.timing import alternate, paired_ratios, ratio_quartiles
from gsepconv.groups import Sim2
from gsepconv.nn import GroupConv
from gsepconv.nn.fft import padding_pair
from gsepconv.nn.implementations import (
    IMPLEMENTATIONS,
    _Assemble,
    _rotation_scale,
    _window_groups,
    conv2d,
    flat,
    unflat,
)

torch.set_num_threads(2)
impl = sys.argv[1] if len(sys.argv) > 1 else "separable2d"
k = int(sys.argv[2]) if len(sys.argv) > 2 else 7
ne = (int(sys.argv[3]) if len(sys.argv) > 3 else 4, int(sys.argv[4]) if len(sys.argv) > 4 else 3)
if impl not in ("separable", "separable2d"):
    raise SystemExit(f"split_pointwise times the separable forms (separable, separable2d), not {impl!r}")
torch.manual_seed(0)
layer = GroupConv(Sim2(max_scale=1.74), 16, 16, k, ne, implementation=impl)
maps = torch.randn(32, 16 * ne[0] * ne[1], 28, 28).contiguous(memory_format=torch.channels_last)
x = unflat(maps, 16).requires_grad_()  # [B, C, N, H, W], a view of a channels-last map


def per_group(x, weights, stride, padding):
    """The same split convolution with one 1×1 mixing per window group (its own channels only)."""
    a, s = (_rotation_scale(*weights[:2]), weights[2]) if impl == "separable2d" else weights
    co, no, w = s.shape[0], s.shape[1], s.shape[-1]
    ph, pw = padding_pair(padding)
    fx = flat(x)
    parts, selections = [], []
    for m, elements, channels in _window_groups(s, padding):
        mix = a[:, elements] if isinstance(elements, slice) else a.index_select(1, elements)
        kernel = s[:, elements] if isinstance(elements, slice) else s.index_select(1, elements)
        kernel = kernel[..., m : w - m, m : w - m]
        n = kernel.shape[1]
        ch, cw = max(0, m - ph), max(0, m - pw)  # crop where the padding is smaller than the margin
        z = conv2d(fx[..., ch : fx.shape[-2] - ch, cw : fx.shape[-1] - cw], mix.reshape(co * n, -1, 1, 1))
        pad = (max(0, ph - m), max(0, pw - m))
        parts.append(conv2d(z, kernel.reshape(co * n, 1, w - 2 * m, w - 2 * m), stride, pad, co * n))
        selections.append(channels)
    return unflat(_Assemble.apply(co * no, selections, *parts), co)


def step(fn):
    def run():
        fn(x, layer.sample_weights(), 1, layer.padding).sum().backward()

    return run


weights = layer.sample_weights()
groups = _window_groups(weights[-1], layer.padding)
print(impl, ne, "window", layer.window, "window groups (margin, elements)", [(g.margin, g.elements) for g in groups])
with torch.no_grad():  # the two formulations compute the same function
    ref, ours = per_group(x, weights, 1, layer.padding), IMPLEMENTATIONS[impl].convolve(x, weights, 1, layer.padding)
    print(f"max |difference| / max |output|: {float((ref - ours).abs().max() / ref.abs().max()):.1e}")
# 9 alternating rounds after one warm-up: each round's two steps see the same machine state
b, a = alternate([step(per_group), step(IMPLEMENTATIONS[impl].convolve)], 1, 9, torch.device("cpu"))
q1, median, q3 = ratio_quartiles(paired_ratios(b, a))
print(
    f"per group {statistics.median(b):.0f} ms, one 1×1 + cut {statistics.median(a):.0f} ms, "
    f"per group/ours {median:.2f} [{q1:.2f}, {q3:.2f}]"
)
