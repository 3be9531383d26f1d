"""gsepconv.analysis: redundancy spectra of kernel slices, the redundancy table of a trained
model, per-layer costs and equivariance sweeps."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from _helpers import MIRROR, MNIST_RAW, SMALL, require_mirror
from gsepconv.analysis import (
    STATES,
    energy_share,
    expected_gaussian_share,
    gaussian_like,
    initial_model,
    kernel_spectra,
    redundancy_is_current,
    redundancy_table,
    select_run,
    singular_spectra,
    subgroup_matrices,
    summarise_spectra,
)
from gsepconv.analysis.costs import cost_formula, layer_costs
from gsepconv.analysis.kernels import implementation_kernels, kernel_net_conventions, siren_field
from gsepconv.analysis.plots import image_grid, letter_f_points
from gsepconv.analysis.sweeps import compare_equivariance, demo_image, dilation_factors, lifted_pair, planar_pair
from gsepconv.models import build_model
from gsepconv.nn import GroupConv, LiftingConv

pytestmark = pytest.mark.usefixtures("single_thread")


def _outer_kernel(co=3, no=4, ci=2, ni=5, k=3, seed=0) -> torch.Tensor:
    """``K[o, a, i, b, y] = A[o, a, i, b] · S[o, a, i, y]``: every [N_in × k²] slice has rank 1."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(co, no, ci, ni, generator=g, dtype=torch.float64)
    s = torch.randn(co, no, ci, k, k, generator=g, dtype=torch.float64)
    return a[..., None, None] * s[:, :, :, None]


# ------------------------------------------------------------------------------ spectra
def test_outer_product_kernel_has_energy_share_one() -> None:
    share = energy_share(_outer_kernel(), output_element=None)
    assert share.shape == (3, 2, 4)
    assert torch.allclose(share, torch.ones_like(share), atol=1e-12)


