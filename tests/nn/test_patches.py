"""Convolutions of a one-channel image as a matrix product over its patches
(:mod:`gsepconv.nn.patches`): the same function, gradients and second derivatives as ``F.conv2d``
to round-off, at any stride and padding; the lifting layer that uses it trains as with oneDNN; the
automatic choice takes it only where it was measured faster (one input channel, with a kernel
gradient to compute)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from _helpers import F64, SMALL, assert_path_trains_as_without, rel
from gsepconv.groups import SE2, Sim2
from gsepconv.nn import LiftingConv
from gsepconv.nn.patches import MAX_PATCH_ELEMENTS, patch_conv2d, patch_rows, use_patches

#: (batch, C_i, H, W, C_o, k_h, k_w, stride, padding)
CASES = [
    (2, 1, 13, 11, 5, 7, 7, 1, 3),
    (2, 1, 13, 12, 4, 5, 3, 2, (1, 2)),
    (1, 1, 17, 14, 3, 5, 5, 3, 0),
    (3, 2, 9, 9, 3, 3, 3, 2, 0),  # the function holds for several channels too (the rule keeps them with oneDNN)
    (1, 1, 6, 7, 2, 11, 11, 1, 5),
]


@pytest.mark.parametrize("b,ci,h,w,co,kh,kw,stride,p", CASES)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_equals_conv2d_with_gradients(b, ci, h, w, co, kh, kw, stride, p, layout):
    torch.manual_seed(h * w)
    x = torch.randn(b, ci, h, w, dtype=F64).contiguous(memory_format=layout).requires_grad_()
    k = torch.randn(co, ci, kh, kw, dtype=F64, requires_grad=True)
    ref, out = F.conv2d(x, k, None, stride, p), patch_conv2d(x, k, stride, p)
    assert out.shape == ref.shape and out.is_contiguous(memory_format=torch.channels_last)
    assert rel(out, ref) < 1e-14
    g = torch.randn_like(ref).contiguous(memory_format=layout)
    expected = torch.autograd.grad(ref, (x, k), g)
    for a, r in zip(torch.autograd.grad(out, (x, k), g), expected):
        assert a.shape == r.shape and rel(a, r) < 1e-13
    # the image without a gradient: the forward's patches are reused for the kernel gradient
    (gk,) = torch.autograd.grad(patch_conv2d(x.detach(), k, stride, p), k, g)
    assert rel(gk, expected[1]) < 1e-13


@pytest.mark.parametrize("stride,p", [(1, 2), (2, (1, 2))])
def test_first_and_second_derivatives(stride, p):
    x = torch.randn(2, 1, 7, 6, dtype=F64, requires_grad=True)
    k = torch.randn(3, 1, 5, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: patch_conv2d(a, b, stride, p), (x, k))
    assert torch.autograd.gradgradcheck(lambda a, b: patch_conv2d(a, b, stride, p), (x, k))
    image = x.detach()
    assert torch.autograd.gradgradcheck(lambda b: patch_conv2d(image, b, stride, p), (k,))


def test_patch_rows_are_the_windows_of_the_padded_image():
    x = torch.arange(2 * 1 * 4 * 5, dtype=F64).view(2, 1, 4, 5)
    rows = patch_rows(x, (3, 3), 2, (1, 1))  # [B·H'·W', 9], H' = 2, W' = 3
    assert rows.shape == (2 * 2 * 3, 9)
    xp = F.pad(x, (1, 1, 1, 1))
    for b in range(2):
        for y in range(2):
            for c in range(3):
                window = xp[b, 0, 2 * y : 2 * y + 3, 2 * c : 2 * c + 3].reshape(-1)
                assert torch.equal(rows[(b * 2 + y) * 3 + c], window)


def test_bad_input_says_what_is_expected():
    with pytest.raises(ValueError, match=r"weight \[C_o, C, k_h, k_w\] with the same C"):
        patch_conv2d(torch.randn(1, 1, 8, 8), torch.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match="non-negative padding"):
        patch_conv2d(torch.randn(1, 1, 8, 8), torch.randn(2, 1, 3, 3), 1, -1)
    with pytest.raises(ValueError, match="larger than the padded input"):
        patch_conv2d(torch.randn(1, 1, 4, 4), torch.randn(2, 1, 7, 7), 1, 1)


@pytest.mark.parametrize(
    "ci,k,groups,dtype,grad,expect",
    [
        (1, 7, 1, torch.float32, True, True),  # a grey-scale image's lifting kernel, training: here
        (1, 13, 1, torch.float64, True, True),
        (1, 7, 1, torch.float32, False, False),  # no kernel gradient: oneDNN's forward is as fast
        (3, 7, 1, torch.float32, True, False),  # RGB: oneDNN's blocked kernel is faster
        (1, 1, 1, torch.float32, True, False),  # a single tap is a scaling
        (1, 7, 1, torch.bfloat16, True, False),
    ],
)
def test_choice(ci, k, groups, dtype, grad, expect):
    x = torch.randn(2, ci, 28, 28, dtype=dtype)
    w = torch.randn(16, ci, k, k, dtype=dtype, requires_grad=grad)
    assert use_patches(x, w, groups) is expect
    with torch.no_grad():
        assert not use_patches(x, w, groups)


def test_large_images_stay_with_onednn():
    """Patches beyond MAX_PATCH_ELEMENTS (large grey images) are not copied: oneDNN convolves them.
    The count is the output's pixels times the taps, at the stride and padding given. Shape-only
    inputs (an expanded scalar) show the rule without allocating the images."""
    w = torch.randn(16, 1, 7, 7, requires_grad=True)

    def row(n):  # one image row of n pixels: a "same" 7×7 convolution has n output pixels
        return torch.zeros(()).expand(1, 1, 1, n)

    at_limit = MAX_PATCH_ELEMENTS // 49  # output pixels whose patches just fit
    assert use_patches(row(at_limit), w, 1, 1, 3)
    assert not use_patches(row(at_limit + 1), w, 1, 1, 3)
    assert use_patches(row(2 * at_limit), w, 1, 2, 3)  # stride 2: half the output pixels
    assert not use_patches(row(at_limit - 6), w, 1, 1, 6)  # a "full" padding: 7 output rows
    assert not use_patches(torch.zeros(()).expand(32, 1, 256, 256), w, 1, 1, 3)  # 103 million values
    big = torch.randn(384, 1, 13, 13, requires_grad=True)
    assert use_patches(torch.zeros(()).expand(32, 1, 28, 28), big, 1, 1, 6)  # the quick Sim(2) lifting


def test_not_under_autocast():
    """Autocast would run the forward in bfloat16 and hand the backward a bfloat16 gradient
    against float32 tensors: the convolution stays with oneDNN there."""
    x, w = torch.randn(2, 1, 14, 14), torch.randn(8, 1, 7, 7, requires_grad=True)
    assert use_patches(x, w, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not use_patches(x, w, 1)
    assert not use_patches(x, w.double(), 1)


@pytest.mark.parametrize("group,ne,k", [(SE2(), 4, 5), (Sim2(max_scale=1.74), (4, 3), 7)])
def test_lifting_layer_trains_as_with_onednn(group, ne, k, monkeypatch):
    """A lifting layer on a grey-scale batch: the output and every parameter's gradient equal those
    computed with oneDNN, and the layer did take the path."""
    torch.manual_seed(0)
    lift = LiftingConv(group, 1, 3, k, ne, **SMALL).double()
    x = torch.randn(2, 1, 12, 12, dtype=F64)

    assert_path_trains_as_without(lift, x, monkeypatch, "patch_conv2d", "use_patches")
