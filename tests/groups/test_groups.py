"""Groups: axioms (hypothesis), exp/log, matrices, grids, random samples, grid shifts, registry."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gsepconv.experiments.config import RunConfig
from gsepconv.groups import GROUPS, SE2, SO2, AffineGroup, Dilation, DirectProduct, R2xRplus, Sim2, SubGroup, get_group
from gsepconv.models import build_model
from gsepconv.nn import LiftingConv

TWO_PI = 2.0 * math.pi
F64 = torch.float64


pytestmark = pytest.mark.usefixtures("single_thread")


# --- strategies ------------------------------------------------------------------------------
angles = st.floats(0.0, TWO_PI, exclude_max=True, allow_nan=False, allow_infinity=False)
log_scales = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)

GROUP_CASES = {
    "SO2": (SO2(), st.tuples(angles)),
    "Dilation": (Dilation(1.74), st.tuples(log_scales)),
    "SO2xRplus": (DirectProduct(SO2(), Dilation(1.74)), st.tuples(angles, log_scales)),
}


def _t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


def _angle_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance on the circle."""
    return (torch.remainder(a - b + math.pi, TWO_PI) - math.pi).abs()


def assert_same_element(H: SubGroup, g: torch.Tensor, h: torch.Tensor, tol: float = 1e-9) -> None:
    """Equality of group elements: angles compared on the circle, log-scales as reals."""
    if isinstance(H, DirectProduct):
        for f, a, b in zip(H.factors, H.split(g), H.split(h)):
            assert_same_element(f, a, b, tol)
        return
    if isinstance(H, SO2):
        assert float(_angle_dist(g, h).max()) < tol, (g, h)
    else:
        assert torch.allclose(g, h, atol=tol, rtol=0), (g, h)


def assert_canonical(H: SubGroup, g: torch.Tensor) -> None:
    """Canonical coordinates: SO(2) angles in [0, 2π)."""
    parts = H.split(g) if isinstance(H, DirectProduct) else [g]
    for f, p in zip(H.factors, parts):
        if isinstance(f, SO2):
            assert bool(((p >= 0) & (p < TWO_PI)).all()), p


# --- axioms ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(GROUP_CASES))
def test_group_axioms_hypothesis(name):
    H, strat = GROUP_CASES[name]

    @settings(max_examples=60, deadline=None)
    @given(st.lists(strat, min_size=3, max_size=3))
    def check(triple):
        g, h, k = (_t(v) for v in triple)
        # associativity
        assert_same_element(H, H.product(H.product(g, h), k), H.product(g, H.product(h, k)))
        # identity (both sides)
        e = H.identity()
        assert e.dtype == F64 and e.shape == (H.dim,)
        assert_same_element(H, H.product(e, g), g)
        assert_same_element(H, H.product(g, e), g)
        # inverse (both sides)
        assert_same_element(H, H.product(g, H.inverse(g)), e)
        assert_same_element(H, H.product(H.inverse(g), g), e)
        # closure of the product on canonical coordinates
        assert_canonical(H, H.product(g, h))
        assert_canonical(H, H.product(H.product(g, h), k))
        # matrix is a homomorphism, det is det(matrix), act is matrix @ x and an action
        mg, mh = H.matrix(g), H.matrix(h)
        assert torch.allclose(H.matrix(H.product(g, h)), mg @ mh, atol=1e-9)
        assert torch.allclose(H.matrix(e), torch.eye(2, dtype=F64), atol=1e-12)
        assert torch.allclose(H.matrix(H.inverse(g)), torch.linalg.inv(mg), atol=1e-9, rtol=1e-9)
        assert torch.allclose(H.det(g), torch.linalg.det(mg), rtol=1e-9, atol=1e-12)
        x = _t([0.3, -1.7])
        assert torch.allclose(H.act(g, x), mg @ x, atol=1e-12)
        assert torch.allclose(H.act(H.product(g, h), x), H.act(g, H.act(h, x)), atol=1e-9)

    check()