def test_random_kernel_is_not_rank_one_and_share_is_bounded() -> None:
    k = torch.randn(3, 4, 2, 5, 3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    share = energy_share(k, output_element=None)
    r = min(5, 9)
    assert (share < 0.95).all() and (share >= 1 / r - 1e-12).all()
    # the Monte-Carlo expectation of a Gaussian 5x9 matrix agrees with what the slices show
    assert abs(float(share.mean()) - expected_gaussian_share(5, 9, samples=500)) < 0.1


def test_rank_two_kernel_splits_energy_between_two_components() -> None:
    k = _outer_kernel(seed=0) + _outer_kernel(seed=1)
    sv = singular_spectra(k, output_element=None)
    assert sv.shape == (3, 2, 4, 5)
    assert (sv[..., 1] > 1e-6).all() and (sv[..., 2:] < 1e-10).all()  # exactly rank 2


def test_subgroup_matrices_shapes_and_layout() -> None:
    k = torch.arange(2 * 3 * 4 * 5 * 3 * 3, dtype=torch.float64).reshape(2, 3, 4, 5, 3, 3)
    one = subgroup_matrices(k, output_element=1)
    every = subgroup_matrices(k, output_element=None)
    assert one.shape == (2, 4, 1, 5, 9) and every.shape == (2, 4, 3, 5, 9)
    # row b, column y of slice (o, i, a) is K[o, a, i, b, y]
    assert one[1, 2, 0, 3, 7] == k[1, 1, 2, 3, 2, 1]
    assert torch.equal(every[:, :, 1:2], one)


@pytest.mark.parametrize("bad", [3, -1, 1.0, True])
def test_subgroup_matrices_rejects_bad_output_element(bad) -> None:
    with pytest.raises(ValueError, match="output_element"):
        subgroup_matrices(torch.zeros(1, 3, 1, 3, 3, 3), output_element=bad)


def test_non_kernel_tensor_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[C_o, N_out, C_i, N_in, k, k\]"):
        energy_share(torch.zeros(2, 3, 3))


def test_zero_matrix_gives_nan_share() -> None:
    k = _outer_kernel()
    k[0, 0, 0] = 0.0
    share = energy_share(k)
    assert math.isnan(float(share[0, 0, 0])) and not share[1:].isnan().any()


def test_gaussian_control_keeps_shape_and_support() -> None:
    k = torch.zeros(2, 3, 2, 3, 5, 5, dtype=torch.float64)
    k[..., 1:4, 1:4] = 1.0
    c = gaussian_like(k, torch.Generator().manual_seed(0))
    assert c.shape == k.shape
    assert (c[..., 0, :] == 0).all() and (c[..., :, 4] == 0).all() and (c[..., 1:4, 1:4] != 0).all()


# ------------------------------------------------------------------------------ layers and models
def _layer(impl: str, group="SE2", n=4, k=5) -> GroupConv:
    lift = LiftingConv(group, 1, 3, k, n, **SMALL)
    return GroupConv(group, 3, 2, k, n, implementation=impl, grid=lift.grid, **SMALL).double()


@pytest.mark.parametrize("impl", ["separable", "dgseparable"])
def test_separable_layers_are_rank_one_by_construction(impl) -> None:
    torch.manual_seed(0)
    share = energy_share(_layer(impl).product_kernel(), output_element=None)
    assert torch.allclose(share, torch.ones_like(share), atol=1e-10)


def test_nonseparable_layer_is_not_rank_one() -> None:
    torch.manual_seed(0)
    share = energy_share(_layer("nonseparable").product_kernel(), output_element=None)
    assert float(share.max()) < 0.999


def test_kernel_spectra_of_a_model_skips_pointwise_layers_and_normalises() -> None:
    torch.manual_seed(0)
    lift = LiftingConv("SE2", 1, 2, 5, 4, **SMALL)
    model = nn.Sequential(
        lift,
        GroupConv("SE2", 2, 3, 5, 4, implementation="nonseparable", grid=lift.grid, **SMALL),
        GroupConv("SE2", 3, 3, 1, 4, implementation="nonseparable", grid=lift.grid, **SMALL),
    )
    frame = kernel_spectra(model, state="init")
    assert set(frame["layer"]) == {"1"}  # the 1x1 layer has nothing to factorise
    assert len(frame) == 3 * 2 * 1 * 4  # Co x Ci x one output element x min(N_in, taps)
    sums = frame.groupby(["out_channel", "in_channel", "output_element"])["energy_fraction"].sum()
    assert ((sums - 1).abs() < 1e-9).all()
    assert set(frame["state"]) == {"init"} and set(frame["kernel_shape"]) == {"3x4x2x4x5x5"}
    summary = summarise_spectra(frame)
    assert list(summary["component"]) == [1, 2, 3, 4]
    assert abs(float(summary["cumulative_energy_mean"].iloc[-1]) - 1) < 1e-9
    assert (summary["energy_fraction_q10"] <= summary["energy_fraction_q90"]).all()


def test_kernel_spectra_without_group_convolutions_is_an_error() -> None:
    with pytest.raises(ValueError, match="no group convolution"):
        kernel_spectra(nn.Sequential(nn.Conv2d(1, 1, 3)))


def test_summarise_spectra_names_missing_columns() -> None:
    with pytest.raises(ValueError, match="energy_fraction"):
        summarise_spectra(pd.DataFrame({"state": ["x"]}))


# ------------------------------------------------------------------------------ the table (smoke run)
@pytest.fixture
def smoke_folders(tmp_path, monkeypatch):
    require_mirror(*MNIST_RAW)
    monkeypatch.setenv("GSEPCONV_MIRROR", str(MIRROR))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "runs", tmp_path / "results"


def test_redundancy_table_end_to_end_on_the_smoke_profile(smoke_folders) -> None:
    runs, results = smoke_folders
    table = redundancy_table("smoke", runs=runs, results=results, log=lambda m: None)
    path = results / "smoke" / "redundancy.csv"
    stored = pd.read_csv(path)
    assert len(stored) == len(table) and set(stored["state"]) == set(STATES)
    for column in (
        "profile",
        "seed",
        "device",
        "torch_version",
        "gsepconv_version",
        "git_commit",
        "timestamp",
        "run_id",
    ):
        assert column in stored.columns and stored[column].notna().all()
    first = stored[stored["component"] == 1]
    sep = first[first["state"] == "separable"]
    assert len(sep) > 0 and ((sep["energy_fraction_mean"] - 1).abs() < 1e-9).all()
    for state in ("trained", "init", "gaussian"):
        rows = first[first["state"] == state]
        assert len(rows) == len(sep)
        assert (rows["energy_fraction_mean"] < 0.999).all() and (
            rows["energy_fraction_mean"] >= rows["uniform_share"]
        ).all()
    assert redundancy_is_current(stored, "smoke")
    assert not redundancy_is_current(stored.assign(run_id="another-run"), "smoke")
    # a second call reuses the finished run (no training), so it gives the same trained spectra
    again = redundancy_table("smoke", runs=runs, results=results, allow_training=False, write=False)
    a = table[table["state"] == "trained"]["energy_fraction_mean"].to_numpy()
    b = again[again["state"] == "trained"]["energy_fraction_mean"].to_numpy()
    assert (abs(a - b) < 1e-12).all()


def test_initial_model_is_the_model_training_started_from(smoke_folders) -> None:
    from gsepconv.experiments import build_checked_model, load_splits
    from gsepconv.experiments.training import seed_everything

    config = select_run("mnist_rot", "smoke")
    datasets = load_splits(config)
    seed_everything(config.seed)
    reference, kwargs = build_checked_model(config, datasets)
    rebuilt = initial_model(config, kwargs)
    ref, new = reference.state_dict(), rebuilt.state_dict()
    assert ref.keys() == new.keys()
    assert all(torch.equal(ref[key], new[key]) for key in ref)


def test_missing_run_without_training_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="gsepconv run mnist_rot --profile smoke"):
        redundancy_table("smoke", runs=tmp_path / "runs", results=tmp_path / "results", allow_training=False)


