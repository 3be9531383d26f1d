"""The Fourier path of dense convolutions (:mod:`gsepconv.nn.fft`): the same function and gradients
as ``F.conv2d`` to round-off, in layers and whole models, with exact rot90 equivariance and the
paper's MAC counts; the automatic choice stays direct where the Fourier path loses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from _helpers import F64, SMALL, rel
from gsepconv.groups import SE2, Sim2
from gsepconv.models import build_model
from gsepconv.nn import GroupConv, LiftingConv, conv_algorithm, count_macs, fft_conv2d
from gsepconv.nn.fft import checked_padding, current_algorithm, fft_is_faster, transform_size, use_fft

#: (batch, C_i, C_o, H, W, k_h, k_w, padding): square and not, padding 0, "same", past the kernel
SHAPES = [
    (2, 3, 4, 9, 8, 3, 3, 1),
    (2, 3, 2, 7, 7, 5, 5, 0),
    (1, 2, 3, 6, 9, 5, 3, (2, 1)),
    (2, 2, 2, 5, 5, 3, 3, 3),
    (1, 1, 1, 8, 8, 7, 7, 3),
    (2, 4, 3, 13, 11, 13, 13, 6),
]


@pytest.mark.parametrize("b,ci,co,h,w,kh,kw,p", SHAPES)
def test_equals_conv2d_with_gradients(b, ci, co, h, w, kh, kw, p):
    torch.manual_seed(h * w)
    x = torch.randn(b, ci, h, w, dtype=F64, requires_grad=True)
    k = torch.randn(co, ci, kh, kw, dtype=F64, requires_grad=True)
    ref, out = F.conv2d(x, k, padding=p), fft_conv2d(x, k, p)
    assert out.shape == ref.shape
    assert rel(out, ref) < 1e-13
    g = torch.randn_like(ref)
    assert all(
        rel(a, r) < 1e-12 for a, r in zip(torch.autograd.grad(out, (x, k), g), torch.autograd.grad(ref, (x, k), g))
    )
    assert torch.autograd.gradcheck(
        lambda a, c: fft_conv2d(a, c, p), (x.detach()[:1, :2].requires_grad_(), k.detach()[:2, :2].requires_grad_())
    )


def test_float32_round_off_and_one_sided_gradients():
    torch.manual_seed(0)
    x, k = torch.randn(4, 16, 28, 28), torch.randn(16, 16, 7, 7, requires_grad=True)
    ref = F.conv2d(x.double(), k.double(), padding=3)
    out = fft_conv2d(x, k, 3)
    assert out.dtype == torch.float32 and rel(out.double(), ref) < 1e-6
    (gk,) = torch.autograd.grad(out.sum(), k)  # the input needs no gradient: only the kernel's
    assert rel(gk.double(), torch.autograd.grad(ref.sum(), k)[0].double()) < 1e-5


def test_transform_size_avoids_wrap_around_and_is_smooth():
    assert transform_size(28, 7, 3) == 32  # 28 + 3 = 31 → 32
    assert transform_size(28, 13, 6) == 36  # 34 → 36 (2²·3²)
    assert transform_size(5, 3, 3) == 9  # the output (9) is longer than 5 + 3
    assert transform_size(4, 7, 0) == 8  # no shorter than the kernel


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="same C_i"):
        fft_conv2d(torch.randn(1, 3, 8, 8), torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="non-negative"):
        fft_conv2d(torch.randn(1, 3, 8, 8), torch.randn(2, 3, 3, 3), -1)
    with pytest.raises(ValueError, match="larger than the padded input"):
        fft_conv2d(torch.randn(1, 3, 4, 4), torch.randn(2, 3, 7, 7))
    with pytest.raises(ValueError, match="unknown convolution algorithm 'winograd'"), conv_algorithm("winograd"):
        pass


def test_the_choice_follows_the_block_and_the_cost_model():
    x, k = torch.randn(32, 128, 28, 28), torch.randn(128, 128, 7, 7)
    assert current_algorithm() == "auto" and use_fft(x, k, 1, 3, 1)  # SE(2) N = 8 at 28×28
    with conv_algorithm("direct"):
        assert not use_fft(x, k, 1, 3, 1)
    assert current_algorithm() == "auto"
    # never for strided, grouped, named-padding or half-precision convolutions
    assert not use_fft(x, k, 2, 3, 1)
    assert not use_fft(x, k[:, :64], 1, 3, 2)
    assert not use_fft(x, k, 1, "same", 1)
    with conv_algorithm("fft"):
        assert not use_fft(x.bfloat16(), k.bfloat16(), 1, 3, 1)
        assert use_fft(x[:1, :2, :5, :5], k[:1, :2, :3, :3], 1, 1, 1)
    # where benchmarks/fft_conv.py measured the Fourier path slower, "auto" stays direct
    assert not fft_is_faster(32, 1, 64, (28, 28), (7, 7), (3, 3))  # the lifting layer
    assert not fft_is_faster(32, 64, 64, (28, 28), (3, 3), (1, 1))
    assert not fft_is_faster(32, 128, 128, (7, 7), (3, 3), (0, 0))
    assert not fft_is_faster(32, 16, 64, (28, 28), (7, 7), (3, 3))
    # split windows make the direct convolution cheaper: fewer taps, a harder test
    assert fft_is_faster(32, 192, 192, (28, 28), (13, 13), (6, 6))
    assert not fft_is_faster(32, 192, 192, (28, 28), (13, 13), (6, 6), taps=9)


@pytest.mark.parametrize(
    "name,group,ne,impl,mask",
    [
        ("SE2", SE2(), 4, "nonseparable", "hard"),
        ("SE2", SE2(), 4, "gseparable", "hard"),
        ("Sim2", Sim2(max_scale=1.74), (4, 3), "nonseparable", "hard"),
        ("Sim2", Sim2(max_scale=1.74), (4, 3), "gseparable2d", "smooth"),
    ],
)
def test_group_convolution_same_function_and_rot90_exact(name, group, ne, impl, mask):
    torch.manual_seed(0)
    lift = LiftingConv(group, 1, 3, 5, ne, **SMALL)
    gconv = GroupConv(group, 3, 2, 5, ne, implementation=impl, grid=lift.grid, mask=mask, **SMALL)
    model = nn.Sequential(lift, nn.Tanh(), gconv).double().eval()
    x = torch.randn(2, 1, 17, 17, dtype=F64)
    with torch.no_grad(), conv_algorithm("direct"):
        ref = model(x)
    with torch.no_grad(), conv_algorithm("fft"):
        y = model(x)
        assert rel(y, ref) < 1e-12
        nr, ns = (ne, 1) if isinstance(ne, int) else ne  # rotation-major grid: a quarter turn moves
        for q in (1, 2, 3):  # the rotation index by nr/4, the flat element index by that times ns
            y_t = model(torch.rot90(x, q, dims=(-2, -1)))
            expected = torch.roll(torch.rot90(y, q, dims=(-2, -1)), q * nr // 4 * ns, dims=2)
            assert rel(y_t, expected) < 1e-12


def test_training_step_of_a_model_matches_the_direct_one():
    torch.manual_seed(0)
    model = build_model("resnet", "SE2", "nonseparable", 4, widths=(4, 4, 8), kernel_size=5, **SMALL).double()
    x, y = torch.randn(3, 1, 28, 28, dtype=F64), torch.tensor([1, 2, 3])

    def grads(algorithm: str) -> list[torch.Tensor]:
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout mask
        with conv_algorithm(algorithm):
            F.cross_entropy(model(x), y).backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    direct, fourier = grads("direct"), grads("fft")
    assert len(direct) == len(fourier) > 0
    # per tensor against the whole gradient's scale: some are zero but for round-off (a bias
    # before a batch norm), and relative to themselves only noise
    scale = torch.cat([g.flatten() for g in direct]).abs().max()
    assert max(float((a - b).abs().max()) for a, b in zip(fourier, direct)) < 1e-12 * scale


def test_macs_count_the_direct_convolution_whatever_the_algorithm():
    model = build_model("resnet", "SE2", "nonseparable", 4, widths=(4, 4, 8), kernel_size=5, **SMALL).eval()
    x = torch.zeros(1, 1, 28, 28)
    count_macs(model, x)  # the first call also samples the kernels into the eval cache
    with conv_algorithm("fft"):
        forced = count_macs(model, x)
    assert forced == count_macs(model, x) > 0


@pytest.mark.parametrize(
    "padding,stride,message",
    [
        (-1, 1, "conv_x needs a non-negative padding and a positive stride, got -1, 1"),
        ((0, -2), 1, r"got \(0, -2\), 1"),
        (1, 0, "positive stride, got 1, 0"),
        (0, 1, r"conv_x: kernel \(7, 5\) is larger than the padded input \(6, 9\)"),
    ],
)
def test_checked_padding_names_the_caller_and_what_is_wrong(padding, stride, message):
    x, w = torch.empty(1, 2, 6, 9), torch.empty(3, 2, 7, 5)
    with pytest.raises(ValueError, match=message):
        checked_padding("conv_x", x, w, padding, stride)
    assert checked_padding("conv_x", x, w, (1, 0)) == (1, 0)
    assert checked_padding("conv_x", x, w, 2, stride=3) == (2, 2)
