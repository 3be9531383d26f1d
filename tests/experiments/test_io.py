"""Issue 8: the paths a newcomer hits that lost work, misled or hid failures — each reproduced
and fixed with a test that failed before the fix."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from _original_stand_in import forget_checkout, make_checkout
from gsepconv import cli
from gsepconv.experiments.config import RunConfig, load_config, save_config
from gsepconv.experiments.io import atomic_write_text, check_writable, write_table
from gsepconv.groups import SE2, get_group
from gsepconv.models import build_model
from gsepconv.nn import LiftingConv
from gsepconv.progress import bars_enabled

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- 1. work lost on a write error
def _not_a_folder(tmp_path: Path) -> Path:
    """A folder path no user can write to, root included: below a regular file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "results"


def test_unwritable_output_folders_fail_before_any_work(tmp_path, capsys, monkeypatch):
    bad = _not_a_folder(tmp_path)
    with pytest.raises(ValueError, match=r"cannot write the results table in .*--results"):
        check_writable(bad, "the results table", "--results")
    called = []
    monkeypatch.setattr("gsepconv.experiments.runner.run_experiment", lambda *a, **k: called.append(1))
    assert cli.main(["run", "cifar10", "--profile", "smoke", "--results", str(bad)]) == 2
    assert "cannot write the results table" in capsys.readouterr().err and not called
    monkeypatch.setattr("gsepconv.experiments.bench.benchmark.bench_case", lambda *a, **k: called.append(1))
    assert cli.main(["bench", "--profile", "smoke", "--out", str(bad / "efficiency.csv")]) == 2
    monkeypatch.setattr(
        "gsepconv.experiments.equivariance_report.equivariance_report", lambda *a, **k: called.append(1)
    )
    assert cli.main(["equivariance", "--profile", "quick", "--out", str(bad / "equivariance.csv")]) == 2
    assert cli.main(["train", "--dataset", "mnist_rot_seeded", "--runs", str(bad)]) == 2
    assert not called  # nothing was computed


def test_a_table_that_cannot_be_written_late_is_kept_and_the_message_says_where(tmp_path):
    target = _not_a_folder(tmp_path) / "table.csv"
    with pytest.raises(OSError, match=r"saved to (\S+) instead") as err:
        write_table(target, "a,b\n1,2\n", "the benchmark table")
    kept = Path(re.search(r"saved to (\S+) instead", str(err.value)).group(1))
    assert kept.read_text() == "a,b\n1,2\n"
    kept.unlink()


# ---------------------------------------------------------------- 2. mirror corruption
def test_a_corrupt_mirror_file_is_named_and_never_copied(tmp_path, monkeypatch):
    """The mirror's own SHA256SUMS lists the file; a damaged copy in the mirror is refused with a
    message naming the mirror file (deleting the data-folder copy used to copy it again, forever)."""
    import hashlib

    from gsepconv.data import storage
    from gsepconv.data.errors import ChecksumError

    mirror, data = tmp_path / "mirror", tmp_path / "data"
    good = b"the real bytes" * 100
    (mirror / "SET").mkdir(parents=True)
    (mirror / "SET" / "file.npz").write_bytes(good[:-1] + b"X")  # damaged in the mirror
    (mirror / "SHA256SUMS").write_text(f"{hashlib.sha256(good).hexdigest()}  ./SET/file.npz\n")
    monkeypatch.setenv(storage.ENV_MIRROR, str(mirror))
    res = storage.RemoteFile("SET/file.npz")  # no pinned checksum: only the mirror's list protects it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ChecksumError, match=r"mirror file .*SET/file.npz is corrupt .*SHA256SUMS"):
            storage.ensure_file(res, data, download=False)
    assert not (data / "SET" / "file.npz").exists() and not list((data / "SET").glob("*"))
    (mirror / "SET" / "file.npz").write_bytes(good)  # repaired mirror: copied and verified
    assert storage.ensure_file(res, data, download=False).read_bytes() == good
    (mirror / "SHA256SUMS").write_text("not a checksum line\n")
    (data / "SET" / "file.npz").unlink()
    with pytest.raises(ChecksumError, match="SHA256SUMS line 1"):
        storage.ensure_file(res, data, download=False)


# ---------------------------------------------------------------- 3. options silently dropped
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