def test_select_run_names_what_the_profile_plans() -> None:
    with pytest.raises(ValueError, match="SE2/nonseparable/seed 0"):
        select_run("mnist_rot", "smoke", seed=7)


# ------------------------------------------------------------------------------ costs
def test_layer_costs_macs_match_the_formulas() -> None:
    frame = layer_costs("smoke", groups=("SE2", "Sim2"))
    assert set(frame["implementation"]) >= {"nonseparable", "separable", "dgseparable", "separable2d"}
    assert (frame["macs"] == frame["macs_formula"]).all()
    se2 = frame[frame["group"] == "SE2"].set_index("implementation")
    assert se2.loc["separable", "macs"] < se2.loc["nonseparable", "macs"]
    assert (frame[["kernel_ms", "conv_ms", "train_ms"]] > 0).all().all() and (frame["params"] > 0).all()


def test_cost_formula_rejects_unknown_implementation() -> None:
    with pytest.raises(ValueError, match="nonseparable"):
        cost_formula("fast", 1, 1, 4, 3)
    with pytest.raises(ValueError, match="smoke"):
        layer_costs("huge")


# ------------------------------------------------------------------------------ sweeps
def test_rotation_sweep_separates_group_convolution_from_the_control() -> None:
    models = {"SE2": lifted_pair("SE2", channels=2, kernel_size=5, num_elements=8), "CNN": planar_pair(2, 5)}
    frame = compare_equivariance(models, angles=(45, 90), image_size=17).set_index(["model", "value"])
    assert frame.loc[("SE2", 90.0), "error"] < 1e-12  # exact on the pixel grid
    assert frame.loc[("CNN", 90.0), "error"] > 0.1
    assert frame.loc[("SE2", 45.0), "error"] < frame.loc[("CNN", 45.0), "error"]
    assert frame.loc[("SE2", 90.0), "exact_on_pixels"] and not frame.loc[("SE2", 45.0), "exact_on_pixels"]


