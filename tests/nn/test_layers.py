"""Layers: separable convolutions equal the dense product-kernel convolution, parameter counts,
uniform sampling and the shared grid, eval cache, export, torch.compile, bad input, norms/pools."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from _helpers import F64, SMALL, rel
from gsepconv.groups import SE2, R2xRplus, Sim2
from gsepconv.kernels import KernelNet
from gsepconv.models import build_model, count_parameters
from gsepconv.nn import (
    IMPLEMENTATIONS,
    SAMPLINGS,
    ExportedConv,
    GroupBatchNorm,
    GroupConv,
    GroupGrid,
    GroupPool,
    InvariantPool,
    LiftingConv,
    PlanarConv,
    SpatialMaxPool,
    export,
)
from gsepconv.nn.implementations import Implementation

GROUP_CASES = [("SE2", SE2(), 4), ("R2xRplus", R2xRplus(max_scale=1.74), 3), ("Sim2", Sim2(max_scale=1.74), (4, 2))]
IMPL_CASES = [(name, group, ne, impl) for name, group, ne in GROUP_CASES for impl in group.implementations]
IMPL_IDS = [f"{name}-{impl}" for name, _, _, impl in IMPL_CASES]


pytestmark = pytest.mark.usefixtures("single_thread")


def test_registries():
    assert set(IMPLEMENTATIONS) == {
        "nonseparable",
        "separable",
        "gseparable",
        "dseparable",
        "dgseparable",
        "separable2d",
        "gseparable2d",
    }
    assert set(SAMPLINGS) == {"discretise", "uniform"}
    for name, cls in IMPLEMENTATIONS.items():
        assert issubclass(cls, Implementation) and cls.name == name


# --- 3. separable layers == conv2d with the explicit product kernel ---------------------------
PAD_CASES = [(1, "same"), (1, "valid"), (1, 2), (2, 1), (2, 0), (2, (1, 2))]


def _pad_value(padding, k):
    return {"same": k // 2, "valid": 0}.get(padding, padding) if isinstance(padding, str) else padding


@pytest.mark.parametrize("stride,padding", PAD_CASES, ids=[f"s{s}-p{p}" for s, p in PAD_CASES])
@pytest.mark.parametrize("name,group,ne,impl", IMPL_CASES, ids=IMPL_IDS)
def test_group_conv_equals_dense_product_kernel_conv(name, group, ne, impl, stride, padding):
    torch.manual_seed(0)
    ci, co, k = 2, 3, 3
    layer = GroupConv(group, ci, co, k, ne, implementation=impl, stride=stride, padding=padding, **SMALL).double()
    with torch.no_grad():
        layer.bias.normal_()
    n = layer.grid.size
    x = torch.randn(2, ci, n, 9, 11, dtype=F64)
    y = layer(x)
    pk = layer.product_kernel()
    w = layer.window  # k at the identity, grown for scale groups
    assert w == k if name == "SE2" else w > k
    assert pk.shape == (co, n, ci, n, w, w)
    ref = F.conv2d(
        x.reshape(2, ci * n, 9, 11), pk.reshape(co * n, ci * n, w, w), stride=stride, padding=_pad_value(padding, w)
    )
    ref = ref.reshape(2, co, n, *ref.shape[-2:]) + layer.bias.view(1, -1, 1, 1, 1)
    assert y.shape == ref.shape
    assert rel(y, ref) < 1e-10


@pytest.mark.parametrize("stride,padding", [(1, "same"), (2, 1)])
@pytest.mark.parametrize("name,group,ne", GROUP_CASES, ids=[c[0] for c in GROUP_CASES])
def test_lifting_equals_conv2d_with_sampled_kernels(name, group, ne, stride, padding):
    torch.manual_seed(0)
    lift = LiftingConv(group, 2, 3, 5, ne, stride=stride, padding=padding, **SMALL).double()
    with torch.no_grad():
        lift.bias.normal_()
    x = torch.randn(2, 2, 13, 10, dtype=F64)
    y = lift(x)
    k = lift.kernel(lift.grid.elements())  # [Co, N, Ci, k, k]
    n, w = lift.grid.size, lift.window
    assert k.shape == (3, n, 2, w, w)
    ref = F.conv2d(x, k.reshape(3 * n, 2, w, w), stride=stride, padding=_pad_value(padding, w))
    ref = ref.reshape(2, 3, n, *ref.shape[-2:]) + lift.bias.view(1, -1, 1, 1, 1)
    assert rel(y, ref) < 1e-10


def test_bias_false_has_no_bias():
    lift = LiftingConv("SE2", 1, 2, 3, 4, bias=False)
    gconv = GroupConv("SE2", 2, 2, 3, 4, bias=False, grid=lift.grid)
    assert lift.bias is None and gconv.bias is None
    x = torch.zeros(1, 1, 7, 7)
    assert torch.equal(gconv(lift(x)), torch.zeros(1, 2, 4, 7, 7))


# --- 6. parameter counts independent of kernel size and number of elements --------------------
def test_lifting_parameter_count_independent_of_kernel_size_and_elements():
    for group, nes in [("SE2", (1, 4, 8, 16)), ("Sim2", ((4, 2), (8, 3), (16, 1)))]:
        counts = {count_parameters(LiftingConv(group, 2, 3, k, ne)) for k in (1, 3, 5, 7) for ne in nes}
        assert len(counts) == 1, (group, counts)


@pytest.mark.parametrize("name,group,ne,impl", IMPL_CASES, ids=IMPL_IDS)
def test_group_conv_parameter_count_independent_of_kernel_size_and_elements(name, group, ne, impl):
    nes = {"SE2": (2, 4, 8), "R2xRplus": (2, 3, 5), "Sim2": ((4, 2), (8, 3), (2, 5))}[name]
    counts = {}
    for k in (1, 3, 5, 7):
        for n in nes:
            layer = GroupConv(group, 3, 4, k, n, implementation=impl)
            counts[(k, n)] = count_parameters(layer)
    assert len(set(counts.values())) == 1, counts
    if impl in ("dseparable", "dgseparable"):
        layer = GroupConv(group, 3, 4, 3, nes[0], implementation=impl)
        assert layer.impl.projection.shape == (4, 3)  # the channel projection: C_o x C_i, no k, no N


# --- initialisation keeps activations at unit scale -------------------------------------------
INIT_CASES = [("SE2", 8, impl) for impl in SE2().implementations] + [
    ("Sim2", (4, 3), impl) for impl in Sim2().implementations
]


@pytest.mark.parametrize("group,ne,impl", INIT_CASES)
def test_fan_in_initialisation_keeps_activations_at_unit_scale(group, ne, impl):
    """head_init="fan_in": unit-variance input -> output variance within [0.4, 2.5] (gain 2 minus the
    disk mask), so deep stacks without batch norm neither explode nor vanish; the fan-in includes N_in."""
    variances = []
    for seed in range(3):
        torch.manual_seed(seed)
        layer = GroupConv(group, 16, 16, 5, ne, implementation=impl, head_init="fan_in")
        x = torch.randn(2, 16, layer.grid.size, 13, 13)
        with torch.no_grad():
            variances.append(float(layer(x)[..., 2:-2, 2:-2].var()))
    lift_vars = []
    for seed in range(3):
        torch.manual_seed(seed)
        lift = LiftingConv(group, 16, 16, 5, ne, head_init="fan_in")
        with torch.no_grad():
            lift_vars.append(float(lift(torch.randn(2, 16, 13, 13))[..., 2:-2, 2:-2].var()))
    for v in (sum(variances) / 3, sum(lift_vars) / 3):
        assert 0.4 < v < 2.5, (variances, lift_vars)


def _head_bound(kernel) -> float:
    return float(kernel.net.head.weight.detach().abs().max())


@pytest.mark.parametrize("n", [4, 8, 16])
def test_channels_initialisation_counts_input_channels_and_taps_not_elements(n):
    """head_init="channels" (default): head weights U(±√(6/(hidden·C_in·k²))) with C_in only where
    the factor depends on the input channel, k² only for spatial factors, and never N_in — so the
    separable layer's subgroup factor has the same scale for every number of group elements."""
    torch.manual_seed(0)
    hidden, cin, k = 64, 12, 5
    sep = GroupConv("SE2", cin, 24, k, n, implementation="separable")
    assert _head_bound(sep.impl.subgroup) == pytest.approx((6 / (hidden * cin)) ** 0.5, rel=0.02)
    assert _head_bound(sep.impl.spatial) == pytest.approx((6 / (hidden * k * k)) ** 0.5, rel=0.05)
    dense = GroupConv("SE2", cin, 24, k, n, implementation="nonseparable")
    assert _head_bound(dense.impl.kernel) == pytest.approx((6 / (hidden * cin * k * k)) ** 0.5, rel=0.02)
    lift = LiftingConv("SE2", 3, 24, k, n)
    assert _head_bound(lift.kernel) == pytest.approx((6 / (hidden * 3 * k * k)) ** 0.5, rel=0.05)
    with pytest.raises(ValueError, match="unknown head_init 'he'.*channels, fan_in"):
        GroupConv("SE2", cin, 24, k, n, head_init="he")


