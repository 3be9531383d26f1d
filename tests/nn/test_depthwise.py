"""Depthwise convolutions whose kernel gradient is a depthwise convolution of the maps with their
gradients (:mod:`gsepconv.nn.depthwise`): the same function, gradients and second derivatives as
``F.conv2d`` to round-off, at any stride and padding; the layers that use it train as before; the
automatic choice keeps oneDNN where the measured rule says it is faster."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from _helpers import F64, SMALL, assert_path_trains_as_without, rel
from gsepconv.groups import R2xRplus, Sim2
from gsepconv.nn import GroupConv
from gsepconv.nn import depthwise as depthwise_module
from gsepconv.nn.depthwise import depthwise_conv2d, kernel_gradient, use_depthwise

#: (batch, C, H, W, k_h, k_w, stride, padding)
CASES = [
    (2, 3, 13, 11, 7, 7, 1, 3),
    (2, 3, 13, 12, 5, 5, 2, 2),
    (1, 4, 17, 14, 5, 3, 3, (1, 4)),
    (2, 2, 9, 9, 3, 3, 2, 0),
    (3, 2, 5, 5, 5, 5, 1, 0),
    (1, 2, 6, 7, 11, 11, 1, 5),
]


@pytest.mark.parametrize("b,c,h,w,kh,kw,stride,p", CASES)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_equals_conv2d_with_gradients(b, c, h, w, kh, kw, stride, p, layout):
    torch.manual_seed(h * w)
    x = torch.randn(b, c, h, w, dtype=F64).contiguous(memory_format=layout).requires_grad_()
    k = torch.randn(c, 1, kh, kw, dtype=F64, requires_grad=True)
    ref, out = F.conv2d(x, k, None, stride, p, 1, c), depthwise_conv2d(x, k, stride, p)
    assert out.shape == ref.shape
    assert rel(out, ref) < 1e-14
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(out, (x, k), g), torch.autograd.grad(ref, (x, k), g)):
        assert a.shape == r.shape and rel(a, r) < 1e-12


@pytest.mark.parametrize("stride,p", [(1, 2), (2, (1, 2))])
def test_first_and_second_derivatives(stride, p):
    x = torch.randn(2, 2, 7, 6, dtype=F64, requires_grad=True)
    k = torch.randn(2, 1, 5, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: depthwise_conv2d(a, b, stride, p), (x, k))
    assert torch.autograd.gradgradcheck(lambda a, b: depthwise_conv2d(a, b, stride, p), (x, k))


def test_kernel_gradient_is_the_correlation_of_each_map_with_its_gradient():
    x = torch.randn(3, 2, 8, 8, dtype=F64)
    g = torch.randn(3, 2, 8, 8, dtype=F64)
    gw = kernel_gradient(x, g, (3, 3), 1, (1, 1))
    xp = F.pad(x, (1, 1, 1, 1))
    for c in range(2):
        for j in range(3):
            for i in range(3):
                expect = (g[:, c] * xp[:, c, j : j + 8, i : i + 8]).sum()
                assert abs(gw[c, 0, j, i] - expect) < 1e-12


def test_bad_input_says_what_is_expected():
    with pytest.raises(ValueError, match=r"weight \[C, 1, k_h, k_w\]"):
        depthwise_conv2d(torch.randn(1, 3, 8, 8), torch.randn(2, 1, 3, 3))
    with pytest.raises(ValueError, match="non-negative padding"):
        depthwise_conv2d(torch.randn(1, 2, 8, 8), torch.randn(2, 1, 3, 3), 1, -1)


@pytest.fixture
def avx512(monkeypatch):
    """The rule as on a CPU where the path was measured faster (AVX-512), whatever runs the tests."""
    monkeypatch.setattr(depthwise_module, "fast_here", lambda: True)


def test_other_cpus_keep_onednn(monkeypatch):
    """Where the path was measured slower (an AVX2-only CPU), every convolution stays with oneDNN."""
    x, w = torch.randn(2, 64, 28, 28), torch.randn(64, 1, 11, 11)
    monkeypatch.setattr(depthwise_module, "fast_here", lambda: True)
    assert use_depthwise(x, w, 64)
    monkeypatch.setattr(depthwise_module, "fast_here", lambda: False)
    assert not use_depthwise(x, w, 64)
    monkeypatch.undo()
    assert depthwise_module.fast_here() == torch.backends.cpu.get_cpu_capability().startswith("AVX512")


@pytest.mark.parametrize(
    "c,h,k,groups,dtype,expect",
    [
        (64, 28, 11, 64, torch.float32, True),  # a large window on 28×28: here
        (64, 14, 5, 64, torch.float64, True),
        (64, 28, 7, 64, torch.float32, False),  # small against the map: oneDNN is faster
        (64, 28, 3, 64, torch.float32, False),  # 3×3: oneDNN's fast path
        (64, 14, 3, 64, torch.float32, False),
        (64, 28, 11, 32, torch.float32, False),  # grouped, not depthwise
        (64, 28, 11, 64, torch.bfloat16, False),
    ],
)
def test_choice(c, h, k, groups, dtype, expect, avx512):
    x = torch.randn(2, c, h, h, dtype=dtype)
    w = torch.randn(c, c // groups, k, k, dtype=dtype)
    assert use_depthwise(x, w, groups) is expect


@pytest.mark.parametrize(
    "group,ne,impl",
    [(Sim2(max_scale=1.74), (4, 3), "separable2d"), (R2xRplus(max_scale=1.74), 3, "separable")],
)
def test_layers_train_as_with_onednn(group, ne, impl, monkeypatch, avx512):
    """A separable scale-group layer on a map small enough for the rule: the output and every
    parameter's gradient equal those computed with oneDNN's kernel gradient."""
    torch.manual_seed(0)
    layer = GroupConv(group, 2, 3, 7, ne, implementation=impl, **SMALL).double()
    x = torch.randn(2, 2, layer.grid.size, 10, 10, dtype=F64)
    _, spatial = layer.weights()[0], layer.weights()[-1]
    assert use_depthwise(
        torch.empty(1, 3 * spatial.shape[1], 10, 10, dtype=F64),
        spatial.reshape(-1, 1, *spatial.shape[-2:]),
        3 * spatial.shape[1],
    )

    assert_path_trains_as_without(layer, x, monkeypatch, "depthwise_conv2d", "use_depthwise")


def test_not_under_autocast(avx512):
    """Autocast would run the forward in bfloat16 and hand the backward a bfloat16 gradient
    against float32 tensors: the convolution stays with oneDNN there."""
    x, w = torch.randn(2, 8, 14, 14), torch.randn(8, 1, 7, 7)
    assert use_depthwise(x, w, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not use_depthwise(x, w, 8)
    assert not use_depthwise(x, w.double(), 8)
