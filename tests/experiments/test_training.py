"""Training: resumable runs (kill and resume = uninterrupted), reuse, --force, model selection,
configuration errors before training, and 2-process DistributedDataParallel (gloo, CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from _helpers import MIRROR, MNIST_RAW, require_mirror
from gsepconv.experiments import (
    COLUMNS,
    ConfigError,
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    load_config,
    run_dir_for,
    run_one,
    train,
)
from gsepconv.experiments import single_run as single_run_module


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and 2 threads on a busy 2-core machine
    can be 50x slower (spinning OpenMP workers); results do not depend on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Blobs(Dataset):
    """Tiny learnable synthetic images: class c has a bright square at a class-dependent place."""

    num_classes = 4

    def __init__(self, n: int, seed: int, channels: int = 1, size: int = 16) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, self.num_classes, (n,), generator=g)
        self.images = 0.3 * torch.randn(n, channels, size, size, generator=g)
        for i, c in enumerate(self.labels.tolist()):
            r, s = divmod(c, 2)
            self.images[i, :, 2 + 8 * r : 6 + 8 * r, 2 + 8 * s : 6 + 8 * s] += 1.5

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], int(self.labels[i])


def blobs_factory(name: str, split: str, data: DataConfig) -> Dataset:
    channels = 3 if name == "blobs_rgb" else 1
    return Blobs({"train": 40, "val": 24, "test": 24}[split], {"train": 0, "val": 1, "test": 2}[split], channels)


def tiny_config(**changes) -> RunConfig:
    config = RunConfig(
        data=DataConfig(name="blobs"),
        model=ModelConfig(
            arch="resnet",
            group="SE2",
            implementation="separable",
            num_elements=4,
            sampling="uniform",
            widths=(4, 4, 8),
            kernel_size=3,
        ),
        optim=OptimConfig(lr=3e-3, warmup_epochs=0.5),
        epochs=2,
        batch_size=8,
        seed=1,
        device="cpu",
        progress=False,
    )
    return config.replace(**changes) if changes else config


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


_DROP = ("timestamp", "train_time_s", "time_per_epoch_s", "peak_mem_mb", "history", "reused")


def _comparable(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if k not in _DROP}
    out["history"] = [{k: v for k, v in h.items() if not k.endswith("time_s")} for h in metrics["history"]]
    return out


def test_kill_and_resume_gives_the_uninterrupted_result(tmp_path):
    config = tiny_config()
    straight = run_one(config, run_dir=tmp_path / "straight", dataset_factory=blobs_factory)
    assert straight["status"] == "finished"

    def kill_after_first_epoch(record):
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run_one(config, run_dir=killed, dataset_factory=blobs_factory, callbacks=[kill_after_first_epoch])
    assert (killed / "checkpoint.pt").is_file() and not (killed / "metrics.json").exists()
    assert torch.load(killed / "checkpoint.pt", weights_only=True)["state"]["epoch"] == 1
    resumed = run_one(config, run_dir=killed, dataset_factory=blobs_factory)

    assert _comparable(resumed) == _comparable(straight)
    for name in ("model_best.pt",):
        assert _same_state(torch.load(tmp_path / "straight" / name), torch.load(killed / name))
    final = [torch.load(d / "checkpoint.pt", weights_only=True)["model"] for d in (tmp_path / "straight", killed)]
    assert _same_state(*final)
    assert json.loads((killed / "metrics.json").read_text())["test_acc"] == straight["test_acc"]


def test_max_epochs_this_call_stops_and_resumes(tmp_path):
    config = tiny_config(epochs=3, **{"model.sampling": "discretise"})
    first = train(config, tmp_path, dataset_factory=blobs_factory, max_epochs_this_call=2)
    assert first["status"] == "partial" and first["epoch"] == 2
    done = train(config, tmp_path, dataset_factory=blobs_factory)
    assert done["status"] == "finished" and len(done["history"]) == 3
    assert done["best_epoch"] == max(range(3), key=lambda i: (done["history"][i]["val_acc"], -i)) + 1


def test_metrics_contract_and_model_selection(tmp_path):
    config = tiny_config(epochs=3)
    metrics = run_one(config, runs=tmp_path, dataset_factory=blobs_factory)
    folder = run_dir_for(config, tmp_path)
    assert folder == tmp_path / "custom" / "custom" / config.run_id()
    assert load_config(folder / "config.yaml") == config
    stored = json.loads((folder / "metrics.json").read_text())
    assert set(COLUMNS) - {"stand_in_for"} <= set(stored)
    assert stored["val_acc"] == max(h["val_acc"] for h in stored["history"])
    assert stored["test_err"] == pytest.approx(100 - stored["test_acc"])
    assert stored["test_size"] == 24 and stored["params"] > 0 and stored["peak_mem_mb"] > 0
    assert metrics["reused"] is False


def test_finished_run_is_reused_and_force_retrains(tmp_path, monkeypatch):
    config = tiny_config(epochs=1)
    first = run_one(config, runs=tmp_path, dataset_factory=blobs_factory)

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished run was retrained")

    monkeypatch.setattr(single_run_module, "train", must_not_train)
    again = run_one(config, runs=tmp_path, dataset_factory=blobs_factory)
    assert again["reused"] is True and again["test_acc"] == first["test_acc"]
    monkeypatch.undo()
    forced = run_one(config, runs=tmp_path, dataset_factory=blobs_factory, force=True)
    assert forced["reused"] is False and forced["timestamp"] >= first["timestamp"]


def test_checkpoint_of_another_config_is_refused(tmp_path):
    train(tiny_config(), tmp_path, dataset_factory=blobs_factory, max_epochs_this_call=1)
    with pytest.raises(ConfigError, match="another configuration"):
        train(tiny_config(seed=5), tmp_path, dataset_factory=blobs_factory)


class _Payload:
    """Unpickling this object creates ``path``: what a malicious checkpoint would do."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_crafted_checkpoint_cannot_run_code(tmp_path):
    """A checkpoint is data: resuming reads it with weights_only=True, so a pickle whose
    __reduce__ would create a file is refused, with a message naming it, and nothing runs."""
    from gsepconv.experiments.runfolder import RunFolderError

    config = tiny_config()
    folder = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_one(
            config,
            run_dir=folder,
            dataset_factory=blobs_factory,
            callbacks=[lambda record: (_ for _ in ()).throw(KeyboardInterrupt)],
        )
    real = torch.load(folder / "checkpoint.pt", weights_only=True)
    marker = tmp_path / "PWNED"
    torch.save({**real, "state": {"payload": _Payload(marker)}}, folder / "checkpoint.pt")
    with pytest.raises(RunFolderError, match=r"checkpoint.pt was not loaded.*--force"):
        run_one(config, run_dir=folder, dataset_factory=blobs_factory)
    with pytest.raises(RunFolderError, match=r"checkpoint.pt was not loaded"):
        train(config, folder, dataset_factory=blobs_factory)
    assert not marker.exists()
    assert (folder / "checkpoint.pt").is_file() and not (folder / "metrics.json").exists()