def test_siren_hidden_biases_are_zero_by_default():
    from gsepconv.kernels.nets import SIREN

    torch.manual_seed(0)
    net = SIREN(2, 8, num_hidden=2)
    first, *hidden = [layer.linear for layer in net.layers]
    assert all(float(layer.bias.detach().abs().max()) == 0.0 for layer in hidden)
    assert float(first.bias.detach().abs().max()) > 0  # the first layer keeps PyTorch's default bias
    uniform = SIREN(2, 8, num_hidden=2, hidden_bias="uniform")
    assert all(float(layer.linear.bias.detach().abs().max()) > 0 for layer in uniform.layers[1:])
    with pytest.raises(ValueError, match="hidden_bias"):
        SIREN(2, 8, hidden_bias="none")


def test_residual_skip_kernel_nets_are_half_as_wide():
    from gsepconv.models import build_model

    model = build_model(group="SE2", widths=(4, 8), kernel_size=3, num_elements=4, hidden_features=32)
    block = model.features[2]
    assert block.skip.impl.subgroup.net.hidden_features == 16
    assert block.body[0].impl.subgroup.net.hidden_features == 32
    wide = build_model(group="SE2", widths=(4, 8), kernel_size=3, num_elements=4, skip_hidden_ratio=1.0)
    assert wide.features[2].skip.impl.subgroup.net.hidden_features == 64
    assert wide.config["skip_hidden_ratio"] == 1.0
    with pytest.raises(ValueError, match="skip_hidden_ratio"):
        build_model(group="SE2", widths=(4, 8), skip_hidden_ratio=0)


