"""Efficiency benchmark: the smoke profile runs end to end, and MAC counts of every
implementation match the cost formulas of method.md §3."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
import torch

from gsepconv.cli import main
from gsepconv.experiments.bench import BENCH_PROFILES, count_macs
from gsepconv.nn import GroupConv, LiftingConv


def _formula(impl: str, ci: int, co: int, nr: int, ns: int, k: int) -> int:
    """MACs per output pixel (N_in = N_out = N), method.md §3."""
    n = nr * ns
    return {
        "nonseparable": co * n * ci * n * k * k,
        "gseparable": co * n * ci * n * k * k,
        "gseparable2d": co * n * ci * n * k * k,
        "separable": co * n * (ci * n + k * k),
        "dseparable": n * ci * co + co * n * n * k * k,
        "dgseparable": n * co * (ci + n + k * k),
        # method.md's fully factorised cost is co·nr·ns·(ci·nr + ns + k²); we run the rotation×scale
        # factor as one 1×1 convolution (faster on CPU, see Separable2d.apply), costing as separable
        "separable2d": co * n * (ci * n + k * k),
    }[impl]


@pytest.mark.parametrize(
    "group,num_elements",
    [("SE2", 8), ("Sim2", (4, 3))],
)
def test_macs_match_cost_formulas(group: str, num_elements) -> None:
    ci, co, k, h, b = 3, 5, 5, 11, 2
    nr, ns = (num_elements, 1) if isinstance(num_elements, int) else num_elements
    lift = LiftingConv(group, 1, ci, k, num_elements)
    for impl in lift.group.implementations:
        layer = GroupConv(group, ci, co, k, num_elements, implementation=impl, bias=False, grid=lift.grid).eval()
        x = torch.randn(b, ci, nr * ns, h, h)
        macs = count_macs(layer.export(), x)
        expected = b * h * h * _formula(impl, ci, co, nr, ns, layer.window)  # k² → window² for scales
        assert macs == expected, f"{group} {impl}: counted {macs} MACs, formula gives {expected}"


def test_separable_needs_fewer_macs_and_gap_widens_with_n() -> None:
    """Counted on the library's layers (not on the formula above): the separable layer's MAC
    advantage grows with the number of group elements."""
    ratios = []
    for n in (4, 8, 16):
        macs = {}
        lift = LiftingConv("SE2", 1, 8, 5, n)
        for impl in ("nonseparable", "separable"):
            layer = GroupConv("SE2", 8, 8, 5, n, implementation=impl, bias=False, grid=lift.grid).eval()
            macs[impl] = count_macs(layer.export(), torch.randn(1, 8, n, 9, 9))
        ratios.append(macs["nonseparable"] / macs["separable"])
    assert ratios == sorted(ratios) and ratios[0] > 1, ratios


def test_bench_smoke_cli(tmp_path, capsys) -> None:
    out = tmp_path / "eff.csv"
    assert main(["bench", "--profile", "smoke", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert len(frame) == len(BENCH_PROFILES["smoke"].cases)
    for column in ("train_ms", "infer_ms", "conv_only_ms", "macs", "params", "peak_mem_mb", "device", "torch_version", "git_commit"):
        assert column in frame.columns
        assert frame[column].notna().all()
    assert (frame.train_ms > 0).all() and (frame.macs > 0).all()
    printed = capsys.readouterr().out
    assert re.search(r"(faster than|slower than|as fast as) nonseparable", printed) and "conv-only" in printed


def test_bench_bf16_times_the_bfloat16_step_in_the_same_loop(tmp_path) -> None:
    from gsepconv.experiments.bench import BenchCase, _step, run_benchmark

    frame = run_benchmark("smoke", "cpu", out=tmp_path / "e.csv", cases=[BenchCase("SE2", "separable", 4)],
                          progress=False, bf16=True)
    row = frame.iloc[0]
    assert row.train_ms_bf16 > 0 and row.bf16_speedup == pytest.approx(row.train_ms / row.train_ms_bf16)
    assert math.isnan(row.speedup_vs_original_bf16)  # no --against
    # the step really runs under autocast
    layer = LiftingConv("SE2", 1, 2, 3, 4)
    model = torch.nn.Sequential(layer, torch.nn.Flatten(), torch.nn.LazyLinear(3))
    x, y = torch.randn(2, 1, 5, 5), torch.tensor([0, 1])
    dtypes = []
    layer.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    _step(model, x, y)()
    _step(model, x, y, cast=torch.bfloat16)()
    assert dtypes == [torch.float32, torch.bfloat16]


def test_bench_rejects_unknown_profile() -> None:
    from gsepconv.experiments.bench import run_benchmark

    with pytest.raises(ValueError, match="choose one of"):
        run_benchmark("huge")


def test_equivariance_report_smoke_cli(tmp_path, capsys) -> None:
    out = tmp_path / "eq.csv"
    assert main(["equivariance", "--profile", "smoke", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    exact = frame[frame.group.isin(["SE2", "Sim2"])]
    assert len(exact) == 5 + 7 and (exact.rot90_error < 1e-10).all()
    assert (frame[frame.group == "R2xRplus"].rot90_error > 1e-3).all()  # no rotations in R2xR+
    measured = frame[frame.group == "Sim2"]  # interpolated: measured, finite, never exactly zero
    assert (measured.scale_error > 1e-6).all() and (measured.rot45_error > 1e-6).all()
    assert measured[["scale_error", "rot45_error"]].notna().all().all()
    assert "written to" in capsys.readouterr().out


def test_rotation_scale_microbench_ways_agree() -> None:
    from gsepconv.experiments.bench import microbench_rotation_scale

    times = microbench_rotation_scale(batch=2, size=6, channels=3, n_rot=4, n_scale=3, repeats=1)
    assert set(times) == {"dense_1x1", "factorised_matmul", "factorised_permute"} and all(t > 0 for t in times.values())


def test_batch_norm_microbench_ways_agree() -> None:
    """The three ways compute the same function (checked inside, forward and gradients); the
    times are printed by `gsepconv bench --micro`, not asserted."""
    from gsepconv.experiments.bench import microbench_batch_norm

    times = microbench_batch_norm(batch=2, size=6, channels=3, num_elements=4, repeats=1)
    assert set(times) == {"group_batch_norm", "batchnorm3d_contiguous", "batchnorm3d_channels_last"}
    assert all(t > 0 for t in times.values())


def test_the_limit_is_the_faster_layout_of_the_conv_only_step() -> None:
    """``conv_only_train_ms`` is the faster of the conv-only step's two layouts, named in
    ``limit_layout``; an unmeasured layout (the Z2 CNN has no NCHW variant) does not count."""
    from gsepconv.experiments.bench import LIMIT_LAYOUTS, conv_only_limit

    assert set(LIMIT_LAYOUTS) == {"channels_last", "nchw"}
    assert conv_only_limit({"channels_last": 120.0, "nchw": 95.0}) == (95.0, "nchw")
    assert conv_only_limit({"channels_last": 80.0, "nchw": 95.0}) == (80.0, "channels_last")
    assert conv_only_limit({"channels_last": 80.0, "nchw": float("nan")}) == (80.0, "channels_last")
    ms, layout = conv_only_limit({"channels_last": float("nan"), "nchw": float("nan")})
    assert math.isnan(ms) and layout == ""


def test_each_conv_only_step_runs_in_its_layout() -> None:
    from gsepconv.experiments.bench import LIMIT_LAYOUTS, in_layout
    from gsepconv.nn.implementations import conv2d

    x, w = torch.randn(2, 3, 6, 6), torch.randn(4, 3, 3, 3)
    outputs = []
    step = lambda: outputs.append(conv2d(x, w, padding=1))  # noqa: E731
    in_layout(step, LIMIT_LAYOUTS["nchw"])()
    in_layout(step, LIMIT_LAYOUTS["channels_last"])()
    step()  # outside the wrapper: the default layout again
    nchw, channels_last, default = outputs
    assert nchw.is_contiguous() and not nchw.is_contiguous(memory_format=torch.channels_last)
    assert channels_last.is_contiguous(memory_format=torch.channels_last) and not channels_last.is_contiguous()
    assert default.stride() == channels_last.stride()
    assert torch.allclose(nchw, channels_last, atol=1e-5)


def test_bench_rows_read_the_overhead_against_the_faster_layout() -> None:
    from gsepconv.experiments.bench import BenchCase, bench_case

    profile, cpu = BENCH_PROFILES["smoke"], torch.device("cpu")
    row = bench_case(BenchCase("SE2", "separable", 4), profile, cpu)
    by_layout = {"channels_last": row["conv_only_train_ms_channels_last"], "nchw": row["conv_only_train_ms_nchw"]}
    assert all(ms > 0 for ms in by_layout.values())
    assert row["conv_only_train_ms"] == min(by_layout.values())
    assert row["limit_layout"] == min(by_layout, key=by_layout.__getitem__)
    assert row["train_overhead"] == pytest.approx(row["train_ms"] / row["conv_only_train_ms"])
    plain = bench_case(BenchCase("Z2", "none", None), profile, cpu)  # its own conv-only model, channels-last
    assert plain["limit_layout"] == "channels_last" and math.isnan(plain["conv_only_train_ms_nchw"])
    assert plain["conv_only_train_ms"] == plain["train_ms"] and plain["train_overhead"] == 1.0
