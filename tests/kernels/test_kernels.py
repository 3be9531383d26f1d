"""Continuous kernels: spatial grids, masks, the kernel-net registry, and kernels sampled on relative
coordinates."""

from __future__ import annotations

import math

import pytest
import torch

from gsepconv.groups import SE2, SO2, Dilation, DirectProduct, R2xRplus, Sim2
from gsepconv.kernels import (
    KERNEL_NETS,
    MASKS,
    GroupKernel,
    KernelNet,
    SpatialKernel,
    SubgroupKernel,
    disk_mask,
    identity_support,
    kernel_window,
    make_kernel_net,
    register_kernel_net,
    spatial_grid,
    transformed_offsets,
)
from gsepconv.nn import GroupConv, LiftingConv

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("single_thread")


# --- spatial grid ----------------------------------------------------------------------------
@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("extent", [1.0, 1.74])
def test_spatial_grid_layout(k, extent):
    y = spatial_grid(k, extent)
    assert y.shape == (k, k, 2) and y.dtype == F64
    ticks = torch.linspace(-extent, extent, k, dtype=F64)
    for i in range(k):
        for j in range(k):
            # [i, j] = (x_j, -y_i): columns are x, rows go down
            assert torch.allclose(y[i, j], torch.stack([ticks[j], -ticks[i]]))
    assert torch.allclose(y[k // 2, k // 2], torch.zeros(2, dtype=F64))
    assert float(y.abs().max()) == pytest.approx(extent)


@pytest.mark.parametrize("extent", [1.0, 1.74, 3.0])
def test_spatial_grid_1x1_is_origin(extent):
    assert torch.equal(spatial_grid(1, extent), torch.zeros(1, 1, 2, dtype=F64))


def test_rot90_rotates_the_plane_by_plus_90_degrees():
    """torch.rot90(f)(p) = f(R(-90°) p), with the kernel grid's axis convention."""
    y = spatial_grid(5, 1.0)
    field = y.permute(2, 0, 1)  # [2, k, k]: the coordinate field p -> p
    rotated = torch.rot90(field, 1, dims=(-2, -1)).permute(1, 2, 0)
    r_inv = SO2().matrix(torch.tensor([-math.pi / 2], dtype=F64))
    assert torch.allclose(rotated, torch.einsum("ab,ijb->ija", r_inv, y), atol=1e-12)


def test_disk_mask():
    u = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.6, 0.8], [1.0, 1.0], [0.0, -1.5]], dtype=F64)
    assert torch.equal(disk_mask(u, "hard"), torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0], dtype=F64))
    smooth = disk_mask(u, "smooth")
    assert bool(((smooth > 0) & (smooth < 1)).all())
    assert float(smooth[0]) > float(smooth[1]) > float(smooth[3]) > float(smooth[4])
    assert torch.equal(disk_mask(u, "none"), torch.ones(5, dtype=F64))
    square = disk_mask(u, "soft_square")  # sigmoid((1 - max|u_i|) / 0.5): the square, softly
    expected = torch.sigmoid((1 - torch.tensor([0.0, 1.0, 0.8, 1.0, 1.5], dtype=F64)) / 0.5)
    assert torch.allclose(square, expected, atol=1e-15)
    assert float(square[3]) == 0.5 and float(smooth[3]) < 0.05  # a corner of the square keeps half its weight
    assert set(MASKS) == {"hard", "smooth", "soft_square", "none"}


# --- kernel nets -----------------------------------------------------------------------------
def test_registry_contents():
    assert {"siren", "mlp", "rff"} <= set(KERNEL_NETS)
    for name, cls in KERNEL_NETS.items():
        assert issubclass(cls, KernelNet) and cls.registry_name == name


@pytest.mark.parametrize("name", sorted(KERNEL_NETS))
def test_every_kernel_net_maps_coordinates(name):
    net = make_kernel_net(name, 3, 6, fan_in=12.0, hidden_features=8)
    z = torch.randn(10, 3)
    out = net(z)
    assert out.shape == (10, 6) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match=r"\[P, 3\]"):
        net(torch.randn(10, 2))