# --- 7. uniform sampling: random in training, deterministic in eval, one grid per forward ------
@pytest.mark.parametrize("group,ne", [("SE2", 4), ("Sim2", (4, 2))])
def test_uniform_sampling_random_in_training_deterministic_in_eval(group, ne):
    torch.manual_seed(0)
    # k=5: on Sim2 a 3×3 grid over [-S, S]² keeps only the centre tap at most scales (rotation-blind)
    model = build_model("cnn", group, "separable", ne, sampling="uniform", widths=(2, 3), kernel_size=5, **SMALL)
    x = torch.randn(2, 1, 12, 12)
    model.train()
    y1 = model(x)
    e1 = model.grid.elements().clone()
    y2 = model(x)
    e2 = model.grid.elements().clone()
    assert not torch.allclose(y1, y2)
    assert not torch.allclose(e1, e2)
    for col in range(e1.shape[1]):  # every coordinate (rotation and, for Sim2, scale) is drawn
        assert not torch.allclose(e1[:, col], model.grid.fixed[:, col])

    model.eval()
    with torch.no_grad():
        z1, z2 = model(x), model(x)
    assert torch.equal(z1, z2)
    assert torch.equal(model.grid.elements(), model.grid.fixed)
    fixed = build_model("cnn", group, "separable", ne, sampling="discretise", widths=(2, 3), kernel_size=5, **SMALL)
    fixed.load_state_dict(model.state_dict())
    fixed.eval()
    with torch.no_grad():
        assert torch.allclose(fixed(x), z1, atol=1e-6, rtol=0)