def test_sweep_needs_models_and_scale_steps_are_the_grid() -> None:
    with pytest.raises(ValueError, match="models"):
        compare_equivariance({})
    assert dilation_factors(1.74, 3) == pytest.approx([1.0, math.sqrt(1.74), 1.74])
    with pytest.raises(ValueError, match="num_scales"):
        dilation_factors(2.0, 1)


def test_demo_image_has_no_rotation_symmetry() -> None:
    img = demo_image(29)
    assert img.shape == (1, 1, 29, 29)
    for k in (1, 2, 3):
        assert (torch.rot90(img, k, dims=(-2, -1)) - img).abs().max() > 0.5
    assert (img.flip(-1) - img).abs().max() > 0.5


# ------------------------------------------------------------------------------ kernels, CSVs, CLI, drawing
def test_siren_field_gets_rougher_with_omega0() -> None:
    def roughness(img: torch.Tensor) -> float:  # mean squared difference of neighbouring samples
        return float(img.diff(dim=0).pow(2).mean() + img.diff(dim=1).pow(2).mean())

    values = [roughness(siren_field(w, resolution=48, hidden_features=32)) for w in (1.0, 10.0, 30.0)]
    assert values[0] < values[1] < values[2]
    field = siren_field(10.0, resolution=9)
    assert field.shape == (9, 9) and abs(float(field.abs().max()) - 1.0) < 1e-12
    with pytest.raises(ValueError, match="omega_0"):
        siren_field(0.0)


def test_implementation_kernels_match_their_factorisation() -> None:
    kernels = implementation_kernels("SE2", kernel_size=5, num_elements=4, channels=(2, 3), **SMALL)
    assert set(kernels) == {"nonseparable", "separable", "gseparable", "dseparable", "dgseparable"}
    assert all(k.shape == (3, 4, 2, 4, 5, 5) for k in kernels.values())
    shares = {impl: float(energy_share(k, None).min()) for impl, k in kernels.items()}
    for impl in ("separable", "gseparable", "dgseparable"):
        assert shares[impl] > 1 - 1e-10, impl
    for impl in ("nonseparable", "dseparable"):
        assert shares[impl] < 0.999, impl
    sim2 = implementation_kernels("Sim2", kernel_size=5, num_elements=(4, 2), implementations=("separable2d",), **SMALL)
    window = sim2["separable2d"].shape[-1]
    assert window > 5 and sim2["separable2d"].shape[:4] == (2, 8, 2, 8)  # dilated kernels need a larger window
    with pytest.raises(ValueError, match="separable2d"):
        implementation_kernels("SE2", implementations=("separable2d",))


def test_layer_costs_csv_and_cli(tmp_path, capsys) -> None:
    from gsepconv.analysis.costs import layer_costs_is_current, layer_costs_path
    from gsepconv.analysis.table import main

    assert main(["--table", "layer_costs", "--profile", "smoke", "--results", str(tmp_path)]) == 0
    path = layer_costs_path("smoke", tmp_path)
    assert path == tmp_path / "smoke" / "layer_costs.csv" and str(path) in capsys.readouterr().out
    table = pd.read_csv(path)
    assert layer_costs_is_current(table, "smoke") and not layer_costs_is_current(table, "quick")
    assert (table["macs"] == table["macs_formula"]).all() and table["timestamp"].notna().all()


def test_cli_without_training_names_the_command(tmp_path) -> None:
    from gsepconv.analysis.table import main

    with pytest.raises(FileNotFoundError, match="gsepconv run mnist_rot"):
        main(["--profile", "smoke", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path), "--no-train"])


def test_image_grid_draws_rows_and_columns() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = image_grid(torch.randn(2, 3, 5, 5), row_labels=["a", "b"], col_labels=["x", "y", "z"], share_scale="row")
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert len(fig.axes) == 1 and {"a", "b", "x", "y", "z"} <= texts and len(fig.axes[0].patches) == 6
    plt.close(fig)
    with pytest.raises(ValueError, match="rows, cols"):
        image_grid(torch.zeros(3, 5, 5))
    with pytest.raises(ValueError, match="share_scale"):
        image_grid(torch.zeros(1, 1, 5, 5), share_scale="col")
    shape = letter_f_points()
    assert shape.shape[1] == 2 and torch.equal(shape[0], shape[-1]) and float(shape.norm(dim=1).max()) < 1


