"""Efficiency benchmark: the smoke profile runs end to end, and MAC counts of every
implementation match its cost formula, written out here by hand."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
import torch

from gsepconv.cli import main
from gsepconv.experiments.bench import BENCH_PROFILES
from gsepconv.nn import GroupConv, LiftingConv, count_macs


def _formula(impl: str, ci: int, co: int, nr: int, ns: int, window: int, windows: list[int]) -> int:
    """MACs per output pixel (N_in = N_out = N) of each implementation: ``window`` the sampled
    window's side, ``windows`` the side each output element's kernel is cropped to by the
    implementations that crop (the dense and the separable ones)."""
    n = nr * ns
    w2, cropped = window * window, sum(w * w for w in windows)  # n·w² and Σ_a w_a²
    return {
        "nonseparable": co * ci * n * cropped,
        "gseparable": co * ci * n * cropped,  # the dense product kernel, as nonseparable
        "gseparable2d": co * ci * n * cropped,
        "separable": co * n * ci * n + co * cropped,
        "dseparable": n * ci * co + co * n * n * w2,
        "dgseparable": n * co * (ci + n + w2),
        # fully factorised, it would cost co·nr·ns·(ci·nr + ns + k²); the rotation×scale factor runs
        # as one 1×1 convolution (faster on CPU, see Separable2d.apply), costing as separable
        "separable2d": co * n * ci * n + co * cropped,
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
        windows = layer.conv_windows()
        expected = b * h * h * _formula(impl, ci, co, nr, ns, layer.window, windows)  # k² → window² for scales
        assert macs == expected, f"{group} {impl}: counted {macs} MACs, formula gives {expected}"
    if group == "SE2":  # rotations keep every tap: nothing to crop
        assert windows == [k] * nr
    else:  # hard mask: each scale's own window, k at the identity, growing with the dilation
        assert min(windows) == k < max(windows) <= layer.window, windows


def test_smooth_mask_crops_nothing() -> None:
    """A smooth mask leaves no tap exactly zero, so every element convolves over the whole window
    and the count is the plain formula's."""
    lift = LiftingConv("Sim2", 1, 3, 5, (4, 3), mask="smooth")
    for impl in ("nonseparable", "separable"):
        layer = GroupConv("Sim2", 3, 4, 5, (4, 3), implementation=impl, bias=False, grid=lift.grid, mask="smooth")
        assert layer.conv_windows() == [layer.window] * 12
        macs = count_macs(layer.export().eval(), torch.randn(1, 3, 12, 9, 9))
        assert macs == 81 * _formula(impl, 3, 4, 4, 3, layer.window, [layer.window] * 12)


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
    for column in (
        "train_ms",
        "infer_ms",
        "conv_only_ms",
        "macs",
        "params",
        "peak_mem_mb",
        "device",
        "torch_version",
        "git_commit",
    ):
        assert column in frame.columns
        assert frame[column].notna().all()
    assert (frame.train_ms > 0).all() and (frame.macs > 0).all()
    printed = capsys.readouterr().out
    assert re.search(r"(faster than|slower than|as fast as) nonseparable", printed) and "conv-only" in printed


def test_cuda_steps_run_with_the_training_loops_cudnn_flags_and_restore_them() -> None:
    from gsepconv.experiments.bench.timing import with_cudnn

    seen = []

    def step() -> None:
        seen.append((torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic))

    before = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    with_cudnn(step, autotune=False)()
    with_cudnn(step, autotune=True)()
    assert seen == [(False, True), (True, False)]  # as deterministic=True / False trains
    assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) == before

    def fails() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        with_cudnn(fails, autotune=True)()
    assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) == before

    # every step as trained by default on CUDA, the autotuned one keeping its own flags; CPU untouched
    from gsepconv.experiments.bench.timing import as_trained

    seen.clear()
    steps = {"plain": step, "autotuned": with_cudnn(step, autotune=True)}
    assert as_trained(steps, torch.device("cpu")) is steps
    for wrapped in as_trained(steps, torch.device("cuda")).values():
        wrapped()
    assert seen == [(False, True), (True, False)]
    assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) == before


def test_the_autotuned_cuda_step_is_not_timed_on_cpu(tmp_path) -> None:
    from gsepconv.experiments.bench import BenchCase, run_benchmark

    frame = run_benchmark(
        "smoke", "cpu", out=tmp_path / "e.csv", cases=[BenchCase("SE2", "separable", 4)], progress=False
    )
    assert math.isnan(frame.iloc[0].train_ms_cudnn_benchmark) and math.isnan(frame.iloc[0].cudnn_benchmark_speedup)