@pytest.mark.parametrize("arch", ["cnn", "resnet", "allcnnc"])
def test_one_grid_per_forward_shared_by_all_layers(arch):
    torch.manual_seed(0)
    kw = dict(widths=(2, 3), in_channels=3) if arch == "allcnnc" else dict(widths=(2, 3, 4))
    model = build_model(arch, "Sim2", "separable", (4, 2), sampling="uniform", kernel_size=3, **kw, **SMALL)
    convs = [m for m in model.modules() if isinstance(m, (LiftingConv, GroupConv))]
    assert isinstance(convs[0], LiftingConv) and len(convs) >= 3
    assert all(m.grid is model.grid for m in convs)
    seen: dict[str, list[torch.Tensor]] = {"lift": [], "conv": []}
    lift = convs[0]
    lift.kernel.register_forward_pre_hook(lambda mod, args: seen["lift"].append(args[0].clone()))
    for m in convs[1:]:
        original = m.impl.sample

        def record(g_out, g_in, _orig=original):
            assert torch.equal(g_out, g_in)
            seen["conv"].append(g_out.clone())
            return _orig(g_out, g_in)

        m.impl.sample = record
    model.train()
    size = 33 if arch == "allcnnc" else 28
    for _ in range(2):
        seen["lift"].clear()
        seen["conv"].clear()
        model(torch.randn(2, kw.get("in_channels", 1), size, size))
        assert len(seen["lift"]) == 1 and len(seen["conv"]) == len(convs) - 1
        for g in seen["conv"]:
            assert torch.equal(g, seen["lift"][0])
        assert not torch.allclose(seen["lift"][0], model.grid.fixed)
    first = seen["lift"][0]
    model(torch.randn(2, kw.get("in_channels", 1), size, size))
    assert not torch.equal(first, seen["lift"][-1])


def test_grid_generator_makes_sampling_reproducible():
    grid = GroupGrid(Sim2().H, (4, 3), "uniform")
    grid.generator = torch.Generator().manual_seed(7)
    grid.resample()
    a = grid.elements().clone()
    grid.generator = torch.Generator().manual_seed(7)
    grid.resample()
    assert torch.equal(a, grid.elements())
    grid.eval()
    assert torch.equal(grid.elements(), grid.fixed) and not grid.is_random


# --- 8. bad input: clear errors naming the argument and the accepted values --------------------
def test_wrong_input_rank_and_channels():
    lift = LiftingConv("SE2", 2, 3, 3, 4)
    gconv = GroupConv("SE2", 3, 3, 3, 4, grid=lift.grid)
    with pytest.raises(ValueError, match=r"LiftingConv expects an image batch \[B, 2, H, W\].*\(1, 3, 9, 9\)"):
        lift(torch.randn(1, 3, 9, 9))
    with pytest.raises(ValueError, match=r"LiftingConv.*\(1, 2, 4, 9, 9\).*use GroupConv"):
        lift(torch.randn(1, 2, 4, 9, 9))
    with pytest.raises(
        ValueError, match=r"GroupConv expects a group feature map \[B, 3, 4, H, W\].*\(1, 3, 9, 9\).*LiftingConv"
    ):
        gconv(torch.randn(1, 3, 9, 9))
    with pytest.raises(ValueError, match=r"GroupConv expects.*\[B, 3, 4, H, W\].*\(1, 2, 4, 9, 9\)"):
        gconv(torch.randn(1, 2, 4, 9, 9))
    with pytest.raises(ValueError, match=r"GroupConv expects.*4 group elements.*\(1, 3, 8, 9, 9\)"):
        gconv(torch.randn(1, 3, 8, 9, 9))
    exported = gconv.export()
    with pytest.raises(ValueError, match=r"expects a 5-D input"):
        exported(torch.randn(1, 3, 9, 9))
    for layer, who in (
        (GroupBatchNorm(2), "GroupBatchNorm"),
        (SpatialMaxPool(), "SpatialMaxPool"),
        (GroupPool(), "GroupPool"),
        (InvariantPool(), "InvariantPool"),
    ):
        with pytest.raises(ValueError, match=rf"{who} expects a group feature map \[B, C, N, H, W\]"):
            layer(torch.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"PlanarConv expects"):
        PlanarConv(2, 2, 3)(torch.randn(1, 2, 3, 5, 5))