def test_print_config_rejects_a_kernel_option_that_training_would_reject(capsys):
    assert cli.main(["train", "--set", "model.kernel_options.omega0=30", "--print-config"]) == 2
    err = capsys.readouterr().err
    assert "omega0" in err and "Traceback" not in err
    assert cli.main(["train", "--set", "model.kernel_options.omega_0=30", "--print-config"]) == 0
    assert "omega_0: 30" in capsys.readouterr().out


# ---------------------------------------------------------------- 4. export under autocast
def test_export_under_autocast_samples_at_full_precision():
    torch.manual_seed(0)
    layer = LiftingConv("SE2", 1, 4, 5, 8).eval()
    x = torch.randn(2, 1, 20, 20)
    reference = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        exported = layer.export()
    assert torch.allclose(exported(x), reference, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- 5. every documented example works
def _examples() -> list[str]:
    parser = cli.build_parser()
    texts = [parser.epilog or ""]
    for action in parser._subparsers._group_actions:  # noqa: SLF001 - the parser's own subcommands
        texts += [sub.epilog or "" for sub in action.choices.values()]
    texts.append((REPO / "README.md").read_text())
    found = []
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            m = re.match(r"^(?:torchrun .*?-m )?(gsepconv .*)$", line)
            if not m:
                continue
            command = re.split(r"\s{2,}|\s#", m.group(1))[0].strip()  # drop the explanation
            found.append(command)
    return sorted(set(found))


def test_every_documented_example_parses_and_its_config_builds(tmp_path, capsys):
    """Every example in every --help epilog and in the README: its arguments parse, and a train
    example's settings build a model (an example with a wrong option name used to fail)."""
    examples = _examples()
    assert len(examples) >= 15 and any("omega_0" in e for e in examples)
    config = tmp_path / "run.yaml"
    save_config(RunConfig(), config)
    checkout = make_checkout(tmp_path)  # --against PATH: a stand-in checkout of the original code
    for example in examples:
        argv = shlex.split(example)[1:]
        argv = [str(config) if a.endswith((".yaml", ".json")) else a for a in argv]
        argv = [str(checkout) if i and argv[i - 1] == "--against" else a for i, a in enumerate(argv)]
        args, extra = cli.build_parser().parse_known_args(argv)
        assert not extra, f"{example}: unrecognized {extra}"
        if args.command == "train":
            assert cli.main(argv + ["--print-config"]) == 0, example
        elif args.command in ("list",) or "--dry-run" in argv:
            assert cli.main(argv) == 0, example
    forget_checkout()
    capsys.readouterr()


# ---------------------------------------------------------------- 6. file modes
def test_written_files_get_the_mode_an_ordinary_write_would(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "results.csv", "a\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # was 0600 (mkstemp)
        os.chmod(path, 0o640)
        atomic_write_text(path, "b\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640  # a replaced file keeps its mode
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write_text(tmp_path / "private.csv", "c\n").stat().st_mode) == 0o600
    finally:
        os.umask(old)


# ---------------------------------------------------------------- 7. messages, not tracebacks
@pytest.mark.parametrize(
    "text,message",
    [
        ("model: [1, 2\n", r"not valid YAML"),
        ("model: [1, 2]\n", r"model must be a mapping of model settings"),
        ("batch_size: 16.5\n", r"batch_size must be an integer > 0, got 16.5"),
        ("model: {group: Sim2, implementation: separable2d, num_elements: 4x}\n", r"\[4, 2\] or \"4x2\""),
        ("- a\n- b\n", r"must hold a mapping"),
    ],
)
def test_bad_config_files_get_one_line_messages(tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_config(path)
    assert cli.main(["train", "--config", str(path), "--print-config"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_sim2_sizes_in_the_tables_form_are_accepted(tmp_path):
    path = tmp_path / "sim2.yaml"
    path.write_text("model: {group: Sim2, implementation: separable2d, num_elements: 4x2, max_scale: 1.74}\n")
    assert load_config(path).model.num_elements == (4, 2)


def test_a_folder_given_as_config_says_so(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        load_config(tmp_path)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
@pytest.mark.parametrize("group", ["Z2", "SE2"])
def test_integer_images_get_a_message_saying_what_dtype_is_expected(group, dtype):
    model = build_model("resnet", group, widths=(4, 4, 8), kernel_size=3, num_elements=None if group == "Z2" else 4)
    with pytest.raises(ValueError, match=r"expects floating-point input, got dtype .*x.float\(\) / 255"):
        model(torch.zeros(2, 1, 28, 28, dtype=dtype))


def test_a_closed_pipe_ends_quietly():
    """`gsepconv list | head -1`: no BrokenPipeError traceback."""
    proc = subprocess.run(
        f"{shlex.quote(sys.executable)} -m gsepconv list | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.stdout.strip() and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


# ---------------------------------------------------------------- friction: bars in log files
def test_progress_bars_only_where_someone_watches(monkeypatch):
    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.delenv("GSEPCONV_PROGRESS", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert bars_enabled(True, Stream(True)) and not bars_enabled(True, Stream(False))
    assert not bars_enabled(False, Stream(True))
    monkeypatch.setenv("GSEPCONV_PROGRESS", "1")
    assert bars_enabled(True, Stream(False))
    monkeypatch.setenv("GSEPCONV_PROGRESS", "0")
    assert not bars_enabled(True, Stream(True))


# ---------------------------------------------------------------- 9. hidden process-wide state
def test_group_convs_sharing_a_random_grid_resample_without_their_lifting_layer():
    """A shared uniform grid used to be redrawn only by LiftingConv.forward: group convolutions run
    without it saw the same elements forever. Now every pass gets fresh elements, and within one
    pass all layers still share them."""
    from gsepconv.nn import GroupConv, GroupGrid

    torch.manual_seed(0)
    grid = GroupGrid(SE2().H, 4, "uniform").train()
    a = GroupConv("SE2", 2, 2, 3, 4, grid=grid, hidden_features=8).train()
    b = GroupConv("SE2", 2, 2, 3, 4, grid=grid, hidden_features=8).train()
    x = torch.randn(1, 2, 4, 7, 7)
    seen = []
    for _ in range(3):
        b(a(x))
        seen.append(grid.elements().clone())
        assert a._grid_draw == b._grid_draw  # one draw per pass, shared by both layers
    assert not torch.equal(seen[0], seen[1]) and not torch.equal(seen[1], seen[2])
    lift = LiftingConv("SE2", 1, 2, 3, 4, grid=grid, hidden_features=8).train()
    before = grid.draws
    b(a(lift(torch.randn(1, 1, 7, 7))))
    assert grid.draws == before + 1  # with the lifting layer: exactly one draw per pass


def test_switches_are_scoped_to_their_block_and_thread():
    import threading

    from gsepconv.nn import conv as conv_module
    from gsepconv.nn import implementations, kernel_cache, memory_format

    seen = {}

    def other_thread():
        seen["cache"] = conv_module._CACHE_ENABLED.get()
        seen["format"] = implementations.current_format()

    with kernel_cache(False), memory_format(torch.contiguous_format):
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert conv_module._CACHE_ENABLED.get() is False
        assert implementations.current_format() == torch.contiguous_format
    assert seen == {"cache": True, "format": torch.channels_last}  # another thread is not affected
    assert conv_module._CACHE_ENABLED.get() is True and implementations.current_format() == torch.channels_last
    with pytest.raises(ValueError, match="torch.memory_format"):
        with memory_format("channels_last"):
            pass


def test_training_restores_the_thread_count(tmp_path):
    from gsepconv.experiments import run_one
    from test_training import blobs_factory, tiny_config

    before = torch.get_num_threads()
    threads = 1 if before != 1 else 2
    config = tiny_config(epochs=1).replace(threads=threads)
    run_one(config, run_dir=tmp_path, dataset_factory=blobs_factory)
    assert torch.get_num_threads() == before


# ---------------------------------------------------------------- friction: load a trained model
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


def test_the_benchmark_says_slower_not_a_fraction_faster():
    from gsepconv.experiments.bench import speed_words

    assert speed_words(1.8) == "1.8x faster than" and speed_words(0.6) == "1.7x slower than"
    assert speed_words(1.02) == "as fast as"


def test_version_answers_without_importing_torch():
    code = "import sys; from gsepconv.cli import main; main(['--version']); print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("gsepconv ") and lines[1] == "False", proc.stdout


def test_the_write_check_creates_nothing(tmp_path):
    target = tmp_path / "results" / "smoke"
    assert check_writable(target, "the results table", "--results") == target
    assert not (tmp_path / "results").exists() and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- friction: train --profile
def test_train_profile_starts_from_that_profiles_run_of_the_group(capsys):
    """`train --profile quick` was only a folder label (the paper's 300-epoch defaults trained); now
    it starts from the quick profile's run of the group asked for, and flags still override."""
    import yaml

    from gsepconv.experiments.registry import profile_run

    assert cli.main(["train", "--profile", "quick", "--group", "Sim2", "--epochs", "2", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    expected = profile_run("quick", "Sim2").replace(epochs=2).to_dict()
    assert printed == yaml.safe_load(yaml.safe_dump(expected))  # same YAML round trip (tuples → lists)
    assert printed["model"]["implementation"] == "separable2d" and printed["epochs"] == 2
    assert printed["model"]["widths"] != list(RunConfig().model.widths)  # the profile's, not the paper's
    assert printed["data"]["train_subset"] == profile_run("quick").data.train_subset is not None
    # any other name is refused (a typo such as `smok` used to train the paper's 300 epochs);
    # a free label has its own option and changes no setting
    assert cli.main(["train", "--profile", "mine", "--print-config"]) == 2
    assert "--label" in capsys.readouterr().err
    assert cli.main(["train", "--label", "mine", "--print-config"]) == 0
    label_only = yaml.safe_load(capsys.readouterr().out)
    assert label_only["profile"] == "mine" and label_only["epochs"] == RunConfig().epochs


# ---------------------------------------------------------------- a scripted newcomer session
def test_a_newcomer_session_meets_messages_not_tracebacks(tmp_path, capsys, monkeypatch):
    """The README's first commands, then the bad inputs of issue 8, in one session with its own
    folders and no data mirror: every command ends with its exit status (0, 2 usage/config, 1
    runtime), every failure is an ``error:`` message of one paragraph, and the failures leave no
    file behind."""
    home = tmp_path / "home"
    for name in ("RUNS", "RESULTS", "DATA"):
        monkeypatch.setenv(f"GSEPCONV_{name}", str(home / name.lower()))
    monkeypatch.delenv("GSEPCONV_MIRROR", raising=False)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    (tmp_path / "broken.yaml").write_text("model: {group: SE2\n")
    (tmp_path / "list.yaml").write_text("model: [1, 2]\n")
    blocked = _not_a_folder(tmp_path)
    session = [  # (argv, expected exit status, a phrase the message must contain)
        (["--version"], 0, None),
        (["list"], 0, None),
        (["run", "mnist_rot", "--profile", "quick", "--dry-run"], 0, None),
        (["train", "--profile", "smoke", "--print-config"], 0, None),
        (["train", "--group", "SO3", "--print-config"], 2, "unknown group"),
        (["train", "--implementation", "separable2d", "--print-config"], 2, "separable2d"),
        (["train", "--set", "model.kernal_size=3", "--print-config"], 2, "kernel_size"),
        (["train", "--set", "batch_size=16.5", "--print-config"], 2, "batch_size"),
        (["train", "--set", "model.kernel_options.omega0=30", "--print-config"], 2, "omega"),
        (["train", "--config", str(folder)], 2, "folder"),
        (["train", "--config", str(tmp_path / "broken.yaml")], 2, "broken.yaml"),
        (["train", "--config", str(tmp_path / "list.yaml")], 2, "model"),
        (["train", "--config", str(tmp_path / "missing.yaml")], 2, "missing.yaml"),
        (["train", "--profile", "smoke", "--runs", str(blocked)], 2, "--runs"),
        (["run", "nosuch", "--profile", "quick", "--dry-run"], 2, "nosuch"),
        (["run", "mnist_rot", "--profile", "nosuch", "--dry-run"], 2, "nosuch"),
        (["results", "mnist_rot", "--profile", "smoke"], 2, "gsepconv run mnist_rot --profile smoke"),
        (["equivariance", "--profile", "smoke", "--results", str(blocked)], 2, "--results"),
        (["predict", str(tmp_path / "no-run")], 2, "no-run"),
    ]
    for argv, status, phrase in session:
        try:
            code = cli.main(argv)
        except SystemExit as exit:  # argparse's own usage errors: "usage: …" then "…: error: …"
            code = exit.code
        out, err = capsys.readouterr()
        assert code == status, (argv, code, err)
        assert "Traceback" not in out + err, argv
        if status:
            message = err.strip()
            if message.startswith("usage:"):
                message = "error:" + message.rsplit("error:", 1)[1]
            assert message.startswith("error:") and "\n\n" not in message, (argv, message)
            assert phrase is None or phrase in message, (argv, phrase, message)
    written = [p for p in home.rglob("*") if p.is_file()] if home.exists() else []
    assert written == [], written  # dry runs and failures wrote nothing
