"""`gsepconv bench --against PATH` and the conv-only limit.

The original implementation is not vendored and not fetched by the tests: a stand-in checkout
with the same layout and constructor (``ck_g_cnn.nn.CKGResNet``, ``ck_g_cnn.groups``) checks the
plumbing; the real checkout is measured by hand, with the same command."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from _original_stand_in import forget_checkout, make_checkout
from gsepconv.cli import main
from gsepconv.experiments.against import conv_only_model, has_original, load_original, original_model
from gsepconv.experiments.bench import BENCH_PROFILES, BenchCase, bench_case
from gsepconv.models import build_model
from gsepconv.nn import ExportedConv


@pytest.fixture
def checkout(tmp_path):
    """A folder laid out like the original repository, with stand-in modules."""
    yield make_checkout(tmp_path)
    forget_checkout()


def test_not_a_checkout_says_how_to_get_one(tmp_path):
    with pytest.raises(
        ValueError, match=r"not a checkout of the original implementation.*git clone https://github.com/david-knigge"
    ):
        load_original(tmp_path)
    assert main(["bench", "--profile", "smoke", "--against", str(tmp_path), "--out", str(tmp_path / "e.csv")]) == 2


def test_original_models_get_the_case_settings(checkout):
    original = load_original(checkout)
    profile = BENCH_PROFILES["smoke"]
    original_model(
        original, "Sim2", "separable2d", (4, 2), widths=profile.widths, kernel_size=5, hidden_features=16, image_size=16
    )
    call = original.nn.CALLS[-1]
    assert call == {
        "group": "Sim2",
        "implementation": "separable+2d",
        "num_group_elem": [4, 2],
        "hidden_sizes": list(profile.widths),
        "kernel_size": 5,
        "sampling_method": "discretise",
    }
    with pytest.raises(ValueError, match="no Z2"):
        original_model(original, "Z2", "none", None, widths=(4,), kernel_size=3, hidden_features=8, image_size=16)
    assert has_original("SE2", "dgseparable") and not has_original("Z2", "none")


def test_original_models_are_built_on_their_device(checkout):
    # the original makes its kernels' grids on the group's device, as plain attributes that
    # .to(device) does not move: the group must be there first (the meta device stands in for CUDA)
    original = load_original(checkout)
    kwargs = dict(widths=(4,), kernel_size=3, hidden_features=8, image_size=16)
    model = original_model(original, "SE2", "separable", 4, device="meta", **kwargs)
    assert model.grid.device.type == "meta" and all(p.device.type == "meta" for p in model.parameters())
    assert original_model(original, "SE2", "separable", 4, **kwargs).grid.device.type == "cpu"


def test_bench_against_a_checkout_writes_the_ratio_and_the_conv_only_limit(checkout, tmp_path, capsys):
    out = tmp_path / "efficiency.csv"
    assert main(["bench", "--profile", "smoke", "--against", str(checkout), "--out", str(out), "--threads", "1"]) == 0
    frame = pd.read_csv(out)
    with_original = frame[frame["group"] != "Z2"]
    assert with_original["original_train_ms"].gt(0).all() and with_original["original_params"].gt(0).all()
    # the median of the per-round ratios within its quartiles, and the verdict that they give
    smoke = BENCH_PROFILES["smoke"]
    assert with_original["repeats"].eq(max(smoke.repeats, smoke.against_repeats)).all()
    q25, median, q75 = (
        with_original[c] for c in ("speedup_vs_original_q25", "speedup_vs_original", "speedup_vs_original_q75")
    )
    assert (q25 > 0).all() and (q25 <= median).all() and (median <= q75).all()
    expected = ["faster" if lo > 1 else "slower" if hi < 1 else "tie" for lo, hi in zip(q25, q75)]
    assert with_original["verdict_vs_original"].tolist() == expected
    plain = frame[frame["group"] == "Z2"]
    assert plain["original_train_ms"].isna().all() and plain["verdict_vs_original"].isna().all()
    assert plain["repeats"].eq(smoke.repeats).all()
    assert frame["conv_only_train_ms"].gt(0).all()
    limits = frame[["conv_only_train_ms_channels_last", "conv_only_train_ms_nchw"]].min(axis=1)
    assert (frame["conv_only_train_ms"] - limits).abs().max() < 1e-9
    assert frame["limit_layout"].isin(["channels_last", "nchw"]).all()
    assert ((frame["train_ms"] / frame["conv_only_train_ms"]) - frame["train_overhead"]).abs().max() < 1e-9
    printed = capsys.readouterr().out
    assert "side by side with the original implementation" in printed and "conv-only limit" in printed
    assert "median [q25, q75]" in printed


def test_conv_only_model_is_the_same_function_with_free_weights():
    torch.manual_seed(0)
    model = build_model("resnet", "SE2", "separable", 4, widths=(4, 4, 8), kernel_size=3, hidden_features=8).eval()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        reference = model(x)
    free = conv_only_model(model)
    assert not free.training and not model.training
    with torch.no_grad():
        assert torch.allclose(free(x), reference, atol=1e-5, rtol=1e-5)
    convs = [m for m in free.modules() if isinstance(m, ExportedConv)]
    assert convs and all(isinstance(m.weight0, torch.nn.Parameter) for m in convs)
    assert not any("kernel" in name for name, _ in free.named_parameters())  # no kernel nets left
    free.train()
    torch.nn.functional.cross_entropy(free(x), torch.tensor([1, 2])).backward()
    assert all(m.weight0.grad is not None and m.weight0.grad.abs().sum() > 0 for m in convs)
    assert model(x).shape == reference.shape  # the original model is untouched


def test_alternating_timing_runs_each_step_as_often(checkout):
    counts = {"ours": 0, "theirs": 0}
    from gsepconv.experiments.bench.timing import alternate

    times = alternate(
        [
            lambda: counts.__setitem__("ours", counts["ours"] + 1),
            lambda: counts.__setitem__("theirs", counts["theirs"] + 1),
        ],
        2,
        3,
        torch.device("cpu"),
    )
    assert counts == {"ours": 5, "theirs": 5} and [len(t) for t in times] == [3, 3]
    row = bench_case(
        BenchCase("SE2", "separable", 4), BENCH_PROFILES["smoke"], torch.device("cpu"), original=load_original(checkout)
    )
    assert row["original_train_ms"] > 0 and row["conv_only_train_ms"] > 0


def test_compare_trains_ours_and_the_original_under_one_loop(checkout, tmp_path, capsys):
    """`gsepconv compare`: per seed one run of ours and one of the original's model, the same
    loop; the table pairs them by seed, carries provenance, and a second call reuses the runs."""
    out, runs = tmp_path / "fidelity.csv", tmp_path / "runs"
    args = [
        "compare",
        "--against",
        str(checkout),
        "--profile",
        "smoke",
        "--models",
        "SE2:separable",
        "--seeds",
        "0,1",
        "--runs",
        str(runs),
        "--out",
        str(out),
    ]
    assert main(args + ["--dry-run"]) == 0
    assert "4 runs, 4 to train" in capsys.readouterr().out
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "SE2 separable" in printed and "ours - original" in printed
    table = pd.read_csv(out)
    assert sorted(zip(table["code"], table["seed"])) == [("original", 0), ("original", 1), ("ours", 0), ("ours", 1)]
    assert table["test_acc"].between(0, 100).all() and table["val_acc"].between(0, 100).all()
    for column in ("profile", "device", "torch_version", "gsepconv_version", "git_commit", "timestamp", "run_id"):
        assert table[column].notna().all() and (table[column].astype(str) != "").all(), column
    # the original's rows come from the stand-in CKGResNet (a tiny CNN), ours from our G-ResNet
    params = table.groupby("code")["params"].first()
    assert params["original"] != params["ours"]
    from ck_g_cnn.nn import CALLS  # the stand-in recorded how it was built

    assert CALLS and all(c["implementation"] == "separable" and c["num_group_elem"] == 4 for c in CALLS)
    assert {p.name for p in (runs / "smoke").iterdir()} == {"fidelity", "fidelity-original"}
    before = out.read_bytes()
    assert main(args) == 0  # every run is reused: the same table
    assert out.read_bytes() == before
    # --vary: our model with a convention changed, a third code paired with ours by seed
    assert main(args + ["--vary", "hidden_bias=uniform"]) == 0
    printed = capsys.readouterr().out
    assert "hidden_bias=uniform" in printed and "variant - ours (val_acc)" in printed
    table = pd.read_csv(out)
    assert sorted(table.loc[table["code"] == "ours hidden_bias=uniform", "seed"]) == [0, 1]
    assert (runs / "smoke" / "fidelity-hidden_bias-uniform").is_dir()
    variant_runs = table.loc[table["code"] == "ours hidden_bias=uniform", "run_id"]
    assert not set(variant_runs) & set(table.loc[table["code"] == "ours", "run_id"])  # other runs
    from gsepconv.experiments.compare import summarise_variants

    summary = summarise_variants(table)
    assert list(summary["variant"]) == ["hidden_bias=uniform"] and int(summary["seeds"].iloc[0]) == 2
    pairs = table.pivot(index="seed", columns="code", values="val_acc")
    assert summary["diff_mean"].iloc[0] == pytest.approx((pairs["ours hidden_bias=uniform"] - pairs["ours"]).mean())


def test_compare_variants_are_checked_before_anything_trains(checkout, tmp_path):
    from gsepconv.experiments.compare import Variant, fidelity_plan

    variant = Variant.parse("hidden_bias=uniform,skip_hidden_ratio=1.0")
    assert variant.code == "ours hidden_bias=uniform,skip_hidden_ratio=1.0"
    assert variant.experiment == "fidelity-hidden_bias-uniform-skip_hidden_ratio-1.0"
    plan = fidelity_plan("smoke", [("SE2", "separable")], [0], [variant])
    assert [code for code, _ in plan] == ["ours", "original", variant.code]
    assert plan[2][1].model.kernel_options["skip_hidden_ratio"] == 1.0
    with pytest.raises(ValueError, match="hidden_bias"):
        fidelity_plan("smoke", [("SE2", "separable")], [0], [Variant.parse("hidden_bias=gaussian")])
    for bad in ("hidden_bias", "=x", "a=1,a=2", ""):
        with pytest.raises(ValueError, match="--vary"):
            Variant.parse(bad)
    assert (
        main(
            [
                "compare",
                "--against",
                str(checkout),
                "--profile",
                "smoke",
                "--vary",
                "nonsense_option=1",
                "--runs",
                str(tmp_path / "runs"),
                "--dry-run",
            ]
        )
        == 2
    )


def test_compare_refuses_what_the_original_lacks(checkout, tmp_path):
    from gsepconv.experiments.compare import fidelity_plan

    with pytest.raises(ValueError, match="grid has no SE2 gseparable"):
        fidelity_plan("quick", [("SE2", "gseparable")])
    assert main(["compare", "--against", str(tmp_path), "--profile", "smoke"]) == 2  # not a checkout