@pytest.mark.parametrize("name", list(GROUP_CASES))
def test_exp_log_round_trips(name):
    H, strat = GROUP_CASES[name]

    @settings(max_examples=60, deadline=None)
    @given(strat)
    def check(values):
        g = _t(values)
        v = H.log(g)
        # log lands in canonical Lie-algebra coordinates (angles in [-π, π))
        parts = H.split(v) if isinstance(H, DirectProduct) else [v]
        for f, p in zip(H.factors, parts):
            if isinstance(f, SO2):
                assert bool(((p >= -math.pi) & (p < math.pi)).all())
        assert_same_element(H, H.exp(v), g)
        # log(exp(v)) = v on canonical coordinates
        assert torch.allclose(H.log(H.exp(v)), v, atol=1e-9) or float(_angle_dist(H.log(H.exp(v)), v).max()) < 1e-9

    check()


@pytest.mark.parametrize("name", list(GROUP_CASES))
def test_relative_is_log_of_inverse_product(name):
    H, _ = GROUP_CASES[name]
    gen = torch.Generator().manual_seed(3)
    g_out = H.sample(H.check_num_elements((3,) * len(H.factors)), generator=gen)
    g_in = H.sample(H.check_num_elements((2,) * len(H.factors)), generator=gen)
    rel = H.relative(g_out, g_in)
    assert rel.shape == (g_out.shape[0], g_in.shape[0], H.dim)
    for a in range(g_out.shape[0]):
        for b in range(g_in.shape[0]):
            expected = H.log(H.product(H.inverse(g_out[a]), g_in[b]))
            assert torch.allclose(rel[a, b], expected, atol=1e-12)


def test_so2_log_is_canonical_and_exp_wraps():
    H = SO2()
    assert torch.allclose(H.log(_t([[math.pi]])), _t([[-math.pi]]))
    assert torch.allclose(H.log(_t([[1.5 * math.pi]])), _t([[-0.5 * math.pi]]))
    assert torch.allclose(H.exp(_t([[-0.5 * math.pi]])), _t([[1.5 * math.pi]]))
    assert torch.allclose(H.exp(_t([[5 * math.pi]])), _t([[math.pi]]))


def test_so2_inverse_and_exp_stay_in_canonical_range_for_tiny_angles():
    H = SO2()
    g = _t([[1e-300], [1e-17], [0.0]])
    assert_canonical(H, H.inverse(g))
    assert_canonical(H, H.exp(-g))


def test_dilation_closure_and_matrix():
    H = Dilation(2.0)
    g = _t([[math.log(2.0)]])
    assert torch.allclose(H.matrix(g), 2.0 * torch.eye(2, dtype=F64))
    assert torch.allclose(H.det(g), _t([4.0]))
    assert torch.allclose(H.product(g, g), _t([[2 * math.log(2.0)]]))


def test_direct_product_matrix_is_scaled_rotation():
    H = DirectProduct(SO2(), Dilation(1.74))
    g = _t([[math.pi / 3, math.log(1.5)]])
    c, s = math.cos(math.pi / 3), math.sin(math.pi / 3)
    assert torch.allclose(H.matrix(g)[0], 1.5 * _t([[c, -s], [s, c]]))
    assert torch.allclose(H.det(g), _t([1.5**2]))
    assert H.dim == 2 and H.embed_dim == 3
    assert len(H.factors) == 2 and isinstance(H.factors[0], SO2) and isinstance(H.factors[1], Dilation)


# --- grids and samples -----------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 4, 8, 16])
def test_so2_grid(n):
    g = SO2().grid(n)
    assert g.dtype == F64 and g.shape == (n, 1)
    assert torch.allclose(g[:, 0], TWO_PI * torch.arange(n, dtype=F64) / n)
    assert float(g[0, 0]) == 0.0  # identity first
    assert bool(((g >= 0) & (g < TWO_PI)).all())


@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("max_scale", [1.74, 3.0])
def test_dilation_grid_log_uniform_with_both_ends(n, max_scale):
    H = Dilation(max_scale)
    g = H.grid(n)
    assert g.dtype == F64 and g.shape == (n, 1)
    assert float(g[0, 0]) == 0.0  # scale 1 (identity) first
    assert math.isclose(float(g[-1, 0]), math.log(max_scale), rel_tol=1e-12)  # max_scale included
    steps = g[1:, 0] - g[:-1, 0]
    assert torch.allclose(steps, torch.full_like(steps, math.log(max_scale) / (n - 1)))  # log-uniform
    assert torch.allclose(torch.exp(g[:, 0]), torch.tensor([max_scale ** (j / (n - 1)) for j in range(n)], dtype=F64))