def test_bench_bf16_times_the_bfloat16_step_in_the_same_loop(tmp_path) -> None:
    from gsepconv.experiments.bench import BenchCase, run_benchmark
    from gsepconv.experiments.bench.timing import training_step

    frame = run_benchmark(
        "smoke", "cpu", out=tmp_path / "e.csv", cases=[BenchCase("SE2", "separable", 4)], progress=False, bf16=True
    )
    row = frame.iloc[0]
    assert row.train_ms_bf16 > 0 and row.bf16_speedup == pytest.approx(row.train_ms / row.train_ms_bf16)
    assert math.isnan(row.speedup_vs_original_bf16)  # no --against
    # the step really runs under autocast
    layer = LiftingConv("SE2", 1, 2, 3, 4)
    model = torch.nn.Sequential(layer, torch.nn.Flatten(), torch.nn.LazyLinear(3))
    x, y = torch.randn(2, 1, 5, 5), torch.tensor([0, 1])
    dtypes = []
    layer.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    training_step(model, x, y)()
    training_step(model, x, y, cast=torch.bfloat16)()
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
    from gsepconv.experiments.bench import conv_only_limit
    from gsepconv.nn import LAYOUTS

    assert set(LAYOUTS) == {"channels_last", "nchw"}
    assert conv_only_limit({"channels_last": 120.0, "nchw": 95.0}) == (95.0, "nchw")
    assert conv_only_limit({"channels_last": 80.0, "nchw": 95.0}) == (80.0, "channels_last")
    assert conv_only_limit({"channels_last": 80.0, "nchw": float("nan")}) == (80.0, "channels_last")
    ms, layout = conv_only_limit({"channels_last": float("nan"), "nchw": float("nan")})
    assert math.isnan(ms) and layout == ""


def test_each_conv_only_step_runs_in_its_layout() -> None:
    from gsepconv.experiments.bench import in_layout
    from gsepconv.nn import LAYOUTS
    from gsepconv.nn.implementations import conv2d

    x, w = torch.randn(2, 3, 6, 6), torch.randn(4, 3, 3, 3)
    outputs = []
    step = lambda: outputs.append(conv2d(x, w, padding=1))  # noqa: E731
    in_layout(step, LAYOUTS["nchw"])()
    in_layout(step, LAYOUTS["channels_last"])()
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


def test_a_verdict_needs_the_whole_interquartile_range_on_one_side_of_one() -> None:
    """Synthetic rounds of 7 (ours 100 ms each): the verdict is ``faster`` or ``slower`` only when
    the quartiles of ``original_i / ours_i`` both lie on one side of 1, else ``tie``."""
    from gsepconv.experiments.bench import paired_ratios, ratio_quartiles, speed_verdict

    ours = [100.0] * 7

    def verdict(original: list[float]) -> tuple[str | None, tuple[float, float, float]]:
        quartiles = ratio_quartiles(paired_ratios(original, ours))
        return speed_verdict(quartiles[0], quartiles[2]), quartiles

    assert verdict([150, 160, 140, 155, 170, 145, 150])[0] == "faster"
    assert verdict([60, 70, 65, 80, 75, 90, 85])[0] == "slower"
    tie, (q25, median, q75) = verdict([90, 95, 105, 110, 98, 102, 120])  # ratios 0.90 … 1.20
    assert (
        tie == "tie" and q25 == pytest.approx(0.965) and median == pytest.approx(1.02) and q75 == pytest.approx(1.075)
    )
    # the ratio of the medians (1.5) would say faster; half of the rounds say slower: a tie
    assert verdict([150, 150, 150, 150, 80, 80, 80])[0] == "tie"
    # one disturbed round moves neither the median nor the verdict
    assert verdict([150, 160, 140, 155, 170, 145, 30])[0] == "faster"
    # the boundary: a quartile exactly at 1 is not "wholly on one side"
    assert speed_verdict(1.0, 1.3) == "tie" and speed_verdict(0.7, 1.0) == "tie"
    assert speed_verdict(1.001, 1.3) == "faster" and speed_verdict(0.7, 0.999) == "slower"
    assert speed_verdict(float("nan"), float("nan")) is None  # not measured
    # quartiles interpolate like numpy.quantile
    assert ratio_quartiles([4.0, 1.0, 3.0, 2.0]) == pytest.approx((1.75, 2.5, 3.25))
    assert ratio_quartiles([2.0]) == (2.0, 2.0, 2.0) and all(math.isnan(q) for q in ratio_quartiles([]))


