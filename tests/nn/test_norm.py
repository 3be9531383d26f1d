"""GroupBatchNorm's hand-written autograd equals torch's BatchNorm3d (forward, backward, running
statistics, eval), on channels-last and on plain contiguous inputs."""

from __future__ import annotations

import pytest
import torch

from gsepconv.nn import GroupBatchNorm


@pytest.mark.parametrize("channels_last", [True, False])
def test_group_batch_norm_matches_batchnorm3d(channels_last: bool) -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 6, 7, dtype=torch.float64) * 2 + 1
    if channels_last:  # memory [B, H, W, C, N], the layers' own layout
        x = x.permute(0, 3, 4, 1, 2).contiguous().permute(0, 3, 4, 1, 2)
    x.requires_grad_()
    bn, ref = GroupBatchNorm(3).double(), torch.nn.BatchNorm3d(3).double()
    with torch.no_grad():
        for m in (bn, ref):
            m.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
            m.bias.copy_(torch.tensor([0.1, -1.0, 2.0]))
    y, yr = bn(x), ref(x)
    assert torch.allclose(y, yr, atol=1e-12)
    g = torch.randn_like(y)
    ours = torch.autograd.grad(y, [x, bn.weight, bn.bias], g)
    theirs = torch.autograd.grad(yr, [x, ref.weight, ref.bias], g)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-11)
    assert torch.allclose(bn.running_mean, ref.running_mean) and torch.allclose(bn.running_var, ref.running_var)
    assert int(bn.num_batches_tracked) == 1
    bn.eval(), ref.eval()
    assert torch.allclose(bn(x), ref(x), atol=1e-12)
    assert set(bn.state_dict()) == set(ref.state_dict())


def test_group_batch_norm_gradcheck_and_bad_input() -> None:
    torch.manual_seed(1)
    bn = GroupBatchNorm(2).double()
    x = torch.randn(2, 2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(bn, (x,))
    with pytest.raises(ValueError, match="channels"):
        bn(torch.randn(2, 3, 3, 3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\[B, C, N, H, W\]"):
        bn(torch.randn(2, 2, 3, 3, dtype=torch.float64))


def test_fused_relu_equals_batchnorm_then_relu() -> None:
    torch.manual_seed(2)
    x = (torch.randn(3, 2, 4, 5, 5, dtype=torch.float64) + 0.3).requires_grad_()
    bn, ref = GroupBatchNorm(2, relu=True).double(), torch.nn.BatchNorm3d(2).double()
    y, yr = bn(x), torch.relu(ref(x))
    assert torch.allclose(y, yr, atol=1e-12) and (y == 0).any()
    g = torch.randn_like(y)
    ours = torch.autograd.grad(y, [x, bn.weight, bn.bias], g)
    theirs = torch.autograd.grad(yr, [x, ref.weight, ref.bias], g)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-11)
    bn.eval(), ref.eval()
    assert torch.allclose(bn(x), torch.relu(ref(x)), atol=1e-12)
    assert "relu=True" in repr(bn)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_group_batch_norm_is_stable_for_large_means_and_half_precision(dtype) -> None:
    """E[x²] − E[x]² would cancel for mean ≫ std, and overflow or cancel in half precision."""
    torch.manual_seed(3)
    x64 = torch.randn(32, 2, 4, 8, 8, dtype=torch.float64) * 2 + 300.0
    x = x64.to(dtype).requires_grad_()
    xr = x.detach().double().requires_grad_()  # the same (rounded) values, in float64
    bn, ref = GroupBatchNorm(2), torch.nn.BatchNorm3d(2).double()
    y, yr = bn(x), ref(xr)
    assert y.dtype == dtype
    tol = {torch.float32: 1e-3, torch.bfloat16: 0.1, torch.float16: 2e-2}[dtype]
    assert torch.isfinite(y).all() and (y.double() - yr).abs().max() < tol
    assert torch.allclose(bn.running_var.double(), ref.running_var, rtol=1e-2)
    g = torch.randn_like(yr)
    (gx,) = torch.autograd.grad(y, x, g.to(dtype))
    (gr,) = torch.autograd.grad(yr, xr, g)
    assert torch.isfinite(gx).all() and (gx.double() - gr).abs().max() < 50 * tol * gr.abs().max()


def test_group_batch_norm_float32_is_as_accurate_as_float64_allows(single_thread):
    """Float32 statistics summed sequentially over 50k rows are off by ~1e-5·|μ|: enough to flip
    ReLU masks at zero and change input gradients by 1e-3. Short (blocked) sums keep the error at
    float32 round-off: checked against the same computation in float64 at a mean of 3σ (one
    thread: more threads split the sums and would hide the sequential error)."""
    torch.manual_seed(4)
    x = (torch.randn(64, 8, 8, 28, 28) + 3.0).permute(0, 3, 4, 1, 2).contiguous().permute(0, 3, 4, 1, 2)
    g = torch.randn(x.shape)
    outs = []
    for dtype in (torch.float32, torch.float64):
        bn = GroupBatchNorm(8, relu=True).to(dtype)
        xi = x.to(dtype, copy=True).requires_grad_()  # keeps the channels-last strides
        y = bn(xi)
        y.backward(g.to(dtype))
        outs.append((y.detach().double(), xi.grad.double(), bn.bias.grad.double()))
    errors = [float((a - b).norm() / b.norm()) for a, b in zip(*outs)]  # y, dx, d(bias)
    assert max(errors) < 1e-5, errors  # sequential sums: dx and d(bias) ~1e-3 off (mask flips)


def test_precise_batch_norm_fits_the_statistics_to_the_evaluation_grid():
    """After training with random grids, the running statistics average over random offsets; one
    precise pass on a batch makes eval() on that batch equal the fixed grid normalised by that
    batch's own statistics (up to the unbiased-variance factor n/(n-1))."""
    from gsepconv.models import build_model
    from gsepconv.nn import precise_batch_norm

    torch.manual_seed(0)
    model = build_model(
        arch="cnn", group="R2xRplus", num_elements=3, sampling="uniform", widths=(4, 6, 6), kernel_size=3, num_classes=5
    ).double()
    x = torch.randn(6, 1, 16, 16, dtype=torch.float64)
    model.train()
    with torch.no_grad():
        for _ in range(5):  # running statistics from random grids
            model(torch.randn(6, 1, 16, 16, dtype=torch.float64))
    before = model.eval()(x)
    assert precise_batch_norm(model, [x]) == 1
    assert not model.training and all(m.momentum == 0.1 for m in model.modules() if isinstance(m, GroupBatchNorm))
    after = model(x)
    model.grid.sampling = "discretise"  # the same fixed grid, batch statistics
    try:
        want = model.train()(x)
    finally:
        model.grid.sampling = "uniform"
    assert torch.allclose(after, want, rtol=1e-2, atol=1e-3), (after - want).abs().max()
    assert not torch.allclose(before, want, rtol=1e-2, atol=1e-3)  # the random-grid statistics did not fit


def test_precise_batch_norm_averages_batches_exactly():
    from gsepconv.nn import precise_batch_norm

    norm = GroupBatchNorm(3)
    batches = [torch.randn(4, 3, 2, 5, 5) * (k + 1) + k for k in range(3)]
    precise_batch_norm(norm, batches)
    means = torch.stack([b.mean(dim=(0, 2, 3, 4)) for b in batches]).mean(0)
    assert torch.allclose(norm.running_mean, means, atol=1e-5)