def test_dilation_grid_single_element_is_identity():
    assert torch.equal(Dilation(1.74).grid(1), torch.zeros(1, 1, dtype=F64))


def test_paper_sim2_scales():
    # the paper's Sim(2) grid: 3 scales up to 1.74 -> 1, 1.319, 1.74
    s = torch.exp(Dilation(1.74).grid(3)[:, 0])
    assert torch.allclose(s, _t([1.0, 1.74**0.5, 1.74]))
    assert abs(float(s[1]) - 1.319) < 1e-3


@pytest.mark.parametrize("nr,ns", [(4, 2), (8, 3), (3, 5)])
def test_sim2_grid_rotation_major(nr, ns):
    H = Sim2(max_scale=1.74).H
    g = H.grid((nr, ns))
    assert g.shape == (nr * ns, 2) and g.dtype == F64
    rot, sc = SO2().grid(nr)[:, 0], Dilation(1.74).grid(ns)[:, 0]
    for i_rot in range(nr):
        for i_scale in range(ns):
            idx = i_rot * ns + i_scale
            assert float(g[idx, 0]) == float(rot[i_rot])
            assert float(g[idx, 1]) == float(sc[i_scale])
    assert torch.equal(g[0], torch.zeros(2, dtype=F64))  # identity first


@pytest.mark.parametrize("n", [1, 3, 8])
def test_so2_sample_is_offset_grid(n):
    H = SO2()
    step = TWO_PI / n
    s1 = H.sample(n, generator=torch.Generator().manual_seed(1))
    s1b = H.sample(n, generator=torch.Generator().manual_seed(1))
    s2 = H.sample(n, generator=torch.Generator().manual_seed(2))
    assert s1.dtype == F64 and s1.shape == (n, 1)
    assert torch.equal(s1, s1b)  # reproducible with a generator
    assert not torch.equal(s1, s2)  # random
    for s in (s1, s2):
        offset = s - H.grid(n)
        assert torch.allclose(offset, offset[0].expand_as(offset), atol=1e-12)  # one shared offset
        assert 0.0 <= float(offset[0, 0]) < step
        assert bool(((s >= 0) & (s < TWO_PI)).all())


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("max_scale", [1.74, 2.5])
def test_dilation_sample_is_the_grid_jittered_by_half_a_step(n, max_scale):
    """Random scales are the fixed grid shifted by one offset in [-Δ/2, Δ/2): same spacing as
    ``eval()``'s grid, inside the range that ``max_dilation`` reports (so kernel windows hold them)."""
    H = Dilation(max_scale)
    grid = H.grid(n)
    step = H.step(n)
    upper = math.log(H.max_dilation(n, "uniform"))
    seen = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        s = H.sample(n, generator=gen)
        assert s.shape == (n, 1) and s.dtype == F64
        shift = s - grid
        assert torch.allclose(shift, shift[:1].expand_as(shift))  # one offset for all elements
        assert -0.5 * step - 1e-12 <= float(shift[0, 0]) < 0.5 * step + 1e-12
        assert bool((s < upper + 1e-12).all())  # never beyond the largest dilation windows are sized for
        seen.append(float(shift[0, 0]))
    if n == 1:
        assert set(seen) == {0.0}  # a single element is the identity: nothing to jitter
    else:
        assert len(set(seen)) == len(seen)  # genuinely random


@pytest.mark.parametrize("group", ["SE2", "R2xRplus", "Sim2"])
def test_uniform_sampling_trains_on_the_relative_elements_eval_uses(group):
    """With ``sampling="uniform"`` every relative element ``log(h_a⁻¹h_b)`` of the fixed ``eval()``
    grid is one that training samples produce (the kernel nets see nothing else): dilation samples
    are spaced log S/(N-1), like the grid, not log S/N."""
    H = get_group(group).H
    n = {"SE2": 8, "R2xRplus": 3, "Sim2": (4, 3)}[group]
    wrap = torch.tensor([2 * math.pi if f.name == "SO2" else 0.0 for f in H.factors], dtype=F64)

    def rel(g):
        v = H.relative(g, g).reshape(-1, H.dim)
        v = torch.where(wrap > 0, torch.remainder(v + 1e-9, wrap.clamp(min=1e-12)), v)  # angles mod 2π
        return {tuple(round(float(x), 9) for x in row) for row in v}

    gen = torch.Generator().manual_seed(3)
    eval_rel = rel(H.grid(n))
    for _ in range(20):
        assert rel(H.sample(n, generator=gen)) == eval_rel


