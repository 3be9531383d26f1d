"""Microbenchmarks of two building blocks, each computed several ways and checked to agree before
it is timed: Sim(2) separable2d's rotation×scale step (dense 1×1 convolution against factorised
forms) and batch norm + ReLU on a group feature map (ours against ``torch.nn.BatchNorm3d``).
``gsepconv bench --micro`` prints their ratios."""

from __future__ import annotations

import statistics

import torch
from torch import nn

from ...nn import GroupBatchNorm
from .timing import alternate, time_calls


def microbench_rotation_scale(
    batch: int = 64,
    size: int = 28,
    channels: int = 16,
    n_rot: int = 8,
    n_scale: int = 3,
    repeats: int = 5,
    device: str = "cpu",
    check: bool = True,
) -> dict[str, float]:
    """Forward+backward time (ms, best of ``repeats``) of Sim(2) separable2d's rotation×scale step,
    ``[B, C·N_r·N_s, H, W] → [B, C·N_r·N_s, H, W]``, computed three ways:

    * ``dense_1x1``: one 1×1 convolution with the product weight (what :class:`Separable2d` does);
    * ``factorised_matmul``: rotations+channels as a batched matmul on the channels-last memory
      (``N_s`` times fewer MACs), then the scale mix;
    * ``factorised_permute``: the same with scales moved into the batch (two layout permutations).
    """
    dev = torch.device(device)
    c, nr, ns = channels, n_rot, n_scale
    x = (
        torch.randn(batch, c * nr * ns, size, size, device=dev)
        .contiguous(memory_format=torch.channels_last)
        .requires_grad_()
    )
    r = torch.randn(c * nr, c * nr, device=dev, requires_grad=True)
    sc = torch.randn(c, ns, ns, device=dev, requires_grad=True)
    p = batch * size * size

    def dense() -> torch.Tensor:
        w = torch.einsum("orip,oab->oraipb", r.view(c, nr, c, nr), sc).reshape(c * nr * ns, c * nr * ns, 1, 1)
        y = nn.functional.conv2d(x, w.contiguous(memory_format=torch.channels_last))
        return y.permute(0, 2, 3, 1).reshape(p, c, nr, ns)

    def scale_mix(z: torch.Tensor) -> torch.Tensor:  # z: [P, C·N_r, N_s] -> [P, C, N_r, N_s]
        return torch.einsum("pors,oas->pora", z.view(p, c, nr, ns), sc)

    def matmul() -> torch.Tensor:
        x3 = x.permute(0, 2, 3, 1).reshape(p, c * nr, ns)  # a view of the channels-last memory
        return scale_mix(torch.matmul(x3.transpose(1, 2), r.t()).transpose(1, 2))

    def permute() -> torch.Tensor:
        xs = x.view(batch, c * nr, ns, size, size).permute(0, 2, 1, 3, 4).reshape(batch * ns, c * nr, size, size)
        z = nn.functional.conv2d(xs.contiguous(memory_format=torch.channels_last), r[:, :, None, None])
        z = z.view(batch, ns, c * nr, size, size).permute(0, 3, 4, 2, 1).reshape(p, c * nr, ns)
        return scale_mix(z)

    ways = {"dense_1x1": dense, "factorised_matmul": matmul, "factorised_permute": permute}
    if check:
        with torch.no_grad():
            ref = dense()
            for name, fn in ways.items():
                if not torch.allclose(fn(), ref, rtol=1e-4, atol=1e-3):
                    raise AssertionError(f"{name} computes a different function than dense_1x1")
    return {name: min(time_calls(lambda fn=fn: fn().sum().backward(), 1, repeats, dev)) for name, fn in ways.items()}


def microbench_batch_norm(
    batch: int = 64,
    size: int = 28,
    channels: int = 16,
    num_elements: int = 8,
    repeats: int = 5,
    device: str = "cpu",
    check: bool = True,
) -> dict[str, float]:
    """Forward+backward time (ms, median of alternating ``repeats``) of batch norm + ReLU on a group
    feature map ``[B, C, N, H, W]`` (statistics per channel ``C``), three ways:

    * ``group_batch_norm``: :class:`~gsepconv.nn.GroupBatchNorm` with fused ReLU on the layers'
      channels-last map (torch's reductions per column and row block, pooled over ``N``);
    * ``batchnorm3d_contiguous``: ``torch.nn.BatchNorm3d`` + ReLU on a plain contiguous map
      (what NCHW convolutions, as in the original code, hand to it);
    * ``batchnorm3d_channels_last``: the same on the channels-last map the layers produce.
    """
    dev = torch.device(device)
    shape = (batch, channels, num_elements, size, size)
    base = torch.randn(shape, device=dev) + 0.5
    cl = base.permute(0, 3, 4, 1, 2).contiguous().permute(0, 3, 4, 1, 2)  # memory [B, H, W, C, N]
    ours = GroupBatchNorm(channels, relu=True).to(dev).train()
    ref = nn.BatchNorm3d(channels).to(dev).train()
    inputs = {"group_batch_norm": cl, "batchnorm3d_contiguous": base.contiguous(), "batchnorm3d_channels_last": cl}
    grad = torch.randn(shape, device=dev)

    def run(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = inputs[name].detach().requires_grad_()
        y = ours(x) if name == "group_batch_norm" else torch.relu(ref(x))
        y.backward(grad)
        return y.detach(), x.grad

    if check:  # relative norms: float32 round-off flips the ReLU mask of a few elements at zero
        want = run("batchnorm3d_contiguous")
        for name in inputs:
            got = run(name)
            if not all(float((a - b).norm() / b.norm()) < 1e-2 for a, b in zip(got, want)):
                raise AssertionError(f"{name} computes a different function than batchnorm3d_contiguous")
    steps = [lambda name=name: run(name) for name in inputs]
    times = alternate(steps, 1, repeats, dev)
    return {name: statistics.median(t) for name, t in zip(inputs, times)}


__all__ = ["microbench_batch_norm", "microbench_rotation_scale"]