def test_unknown_names_are_listed():
    with pytest.raises(ValueError, match=r"unknown group 'SO3'.*SE2.*R2xRplus.*Sim2"):
        LiftingConv("SO3", 1, 1, 3)
    with pytest.raises(
        ValueError, match=r"unknown implementation 'fast'.*nonseparable.*separable.*dgseparable.*gseparable2d"
    ):
        GroupConv("SE2", 1, 1, 3, 4, implementation="fast")
    with pytest.raises(ValueError, match=r"unknown kernel_net 'gabor'.*mlp.*rff.*siren"):
        LiftingConv("SE2", 1, 1, 3, 4, kernel_net="gabor")
    with pytest.raises(ValueError, match=r"unknown kernel_net 'gabor'.*siren"):
        GroupConv("SE2", 1, 1, 3, 4, kernel_net="gabor")
    with pytest.raises(ValueError, match=r"unknown mask 'disk'.*hard.*smooth.*none"):
        LiftingConv("SE2", 1, 1, 3, 4, mask="disk")
    with pytest.raises(ValueError, match=r"unknown mask 'disk'.*hard"):
        GroupConv("SE2", 1, 1, 3, 4, mask="disk")
    with pytest.raises(ValueError, match=r"unknown sampling 'random'.*discretise.*uniform"):
        LiftingConv("SE2", 1, 1, 3, 4, sampling="random")
    with pytest.raises(TypeError, match=r"invalid options \['omega'\] for kernel_net 'siren'"):
        LiftingConv("SE2", 1, 1, 3, 4, omega=3.0)


@pytest.mark.parametrize("impl", ["separable2d", "gseparable2d"])
@pytest.mark.parametrize("group", ["SE2", "R2xRplus"])
def test_product_implementations_rejected_for_simple_groups(group, impl):
    with pytest.raises(
        ValueError,
        match=rf"implementation '{impl}'.*{group} supports "
        r"nonseparable, separable, gseparable, dseparable, dgseparable",
    ):
        GroupConv(group, 1, 1, 3, 4, implementation=impl)
    with pytest.raises(ValueError, match=rf"implementation '{impl}'.*{group}.*nonseparable"):
        build_model("cnn", group, impl, 4)


@pytest.mark.parametrize(
    "group,num_elements,exc,pattern",
    [
        ("SE2", (8, 3), ValueError, r"num_elements for SO\(2\) must be an int like 8, got \(8, 3\)"),
        ("Sim2", 8, ValueError, r"num_elements.*tuple of 2 ints like \(8, 3\) = \(n_rot, n_scale\), got 8"),
        ("Sim2", (8,), ValueError, r"num_elements.*tuple of 2 ints.*got \(8,\)"),
        ("SE2", 0, ValueError, r"num_elements.*positive, got 0"),
        ("Sim2", (8, 0), ValueError, r"num_elements.*positive, got \(8, 0\)"),
        ("SE2", True, TypeError, r"num_elements must be an int or a tuple of ints, got True"),
        ("Sim2", (8, True), ValueError, r"num_elements.*got \(8, True\)"),
        ("SE2", 4.0, TypeError, r"num_elements.*an int.*got 4.0"),
        ("SE2", "8", TypeError, r"num_elements.*got '8'"),
    ],
)
def test_bad_num_elements(group, num_elements, exc, pattern):
    with pytest.raises(exc, match=pattern):
        LiftingConv(group, 1, 1, 3, num_elements)
    with pytest.raises(exc, match=pattern):
        GroupConv(group, 1, 1, 3, num_elements)
    with pytest.raises(exc, match=pattern):
        build_model("cnn", group, "separable", num_elements, widths=(2,), kernel_size=3)


