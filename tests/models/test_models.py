"""Models: exact rot90 invariance of the logits for every group × implementation × architecture,
Z2 baselines (not invariant), parameter counts, configuration and argument checking."""

from __future__ import annotations

import pytest
import torch

from _helpers import F64, SMALL, rel
from gsepconv.groups import SE2, Sim2
from gsepconv.models import ARCHS, build_model, count_parameters
from gsepconv.nn import GroupBatchNorm, GroupConv, LiftingConv, PlanarConv

pytestmark = pytest.mark.usefixtures("single_thread")


def _arch_kwargs(arch: str) -> tuple[dict, tuple[int, int, int]]:
    """Small widths that change (so resnet skips are 1×1 group convs); allcnnc on 33×33 RGB."""
    if arch == "allcnnc":
        return dict(widths=(3, 4), in_channels=3), (3, 33, 33)
    return dict(widths=(2, 3, 4)), (1, 28, 28)


def _build(arch, group, impl, ne, **extra):
    kw, shape = _arch_kwargs(arch)
    small = {} if group == "Z2" else SMALL  # a plain CNN has no kernel net (its options are refused)
    model = build_model(arch, group, impl, ne, kernel_size=3, **kw, **small, **extra).double()
    return model, shape


def _calibrate(model, shape):
    """Batch-norm statistics (torch's and GroupBatchNorm's) estimated as the cumulative average over
    a few batches, then eval(): realistic, non-degenerate activations even with tiny widths. (Only
    resetting torch's _BatchNorm left GroupBatchNorm at mean 0 / var 1 + 10 % of two batches.)"""
    group_norms = [m for m in model.modules() if isinstance(m, GroupBatchNorm)]
    for m in model.modules():
        if isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, GroupBatchNorm)):
            m.reset_running_stats()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(3):
            for m in group_norms:
                m.momentum = 1.0 / (i + 1)
            model(torch.randn(4, *shape, dtype=F64))
    return model.eval()


INVARIANCE_CASES = [
    (group, ne, impl, arch)
    for group, ne, impls in (("SE2", 4, SE2().implementations), ("Sim2", (4, 2), Sim2().implementations))
    for impl in impls
    for arch in ARCHS
]


@pytest.mark.parametrize(
    "group,ne,impl,arch", INVARIANCE_CASES, ids=[f"{g}-{i}-{a}" for g, _, i, a in INVARIANCE_CASES]
)
def test_logits_rot90_invariant_in_eval(group, ne, impl, arch):
    torch.manual_seed(0)
    model, shape = _build(arch, group, impl, ne)
    model = _calibrate(model, shape)
    x = torch.randn(3, *shape, dtype=F64)
    with torch.no_grad():
        y = model(x)
        assert y.shape == (3, 10)
        assert float(y.std(dim=0).norm()) > 0  # a non-degenerate output (depends on the input)
        for k in (1, 2, 3):
            err = rel(model(torch.rot90(x, k, dims=(-2, -1))), y)
            assert err < 1e-5, (k, err)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_z2_baseline_builds_and_is_not_invariant(arch):
    torch.manual_seed(0)
    model, shape = _build(arch, "Z2", "separable", None)
    assert not any(isinstance(m, (LiftingConv, GroupConv)) for m in model.modules())
    assert any(isinstance(m, PlanarConv) for m in model.modules())
    model = _calibrate(model, shape)
    x = torch.randn(3, *shape, dtype=F64)
    with torch.no_grad():
        y = model(x)
        assert y.shape == (3, 10)
        # the same check (tolerance 1e-5) that passes for group models fails for a plain CNN
        assert rel(model(torch.rot90(x, 1, dims=(-2, -1))), y) > 1e-5


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("group,nes", [("SE2", (4, 8)), ("Sim2", ((4, 2), (8, 3)))])
def test_model_parameter_count_independent_of_kernel_size_and_elements(arch, group, nes):
    kw, _ = _arch_kwargs(arch)
    counts = {
        count_parameters(build_model(arch, group, "separable", ne, kernel_size=k, **kw, **SMALL))
        for ne in nes
        for k in (3, 5)
    }
    assert len(counts) == 1, counts


