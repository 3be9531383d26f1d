"""`gsepconv run <experiment> --profile smoke` for every experiment, in-process, on the real
offline data (mirror), with temporary runs/results/data folders."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from _helpers import MIRROR, require_mirror
from gsepconv import cli
from gsepconv.experiments import COLUMNS, EXPERIMENTS, get_runs

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    require_mirror()
    return tmp_path_factory.mktemp("data")  # shared by the module: datasets are built once


@pytest.fixture
def folders(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("GSEPCONV_MIRROR", str(MIRROR))
    monkeypatch.setenv("GSEPCONV_DATA", str(data_dir))
    monkeypatch.setenv("GSEPCONV_RUNS", str(tmp_path / "runs-from-env"))
    monkeypatch.chdir(tmp_path)  # anything written to ./results or ./runs by mistake stays here
    return {"runs": tmp_path / "runs", "results": tmp_path / "results"}


def _run(experiment, folders, *extra):
    return cli.main(
        [
            "run",
            experiment,
            "--profile",
            "smoke",
            "--runs",
            str(folders["runs"]),
            "--results",
            str(folders["results"]),
            "--no-progress",
            *extra,
        ]
    )


@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_smoke_profile_runs_end_to_end(experiment, folders, capsys):
    assert _run(experiment, folders) == 0
    path = folders["results"] / "smoke" / f"{experiment}.csv"
    frame = pd.read_csv(path, keep_default_na=False)
    runs = get_runs(experiment, "smoke")
    assert list(frame.columns) == list(COLUMNS)
    assert sorted(frame["run_id"]) == sorted(r.run_id() for r in runs)
    assert set(frame["profile"]) == {"smoke"} and set(frame["experiment"]) == {experiment}
    assert frame["test_acc"].between(0, 100).all() and (frame["params"] > 0).all()
    assert (frame["test_err"] - (100 - frame["test_acc"])).abs().max() < 1e-9
    assert (frame["time_per_epoch_s"] > 0).all() and (frame["peak_mem_mb"] > 0).all()
    # the dataset column names what was trained on; stand-ins say what they stand in for
    for run in runs:
        row = frame[frame["run_id"] == run.run_id()].iloc[0]
        assert row["dataset"] == run.data.name and row["stand_in_for"] == (run.data.stand_in_for or "")
    if experiment in ("cifar100", "galaxy10"):
        assert set(frame["dataset"]) == {"cifar10_subset"} and set(frame["stand_in_for"]) == {experiment}
    for run in runs:
        folder = folders["runs"] / "smoke" / experiment / run.run_id()
        assert {"config.yaml", "checkpoint.pt", "metrics.json", "model_best.pt"} <= {p.name for p in folder.iterdir()}
    out = capsys.readouterr().out
    assert "test_err" in out
    assert not (folders["runs"].parent / "results").exists() or path.is_relative_to(folders["results"])


def test_rerun_reuses_finished_runs_and_results_command(folders, capsys):
    assert _run("cifar10", folders) == 0
    path = folders["results"] / "smoke" / "cifar10.csv"
    first = pd.read_csv(path)
    capsys.readouterr()
    assert _run("cifar10", folders) == 0
    err = capsys.readouterr().err
    assert err.count("reused the finished run") == len(get_runs("cifar10", "smoke"))
    pd.testing.assert_frame_equal(pd.read_csv(path), first)

    assert cli.main(["results", "cifar10", "--profile", "smoke", "--results", str(folders["results"])]) == 0
    out = capsys.readouterr().out
    assert "cifar10.csv: 4 runs" in out and "separable" in out and "test_err" in out
    assert (
        cli.main(["results", "cifar10", "--profile", "smoke", "--all", "--csv", "--results", str(folders["results"])])
        == 0
    )
    assert capsys.readouterr().out.splitlines()[0] == ",".join(COLUMNS)

    assert cli.main(["run", "cifar10", "--profile", "smoke", "--dry-run", "--runs", str(folders["runs"])]) == 0
    out = capsys.readouterr().out
    assert "4 runs (4 finished)" in out and " new " not in out


def test_devices_spread_runs_over_worker_processes(folders, capfd):
    """`--devices cpu,cpu`: two spawned workers share the grid; same table as a sequential run."""
    assert _run("galaxy10", folders, "--devices", "cpu,cpu") == 0
    err = capfd.readouterr().err
    assert (
        "[worker 0 cpu] started" in err
        and "[worker 1 cpu] started" in err
        and err.count("finished resnet-") == len(get_runs("galaxy10", "smoke"))
    )
    frame = pd.read_csv(folders["results"] / "smoke" / "galaxy10.csv")
    assert sorted(frame["run_id"]) == sorted(r.run_id() for r in get_runs("galaxy10", "smoke"))
    assert set(frame["device"]) == {"cpu"}


def test_profiles_train_side_by_side_on_cpu(monkeypatch):
    """quick trains two one-thread runs at a time on a CPU machine (never more workers than cores);
    smoke and an explicit thread count keep one process."""
    from gsepconv.experiments import planning, runner

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert planning.cpu_devices("quick") == ["cpu", "cpu"] and planning.cpu_devices("smoke") == ["cpu"]
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert planning.cpu_devices("quick") == ["cpu"]
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert planning.default_devices("quick", "cpu") == ["cpu", "cpu"]
    assert planning.default_devices("quick", "cpu", threads=2) == ["cpu"]
    assert planning.default_devices("quick", "cuda:0") == ["cuda:0"]
    seen = {}
    monkeypatch.setattr(
        runner, "run_parallel", lambda plan, devices, *a: seen.setdefault("devices", devices) and ({}, {})
    )
    monkeypatch.setattr(planning, "_cuda_available", lambda: False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    runner.run_experiment("cifar10", "quick", configs=[], results=None, runs=None)
    assert seen["devices"] == ["cpu", "cpu"]


def test_train_profile_pools_every_grid_longest_first(folders, capfd, monkeypatch):
    """`reproduce --train always` first trains every run of the profile as one pool: the runs of
    several grids go to the same workers, the costliest first; the grids then reuse every run."""
    from gsepconv.experiments import planning, runner, workers

    names = ["cifar10", "galaxy10"]
    plan = [c for n in names for c in get_runs(n, "smoke")]
    costs = {c.run_id(): planning.estimated_cost(c) for c in plan}
    assert all(v > 0 for v in costs.values())
    nonsep = next(
        c
        for c in plan
        if c.experiment == "cifar10" and c.model.implementation == "nonseparable" and c.model.group == "SE2"
    )
    z2 = next(c for c in plan if c.experiment == "cifar10" and c.model.group == "Z2")
    assert costs[nonsep.run_id()] > costs[z2.run_id()]  # N² channel mixing costs more than a plain CNN

    seen = {}
    real = workers.run_parallel
    monkeypatch.setattr(workers, "run_parallel", lambda todo, *a: (seen.setdefault("order", todo), real(todo, *a))[1])
    done = runner.train_profile("smoke", names, devices=["cpu", "cpu"], runs=folders["runs"])
    assert done == {"runs": len(plan), "failed": 0}
    order = [costs[c.run_id()] for c in seen["order"]]
    assert order == sorted(order, reverse=True) and len(order) == len(plan)
    assert {c.experiment for c in seen["order"]} == set(names)
    err = capfd.readouterr().err
    assert "[worker 0 cpu] started" in err and "[worker 1 cpu] started" in err

    assert runner.train_profile("smoke", names, devices=["cpu", "cpu"], runs=folders["runs"]) == {
        "runs": 0,
        "failed": 0,
    }
    for name in names:  # the grids find every run finished and only write their tables
        assert _run(name, folders) == 0
        assert capfd.readouterr().err.count("reused the finished run") == len(get_runs(name, "smoke"))
        assert len(pd.read_csv(folders["results"] / "smoke" / f"{name}.csv")) == len(get_runs(name, "smoke"))