def test_bad_sizes_and_padding():
    with pytest.raises(ValueError, match=r"in_channels must be a positive int, got 0"):
        LiftingConv("SE2", 0, 1, 3)
    with pytest.raises(ValueError, match=r"out_channels must be a positive int, got True"):
        GroupConv("SE2", 1, True, 3)
    with pytest.raises(ValueError, match=r"kernel_size must be a positive int, got 0"):
        LiftingConv("SE2", 1, 1, 0)
    with pytest.raises(ValueError, match=r"stride must be a positive int, got 0"):
        LiftingConv("SE2", 1, 1, 3, stride=0)
    with pytest.raises(ValueError, match=r"padding='same' needs stride=1"):
        GroupConv("SE2", 1, 1, 3, stride=2)
    with pytest.raises(ValueError, match=r"padding='same' needs an odd kernel_size.*4"):
        LiftingConv("SE2", 1, 1, 4)
    with pytest.raises(
        ValueError, match=r"padding must be 'same', 'half', 'valid', a non-negative int or a pair of ints, got -1"
    ):
        LiftingConv("SE2", 1, 1, 3, padding=-1)


def test_grid_mismatch_is_rejected():
    lift = LiftingConv("SE2", 1, 2, 3, 4)
    with pytest.raises(ValueError, match=r"grid is over SO2\(\).*Sim2"):
        GroupConv("Sim2", 2, 2, 3, (4, 2), grid=lift.grid)
    with pytest.raises(ValueError, match=r"grid has num_elements=\(4,\) but the layer was given 8"):
        GroupConv("SE2", 2, 2, 3, 8, grid=lift.grid)
    with pytest.raises(TypeError, match=r"grid must be a gsepconv.nn.GroupGrid"):
        GroupConv("SE2", 2, 2, 3, 4, grid=torch.zeros(4, 1))


# --- 9. eval cache, export, torch.compile ----------------------------------------------------
def _stack(group="SE2", ne=4, impl="separable", dtype=F64):
    torch.manual_seed(0)
    lift = LiftingConv(group, 1, 3, 3, ne, **SMALL)
    gconv = GroupConv(group, 3, 2, 3, ne, implementation=impl, grid=lift.grid, **SMALL)
    return nn.Sequential(lift, nn.Tanh(), gconv).to(dtype)


@pytest.mark.parametrize("name,group,ne,impl", IMPL_CASES, ids=IMPL_IDS)
def test_eval_equals_training_for_discretised_sampling(name, group, ne, impl):
    model = _stack(group, ne, impl)
    x = torch.randn(2, 1, 9, 9, dtype=F64)
    model.train()
    y_train = model(x)
    model.eval()
    with torch.no_grad():
        y_eval = model(x)
        y_eval_cached = model(x)
    assert model[2]._cache is not None and model[0]._cache is not None  # cached in eval
    assert torch.equal(y_eval, y_eval_cached)
    assert torch.allclose(y_eval, y_train, rtol=1e-12, atol=1e-14)


def test_eval_cache_is_used_and_invalidated_by_optimizer_step():
    model = _stack()
    gconv = model[2]
    calls = {"n": 0}
    original = gconv.sample_weights

    def counting():
        calls["n"] += 1
        return original()

    gconv.sample_weights = counting
    model.eval()
    x = torch.randn(2, 1, 9, 9, dtype=F64)
    with torch.no_grad():
        y0 = model(x)
        model(x)
    assert calls["n"] == 1  # second pass served from the cache
    # an optimizer step while staying in eval() (no train() call that would clear the cache)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = model(x).square().mean()  # grad enabled: kernels sampled fresh, not cached
    loss.backward()
    opt.step()
    with torch.no_grad():
        y1 = model(x)
        fresh = gconv.impl.apply(torch.tanh(model[0](x)), original(), gconv.stride, gconv.padding) + gconv.bias.view(
            1, -1, 1, 1, 1
        )
    assert not torch.allclose(y0, y1)
    assert torch.allclose(y1, fresh, rtol=1e-12, atol=1e-14)


def test_eval_cache_invalidated_by_load_state_dict_and_dtype_change():
    model = _stack(dtype=torch.float32).eval()
    x = torch.randn(2, 1, 9, 9)
    with torch.no_grad():
        y0 = model(x)
    other = _stack(dtype=torch.float32)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.1)
    model.load_state_dict(other.state_dict())
    with torch.no_grad():
        y1 = model(x)
        y_other = other.eval()(x)
    assert not torch.allclose(y0, y1)
    assert torch.allclose(y1, y_other, atol=1e-6)
    model.double()
    with torch.no_grad():
        y2 = model(x.double())
    assert y2.dtype == F64
    assert float((y2.float() - y1).abs().max()) < 1e-5 * float(y1.abs().max())  # float32 round-off