def test_count_parameters_counts_trainable_only():
    model = build_model("cnn", "SE2", "separable", 4, widths=(2, 3), kernel_size=3, **SMALL)
    total = sum(p.numel() for p in model.parameters())
    assert count_parameters(model) == total
    next(model.parameters()).requires_grad_(False)
    assert count_parameters(model) < total


def test_model_config_and_defaults():
    model = build_model("resnet", "Sim2", "separable2d", kernel_size=3, widths=(2, 2), max_scale=1.5, **SMALL)
    assert model.config["group"] == "Sim2" and model.config["num_elements"] == (8, 3)
    assert model.config["max_scale"] == 1.5 and model.config["hidden_features"] == 16
    assert model.grid.num_elements == (8, 3)
    assert model.grid.H.factors[1].max_scale == 1.5
    z2 = build_model("cnn", "Z2", widths=(2, 2), kernel_size=3)
    assert z2.config["implementation"] is None and z2.config["num_elements"] is None
    assert build_model("cnn", "SE2", widths=(2, 2), kernel_size=3, num_elements=[4]).grid.num_elements == (4,)


def test_build_model_bad_arguments():
    with pytest.raises(ValueError, match=r"unknown arch 'vgg'.*cnn.*resnet.*allcnnc"):
        build_model("vgg")
    with pytest.raises(ValueError, match=r"unknown group 'SO3'.*Z2.*SE2.*R2xRplus.*Sim2"):
        build_model("cnn", "SO3")
    with pytest.raises(ValueError, match=r"unknown implementation 'fast'.*nonseparable.*separable"):
        build_model("cnn", "SE2", "fast")
    with pytest.raises(ValueError, match=r"unknown sampling 'random'.*discretise.*uniform"):
        build_model("cnn", "SE2", sampling="random")
    with pytest.raises(ValueError, match=r"unknown kernel_net 'gabor'.*siren"):
        build_model("cnn", "SE2", widths=(2, 2), kernel_size=3, kernel_net="gabor")
    with pytest.raises(ValueError, match=r"unknown mask 'disk'.*hard"):
        build_model("cnn", "SE2", widths=(2, 2), kernel_size=3, mask="disk")
    with pytest.raises(ValueError, match=r"in_channels must be a positive int, got 0"):
        build_model("cnn", "SE2", in_channels=0)
    with pytest.raises(ValueError, match=r"num_classes must be a positive int, got True"):
        build_model("cnn", "SE2", num_classes=True)
    with pytest.raises(ValueError, match=r"widths must be positive ints, got \(2, 0\)"):
        build_model("cnn", "SE2", widths=(2, 0))
    with pytest.raises(ValueError, match=r"allcnnc takes widths=\(w1, w2\).*\(2, 3, 4\)"):
        build_model("allcnnc", "SE2", widths=(2, 3, 4))
    with pytest.raises(ValueError, match=r"separable2d.*SE2.*nonseparable"):
        build_model("cnn", "SE2", "separable2d")
    with pytest.raises(ValueError, match=r"num_elements.*tuple of 2 ints.*got 8"):
        build_model("cnn", "Sim2", "separable", 8)


def test_train_step_changes_logits_and_eval_is_deterministic():
    torch.manual_seed(0)
    model = build_model("resnet", "SE2", "dgseparable", 4, widths=(2, 3), kernel_size=3, sampling="uniform", **SMALL)
    x, target = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.eval()
    with torch.no_grad():
        before = model(x)
        assert torch.equal(before, model(x))
    model.train()
    loss = torch.nn.functional.cross_entropy(model(x), target)
    loss.backward()
    opt.step()
    model.eval()
    with torch.no_grad():
        after = model(x)
    assert not torch.allclose(before, after)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
@pytest.mark.parametrize("group", ["Z2", "SE2"])
def test_integer_images_get_a_message_saying_what_dtype_is_expected(group, dtype):
    model = build_model("resnet", group, widths=(4, 4, 8), kernel_size=3, num_elements=None if group == "Z2" else 4)
    with pytest.raises(ValueError, match=r"expects floating-point input, got dtype .*x.float\(\) / 255"):
        model(torch.zeros(2, 1, 28, 28, dtype=dtype))