def test_unknown_kernel_net_and_options():
    with pytest.raises(ValueError, match=r"unknown kernel_net 'gabor'.*mlp.*rff.*siren"):
        make_kernel_net("gabor", 2, 2, fan_in=1.0)
    with pytest.raises(TypeError, match=r"invalid options \['omega'\] for kernel_net 'siren'"):
        make_kernel_net("siren", 2, 2, fan_in=1.0, omega=3.0)
    with pytest.raises(ValueError, match="already registered"):
        register_kernel_net("siren")(KernelNet)


def test_siren_initialisation():
    net = make_kernel_net("siren", 2, 4, fan_in=1.0, hidden_features=64, num_hidden=2, omega_0=10.0, first_omega_0=30.0)
    first, *rest = [layer.linear.weight.detach() for layer in net.layers]
    assert float(first.abs().max()) <= 1.0 / 2
    assert net.layers[0].omega_0 == 30.0 and net.layers[1].omega_0 == 10.0
    for lin in rest:
        assert float(lin.abs().max()) <= math.sqrt(6.0 / 64) / 10.0
    assert len(net.layers) == 3  # num_hidden + 1 sine layers
    assert torch.equal(net.head.bias, torch.zeros(4))


@pytest.mark.parametrize("name", ["siren", "mlp", "rff"])
def test_head_init_variance_tracks_fan_in(name):
    """The sampled kernel's variance is ~ gain / fan_in (fan_in includes N_in), to within a factor 3."""
    torch.manual_seed(0)
    variances = []
    for fan_in in (10.0, 1000.0):
        net = make_kernel_net(name, 2, 64, fan_in=fan_in, gain=2.0)
        with torch.no_grad():
            out = net(torch.rand(400, 2) * 2 - 1)
        variances.append(float(out.var()) * fan_in / 2.0)
    for v in variances:
        assert 1 / 3 < v < 3, variances


def test_registering_a_new_kernel_net_needs_no_layer_edits():
    @register_kernel_net("_test_linear_tanh")
    class LinearTanh(KernelNet):
        def __init__(self, in_features, out_features, hidden_features=8, fan_in=1.0, gain=2.0):
            super().__init__(in_features, out_features, hidden_features, fan_in, gain)
            self.lin = torch.nn.Linear(in_features, hidden_features)
            self.init_head(hidden_second_moment=0.3)

        def hidden(self, z):
            return torch.tanh(self.lin(z))

    try:
        lift = LiftingConv("SE2", 1, 2, 3, 4, kernel_net="_test_linear_tanh")
        gconv = GroupConv(
            "SE2", 2, 2, 3, 4, implementation="nonseparable", kernel_net="_test_linear_tanh", grid=lift.grid
        )
        y = gconv(lift(torch.randn(1, 1, 9, 9)))
        assert y.shape == (1, 2, 4, 9, 9)
        assert any(isinstance(m, LinearTanh) for m in gconv.modules())
    finally:
        del KERNEL_NETS["_test_linear_tanh"]


# --- sampled kernels -------------------------------------------------------------------------
def _direct_spatial(kernel: SpatialKernel, H, grid_out: torch.Tensor) -> torch.Tensor:
    """Definition: k(h_a⁻¹ y) · mask(h_a⁻¹ y) / |det h_a|, one element at a time."""
    y = kernel.offsets
    co, ci = kernel.out_channels, kernel.in_channels or 1
    out = []
    for g in grid_out:
        u = torch.einsum("ab,ijb->ija", torch.linalg.inv(H.matrix(g)), y)
        vals = kernel.net(u.reshape(-1, 2)).reshape(*u.shape[:2], co, ci)
        w = disk_mask(u, kernel.mask) / H.det(g)
        out.append(vals * w[..., None, None])
    k = torch.stack(out)  # [N, k, k, Co, Ci]
    k = k.permute(3, 0, 4, 1, 2)  # [Co, N, Ci, k, k]
    return k if kernel.in_channels is not None else k[:, :, 0]


@pytest.mark.parametrize(
    "H", [SO2(), Dilation(1.74), DirectProduct(SO2(), Dilation(1.74))], ids=["SO2", "Rplus", "Sim2"]
)
@pytest.mark.parametrize("in_channels", [None, 3])
@pytest.mark.parametrize("mask", ["hard", "smooth", "soft_square", "none"])
def test_spatial_kernel_matches_definition(H, in_channels, mask):
    torch.manual_seed(0)
    kernel = SpatialKernel(H, 2, in_channels, 5, fan_in=25.0, mask=mask, net_options={"hidden_features": 8}).double()
    grid = H.sample((3,) * len(H.factors), generator=torch.Generator().manual_seed(1))
    out = kernel(grid)
    w = kernel.window  # 5 at the identity, grown for dilations
    assert w == (5 if H.name == "SO2" else 9)
    expected_shape = (2, grid.shape[0]) + ((in_channels,) if in_channels else ()) + (w, w)
    assert out.shape == expected_shape
    assert torch.allclose(out, _direct_spatial(kernel, H, grid), atol=1e-12)