@pytest.mark.parametrize("group,ne", [("SE2", 4), ("Sim2", (4, 2))])
def test_export_model_gives_identical_logits(group, ne):
    for impl in (SE2() if group == "SE2" else Sim2()).implementations:
        torch.manual_seed(0)
        model = build_model("resnet", group, impl, ne, widths=(2, 3, 4), kernel_size=3, **SMALL)
        model.train()
        for _ in range(2):  # non-trivial batch-norm statistics
            model(torch.randn(4, 1, 28, 28))
        model.eval()
        x = torch.randn(3, 1, 28, 28)
        exported = export(model)
        assert model.training is False and any(isinstance(m, KernelNet) for m in model.modules())  # original intact
        assert not any(isinstance(m, (KernelNet, Implementation, LiftingConv, GroupConv)) for m in exported.modules())
        assert sum(isinstance(m, ExportedConv) for m in exported.modules()) >= 5
        assert all(not p.requires_grad for p in exported.parameters())
        with torch.no_grad():
            assert torch.allclose(exported(x), model(x), atol=1e-6, rtol=0), impl


def test_export_of_a_single_layer():
    model = _stack(dtype=torch.float32)
    x = torch.randn(1, 1, 9, 9)
    model.eval()
    with torch.no_grad():
        ref = model(x)
        exported = nn.Sequential(model[0].export(), nn.Tanh(), model[2].export())
        assert torch.allclose(exported(x), ref, atol=1e-6, rtol=0)
    assert isinstance(export(model[2]), ExportedConv)
    assert model[0].training is False  # export() restores the mode


@pytest.mark.slow
def test_torch_compile_matches_eager():
    model = _stack(dtype=torch.float32).eval()
    x = torch.randn(1, 1, 9, 9)
    with torch.no_grad():
        ref = model(x)
    import shutil

    from _helpers import IN_CI

    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):  # inductor compiles C++ on CPU
        if IN_CI:
            pytest.fail("no C++ compiler on PATH: torch.compile cannot be tested (install g++)")
        pytest.skip("no C++ compiler on PATH: torch.compile (inductor) cannot run here")
    compiled = torch.compile(model)  # with a compiler, any failure is a failure of the library
    with torch.no_grad():
        out = compiled(x)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)


# --- group-aware norms and pools -------------------------------------------------------------
def test_norms_and_pools_shapes_and_group_equivariance():
    x = torch.randn(2, 3, 4, 8, 6, dtype=F64)
    bn = GroupBatchNorm(3).double().train()
    y = bn(x)
    assert y.shape == x.shape
    assert torch.allclose(y.mean(dim=(0, 2, 3, 4)), torch.zeros(3, dtype=F64), atol=1e-12)  # one mean per channel
    rolled = bn(torch.roll(torch.rot90(x, 1, (-2, -1)), 1, dims=2))
    assert torch.allclose(rolled, torch.roll(torch.rot90(y, 1, (-2, -1)), 1, dims=2), atol=1e-12)
    assert SpatialMaxPool(2)(x).shape == (2, 3, 4, 4, 3)
    assert torch.equal(GroupPool("max")(x), x.amax(2))
    assert torch.allclose(GroupPool("mean")(x), x.mean(2))
    assert torch.equal(InvariantPool("max")(x), x.flatten(2).amax(2))
    assert torch.allclose(InvariantPool("mean")(x), x.flatten(2).mean(2))
    with pytest.raises(ValueError, match=r"reduction must be 'max' or 'mean', got 'sum'"):
        GroupPool("sum")
    with pytest.raises(ValueError, match=r"reduction must be 'max' or 'mean'"):
        InvariantPool("sum")
    pc = PlanarConv(3, 2, 3)
    assert pc(torch.randn(1, 3, 7, 5)).shape == (1, 2, 1, 7, 5)
    assert pc(torch.randn(1, 3, 1, 7, 5)).shape == (1, 2, 1, 7, 5)