def test_default_runs_is_the_repository_runs_folder(tmp_path, monkeypatch) -> None:
    from gsepconv.analysis.table import default_runs

    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "gsepconv").mkdir()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    monkeypatch.delenv("GSEPCONV_RUNS", raising=False)
    assert default_runs() == tmp_path / "runs"
    monkeypatch.setenv("GSEPCONV_RUNS", str(tmp_path / "elsewhere"))
    assert default_runs() == tmp_path / "elsewhere"


def test_crop_to_support_keeps_every_non_zero_tap() -> None:
    from gsepconv.analysis.plots import crop_to_support

    x = torch.zeros(2, 9, 9)
    x[0, 3, 4] = 1.0
    x[1, 5, 2] = -1.0
    out = crop_to_support(x)
    assert out.shape == (2, 5, 5) and float(out.abs().sum()) == 2.0  # centred: margin 2 on every side
    assert crop_to_support(torch.zeros(3, 3)).shape == (3, 3)


def test_masked_taps_do_not_count_as_directions() -> None:
    from gsepconv.analysis import support_taps

    torch.manual_seed(0)
    lift = LiftingConv("SE2", 1, 2, 3, 8, **SMALL)
    layer = GroupConv("SE2", 2, 2, 3, 8, implementation="nonseparable", grid=lift.grid, **SMALL).double()
    kernel = layer.product_kernel()
    assert support_taps(kernel) == 5  # a hard disk of radius 1 on 3x3 taps keeps the centre and 4 neighbours
    frame = kernel_spectra([("final", kernel)])
    assert set(frame["rank_max"]) == {5} and frame["component"].max() == 5


def test_kernel_net_conventions_reads_the_init_of_every_kernel_net():
    """The paper code's conventions by default (head std √(2/(hidden·C_in·k²)), zero hidden
    biases, skip nets half as wide); each option shows in the table when changed."""
    torch.manual_seed(0)
    kwargs = dict(group="SE2", implementation="separable", num_elements=8, widths=(12, 12, 24), kernel_size=5)
    table = kernel_net_conventions(build_model(**kwargs))
    assert set(table["factor"]) == {"spatial", "subgroup"} and len(table) == 13
    assert table["hidden_bias_zero"].all()
    assert ((table["head_std"] / table["channels_std"] - 1).abs() < 0.1).all()
    skip = table["layer"].str.contains("skip")
    assert skip.sum() == 2 and (table.loc[skip, "hidden"] == 32).all() and (table.loc[~skip, "hidden"] == 64).all()
    other = kernel_net_conventions(
        build_model(**kwargs, head_init="fan_in", hidden_bias="uniform", skip_hidden_ratio=1.0)
    )
    assert not other["hidden_bias_zero"].any() and (other["hidden"] == 64).all()
    subgroup = other["factor"] == "subgroup"  # fan_in counts the N = 8 input elements: a smaller head
    assert (other.loc[subgroup, "head_std"] < 0.7 * other.loc[subgroup, "channels_std"]).all()


def test_redundancy_is_current_only_with_every_planned_seed() -> None:
    """The redundancy table compares every seed the profile trains (claim 1 needs paired runs): a
    table made from seed 0 alone is stale for a profile that trains three seeds."""
    from gsepconv.analysis import planned_seeds

    seeds = planned_seeds("quick")
    assert len(seeds) >= 3
    ids = [select_run("mnist_rot", "quick", seed=s).run_id() for s in seeds]
    full = pd.DataFrame({"run_id": ids, "seed": seeds})
    assert redundancy_is_current(full, "quick")
    assert not redundancy_is_current(full.iloc[:1], "quick")