def test_direct_product_sample_randomises_both_factors():
    H = Sim2(max_scale=1.74).H
    gen = torch.Generator().manual_seed(0)
    a, b = H.sample((4, 3), generator=gen), H.sample((4, 3), generator=gen)
    grid = H.grid((4, 3))
    for col in (0, 1):  # rotations AND scales move
        assert not torch.allclose(a[:, col], grid[:, col])
        assert not torch.allclose(a[:, col], b[:, col])
    # still a rotation-major Cartesian product
    a3 = a.view(4, 3, 2)
    assert torch.allclose(a3[:, :, 0], a3[:, :1, 0].expand(4, 3))
    assert torch.allclose(a3[:, :, 1], a3[:1, :, 1].expand(4, 3))
    half_step = 0.5 * math.log(1.74) / 2
    assert bool((a[:, 1] >= -half_step).all() and (a[:, 1] < math.log(1.74) + half_step).all())


# --- num_elements, shifts, extents, embeds, masks --------------------------------------------
def test_check_num_elements():
    assert SO2().check_num_elements(8) == (8,)
    assert SO2().check_num_elements((8,)) == (8,)
    assert Sim2().H.check_num_elements((8, 3)) == (8, 3)
    assert Sim2().H.check_num_elements([8, 3]) == (8, 3)
    assert Sim2().H.size((8, 3)) == 24
    with pytest.raises(ValueError, match=r"num_elements.*int like 8.*\(8, 3\)"):
        SO2().check_num_elements((8, 3))
    with pytest.raises(ValueError, match=r"num_elements.*tuple of 2 ints.*\(n_rot, n_scale\).*got 8"):
        Sim2().H.check_num_elements(8)
    with pytest.raises(ValueError, match=r"num_elements.*positive.*0"):
        SO2().check_num_elements(0)
    with pytest.raises(TypeError, match=r"num_elements.*True"):
        SO2().check_num_elements(True)
    with pytest.raises(TypeError, match=r"num_elements"):
        SO2().check_num_elements(8.0)


def test_rotation_and_scale_shifts():
    assert SO2().rotation_shift(8, math.pi / 2) == 2
    assert SO2().rotation_shift(8, math.pi / 4) == 1
    assert SO2().rotation_shift(4, math.pi / 4) is None
    assert SO2().rotation_shift(4, 3 * math.pi / 2) == 3
    H = Sim2(max_scale=1.74).H
    assert H.rotation_shift((8, 3), math.pi / 2) == 2 * 3  # rotation-major stride n_scale
    assert H.rotation_shift((4, 2), math.pi) == 2 * 2
    assert H.rotation_shift((4, 2), math.pi / 4) is None
    step = math.log(1.74) / 2
    assert Dilation(1.74).scale_shift(3, step) == 1
    assert Dilation(1.74).scale_shift(3, 0.1) is None
    assert H.scale_shift((8, 3), 0.0) == 0


def test_sim2_scale_shift_of_a_grid_step():
    H = Sim2(max_scale=1.74).H
    step = math.log(1.74) / 2
    assert H.scale_shift((8, 3), step) == 1
    assert H.scale_shift((8, 3), 2 * step) == 2
    assert H.scale_shift((8, 3), 0.1) is None


