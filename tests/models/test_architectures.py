"""Models of every architecture and group: each builds and trains with every kernel net and mask, a
Sim(2) ResNet with 1×1 skip convolutions is rot90-invariant, and so is a model on non-square images."""

from __future__ import annotations

import pytest
import torch

from _helpers import F64, SMALL, rel
from gsepconv.groups import GROUPS, Sim2
from gsepconv.models import ARCHS, build_model
from gsepconv.models.build import ResidualBlock
from gsepconv.nn import GroupConv

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("group", ["Z2"] + list(GROUPS))
def test_trap7_every_arch_and_group_builds_and_trains(arch, group):
    torch.manual_seed(0)
    ne = {"Z2": None, "SE2": 4, "R2xRplus": 2, "Sim2": (4, 2)}[group]
    kw = dict(widths=(2, 3), in_channels=3) if arch == "allcnnc" else dict(widths=(2, 3, 4))
    size = 33 if arch == "allcnnc" else 28
    for kernel_net, mask in (("siren", "hard"), ("mlp", "smooth"), ("rff", "none")):
        kernel = {} if group == "Z2" else dict(kernel_net=kernel_net, mask=mask, hidden_features=8)  # Z2 rejects them
        model = build_model(arch, group, "separable", ne, num_classes=5, kernel_size=3, **kernel, **kw)
        model.train()
        logits = model(torch.randn(2, kw.get("in_channels", 1), size, size))
        assert logits.shape == (2, 5) and torch.isfinite(logits).all()
        logits.logsumexp(-1).mean().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing, missing
        if group == "Z2":
            break


@pytest.mark.parametrize("impl", Sim2().implementations)
def test_trap4_sim2_resnet_with_one_by_one_skips_is_rot90_invariant(impl):
    torch.manual_seed(0)
    model = build_model("resnet", "Sim2", impl, (4, 2), widths=(2, 3, 4), kernel_size=3, **SMALL).double()
    skips = [m.skip for m in model.modules() if isinstance(m, ResidualBlock)]
    assert len(skips) == 2 and all(isinstance(s, GroupConv) and s.kernel_size == 1 for s in skips)
    model.train()
    model(torch.randn(4, 1, 28, 28, dtype=F64))  # non-trivial batch-norm statistics
    model.eval()
    x = torch.randn(2, 1, 28, 28, dtype=F64)
    with torch.no_grad():
        y = model(x)
        assert float(y.norm()) > 0
        for k in (1, 2, 3):
            assert rel(model(torch.rot90(x, k, (-2, -1))), y) < 1e-5


@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_trap5_non_square_model_is_invariant(arch):
    torch.manual_seed(0)
    model = build_model(arch, "SE2", "separable", 4, widths=(2, 3, 4), kernel_size=3, **SMALL).double().eval()
    x = torch.randn(2, 1, 20, 28, dtype=F64)
    with torch.no_grad():
        y = model(x)
        assert rel(model(torch.rot90(x, 1, (-2, -1))), y) < 1e-5
