"""Equivariance: exact rot90 checks written out explicitly (lifting and every group convolution),
the check_equivariance API, and measured (not asserted-zero) errors for 45° and dilations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gsepconv.equivariance import check_equivariance, dilate, disk, find_grid, rotate, smooth_noise
from gsepconv.groups import SE2, Sim2
from gsepconv.kernels import KERNEL_NETS, KernelNet, register_kernel_net
from gsepconv.nn import GroupConv, LiftingConv

from _helpers import F64, SMALL, rel



pytestmark = pytest.mark.usefixtures("single_thread")


def _roll_steps(group_name: str, ne, k: int) -> int:
    """Group-axis roll induced by k quarter turns: k·N/4 (SE2), k·(n_rot/4)·n_scale (Sim2, rotation-major)."""
    if group_name == "SE2":
        return k * ne // 4
    n_rot, n_scale = ne
    return k * (n_rot // 4) * n_scale


CASES = [("SE2", SE2(), 4), ("SE2", SE2(), 8), ("Sim2", Sim2(max_scale=1.74), (4, 2)), ("Sim2", Sim2(max_scale=1.74), (8, 2))]
CASE_IDS = [f"{c[0]}-{c[2]}" for c in CASES]


def test_roll_steps_match_group_rotation_shift():
    for name, group, ne in CASES:
        for k in (1, 2, 3):
            assert group.H.rotation_shift(ne, k * math.pi / 2) == _roll_steps(name, ne, k)


@pytest.mark.parametrize("name,group,ne", CASES, ids=CASE_IDS)
def test_lifting_rot90_equals_rolled_rotated_output(name, group, ne):
    torch.manual_seed(0)
    lift = LiftingConv(group, 2, 3, 5, ne, **SMALL).double().eval()
    x = torch.randn(2, 2, 13, 13, dtype=F64)
    with torch.no_grad():
        y = lift(x)
        assert float(y.norm()) > 0
        for k in (1, 2, 3):
            y_t = lift(torch.rot90(x, k, dims=(-2, -1)))
            expected = torch.roll(torch.rot90(y, k, dims=(-2, -1)), _roll_steps(name, ne, k), dims=2)
            assert rel(y_t, expected) < 1e-5
            # sensitivity: without the roll it is not equivariant
            assert rel(y_t, torch.rot90(y, k, dims=(-2, -1))) > 1e-2
    errs = check_equivariance(lift, input_shape=(2, 2, 13, 13))
    assert max(errs["rot90"], errs["rot180"], errs["rot270"]) < 1e-5


STACK_CASES = [(name, group, ne, impl) for name, group, ne in CASES for impl in group.implementations]


@pytest.mark.parametrize("name,group,ne,impl", STACK_CASES, ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in STACK_CASES])
def test_group_conv_stack_rot90_equivariant(name, group, ne, impl):
    torch.manual_seed(0)
    lift = LiftingConv(group, 1, 3, 3, ne, **SMALL)
    gconv = GroupConv(group, 3, 2, 3, ne, implementation=impl, grid=lift.grid, **SMALL)
    gconv2 = GroupConv(group, 2, 2, 3, ne, implementation=impl, grid=lift.grid, stride=2, padding=1, **SMALL)
    model = nn.Sequential(lift, nn.Tanh(), gconv, nn.Tanh(), gconv2).double().eval()
    x = torch.randn(2, 1, 11, 11, dtype=F64)
    with torch.no_grad():
        y = model(x)
        assert float(y.norm()) > 0
        for k in (1, 2, 3):
            y_t = model(torch.rot90(x, k, dims=(-2, -1)))
            expected = torch.roll(torch.rot90(y, k, dims=(-2, -1)), _roll_steps(name, ne, k), dims=2)
            assert rel(y_t, expected) < 1e-5
    errs = check_equivariance(model, input_shape=(2, 1, 11, 11))
    assert max(errs["rot90"], errs["rot180"], errs["rot270"]) < 1e-5


# --- the API itself ---------------------------------------------------------------------------
def test_check_equivariance_keys_nan_and_mode_restored():
    torch.manual_seed(0)
    lift = LiftingConv("SE2", 1, 2, 5, 4, **SMALL).double()
    lift.train()
    errs = check_equivariance(lift, angles=(45,))
    assert set(errs) == {"rot90", "rot180", "rot270", "rot45"}
    assert math.isnan(errs["rot45"])  # 45° does not map a 4-element grid onto itself
    assert lift.training  # restored
    assert find_grid(lift) is lift.grid and find_grid(nn.Conv2d(1, 1, 3)) is None


def test_check_equivariance_detects_a_non_equivariant_module():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 2, 3, padding=1).double()
    errs = check_equivariance(conv)
    assert errs["rot90"] > 1e-2  # a plain conv with a random kernel is not rotation-equivariant
    # and a group layer whose output is scrambled along the group axis is caught as well
    lift = LiftingConv("SE2", 1, 2, 5, 4, **SMALL).double()

    class Scrambled(nn.Module):
        def __init__(self):
            super().__init__()
            self.lift = lift

        def forward(self, x):
            return self.lift(x).flip(2)

    assert check_equivariance(Scrambled())["rot90"] > 1e-2


def test_rotate_dilate_noise_helpers():
    x = torch.randn(2, 3, 9, 9, dtype=F64)
    for k in (1, 2, 3):
        assert torch.allclose(rotate(x, k * math.pi / 2), torch.rot90(x, k, dims=(-2, -1)), atol=1e-10)
    assert torch.allclose(dilate(x, 1.0), x, atol=1e-12)
    with pytest.raises(ValueError, match="square"):
        rotate(torch.randn(1, 1, 9, 11), 0.3)
    n = smooth_noise((2, 1, 17, 17), generator=torch.Generator().manual_seed(0))
    assert n.shape == (2, 1, 17, 17) and n.dtype == F64
    assert abs(float(n.std()) - 1.0) < 1e-6
    # smooth: neighbouring pixels are strongly correlated
    assert float((n[..., 1:] * n[..., :-1]).mean()) > 0.5
    d = disk(9, 4.0)
    assert d.shape == (9, 9) and float(d[4, 4]) == 1.0 and float(d[0, 0]) == 0.0


# --- 10. approximate equivariance is measured, not asserted to be zero ------------------------
def test_rot45_error_measured_for_se2_n8():
    torch.manual_seed(0)
    lift = LiftingConv("SE2", 1, 4, 7, 8).double()  # paper defaults (SIREN width 64, ω0 = 10), k = 7
    errs = check_equivariance(lift, angles=(45,))
    assert math.isfinite(errs["rot45"])
    assert 0.0 < errs["rot45"] < 0.2
    assert errs["rot90"] < 1e-10
    lift4 = LiftingConv("SE2", 1, 4, 7, 4).double()
    assert math.isnan(check_equivariance(lift4, angles=(45,))["rot45"])


@pytest.mark.parametrize("ne", [(4, 2), (8, 3)])
def test_scale_error_measured_for_sim2(ne):
    torch.manual_seed(0)
    lift = LiftingConv(Sim2(max_scale=1.74), 1, 4, 9, ne).double()
    step = math.exp(math.log(1.74) / (ne[1] - 1))
    errs = check_equivariance(lift, scales=(step,), quarter_turns=(1,))
    key = f"scale{step:g}"
    assert math.isfinite(errs[key])
    assert 0.0 < errs[key] < 0.5
    # a dilation that is not a grid step is not a symmetry of the sampled grid
    assert math.isnan(check_equivariance(lift, scales=(1.1,), quarter_turns=())["scale1.1"])


def test_band_limited_kernels_are_nearly_equivariant_to_45_degrees_and_grid_dilations():
    """With a smooth, anisotropic kernel the measured errors shrink to the interpolation level:
    the remaining error of SIREN kernels is aliasing of the kernel on the pixel grid, and the
    direction of the scale shift (output scale j of a magnified input = scale j−1) is right."""

    @register_kernel_net("_test_gauss")
    class Gauss(KernelNet):
        def __init__(self, in_features, out_features, hidden_features=1, fan_in=1.0, gain=2.0):
            super().__init__(in_features, out_features, 1, fan_in, gain)

        def forward(self, z):
            g = torch.exp(-(z[:, :2] ** 2).sum(-1, keepdim=True) / (2 * 0.35**2)) * (1 + z[:, :1])
            return g.expand(-1, self.out_features)

    try:
        lift = LiftingConv(Sim2(max_scale=1.74), 1, 1, 9, (8, 2), kernel_net="_test_gauss").double()
        errs = check_equivariance(lift, angles=(45,), scales=(1.74,))
        assert errs["rot90"] < 1e-10
        assert 0.0 < errs["rot45"] < 0.05
        assert 0.0 < errs["scale1.74"] < 0.05
    finally:
        del KERNEL_NETS["_test_gauss"]


@pytest.mark.parametrize("name,group,ne", [CASES[1], CASES[3]], ids=[CASE_IDS[1], CASE_IDS[3]])
def test_randomly_sampled_grids_are_equivariant_too(name, group, ne):
    """Kernels use relative coordinates only, so a randomly offset grid (training, uniform sampling)
    is as equivariant as the fixed one when both passes draw the same elements."""
    torch.manual_seed(0)
    lift = LiftingConv(group, 1, 3, 3, ne, sampling="uniform", **SMALL)
    impl = "separable2d" if name == "Sim2" else "separable"
    gconv = GroupConv(group, 3, 2, 3, ne, implementation=impl, grid=lift.grid, **SMALL)
    model = nn.Sequential(lift, nn.Tanh(), gconv).double().train()
    x = torch.randn(2, 1, 11, 11, dtype=F64)

    def run(inp):
        lift.grid.generator = torch.Generator().manual_seed(123)
        return model(inp)

    with torch.no_grad():
        y = run(x)
        assert not torch.allclose(lift.grid.elements(), lift.grid.fixed)
        for k in (1, 2, 3):
            expected = torch.roll(torch.rot90(y, k, dims=(-2, -1)), _roll_steps(name, ne, k), dims=2)
            assert rel(run(torch.rot90(x, k, dims=(-2, -1))), expected) < 1e-5


def test_scale_error_is_smallest_for_the_predicted_shift():
    """A dilation by one grid step must match the output shifted by +1 along the scale axis far
    better than the unshifted or oppositely shifted output (k=11: enough taps to resolve scales)."""
    from gsepconv import equivariance as E

    torch.manual_seed(0)
    step = math.exp(math.log(1.74) / 2)
    lift = LiftingConv("R2xRplus", 1, 4, 11, 3).double().eval()
    x = smooth_noise((2, 1, 41, 41), generator=torch.Generator().manual_seed(0))
    x = x * disk(41, 20.0, x.dtype)
    crop = disk(41, 10.0, x.dtype)
    with torch.no_grad():
        y, y_t = lift(x), lift(dilate(x, step))
    errors = {}
    for steps in (1, 0, -1):
        expected, valid = E._transform_output(y, lambda t: dilate(t, step), (lift.grid.H, lift.grid.num_elements), None, steps)
        errors[steps] = E._masked_error(y_t, expected, crop, valid)
    assert errors[1] < 0.2 and errors[1] < errors[0] / 2 and errors[1] < errors[-1] / 2, errors
