"""Group convolutions of scale groups, split by output window: one ``conv2d`` per group of output
elements whose kernels share the same all-zero outer rings (hard mask) — the dense convolution of
the non-separable forms and the depthwise spatial convolution of the separable ones — against one
``conv2d`` over the whole window with the equivalent dense kernel. Same function to round-off,
same equivariance."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from _helpers import F64, SMALL, rel
from gsepconv.groups import R2xRplus, Sim2
from gsepconv.nn import GroupConv, LiftingConv, export
from gsepconv.nn.implementations import (
    LAYOUTS,
    NonSeparable,
    _channels,
    _crop_margins,
    _Cut,
    _periodic_parts,
    _window_groups,
    memory_format,
)

SCALE_CASES = [("Sim2", Sim2(max_scale=1.74), (4, 3)), ("R2xRplus", R2xRplus(max_scale=1.74), 3)]
PADS = [(1, "same"), (1, "valid"), (1, 1), (2, "half"), (2, 0), (2, (1, 3)), (3, (4, 2))]


def _single(x: torch.Tensor, k: torch.Tensor, stride: int, padding) -> torch.Tensor:
    """The reference: one conv2d over the whole window."""
    co, no, ci, ni, w, _ = k.shape
    y = F.conv2d(
        x.reshape(x.shape[0], ci * ni, *x.shape[-2:]), k.reshape(co * no, ci * ni, w, w), None, stride, padding
    )
    return y.view(y.shape[0], co, no, *y.shape[-2:])


def _layer(group, ne, k, impl="nonseparable", **kw) -> GroupConv:
    torch.manual_seed(k)
    return GroupConv(group, 2, 3, k, ne, implementation=impl, **SMALL, **kw).double()


@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("name,group,ne", SCALE_CASES, ids=[c[0] for c in SCALE_CASES])
def test_hard_mask_zeroes_the_rings_outside_each_scales_window(name, group, ne, k):
    layer = _layer(group, ne, k)
    kern = layer.product_kernel()
    margins = _crop_margins(kern)
    w = layer.window
    for n, m in enumerate(margins):  # the cropped rings are exactly zero, the next one is not
        assert not kern[:, n, ..., :m, :].any() and not kern[:, n, ..., w - m :, :].any()
        assert not kern[:, n, ..., :m].any() and not kern[:, n, ..., w - m :].any()
        inner = kern[:, n, ..., m : w - m, m : w - m]
        assert inner[..., 0, :].any() or inner[..., :, 0].any()
    assert max(margins) > 0
    if k > 3:  # windows differ between scales: the identity's is the smallest
        assert len(set(margins)) > 1 and _window_groups(kern, layer.padding) is not None


@pytest.mark.parametrize("shape", [(3, 5, 2, 4, 7, 7), (3, 5, 7, 7)], ids=["dense", "depthwise"])
def test_crop_margins_count_the_zero_rings_of_any_sign(shape):
    """Per output element, the outer rings that are zero for every channel: a single negative tap,
    a NaN or a tap in one channel only keeps its ring."""
    k = torch.zeros(shape, dtype=torch.float64)
    k[..., 3, 3] = 1.0  # every element keeps its centre
    k[0, 1, ..., 0, 2] = -1e-300  # element 1: one tiny negative tap on ring 3 (one channel)
    k[-1, 2, ..., 5, 4] = -2.0  # element 2: ring 2
    k[1, 3, ..., 2, 3] = float("nan")  # element 3: a NaN on ring 1
    assert _crop_margins(k) == [3, 0, 1, 2, 3]
    assert _crop_margins(k.transpose(0, 1).contiguous().transpose(0, 1)) == [3, 0, 1, 2, 3]  # strided


@pytest.mark.parametrize("mask", ["smooth", "soft_square", "none"])
def test_masks_without_exact_zeros_keep_one_convolution(mask):
    layer = _layer(Sim2(max_scale=1.74), (4, 3), 5, mask=mask)
    kern = layer.product_kernel()
    assert _crop_margins(kern) == [0] * 12
    assert _window_groups(kern, layer.padding) is None


#: The split convolution of each form: dense (nonseparable) or depthwise (separable, separable2d).
SPLIT_IMPLS = [
    ("Sim2", "nonseparable"),
    ("R2xRplus", "nonseparable"),
    ("Sim2", "separable"),
    ("R2xRplus", "separable"),
    ("Sim2", "separable2d"),
]


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("stride,padding", PADS, ids=[f"s{s}-p{p}" for s, p in PADS])
@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("name,impl", SPLIT_IMPLS, ids=[f"{n}-{i}" for n, i in SPLIT_IMPLS])
def test_split_equals_single_convolution(name, impl, k, stride, padding, layout):
    _, group, ne = next(c for c in SCALE_CASES if c[0] == name)
    layer = _layer(group, ne, k, impl, stride=stride, padding=padding, bias=False)
    kern = layer.product_kernel()
    x = torch.randn(2, 2, layer.grid.size, 17, 14, dtype=F64, requires_grad=True)
    with memory_format(LAYOUTS[layout]):
        y = layer(x)
    assert y.view(y.shape[0], -1, *y.shape[-2:]).is_contiguous(memory_format=LAYOUTS[layout])
    ref = _single(x, kern, stride, layer.padding)
    assert y.shape == ref.shape
    assert rel(y, ref) < 1e-13
    g = torch.randn_like(ref)
    (gx,) = torch.autograd.grad(y, x, g)
    (gx_ref,) = torch.autograd.grad(ref, x, g)
    assert rel(gx, gx_ref) < 1e-13


def test_split_gradients_reach_the_kernel_net_as_before():
    layer = _layer(Sim2(max_scale=1.74), (4, 3), 7)
    x = torch.randn(2, 2, 12, 15, 15, dtype=F64)
    layer(x).square().sum().backward()
    split = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    (kern,) = layer.sample_weights()
    (_single(x, kern, 1, layer.padding) + layer.bias.view(1, -1, 1, 1, 1)).square().sum().backward()
    for a, p in zip(split, layer.parameters()):
        assert rel(a, p.grad) < 1e-12


def test_uniform_sampling_finds_each_draws_windows():
    layer = _layer(Sim2(max_scale=1.74), (4, 3), 7, sampling="uniform").train()
    x = torch.randn(1, 2, 12, 13, 13, dtype=F64)
    for _ in range(3):
        y = layer(x)
        (kern,) = layer.impl.sample(layer.grid.elements(), layer.grid.elements())
        ref = _single(x, kern, 1, layer.padding) + layer.bias.view(1, -1, 1, 1, 1)
        assert rel(y, ref) < 1e-13


def test_eval_cache_export_and_in_place_edits():
    layer = _layer(Sim2(max_scale=1.74), (4, 3), 5).eval()
    x = torch.randn(2, 2, 12, 12, 12, dtype=F64)
    with torch.no_grad():
        y1, y2 = layer(x), layer(x)  # the second call uses the groups memoised on the cached kernel
        assert torch.equal(y1, y2)
        assert rel(export(layer)(x), y1) < 1e-13
        (kern,) = layer.weights()
        kern[:, :, :, :, 0, 0] = 1.0  # a tap outside every window: the split must see it
        ref = _single(x, kern, 1, layer.padding)
        assert rel(NonSeparable.apply(x, (kern,), 1, layer.padding), ref) < 1e-13


@pytest.mark.parametrize("impl", ["nonseparable", "gseparable", "gseparable2d", "separable", "separable2d"])
@pytest.mark.parametrize("k", [5, 7])
def test_split_sim2_rot90_exact(impl, k):
    group, ne = Sim2(max_scale=1.74), (4, 3)
    torch.manual_seed(0)
    lift = LiftingConv(group, 1, 3, 3, ne, **SMALL)
    gconv = GroupConv(group, 3, 2, k, ne, implementation=impl, grid=lift.grid, **SMALL)
    gconv2 = GroupConv(group, 2, 2, k, ne, implementation=impl, grid=lift.grid, stride=2, padding=1, **SMALL)
    model = nn.Sequential(lift, nn.Tanh(), gconv, nn.Tanh(), gconv2).double().eval()
    split = gconv.weights()[-1]  # the dense kernel, or the depthwise spatial factor
    assert _window_groups(split, gconv.padding) is not None
    x = torch.randn(2, 1, 21, 21, dtype=F64)
    with torch.no_grad():
        y = model(x)
        for q in (1, 2, 3):
            y_t = model(torch.rot90(x, q, dims=(-2, -1)))
            expected = torch.roll(torch.rot90(y, q, dims=(-2, -1)), q * (4 // 4) * 3, dims=2)
            assert rel(y_t, expected) < 1e-12


@pytest.mark.parametrize(
    "idx,n,parts",
    [
        ([0, 1, 3, 4, 6, 7, 9, 10], 12, [[0, 3, 6, 9], [1, 4, 7, 10]]),  # two scales of a 4×3 grid
        ([2, 5, 8, 11], 12, [[2, 5, 8, 11]]),
        ([4, 5, 6, 7], 12, [[4, 5, 6, 7]]),  # one scale of a scale-major grid: not periodic, kept
        ([1], 3, [[1]]),
        ([0, 2], 3, [[0, 2]]),
        ([0, 1, 2], 3, [[0, 1, 2]]),
    ],
)
def test_periodic_parts(idx, n, parts):
    assert _periodic_parts(idx, n) == parts


@pytest.mark.parametrize("impl", ["nonseparable", "separable", "separable2d"])
def test_rotation_major_windows_are_strided_channel_slices(impl):
    """Sim(2)'s default grid is rotation-major: each scale's elements, and so their channels, are a
    strided slice, so the split reads and writes feature maps without a gather."""
    layer = _layer(Sim2(max_scale=1.74), (4, 3), 7, impl)
    split = layer.weights()[-1]
    groups = _window_groups(split, layer.padding)
    assert groups is not None and len(groups) == 3
    for _, elements, sel in groups:
        assert isinstance(elements, slice) and elements.step == 3
        assert isinstance(sel, slice) and sel.step == 3
        assert list(range(36)[sel]) == [o * 12 + e for o in range(3) for e in range(12)[elements]]
    assert _channels([0, 2], 2, 3, split.device).tolist() == [0, 2, 3, 5]
    assert _channels([1], 2, 3, split.device) == slice(1, 5, 3)
    assert _channels([0, 1], 1, 3, split.device) == slice(0, 2, 1)


@pytest.mark.parametrize("impl", ["nonseparable", "separable"])
def test_split_second_derivatives(impl):
    """The parts' assembly has its own backward; it is linear, so it differentiates again."""
    layer = _layer(R2xRplus(max_scale=1.74), 3, 5, impl, bias=False)
    weights = tuple(w.detach() for w in layer.weights())
    x = torch.randn(1, 2, 3, 7, 7, dtype=F64, requires_grad=True)
    assert _window_groups(weights[-1], layer.padding) is not None
    assert torch.autograd.gradgradcheck(lambda t: layer.impl.apply(t, weights, 1, layer.padding), (x,))


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_cut_parts_and_their_gradient_equal_slicing(layout):
    """``_Cut``'s parts are the slices themselves (copies in the input's layout), and its backward
    writes their gradients into one gradient, zero where no part reads (the cropped border)."""
    fmt = LAYOUTS[layout]
    x = torch.randn(2, 7, 9, 8, dtype=F64).contiguous(memory_format=fmt).requires_grad_()
    cuts = [(0, 3, 0, 0), (3, 5, 1, 2), (5, 7, 2, 1)]
    parts = _Cut.apply(x, cuts)
    expected = [x[:, a:b, ch : 9 - ch, cw : 8 - cw] for a, b, ch, cw in cuts]
    grads = [torch.randn_like(e) for e in expected]
    for p, e in zip(parts, expected):
        assert torch.equal(p, e) and p.is_contiguous(memory_format=fmt)
    (gx,) = torch.autograd.grad(parts, x, grads)
    (gx_ref,) = torch.autograd.grad(expected, x, grads)
    assert torch.equal(gx, gx_ref) and gx.is_contiguous(memory_format=fmt)
    small = x.detach()[:1, :, :5, :6].contiguous(memory_format=fmt).requires_grad_()
    assert torch.autograd.gradgradcheck(lambda t: _Cut.apply(t, cuts), (small,))
    # parts that leave channels out: their gradient is zero, not whatever memory held
    parts = _Cut.apply(x, [(1, 3, 0, 0), (5, 6, 0, 0)])
    (gx,) = torch.autograd.grad(parts, x, [torch.ones_like(p) for p in parts])
    assert gx[:, [1, 2, 5]].eq(1).all() and gx[:, [0, 3, 4, 6]].eq(0).all()


@pytest.mark.parametrize("impl", ["separable", "separable2d"])
def test_split_separable_mixes_channels_in_one_convolution(impl, monkeypatch):
    """The 1×1 mixing of every window group is one convolution (one pass over the input, one
    input gradient); each group then convolves its own channels depthwise."""
    import gsepconv.nn.implementations as implementations

    layer = _layer(Sim2(max_scale=1.74), (4, 3), 7, impl)
    groups = _window_groups(layer.weights()[-1], layer.padding)
    assert groups is not None and len(groups) == 3
    calls = []
    conv2d = implementations.conv2d

    def counted(x, weight, *args, **kw):
        calls.append(tuple(weight.shape[-2:]))
        return conv2d(x, weight, *args, **kw)

    monkeypatch.setattr(implementations, "conv2d", counted)
    layer(torch.randn(2, 2, 12, 11, 11, dtype=F64))
    assert calls.count((1, 1)) == 1 and len(calls) == 1 + len(groups)