def test_layer_shapes_with_stride_and_non_square_inputs():
    lift = LiftingConv("Sim2", 2, 3, 5, (4, 2), stride=2, padding="half", **SMALL)
    y = lift(torch.randn(2, 2, 15, 21))
    assert y.shape == (2, 3, 8, 8, 11)
    gconv = GroupConv("Sim2", 3, 4, 3, (4, 2), implementation="separable2d", padding="valid", grid=lift.grid, **SMALL)
    assert gconv.window == 5  # k = 3 at the identity, 5 taps wide at scale 1.74
    assert gconv(y).shape == (2, 4, 8, 4, 7)
    assert "implementation='separable2d'" in repr(gconv) and "Sim2" in repr(gconv)
    assert math.prod(lift.num_elements) == 8


@pytest.mark.slow
def test_torch_compile_training_step_matches_eager():
    """A compiled training step (static shapes, as the trainer uses) gives the eager loss and
    gradients: the custom batch-norm autograd, the grid and the kernel nets all go through."""
    torch.manual_seed(0)
    model = build_model("cnn", "SE2", "separable", 4, widths=(2, 3), kernel_size=3, **SMALL)
    model.train()
    x, y = torch.randn(2, 1, 12, 12), torch.tensor([1, 3])
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    compiled = torch.compile(model, dynamic=False)
    loss_c = nn.functional.cross_entropy(compiled(x), y)
    grads_c = torch.autograd.grad(loss_c, list(model.parameters()))
    assert torch.allclose(loss_c, loss, atol=1e-5)
    for a, b in zip(grads_c, grads):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("impl", ["separable2d", "gseparable2d"])
def test_two_factor_implementations_do_not_assume_rotation_first(impl):
    """separable2d/gseparable2d take any two-factor H: with R⁺ × SO(2) (scale-major grid) the layer
    still equals the convolution with its product kernel, and the factor kernels follow the order."""
    from gsepconv.groups import AffineGroup
    from gsepconv.groups.subgroups import SO2, Dilation, DirectProduct

    torch.manual_seed(0)
    group = AffineGroup("R+xSO2", DirectProduct(Dilation(1.74), SO2()))
    ci, co, k, ne = 2, 3, 3, (2, 4)
    layer = GroupConv(group, ci, co, k, ne, implementation=impl, **SMALL).double()
    x = torch.randn(2, ci, 8, 9, 9, dtype=F64)
    pk = layer.product_kernel()
    w = layer.window
    ref = F.conv2d(x.reshape(2, ci * 8, 9, 9), pk.reshape(co * 8, ci * 8, w, w), padding=w // 2).reshape(2, co, 8, 9, 9)
    assert rel(layer(x), ref + layer.bias.view(1, -1, 1, 1, 1)) < 1e-10
    if impl == "separable2d":
        first, second, _ = layer.weights()
        assert first.shape == (co, 2, ci, 2) and second.shape == (co, 4, 4)  # F₁ = R⁺ mixes channels


def test_group_convs_sharing_a_random_grid_resample_without_their_lifting_layer():
    """Group convolutions sharing a uniform grid, run without their lifting layer, still get fresh
    elements every pass (the first of them finds its previous elements current and draws), and
    within one pass all layers share them; with the lifting layer, exactly one draw per pass."""
    from gsepconv.nn import GroupConv, GroupGrid

    torch.manual_seed(0)
    grid = GroupGrid(SE2().H, 4, "uniform").train()
    a = GroupConv("SE2", 2, 2, 3, 4, grid=grid, hidden_features=8).train()
    b = GroupConv("SE2", 2, 2, 3, 4, grid=grid, hidden_features=8).train()
    x = torch.randn(1, 2, 4, 7, 7)
    seen = []
    for _ in range(3):
        b(a(x))
        seen.append(grid.elements().clone())
        assert a._grid_draw == b._grid_draw  # one draw per pass, shared by both layers
    assert not torch.equal(seen[0], seen[1]) and not torch.equal(seen[1], seen[2])
    lift = LiftingConv("SE2", 1, 2, 3, 4, grid=grid, hidden_features=8).train()
    before = grid.draws
    b(a(lift(torch.randn(1, 1, 7, 7))))
    assert grid.draws == before + 1  # with the lifting layer: exactly one draw per pass
