"""Equal-wall-clock training (``time_budget_s``), per-epoch histories in the results folder, and
uniform sampling on scale groups trained end to end."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from gsepconv.experiments import run_experiment, run_one, train
from gsepconv.experiments.results import HISTORY_COLUMNS, history_path, results_path
from test_training import Blobs, blobs_factory, tiny_config


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_time_budget_stops_training_and_anneals_over_the_budget(tmp_path):
    config = tiny_config(epochs=50, time_budget_s=0.6, **{"model.sampling": "discretise"})
    assert "budget0.6s" in config.run_id()
    metrics = train(config, tmp_path, dataset_factory=blobs_factory)
    assert metrics["status"] == "finished"
    history = metrics["history"]
    assert 1 <= len(history) < 50  # the budget, not the epoch cap, ended training
    spent = sum(h["time_s"] for h in history)
    assert spent >= 0.6  # it trains until the budget is spent ...
    assert spent - sum(h["time_s"] for h in history[:-1]) < 0.6 + 5.0  # ... and stops within a step of it
    assert metrics["epochs"] == len(history) and metrics["time_budget_s"] == 0.6
    lrs = [h["lr"] for h in history]
    assert lrs[-1] < 0.5 * config.optim.lr  # cosine over the budget: near 0 at its end
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert 0 <= metrics["test_acc"] <= 100


def test_time_budget_hash_is_neutral_when_unset():
    """Runs without a budget keep the run ids they had before the option existed (committed
    results stay valid); a budget makes a different run."""
    plain = tiny_config()
    assert "time_budget_s" not in plain.result_fields()
    assert plain.replace(time_budget_s=10.0).config_hash() != plain.config_hash()


def test_budget_runs_take_their_epoch_length_from_the_budget_section():
    """``budget.train_subset`` sets the equal-time runs' epoch (their validation points) without
    touching the other experiments; unset, the runs use the ``mnist`` section's subset."""
    from gsepconv.experiments import get_profile, get_runs

    quick = get_profile("quick")
    budget_runs = get_runs("mnist_rot_budget", "quick")
    assert {r.data.train_subset for r in budget_runs} == {quick.budget.train_subset}
    assert quick.budget.train_subset < quick.mnist.train_subset
    assert {r.data.train_subset for r in get_runs("mnist_rot", "quick")} == {quick.mnist.train_subset}
    smoke = get_profile("smoke")
    assert smoke.budget.train_subset is None
    assert {r.data.train_subset for r in get_runs("mnist_rot_budget", "smoke")} == {smoke.mnist.train_subset}


def test_history_csv_written_beside_the_results(tmp_path):
    configs = [
        tiny_config(epochs=2, experiment="blobs_grid", profile="smoke", seed=s, **{"model.sampling": "discretise"})
        for s in (0, 1)
    ]
    run_experiment(
        "blobs_grid",
        "smoke",
        configs=configs,
        runs=tmp_path / "runs",
        results=tmp_path / "results",
        dataset_factory=blobs_factory,
        log=lambda m: None,
    )
    table = pd.read_csv(results_path("blobs_grid", "smoke", tmp_path / "results"))
    history = pd.read_csv(history_path("blobs_grid", "smoke", tmp_path / "results"))
    assert list(history.columns) == list(HISTORY_COLUMNS)
    assert len(history) == 4 and sorted(set(history["run_id"])) == sorted(table["run_id"])
    for _, runs in history.groupby("run_id"):
        assert list(runs["epoch"]) == [1, 2]
        walls = runs["wall_time_s"].to_numpy()
        assert walls[0] > 0 and walls[1] > walls[0]  # cumulative training + validation time
        assert math.isclose(walls[1], (runs["time_s"] + runs["eval_time_s"]).sum(), rel_tol=1e-9)
    # training only what is missing keeps the other rows and their histories
    extra = tiny_config(epochs=2, experiment="blobs_grid", profile="smoke", seed=2, **{"model.sampling": "discretise"})
    run_experiment(
        "blobs_grid",
        "smoke",
        configs=[extra],
        runs=tmp_path / "runs",
        results=tmp_path / "results",
        dataset_factory=blobs_factory,
        keep_rows=table,
        log=lambda m: None,
    )
    assert len(pd.read_csv(results_path("blobs_grid", "smoke", tmp_path / "results"))) == 3
    assert len(pd.read_csv(history_path("blobs_grid", "smoke", tmp_path / "results"))) == 6


class ScaledBlobs(Blobs):
    """Blobs whose squares appear at a random scale in [1, 1.74]: a scale-group model must use
    every scale it was trained on."""

    def __init__(self, n: int, seed: int) -> None:
        super().__init__(n, seed, size=24)
        g = torch.Generator().manual_seed(seed + 100)
        for i, c in enumerate(self.labels.tolist()):
            s = 1.0 + 0.74 * float(torch.rand((), generator=g))
            r, col = divmod(c, 2)
            half = int(round(2 * s))
            cy, cx = 6 + 12 * r, 6 + 12 * col
            self.images[i] = 0.3 * torch.randn(1, 24, 24, generator=g)
            self.images[i, :, cy - half : cy + half, cx - half : cx + half] += 1.5


def _scaled_factory(name, split, data):
    return ScaledBlobs({"train": 96, "val": 48, "test": 48}[split], {"train": 0, "val": 1, "test": 2}[split])


@pytest.mark.slow
# Sim(2) separable2d (4x3) did not learn this tiny task in 4 epochs (about chance) in either sampling mode
# tried, so it cannot test the grids here; that needs a larger task.
@pytest.mark.parametrize("group,num_elements,impl", [("R2xRplus", 3, "separable")])
def test_uniform_sampling_on_scale_groups_evaluates_like_it_trains(tmp_path, group, num_elements, impl):
    """A scale-group model trained with sampling='uniform' scores on the fixed eval()
    grid about what it scores on grids drawn like the training ones, and far above chance."""
    config = tiny_config(
        epochs=4,
        **{
            "model.group": group,
            "model.implementation": impl,
            "model.num_elements": num_elements,
            "model.sampling": "uniform",
            "model.max_scale": 1.74,
            "optim.lr": 3e-3,
        },
    )
    metrics = run_one(config, run_dir=tmp_path, dataset_factory=_scaled_factory)
    from gsepconv.experiments import build_checked_model, load_splits

    datasets = load_splits(config, _scaled_factory)
    model, _ = build_checked_model(config, datasets, torch.device("cpu"))
    model.load_state_dict(torch.load(tmp_path / "model_best.pt"))
    model.eval()
    x = torch.stack([datasets["test"][i][0] for i in range(len(datasets["test"]))])
    y = torch.tensor([datasets["test"][i][1] for i in range(len(datasets["test"]))])
    with torch.no_grad():
        fixed = float((model(x).argmax(1) == y).double().mean())
        model.grid.train()  # the grid draws random offsets as in training; everything else in eval()
        gen = torch.Generator().manual_seed(0)
        model.grid.generator = gen
        sampled = []
        for _ in range(8):
            model.grid.resample()
            sampled.append(float((model(x).argmax(1) == y).double().mean()))
    sampled_mean = sum(sampled) / len(sampled)
    assert metrics["status"] == "finished"
    assert fixed > 0.5, (fixed, sampled)  # chance is 0.25
    assert fixed >= sampled_mean - 0.1, (fixed, sampled_mean)