def test_the_config_is_compared_before_the_checkpoint_is_opened(tmp_path, monkeypatch):
    from gsepconv.experiments import checkpoint as checkpoint_module

    train(tiny_config(), tmp_path, dataset_factory=blobs_factory, max_epochs_this_call=1)
    from gsepconv.experiments.config import save_config

    save_config(tiny_config(), tmp_path / "config.yaml")
    opened = []
    monkeypatch.setattr(checkpoint_module, "load_checkpoint", lambda *a: opened.append(a))
    with pytest.raises(ConfigError, match=r"config.yaml belongs to another configuration"):
        train(tiny_config(seed=5), tmp_path, dataset_factory=blobs_factory)
    assert opened == []


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"model.implementation": "separable2d"}, "cannot build the model"),  # Sim2-only
        ({"model.group": "SO3"}, "cannot build the model.*unknown group"),
        ({"model.in_channels": 3}, "fails on a batch"),  # data has 1 channel
    ],
)
def test_invalid_model_fails_before_training(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        run_one(tiny_config(**changes), run_dir=tmp_path / "r", dataset_factory=blobs_factory)
    assert not (tmp_path / "r").exists()  # nothing left half-made


def test_a_run_that_fails_before_training_leaves_no_folder(tmp_path):
    """A failure before the first checkpoint (here: the data) removes the run folder and the empty
    folders created for it; a folder that existed before, or a run with a checkpoint, stays."""

    def no_data(name, split, data):
        raise FileNotFoundError("no such dataset here")

    runs = tmp_path / "runs"
    with pytest.raises(FileNotFoundError, match="no such dataset"):
        run_one(tiny_config(), runs=runs, dataset_factory=no_data)
    assert not runs.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(FileNotFoundError):
        run_one(tiny_config(), run_dir=kept / "run", dataset_factory=no_data)
    assert kept.is_dir() and not any(kept.iterdir())
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(FileNotFoundError):
        run_one(tiny_config(), run_dir=mine, dataset_factory=no_data)
    assert mine.is_dir()  # it was there before: only what this call created goes


def test_a_failed_run_removes_only_what_it_created(tmp_path):
    """A failing call removes only the files and folders it created (never another writer's
    config.yaml), and a second writer of the same folder is refused."""
    from gsepconv.data.exceptions import LockHeld
    from gsepconv.data.storage import file_lock
    from gsepconv.experiments.runfolder import write_run_config

    def no_data(name, split, data):
        raise FileNotFoundError("no such dataset here")

    folder = tmp_path / "run"
    folder.mkdir()
    write_run_config(tiny_config(), folder)  # written earlier, e.g. by another process
    before = (folder / "config.yaml").read_bytes()
    with pytest.raises(FileNotFoundError):
        run_one(tiny_config(), run_dir=folder, dataset_factory=no_data)
    assert (folder / "config.yaml").read_bytes() == before
    with file_lock(folder, "a test holds it"):  # another writer is training here
        with pytest.raises(LockHeld, match=r"another gsepconv process is training in this run folder.*--run-dir"):
            run_one(tiny_config(), run_dir=folder, dataset_factory=blobs_factory)
    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml"]
    assert (
        run_one(tiny_config(epochs=1), run_dir=tmp_path / "free", dataset_factory=blobs_factory)["status"] == "finished"
    )


def test_amp_on_cpu_falls_back_to_fp32(tmp_path):
    logs: list[str] = []
    metrics = train(
        tiny_config(epochs=1, precision="amp", **{"model.group": "Z2"}),
        None,
        dataset_factory=blobs_factory,
        log=logs.append,
    )
    assert metrics["precision"] == "fp32" and any("needs CUDA" in m for m in logs)


def test_bf16_trains_under_bfloat16_autocast_on_cpu(tmp_path, monkeypatch):
    """precision=bf16 runs the convolutions in bfloat16 (checked on the layers' outputs), keeps
    the sampled kernels in float32, needs no loss scaling, and its metrics say bf16."""
    from gsepconv.experiments.training import autocast_dtype
    from gsepconv.nn import GroupConv

    assert autocast_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    assert autocast_dtype("amp", torch.device("cpu")) is None and autocast_dtype("fp32", torch.device("cpu")) is None
    seen: set = set()
    real_forward = GroupConv.forward

    def spy(self, x):
        y = real_forward(self, x)
        seen.add((y.dtype, self.weights()[0].dtype))
        return y

    monkeypatch.setattr(GroupConv, "forward", spy)
    metrics = train(tiny_config(epochs=1, precision="bf16"), None, dataset_factory=blobs_factory)
    assert metrics["precision"] == "bf16" and 0.0 <= metrics["test_acc"] <= 100.0
    assert (torch.bfloat16, torch.float32) in seen  # bf16 activations, float32 kernels


# ------------------------------------------------------------------------------------- DDP
@pytest.fixture(scope="module")
def mnist_env(tmp_path_factory):
    require_mirror(*MNIST_RAW)
    data = tmp_path_factory.mktemp("data")
    env = {**os.environ, "GSEPCONV_MIRROR": str(MIRROR), "GSEPCONV_DATA": str(data)}
    from gsepconv.data import get_dataset

    old = {k: os.environ.get(k) for k in ("GSEPCONV_MIRROR", "GSEPCONV_DATA")}
    os.environ.update(GSEPCONV_MIRROR=str(MIRROR), GSEPCONV_DATA=str(data))
    try:
        get_dataset("mnist_rot_seeded", "train")  # build the cache once, outside the workers
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return env


def test_torchrun_two_processes_gloo(tmp_path, mnist_env, monkeypatch):
    run_dir = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "gsepconv",
        "train",
        "--dataset",
        "mnist_rot_seeded",
        "--train-subset",
        "64",
        "--val-subset",
        "30",
        "--test-subset",
        "31",
        "--group",
        "SE2",
        "--num-elements",
        "4",
        "--widths",
        "4,4,8",
        "--kernel-size",
        "3",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--lr",
        "3e-3",
        "--device",
        "cpu",
        "--no-progress",
        "--run-dir",
        str(run_dir),
    ]
    env = {**mnist_env, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["device"] == "cpu x2"
    assert set(COLUMNS) - {"stand_in_for"} <= set(metrics)
    assert (metrics["val_size"], metrics["test_size"]) == (30, 31)  # odd sizes: no sample dropped or doubled
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint.pt",
        "config.yaml",
        "metrics.json",
        "model_best.pt",
    ]
    assert proc.stdout.count("run folder:") == 1  # only rank 0 reports

    # the all-reduced validation accuracy equals a single-process evaluation of the saved weights
    from gsepconv.experiments.distributed import DistEnv
    from gsepconv.experiments.setup import build_checked_model, load_splits
    from gsepconv.experiments.training import _evaluate

    config = load_config(run_dir / "config.yaml")
    for key in ("GSEPCONV_MIRROR", "GSEPCONV_DATA"):
        monkeypatch.setenv(key, mnist_env[key])
    datasets = load_splits(config)
    model, _ = build_checked_model(config, datasets)
    model.load_state_dict(torch.load(run_dir / "model_best.pt"))
    _, val_acc = _evaluate(model, datasets["val"], 64, torch.device("cpu"), DistEnv(), False, False, "")
    _, test_acc = _evaluate(model, datasets["test"], 64, torch.device("cpu"), DistEnv(), False, False, "")
    assert val_acc == pytest.approx(metrics["val_acc"]) and test_acc == pytest.approx(metrics["test_acc"])