def test_the_words_for_a_ratio_follow_its_verdict() -> None:
    from gsepconv.experiments.bench import speed_words

    assert speed_words(1.4, "tie") == "within the noise as fast as"  # a wide range holding 1
    assert speed_words(1.04, "faster") == "1.04x faster than"  # a tight range above 1
    assert speed_words(1.04) == "as fast as"  # no verdict: within 5% of 1
    assert speed_words(0.5, "slower") == "2.0x slower than" and speed_words(2.31, "faster") == "2.3x faster than"
    assert speed_words(float("nan"), None) == "at an unknown speed compared with"


def test_ratios_pair_the_rounds_of_the_alternating_loop() -> None:
    """On a machine that is busy every other round both codes slow down together: round by round
    the original takes 1.2x ours, which only the paired ratio sees."""
    from gsepconv.experiments.bench import paired_ratios, ratio_quartiles, speed_verdict

    ours = [100.0, 300.0, 100.0, 300.0, 100.0, 300.0, 100.0]
    original = [1.2 * t for t in ours]
    ratios = paired_ratios(original, ours)
    assert ratios == pytest.approx([1.2] * 7)
    q25, _, q75 = ratio_quartiles(ratios)
    assert speed_verdict(q25, q75) == "faster"
    shifted = paired_ratios(original[1:], ours[:-1])  # round i of one against round i+1 of the other
    q25, _, q75 = ratio_quartiles(shifted)
    assert speed_verdict(q25, q75) == "tie"
    with pytest.raises(ValueError, match="as many"):
        paired_ratios(original, ours[:-1])


def test_bench_rows_are_computed_from_the_paired_rounds(monkeypatch, tmp_path) -> None:
    """``bench_case`` against a (stand-in) original: the loop runs ``max(repeats,
    against_repeats)`` rounds, the row's ratio columns come from round-by-round pairs and the limit
    from the faster conv-only layout; the loop's times are replaced by synthetic ones."""
    import gsepconv.experiments.bench.benchmark as bench
    from _original_stand_in import forget_checkout, make_checkout
    from gsepconv.experiments.against import load_original

    profile = BENCH_PROFILES["smoke"]
    rounds = max(profile.repeats, profile.against_repeats)
    assert rounds == 3 and BENCH_PROFILES["quick"].against_repeats >= 7 and BENCH_PROFILES["paper"].against_repeats >= 7
    seen, real_alternate = [], bench.alternate

    def fake_alternate(steps, warmup, repeats, device):
        if len(steps) == 1:  # the inference timings: measured
            return real_alternate(steps, warmup, repeats, device)
        seen.append((len(steps), repeats))
        ours = [100.0, 300.0, 100.0]  # busy in round 2
        # the loop's order: ours, conv-only channels-last, conv-only NCHW, the original
        return [ours, [50.0, 150.0, 50.0], [40.0, 120.0, 40.0], [1.2 * t for t in ours]]

    try:
        original = load_original(make_checkout(tmp_path))
        monkeypatch.setattr(bench, "alternate", fake_alternate)
        row = bench.bench_case(bench.BenchCase("SE2", "separable", 4), profile, torch.device("cpu"), original=original)
    finally:
        forget_checkout()
    assert seen == [(4, rounds)] and row["repeats"] == rounds
    assert row["train_ms"] == 100.0 and row["original_train_ms"] == 120.0
    assert row["speedup_vs_original"] == pytest.approx(1.2)
    assert row["speedup_vs_original_q25"] == pytest.approx(1.2) == row["speedup_vs_original_q75"]
    assert row["verdict_vs_original"] == "faster"
    assert row["conv_only_train_ms"] == 40.0 and row["limit_layout"] == "nchw"
    assert row["conv_only_train_ms_channels_last"] == 50.0 and row["train_overhead"] == pytest.approx(2.5)