def test_max_dilation_embed_mask():
    assert SO2().max_dilation(8) == 1.0 and SO2().max_dilation(8, "uniform") == 1.0
    assert Dilation(1.74).max_dilation(3) == pytest.approx(1.74)
    assert Dilation(1.74).max_dilation(3, "uniform") == pytest.approx(1.74 * 1.74**0.25)  # + half a step
    assert Dilation(1.74).max_dilation(1, "uniform") == 1.0  # a single element: the identity, not jittered
    assert Sim2(max_scale=1.74).H.max_dilation((4, 3)) == pytest.approx(1.74)
    v = _t([[0.3], [-2.0]])
    assert torch.allclose(SO2().embed(v), SO2().embed(v + TWO_PI))  # periodic
    assert SO2().embed(v).shape == (2, 2)
    assert torch.allclose(Dilation(2.0).embed(v), v / math.log(2.0))
    assert torch.equal(Dilation(1.74).mask(v), torch.ones(2, dtype=F64))
    d = Dilation(1.74, mask_sigma=0.5)
    sigma = 0.5 * math.log(1.74)
    assert torch.allclose(d.mask(v), torch.exp(-0.5 * (v[:, 0] / sigma) ** 2))
    H = DirectProduct(SO2(), d)
    w = _t([[1.0, 0.2], [2.0, -0.1]])
    assert torch.allclose(H.mask(w), d.mask(w[:, 1:]))
    assert torch.allclose(H.embed(w), torch.cat([SO2().embed(w[:, :1]), d.embed(w[:, 1:])], -1))


def test_dilation_validation():
    with pytest.raises(ValueError, match="max_scale"):
        Dilation(0.5)
    with pytest.raises(ValueError, match="mask_sigma"):
        Dilation(1.74, mask_sigma=0.0)
    with pytest.raises(ValueError, match="two factors"):
        DirectProduct(SO2())


# --- affine groups and registry --------------------------------------------------------------
def test_affine_groups_and_registry():
    assert set(GROUPS) == {"SE2", "R2xRplus", "Sim2"}
    se2, r2, sim2 = SE2(), R2xRplus(max_scale=2.0), Sim2(max_scale=1.5)
    assert isinstance(se2, AffineGroup) and isinstance(se2.H, SO2)
    assert isinstance(r2.H, Dilation) and r2.H.max_scale == 2.0
    assert isinstance(sim2.H, DirectProduct) and sim2.H.factors[1].max_scale == 1.5
    assert get_group("SE2") == se2
    assert get_group("Sim2", 1.5) == sim2
    assert get_group("Sim2") != sim2
    assert get_group(sim2) is sim2
    assert hash(SE2()) == hash(SE2())
    assert "separable2d" not in se2.implementations and "separable2d" in sim2.implementations
    assert set(se2.implementations) == {"nonseparable", "separable", "gseparable", "dseparable", "dgseparable"}
    with pytest.raises(ValueError, match=r"unknown group 'SO3'.*SE2.*R2xRplus.*Sim2"):
        get_group("SO3")
    with pytest.raises(TypeError, match="SubGroup"):
        AffineGroup("bad", object())  # type: ignore[arg-type]


def test_scale_options_are_rejected_for_groups_without_a_scale_axis():
    with pytest.raises(ValueError, match=r"max_scale=2.0.*SE2 has no scale axis"):
        get_group("SE2", 2.0)
    with pytest.raises(ValueError, match=r"mask_sigma=0.5.*SE2"):
        get_group("SE2", mask_sigma=0.5)
    with pytest.raises(ValueError, match="max_scale"):
        LiftingConv("SE2", 1, 4, 5, 8, max_scale=2.0)
    with pytest.raises(ValueError, match="group object"):
        get_group(SE2(), 1.5)
    with pytest.raises(ValueError, match="Z2"):
        build_model("resnet", "Z2", max_scale=1.74, widths=(4, 4, 8))
    with pytest.raises(ValueError, match=r"omega_0=30.*Z2"):
        build_model("resnet", "Z2", widths=(4, 4, 8), omega_0=30)
    with pytest.raises(ValueError, match=r"model.max_scale=1.5: group SE2 has no scale axis"):
        RunConfig().replace(**{"model.max_scale": 1.5})
    assert get_group("Sim2", 1.5).H.factors[1].max_scale == 1.5  # where it applies, it is used


def test_trap8_affine_group_is_not_named_after_its_subgroup():
    se2, r2, sim2 = SE2(), R2xRplus(), Sim2()
    assert type(se2) is AffineGroup and se2.name == "SE2"
    assert type(se2.H) is SO2 and se2.H.name == "SO2"
    assert type(r2.H) is Dilation and type(sim2.H) is DirectProduct
    assert sim2.name == "Sim2" and sim2.H.name != "Sim2"
    assert not isinstance(se2, SubGroup) and isinstance(se2.H, SubGroup)