def test_uniform_sampling_re_estimates_batch_norm_before_evaluation(tmp_path, monkeypatch):
    """precise BN is on by default for sampling='uniform' (20 batches), off for the fixed grid, and
    runs before every evaluation; an explicit 0 turns it off."""
    import gsepconv.experiments.training as training

    calls = []
    real = training.precise_batch_norm
    monkeypatch.setattr(training, "precise_batch_norm", lambda model, batches: calls.append(real(model, batches)))
    uniform = train(tiny_config(), None, dataset_factory=blobs_factory)
    assert uniform["precise_bn_batches"] == 20 and calls == [5, 5]  # 40 images / batch 8, once per epoch
    calls.clear()
    fixed = train(tiny_config(**{"model.sampling": "discretise"}), None, dataset_factory=blobs_factory)
    off = train(tiny_config(precise_bn_batches=0), None, dataset_factory=blobs_factory)
    assert fixed["precise_bn_batches"] == 0 == off["precise_bn_batches"] and calls == []
    assert tiny_config().config_hash() == tiny_config(precise_bn_batches=None).config_hash()
    assert tiny_config(precise_bn_batches=5).config_hash() != tiny_config().config_hash()


def test_every_rank_trains_with_the_same_arguments(tmp_path, monkeypatch):
    """Under torchrun, rank 0 checks the run folder and the others train along: all of them must
    get the same training arguments (a model builder too, e.g. the original code's model in
    ``gsepconv compare``), or the ranks would build different models."""
    from gsepconv.experiments import single_run
    from gsepconv.experiments.distributed import DistEnv

    calls = []
    monkeypatch.setattr(single_run, "train", lambda *args, **kwargs: calls.append((args, kwargs)) or {"run_id": "x"})

    def builder(config, datasets, device):
        raise AssertionError("not called: train is replaced")

    config = tiny_config(epochs=1)
    for rank in (0, 1):
        monkeypatch.setattr(single_run, "distributed_env", lambda rank=rank: DistEnv(rank=rank, world_size=2))
        single_run.run_one(
            config, run_dir=tmp_path / f"rank{rank}", dataset_factory=blobs_factory, model_builder=builder
        )
    (args0, kwargs0), (args1, kwargs1) = calls
    assert kwargs0["model_builder"] is builder and kwargs1 == kwargs0
    assert args0[0] == args1[0] == config