@pytest.mark.parametrize("implementation", ["nonseparable", "separable", "dseparable", "dgseparable", "gseparable"])
def test_each_layer_convolves_in_its_implementations_layout(implementation: str) -> None:
    """A group convolution, its lifting layer and their exported copies produce maps in the
    implementation's layout on this device; forcing either layout changes the storage, never the
    values (round-off)."""
    from gsepconv.models import build_model
    from gsepconv.nn import IMPLEMENTATIONS, LAYOUTS, GroupConv, LiftingConv, export, memory_format
    from gsepconv.nn.implementations import layout_for

    torch.manual_seed(0)
    model = build_model("resnet", "SE2", implementation, 4, widths=(4, 4, 8), kernel_size=5, hidden_features=16)
    model.eval()
    x = torch.randn(2, 1, 16, 16)
    want = LAYOUTS[layout_for(IMPLEMENTATIONS[implementation].layout, x.device)]
    outputs: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: outputs.append(out))
        for m in model.modules()
        if isinstance(m, (GroupConv, LiftingConv))
    ]
    with torch.no_grad():
        y = model(x)
    for h in hooks:
        h.remove()
    assert len(outputs) >= 3
    for out in outputs:
        flat = out.reshape(out.shape[0], -1, *out.shape[-2:])
        assert flat.is_contiguous(memory_format=want), (implementation, want, flat.stride())
    with torch.no_grad():
        assert torch.allclose(export(model)(x), y, atol=1e-5)
        for fmt in LAYOUTS.values():
            with memory_format(fmt):
                assert torch.allclose(model(x), y, atol=1e-5)


def test_a_layout_is_measured_only_beyond_the_margin() -> None:
    from gsepconv.experiments.bench.layouts import LAYOUT_MARGIN, measured_layout

    assert LAYOUT_MARGIN == 0.10
    assert measured_layout(1.05, 1.08) == "tie"  # repeatably faster within one run, not between runs
    assert measured_layout(0.926, 0.944) == "tie"  # the same code, another session
    assert measured_layout(0.81, 0.99) == "tie"
    assert measured_layout(1.11, 1.2) == "channels_last" and measured_layout(0.5, 0.89) == "nchw"
    assert measured_layout(1.2, 1.3, margin=0.0) == "channels_last" and measured_layout(0.99, 1.01, 0.0) == "tie"


def test_layout_benchmark_rows_say_whether_the_measurement_supports_the_choice(tmp_path) -> None:
    from gsepconv.experiments.bench import layout_cases, run_layouts, summarise_layouts
    from gsepconv.experiments.bench.layouts import LAYOUT_MARGIN
    from gsepconv.nn import IMPLEMENTATIONS

    profile = BENCH_PROFILES["smoke"]
    cases = layout_cases(profile)
    assert [c.implementation for c in cases] == ["nonseparable", "separable", "dgseparable", "separable2d"]
    from gsepconv.experiments.bench import BenchCase

    two = [BenchCase("SE2", "dseparable", 4), BenchCase("SE2", "separable", 4)]  # one NCHW, one channels-last on CPU
    frame = run_layouts("smoke", out=tmp_path / "layouts.csv", cases=two, progress=False)
    assert (tmp_path / "layouts.csv").exists() and len(frame) == 2
    for _, row in frame.iterrows():
        assert row.chosen_layout == IMPLEMENTATIONS[row.implementation].layout["cpu"]
        assert row.repeats == max(profile.repeats, profile.against_repeats)
        assert row.nchw_over_channels_last_q25 <= row.nchw_over_channels_last <= row.nchw_over_channels_last_q75
        expected = (
            "channels_last"
            if row.nchw_over_channels_last_q25 > 1 + LAYOUT_MARGIN
            else "nchw"
            if row.nchw_over_channels_last_q75 < 1 - LAYOUT_MARGIN
            else "tie"
        )
        assert row.measured_layout == expected
        assert row.agrees == (row.measured_layout in ("tie", row.chosen_layout))
    assert "chosen: nchw" in summarise_layouts(frame)


def test_the_benchmark_says_slower_not_a_fraction_faster():
    from gsepconv.experiments.bench import speed_words

    assert speed_words(1.8) == "1.8x faster than" and speed_words(0.6) == "1.7x slower than"
    assert speed_words(1.02) == "as fast as"


def test_the_cuda_layouts_are_the_ones_measured_on_a_gpu() -> None:
    # results/paper/layouts-gpu.csv is the CUDA measurement Implementation.layout rests on; no GPU
    # is needed to check that the code still chooses what it measured (a missing table fails)
    from pathlib import Path

    from gsepconv.experiments.bench import layouts_is_current
    from gsepconv.nn import IMPLEMENTATIONS

    table = pd.read_csv(Path(__file__).resolve().parents[2] / "results" / "paper" / "layouts-gpu.csv")
    assert table["device"].str.contains("H200").all() and table["agrees"].all()
    assert layouts_is_current(table, "paper")
    for _, row in table.iterrows():
        assert IMPLEMENTATIONS[row.implementation].layout["cuda"] == row.chosen_layout == "nchw"