def test_spatial_kernel_at_quarter_turn_is_rot90_of_identity_kernel():
    torch.manual_seed(0)
    kernel = SpatialKernel(SO2(), 2, 1, 5, fan_in=25.0).double()
    out = kernel(SO2().grid(4))  # [Co, 4, Ci, k, k]
    for j in range(4):
        assert torch.allclose(out[:, j], torch.rot90(out[:, 0], j, dims=(-2, -1)), atol=1e-12)


def test_spatial_kernel_dilation_normalised_by_det():
    torch.manual_seed(0)
    H = Dilation(2.0)
    kernel = SpatialKernel(H, 1, None, 5, fan_in=25.0, mask="none").double()
    g = torch.tensor([[0.0], [math.log(2.0)]], dtype=F64)
    out = kernel(g)
    y = kernel.offsets
    with torch.no_grad():
        expected = kernel.net((y / 2.0).reshape(-1, 2)).reshape(kernel.window, kernel.window) / 4.0
    assert torch.allclose(out[0, 1], expected, atol=1e-12)


@pytest.mark.parametrize(
    "H",
    [SO2(), Dilation(1.74, mask_sigma=0.4), DirectProduct(SO2(), Dilation(1.74, mask_sigma=0.4))],
    ids=["SO2", "Rplus", "Sim2"],
)
@pytest.mark.parametrize("in_channels", [None, 2])
def test_subgroup_kernel_depends_only_on_relative_elements(H, in_channels):
    """k(log(h_a⁻¹ h_b)) is unchanged when both grids are left-multiplied by the same element."""
    torch.manual_seed(0)
    kernel = SubgroupKernel(H, 3, in_channels, fan_in=8.0, net_options={"hidden_features": 8}).double()
    nf = len(H.factors)
    gen = torch.Generator().manual_seed(0)
    g_out, g_in = H.sample((3,) * nf, generator=gen), H.sample((2,) * nf, generator=gen)
    shift = H.sample((1,) * nf, generator=gen)
    a = kernel(g_out, g_in)
    b = kernel(H.product(shift, g_out), H.product(shift, g_in))
    assert a.shape == (3, g_out.shape[0]) + ((in_channels,) if in_channels else ()) + (g_in.shape[0],)
    assert torch.allclose(a, b, atol=1e-9)
    # and it is the net on the embedded relative element times the subgroup mask
    v = H.relative(g_out, g_in)
    with torch.no_grad():
        vals = kernel.net(H.embed(v).reshape(-1, H.embed_dim)).reshape(*v.shape[:2], 3, in_channels or 1)
    ref = (vals * H.mask(v)[..., None, None]).permute(2, 0, 3, 1)
    ref = ref if in_channels else ref[:, :, 0]
    assert torch.allclose(a, ref, atol=1e-12)


def test_group_kernel_matches_definition():
    torch.manual_seed(0)
    H = DirectProduct(SO2(), Dilation(1.74, mask_sigma=0.5))
    kernel = GroupKernel(H, 2, 3, 3, fan_in=10.0, net_options={"hidden_features": 8}).double()
    gen = torch.Generator().manual_seed(2)
    g_out, g_in = H.sample((2, 2), generator=gen), H.sample((3, 1), generator=gen)
    out = kernel(g_out, g_in)
    win = kernel.window
    assert out.shape == (2, 4, 3, 3, win, win)
    y = kernel.offsets
    for a in range(4):
        u = torch.einsum("ab,ijb->ija", torch.linalg.inv(H.matrix(g_out[a])), y)
        for b in range(3):
            v = H.log(H.product(H.inverse(g_out[a]), g_in[b]))
            z = torch.cat([u, H.embed(v).expand(win, win, H.embed_dim)], -1)
            with torch.no_grad():
                vals = kernel.net(z.reshape(-1, 2 + H.embed_dim)).reshape(kernel.window, kernel.window, 2, 3)
            w = disk_mask(u, "hard") / H.det(g_out[a]) * H.mask(v)
            ref = (vals * w[..., None, None]).permute(2, 3, 0, 1)  # [Co, Ci, k, k]
            assert torch.allclose(out[:, a, :, b], ref, atol=1e-12)


