"""Group convolution layers where a mistake hides easily: the product kernel sampled on different
output and input grids equals its definition (and not the swapped one), Sim(2) layers stay
rotation-equivariant with and without the scale mask, 1×1 kernels, non-square images, uniform
sampling within ``max_scale``, every kernel net with and without bias, and a subgroup written
outside the package working in the layers unchanged."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
import torch
from torch import nn

from _helpers import F64, SMALL, rel
from gsepconv.equivariance import check_equivariance
from gsepconv.groups import SE2, AffineGroup, Sim2, SubGroup
from gsepconv.groups.interface import as_int_tuple
from gsepconv.kernels import KERNEL_NETS, disk_mask
from gsepconv.models import build_model
from gsepconv.nn import GroupConv, LiftingConv

pytestmark = pytest.mark.usefixtures("single_thread")


def _quarter_shift(H: SubGroup, num_elements, k: int) -> int:
    """Roll along the flat group axis for k quarter turns (rotation-major for SO2×R⁺)."""
    ne = H.check_num_elements(num_elements)
    n_rot, n_rest = ne[0], math.prod(ne[1:])
    assert n_rot % 4 == 0
    return (k * n_rot // 4) * n_rest


def _assert_rot90_equivariant(module: nn.Module, x: torch.Tensor, H: SubGroup, num_elements, tol: float = 1e-5) -> None:
    """f(rot90^k x) == roll(rot90^k f(x), shift_k) along the group axis, for k = 1, 2, 3."""
    module.eval()
    with torch.no_grad():
        y = module(x)
        assert float(y.norm()) > 0
        for k in (1, 2, 3):
            y_t = module(torch.rot90(x, k, dims=(-2, -1)))
            expected = torch.roll(torch.rot90(y, k, dims=(-2, -1)), _quarter_shift(H, num_elements, k), dims=2)
            assert y_t.shape == expected.shape
            err = rel(y_t, expected)
            assert err < tol, (k, err)


def _stack(group, ne, impl, k=3, ci=1, cmid=3, co=2, **kw):
    lift = LiftingConv(group, ci, cmid, k, ne, **SMALL, **kw)
    gconv = GroupConv(group, cmid, co, k, ne, implementation=impl, grid=lift.grid, **SMALL, **kw)
    return nn.Sequential(lift, nn.Tanh(), gconv).double()


# --- definition-based reference kernels (explicit loops over elements) -------------------------
def _spatial_def(kmod, H: SubGroup, g: torch.Tensor) -> torch.Tensor:
    """k(h_a⁻¹ y) · mask / |det h_a| for one element: ``[Co, (Ci,) k, k]``."""
    y = kmod.offsets
    u = torch.einsum("ab,ijb->ija", torch.linalg.inv(H.matrix(g)), y)
    vals = kmod.net(u.reshape(-1, 2)).reshape(*u.shape[:2], kmod.out_channels, kmod.in_channels or 1)
    vals = vals * (disk_mask(u, kmod.mask) / H.det(g))[..., None, None]
    vals = vals.permute(2, 3, 0, 1)  # [Co, Ci, k, k]
    return vals if kmod.in_channels is not None else vals[:, 0]


def _sub_def(kmod, H: SubGroup, ga: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
    """k(log(h_a⁻¹ h_b)) · mask: ``[Co, (Ci)]``."""
    v = H.log(H.product(H.inverse(ga), gb))
    vals = kmod.net(H.embed(v)[None]).reshape(kmod.out_channels, kmod.in_channels or 1) * H.mask(v[None])[0]
    return vals if kmod.in_channels is not None else vals[:, 0]


def _group_def(kmod, H: SubGroup, ga: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
    """k(h_a⁻¹ y, log(h_a⁻¹ h_b)) · masks / |det h_a|: ``[Co, (Ci,) k, k]``."""
    y = kmod.offsets
    u = torch.einsum("ab,ijb->ija", torch.linalg.inv(H.matrix(ga)), y)
    v = H.log(H.product(H.inverse(ga), gb))
    z = torch.cat([u, H.embed(v).expand(*u.shape[:2], H.embed_dim)], -1)
    vals = kmod.net(z.reshape(-1, z.shape[-1])).reshape(*u.shape[:2], kmod.out_channels, kmod.in_channels or 1)
    w = disk_mask(u, kmod.mask) / H.det(ga) * H.mask(v[None])[0]
    vals = (vals * w[..., None, None]).permute(2, 3, 0, 1)
    return vals if kmod.in_channels is not None else vals[:, 0]


def _reference_product_kernel(impl, H: SubGroup, g_out: torch.Tensor, g_in: torch.Tensor) -> torch.Tensor:
    """Dense kernel ``[Co, No, Ci, Ni, k, k]`` from the definition of each factorisation."""
    name = impl.name
    co, ci = impl.out_channels, impl.in_channels
    rows = []
    for ga in g_out:
        cols = []
        for gb in g_in:
            if name == "nonseparable":
                K = _group_def(impl.kernel, H, ga, gb)
            elif name == "separable":
                K = _sub_def(impl.subgroup, H, ga, gb)[..., None, None] * _spatial_def(impl.spatial, H, ga)[:, None]
            elif name == "gseparable":
                K = _sub_def(impl.subgroup, H, ga, gb)[..., None, None] * _spatial_def(impl.spatial, H, ga)
            elif name == "dseparable":
                K = impl.projection[..., None, None] * _group_def(impl.kernel, H, ga, gb)[:, None]
            elif name == "dgseparable":
                hk = _sub_def(impl.subgroup, H, ga, gb)[:, None, None] * _spatial_def(impl.spatial, H, ga)
                K = impl.projection[..., None, None] * hk[:, None]
            elif name in ("separable2d", "gseparable2d"):
                rot, dil = H.factors
                (ra, sa), (rb, sb) = H.split(ga), H.split(gb)
                r = _sub_def(impl.rotation, rot, ra, rb)  # [Co, Ci]
                s = _sub_def(impl.scale, dil, sa, sb)  # [Co] or [Co, Ci]
                sp = _spatial_def(impl.spatial, H, ga)  # [Co, k, k] or [Co, Ci, k, k]
                if name == "separable2d":
                    K = (r * s[:, None])[..., None, None] * sp[:, None]
                else:
                    K = (r * s)[..., None, None] * sp
            else:  # pragma: no cover
                raise AssertionError(name)
            assert K.shape[:2] == (co, ci)
            cols.append(K)
        rows.append(torch.stack(cols, dim=2))  # [Co, Ci, Ni, k, k]
    return torch.stack(rows, dim=1)  # [Co, No, Ci, Ni, k, k]


TRAP1_CASES = [("SE2", SE2(), 3, 2, impl) for impl in SE2().implementations] + [
    ("Sim2", Sim2(max_scale=1.74, mask_sigma=0.5), (4, 2), (4, 2), impl) for impl in Sim2().implementations
]


@pytest.mark.parametrize("gname,group,n_out,n_in,impl", TRAP1_CASES, ids=[f"{c[0]}-{c[4]}" for c in TRAP1_CASES])
def test_trap1_input_and_output_grids_not_swapped(gname, group, n_out, n_in, impl):
    """impl.sample(grid_out, grid_in) with *different* grids equals the definition
    K[a, b] = k(h_a⁻¹ y, log(h_a⁻¹ h_b)) and differs from the swapped assignment."""
    torch.manual_seed(0)
    H = group.H
    layer = GroupConv(group, 2, 3, 3, n_in, implementation=impl, **SMALL).double()
    gen = torch.Generator().manual_seed(5)
    g_out, g_in = H.sample(n_out, generator=gen), H.sample(n_in, generator=gen)
    assert not torch.allclose(g_out[: g_in.shape[0]], g_in[: g_out.shape[0]])
    with torch.no_grad():
        got = type(layer.impl).product_kernel(layer.impl.sample(g_out, g_in))
        ref = _reference_product_kernel(layer.impl, H, g_out, g_in)
        assert got.shape == (3, g_out.shape[0], 2, g_in.shape[0], layer.window, layer.window)
        assert rel(got, ref) < 1e-12
        if g_out.shape == g_in.shape:  # sensitivity: the swapped grids give a different kernel
            swapped = _reference_product_kernel(layer.impl, H, g_in, g_out)
            assert rel(got, swapped) > 1e-2
        # and the layer itself (one shared grid) samples the definition on its grid
        g = layer.grid.elements()
        assert rel(layer.product_kernel(), _reference_product_kernel(layer.impl, H, g, g)) < 1e-12


# --- Sim(2): nonseparable and dseparable layers are rotation-equivariant --------------------------
@pytest.mark.parametrize("ne", [(4, 2), (8, 3)])
@pytest.mark.parametrize("impl", ["nonseparable", "dseparable"])
def test_trap2_sim2_nonseparable_and_dseparable_rotation_equivariant(impl, ne):
    torch.manual_seed(0)
    group = Sim2(max_scale=1.74)
    model = _stack(group, ne, impl, k=5)
    x = torch.randn(2, 1, 17, 17, dtype=F64)
    _assert_rot90_equivariant(model, x, group.H, ne, tol=1e-5)
    # kernel level: the group-conv kernel of a quarter-turned output element is the rot90 of the
    # identity's kernel with the input axis rolled (spatial axes consistent with the lifting's)
    K = model[2].product_kernel()
    s = _quarter_shift(group.H, ne, 1)
    # K[a+s, b+s](y) = K[a, b](R⁻¹ y) = rot90(K[a, b])(y)
    rotated = torch.roll(torch.rot90(K, 1, dims=(-2, -1)), shifts=(s, s), dims=(1, 3))
    assert rel(rotated, K) < 1e-10
    errs = check_equivariance(model)
    assert max(errs["rot90"], errs["rot180"], errs["rot270"]) < 1e-5


# --- the scale mask, applied in the kernel's [output, input] layout -------------------------------
SCALE_MASK_IMPLS = ["separable", "gseparable", "dgseparable", "separable2d", "gseparable2d"]


@pytest.mark.parametrize("impl", SCALE_MASK_IMPLS)
def test_trap3_sim2_scale_mask_keeps_equivariance(impl):
    torch.manual_seed(0)
    group = Sim2(max_scale=1.74, mask_sigma=0.5)
    ne = (4, 3)
    model = _stack(group, ne, impl)
    _assert_rot90_equivariant(model, torch.randn(2, 1, 13, 13, dtype=F64), group.H, ne, tol=1e-5)


@pytest.mark.parametrize("impl", SCALE_MASK_IMPLS)
def test_trap3_scale_mask_applied_in_the_right_layout(impl):
    """The masked product kernel is the unmasked one times mask(log s_b − log s_a) at [a, b]."""
    torch.manual_seed(0)
    ne = (4, 3)
    masked = GroupConv(Sim2(max_scale=1.74, mask_sigma=0.5), 2, 2, 3, ne, implementation=impl, **SMALL).double()
    plain = GroupConv(Sim2(max_scale=1.74), 2, 2, 3, ne, implementation=impl, **SMALL).double()
    plain.load_state_dict(masked.state_dict())
    with torch.no_grad():
        km, kp = masked.product_kernel(), plain.product_kernel()
    g = masked.grid.elements()
    m = masked.group.H.mask(masked.group.H.relative(g, g))  # [No, Ni]
    assert float(m.min()) < 0.5  # the mask is not trivial on this grid
    assert rel(km, kp * m[None, :, None, :, None, None]) < 1e-12


# --- 1×1 kernels sit at the origin and keep every element -----------------------------------------


@pytest.mark.parametrize("impl", Sim2().implementations)
def test_trap4_one_by_one_group_conv_in_scale_group(impl):
    torch.manual_seed(0)
    group, ne = Sim2(max_scale=1.74), (4, 3)
    gconv = GroupConv(group, 2, 3, 1, ne, implementation=impl, **SMALL).double()
    spatial = [mod for mod in gconv.modules() if hasattr(mod, "offsets")]
    assert spatial, f"{impl}: no kernel module with sampling offsets found — the check below would test nothing"
    for mod in spatial:
        assert torch.equal(mod.offsets, torch.zeros(1, 1, 2, dtype=F64))
    K = gconv.product_kernel()
    assert K.shape[-2:] == (1, 1)
    # every (output element, input element, channel pair) slot that the definition makes non-zero is
    # non-zero: the origin is inside the disk mask for every element (not masked away at (−S, −S))
    per_element = K.abs().sum(dim=(0, 2, 3, 4, 5))
    assert bool((per_element > 0).all())
    x = torch.randn(2, 2, group.H.size(ne), 9, 9, dtype=F64)
    with torch.no_grad():
        y = gconv(x)
        for k in (1, 2, 3):
            s = _quarter_shift(group.H, ne, k)
            y_t = gconv(torch.roll(torch.rot90(x, k, (-2, -1)), s, dims=2))
            assert rel(y_t, torch.roll(torch.rot90(y, k, (-2, -1)), s, dims=2)) < 1e-10


# --- non-square images ----------------------------------------------------------------------------
NONSQUARE_CASES = [("SE2", SE2(), 4, impl) for impl in SE2().implementations] + [
    ("Sim2", Sim2(max_scale=1.74), (4, 2), impl) for impl in Sim2().implementations
]


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("gname,group,ne,impl", NONSQUARE_CASES, ids=[f"{c[0]}-{c[3]}" for c in NONSQUARE_CASES])
def test_trap5_non_square_images_work_and_are_equivariant(gname, group, ne, impl, stride):
    torch.manual_seed(0)
    pad = "same" if stride == 1 else "half"
    lift = LiftingConv(group, 1, 3, 3, ne, stride=stride, padding=pad, **SMALL)
    gconv = GroupConv(group, 3, 2, 3, ne, implementation=impl, grid=lift.grid, **SMALL)
    model = nn.Sequential(lift, nn.Tanh(), gconv).double()
    x = torch.randn(2, 1, 15, 21, dtype=F64)
    with torch.no_grad():
        y = model(x)
    out_hw = (15, 21) if stride == 1 else (8, 11)
    assert y.shape == (2, 2, group.H.size(ne), *out_hw)
    with torch.no_grad():
        assert model(torch.rot90(x, 1, (-2, -1))).shape[-2:] == out_hw[::-1]  # 21×15 in, 21×15-shaped out
    _assert_rot90_equivariant(model, x, group.H, ne, tol=1e-5)


# --- uniform sampling stays within max_scale and randomises the scales ----------------------------
@pytest.mark.parametrize("group,ne", [("R2xRplus", 3), ("Sim2", (4, 3))])
def test_trap6_uniform_sampling_within_max_scale_and_random_scales(group, ne):
    torch.manual_seed(0)
    max_scale = 1.74
    model = build_model(
        "cnn", group, "separable", ne, sampling="uniform", widths=(2, 2), kernel_size=3, max_scale=max_scale, **SMALL
    )
    model.train()
    grid = model.grid
    log_scales = []
    x = torch.randn(2, 1, 12, 12)
    for _ in range(4):
        model(x)
        log_scales.append(grid.elements()[:, -1].clone())
    for _ in range(300):
        grid.resample()
        log_scales.append(grid.elements()[:, -1].clone())
    allv = torch.cat(log_scales)
    # the fixed grid jittered by less than half a step either way (relative scales as in eval())
    half_step = 0.5 * math.log(max_scale) / (grid.num_elements[-1] - 1)
    assert float(allv.min()) >= -half_step
    assert float(allv.max()) < math.log(max_scale) + half_step  # the bound windows are sized for
    assert float(allv.max()) > math.log(max_scale) + 0.9 * half_step  # and explores up to it
    # scales are actually randomised (not the fixed grid, and different between draws)
    fixed = grid.fixed[:, -1]
    assert not any(torch.allclose(v, fixed) for v in log_scales)
    assert len({float(v[0]) for v in log_scales}) == len(log_scales)
    # the spatial kernel grid is large enough for every sampled dilated kernel
    lift = model.features[0]
    assert float(lift.kernel.offsets.abs().max()) >= math.exp(float(allv.max()))
    fixed_model = build_model("cnn", group, "separable", ne, widths=(2, 2), kernel_size=3, max_scale=max_scale, **SMALL)
    assert lift.window >= fixed_model.features[0].window


# --- every kernel net, with and without bias, gets gradients --------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kernel_net", sorted(KERNEL_NETS))
def test_trap7_every_kernel_net_and_bias_work(kernel_net, bias):
    torch.manual_seed(0)
    for group, ne, impls in (("SE2", 4, SE2().implementations), ("Sim2", (4, 2), Sim2().implementations)):
        for impl in impls:
            lift = LiftingConv(group, 1, 2, 3, ne, bias=bias, kernel_net=kernel_net, hidden_features=8)
            gconv = GroupConv(
                group,
                2,
                2,
                3,
                ne,
                implementation=impl,
                bias=bias,
                kernel_net=kernel_net,
                grid=lift.grid,
                hidden_features=8,
            )
            model = nn.Sequential(lift, nn.Tanh(), gconv)
            model(torch.randn(2, 1, 9, 9)).square().mean().backward()
            for name, p in model.named_parameters():
                assert p.grad is not None and torch.isfinite(p.grad).all(), (impl, name)
            assert (lift.bias is not None) == bias and (gconv.bias is not None) == bias


# --- a subgroup written outside the package needs no layer edits ----------------------------------


class Turns(SubGroup):
    """A subgroup written only for this test: rotations stored as fractions of a full turn."""

    dim, embed_dim, name = 1, 2, "Turns"

    def product(self, g, h):
        return torch.remainder(g + h, 1.0)

    def inverse(self, g):
        return torch.remainder(-g, 1.0)

    def exp(self, v):  # Lie-algebra coordinate in radians
        return torch.remainder(v / (2 * math.pi), 1.0)

    def log(self, g):
        return torch.remainder(2 * math.pi * g + math.pi, 2 * math.pi) - math.pi

    def matrix(self, g):
        t = 2 * math.pi * g[..., 0]
        c, s = torch.cos(t), torch.sin(t)
        return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)

    def check_num_elements(self, num_elements: int | Sequence[int]) -> tuple[int, ...]:
        return as_int_tuple(num_elements, 1, "Turns")

    def grid(self, num_elements):
        (n,) = self.check_num_elements(num_elements)
        return (torch.arange(n, dtype=F64) / n)[:, None]

    def sample(self, num_elements, generator=None):
        (n,) = self.check_num_elements(num_elements)
        return ((torch.arange(n, dtype=F64) + torch.rand((), generator=generator, dtype=F64)) / n)[:, None]

    def embed(self, v):
        return torch.cat([torch.cos(v), torch.sin(v)], -1)

    def rotation_shift(self, num_elements, angle):
        (n,) = self.check_num_elements(num_elements)
        steps = angle * n / (2 * math.pi)
        return int(round(steps)) % n if abs(steps - round(steps)) < 1e-9 else None


@pytest.mark.parametrize("impl", SE2().implementations)
def test_trap8_new_subgroup_needs_no_layer_edits(impl):
    group = AffineGroup("Mine", Turns())
    assert set(group.implementations) == set(SE2().implementations)
    torch.manual_seed(0)
    mine = _stack(group, 4, impl)
    ref = _stack(SE2(), 4, impl)
    ref.load_state_dict(mine.state_dict())
    x = torch.randn(2, 1, 11, 11, dtype=F64)
    with torch.no_grad():
        assert rel(mine(x), ref(x)) < 1e-10  # same function as the built-in SO(2), no dispatch on type
    _assert_rot90_equivariant(mine, x, group.H, 4, tol=1e-10)
    errs = check_equivariance(mine, angles=(45,))
    assert errs["rot90"] < 1e-10 and math.isnan(errs["rot45"])
    # uniform sampling works through the generic interface too
    lift = LiftingConv(group, 1, 2, 3, 4, sampling="uniform", **SMALL)
    lift.train()
    lift(torch.randn(1, 1, 9, 9))
    e = lift.grid.elements()
    assert bool(((e >= 0) & (e < 1)).all()) and not torch.equal(e, lift.grid.fixed)
