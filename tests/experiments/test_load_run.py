"""A trained run folder: ``gsepconv.load_run`` rebuilds its model and ``gsepconv.predict`` reproduces its
test accuracy; training leaves the process's torch thread count as it found it."""

from __future__ import annotations

import pytest
import torch


def test_training_restores_the_thread_count(tmp_path):
    from gsepconv.experiments import run_one
    from test_training import blobs_factory, tiny_config

    before = torch.get_num_threads()
    threads = 1 if before != 1 else 2
    config = tiny_config(epochs=1).replace(threads=threads)
    run_one(config, run_dir=tmp_path, dataset_factory=blobs_factory)
    assert torch.get_num_threads() == before


def test_load_run_rebuilds_the_trained_model_and_predict_reproduces_its_test_accuracy(tmp_path):
    import gsepconv
    from gsepconv.experiments import run_one
    from test_training import blobs_factory, tiny_config

    config = tiny_config(epochs=2, **{"model.sampling": "discretise"})
    metrics = run_one(config, run_dir=tmp_path / "run", dataset_factory=blobs_factory)
    run = gsepconv.load_run(tmp_path / "run")
    assert not run.model.training and run.config.run_id() == config.run_id()
    assert run.metrics["test_acc"] == metrics["test_acc"]
    table = gsepconv.predict(run, "test", dataset_factory=blobs_factory)
    assert list(table.columns) == ["index", "label", "predicted", "confidence"] and len(table) == 24
    accuracy = 100.0 * (table["label"] == table["predicted"]).mean()
    assert abs(accuracy - metrics["test_acc"]) < 1e-9  # the same weights as the run's own test
    assert table["confidence"].between(0, 1).all()
    (tmp_path / "run" / "metrics.json").unlink()
    with pytest.raises(FileNotFoundError, match="metrics.json — the run is unfinished"):
        gsepconv.load_run(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        gsepconv.load_run(tmp_path / "nowhere")