def test_kernel_coordinates_stay_float64_under_float32_nets():
    lift = LiftingConv(Sim2(max_scale=1.74), 1, 2, 3, (4, 2)).float()
    assert lift.grid.fixed.dtype == F64
    assert lift.kernel.offsets.dtype == F64
    y = lift(torch.randn(1, 1, 9, 9))
    assert y.dtype == torch.float32
    lift.double()
    assert lift(torch.randn(1, 1, 9, 9, dtype=F64)).dtype == F64


def test_unknown_mask_in_kernel():
    with pytest.raises(ValueError, match=r"unknown mask 'disk'.*hard.*smooth.*none"):
        SpatialKernel(SO2(), 1, 1, 3, fan_in=9.0, mask="disk")


def test_kernel_size_is_the_identity_size_and_windows_grow_with_scale():
    """``kernel_size`` is the kernel's size at the identity in every group (same taps, same spacing
    2/(k-1)); dilated kernels get a window that holds them whole. Spreading k taps over [-S, S]²
    instead would leave the identity kernel of a scale group 1 tap at k = 3 and 5 at k = 5."""
    se2 = LiftingConv(SE2(), 1, 1, 5, 4)
    sim2 = LiftingConv(Sim2(max_scale=1.74), 1, 1, 5, (4, 2))
    assert se2.window == 5 and float(se2.kernel.offsets.abs().max()) == 1.0
    assert sim2.window == 9 and float(sim2.kernel.offsets.abs().max()) == pytest.approx(2.0)
    for layer in (se2, sim2):  # the identity kernel's taps are spaced like an ordinary k = 5 kernel
        ticks = layer.kernel.offsets[0, :, 0]
        assert torch.allclose(ticks[1:] - ticks[:-1], torch.full_like(ticks[1:], 0.5))
    for k, taps in ((3, 5), (5, 13), (7, 29)):  # a disk of radius (k-1)/2 pixels
        assert identity_support(SE2().H, k, "hard") == taps
        assert identity_support(R2xRplus(1.74).H, k, "hard", 3) == taps
        assert identity_support(Sim2(1.74).H, k, "hard", (4, 3)) == taps
    assert kernel_window(R2xRplus(1.74).H, 1, 3) == (1, 0.0)  # 1×1 stays pointwise at every scale


@pytest.mark.parametrize("group,ne", [("R2xRplus", 3), ("Sim2", (4, 3))])
@pytest.mark.parametrize("k", [3, 5])
def test_dilated_kernels_fit_their_window(group, ne, k):
    """The mask of the largest dilation (of the grid, and of random samples) never touches the
    window's border: nothing is cut, and the number of taps grows like s²."""
    for sampling in ("discretise", "uniform"):
        lift = LiftingConv(group, 1, 1, k, ne, sampling=sampling)
        H = lift.group.H
        elements = H.grid(ne).clone()
        if sampling == "uniform":  # the largest jitter a random sample can have: just under half a step
            elements[:, -1] += 0.4999 * math.log(1.74) / 2

        _, weight = transformed_offsets(H, elements, lift.kernel.offsets, "hard", normalise=False)
        border = torch.ones(lift.window, lift.window, dtype=torch.bool)
        border[1:-1, 1:-1] = False
        assert float(weight[:, border].abs().max()) == 0.0, sampling
    taps = (weight > 0).sum(dim=(1, 2)).double()
    assert float(taps.max()) > float(taps.min())  # dilated kernels have more taps than the identity's


def test_kernel_sizes_without_a_support_are_refused():
    with pytest.raises(ValueError, match="kernel_size=2.*single tap or none"):
        LiftingConv("R2xRplus", 1, 1, 2, 3, padding="valid")
    LiftingConv("R2xRplus", 1, 1, 2, 3, padding="valid", mask="none")  # a full 2×2 window is fine without a mask


@pytest.mark.parametrize("extent", [1.0, 1.74, 2.5])
def test_trap4_one_by_one_kernel_grid_is_origin(extent):
    assert torch.equal(spatial_grid(1, extent), torch.zeros(1, 1, 2, dtype=F64))
