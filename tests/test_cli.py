"""The `gsepconv` command line: help, listing, errors that say what to do, `train`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from _helpers import MIRROR, MNIST_RAW, require_mirror
from gsepconv import cli

pytestmark = pytest.mark.usefixtures("single_thread")


def test_help_lists_commands_and_examples(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in (
        "train",
        "run",
        "results",
        "list",
        "data",
        "bench",
        "examples:",
        "--profile smoke",
        "GSEPCONV_RUNS",
        "torchrun",
    ):
        assert word in out, word


@pytest.mark.parametrize("command", ["train", "run", "results"])
def test_subcommand_help(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    assert "usage: gsepconv " + command in capsys.readouterr().out


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "gsepconv", "list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "mnist_rot" in proc.stdout and "paper" in proc.stdout


def test_list_a_profile_prints_every_setting(capsys):
    """``gsepconv list --profile NAME``: the profile's settings, a block per section, not the list."""
    from gsepconv.experiments import get_profile

    assert cli.main(["list", "--profile", "quick"]) == 0
    out = capsys.readouterr().out
    assert out == get_profile("quick").describe() + "\n" and "experiments:" not in out
    sections = ("training", "mnist", "budget", "rotations", "cifar", "bench", "sweep", "equivariance", "layer_costs")
    for section in sections:
        assert f"\n\n{section}: " in out, section
    assert "  time_budget_s         90.0\n" in out and "Sim2 nonseparable N=4x3\n" in out
    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("experiments:\n") and "\nprofiles:\n" in listed and "time_budget_s" not in listed
    assert cli.main(["list", "--profile", "fast"]) == 2
    assert "valid profiles: smoke, quick, paper" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "mnist_rott", "--profile", "smoke"], "valid experiments: mnist_rot, mnist_rot_budget, rotations"),
        (["run", "mnist_rot", "--profile", "fast"], "valid profiles: smoke, quick, paper"),
        (["run", "galaxy10", "--profile", "quick"], "valid profiles for it: smoke, paper"),
        (["results", "nope", "--profile", "quick"], "valid experiments"),
        (["train", "--set", "model.kernal_size=3", "--print-config"], "valid keys:.*kernel_size"),
        (["train", "--precision", "half", "--print-config"], "fp32, amp"),
        (["train", "--config", "/nonexistent/run.yaml"], "does not exist"),
    ],
)
def test_bad_input_lists_valid_choices(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert __import__("re").search(message, err), err


def test_bad_flag_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--num-elements", "eight"])
    assert info.value.code == 2
    assert "16x3" in capsys.readouterr().err


def test_missing_results_say_how_to_produce_them(tmp_path, capsys):
    assert cli.main(["results", "mnist_rot", "--profile", "smoke", "--results", str(tmp_path)]) == 2
    assert "gsepconv run mnist_rot --profile smoke" in capsys.readouterr().err


def test_dry_run_lists_the_quick_grid(tmp_path, capsys):
    assert cli.main(["run", "mnist_rot", "--profile", "quick", "--dry-run", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "resnet-SE2-dseparable-n8" in out and "Sim2" in out and "new" in out
    assert not any(tmp_path.iterdir())  # nothing trained or written


def test_print_config_merges_file_flags_and_set(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 7\nmodel:\n  group: Sim2\n  implementation: separable2d\n")
    assert (
        cli.main(
            [
                "train",
                "--config",
                str(path),
                "--num-elements",
                "16x3",
                "--widths",
                "8,8,16",
                "--set",
                "model.kernel_options.omega_0=30",
                "--set",
                "optim.lr=0.001",
                "--print-config",
            ]
        )
        == 0
    )
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["epochs"] == 7 and config["model"]["group"] == "Sim2"
    assert config["model"]["num_elements"] == [16, 3] and config["model"]["widths"] == [8, 8, 16]
    assert config["model"]["kernel_options"] == {"omega_0": 30} and config["optim"]["lr"] == 0.001


def test_train_command_on_offline_data(tmp_path, monkeypatch, capsys):
    require_mirror(*MNIST_RAW)
    monkeypatch.setenv("GSEPCONV_MIRROR", str(MIRROR))
    monkeypatch.setenv("GSEPCONV_DATA", str(tmp_path / "data"))
    argv = [
        "train",
        "--dataset",
        "mnist_rot_seeded",
        "--train-subset",
        "32",
        "--val-subset",
        "16",
        "--test-subset",
        "16",
        "--group",
        "SE2",
        "--num-elements",
        "4",
        "--widths",
        "4,4,8",
        "--kernel-size",
        "3",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--no-progress",
        "--runs",
        str(tmp_path / "runs"),
        "--experiment",
        "demo",
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    folder = Path(out.splitlines()[0].split("run folder: ")[1])
    assert folder.parent == tmp_path / "runs" / "custom" / "demo"
    shown = json.loads(out[out.index("{") :])
    assert shown == {k: v for k, v in json.loads((folder / "metrics.json").read_text()).items() if k in shown}
    assert cli.main(argv) == 0
    assert "reused" in capsys.readouterr().out


def test_unavailable_subcommand_keeps_the_cli_working(monkeypatch, capsys):
    real_import = cli.importlib.import_module

    def broken(name, *args):
        if name == "gsepconv.experiments.bench":
            raise ImportError("simulated: module is being written")
        return real_import(name, *args)

    monkeypatch.setattr(cli.importlib, "import_module", broken)
    assert cli.main(["list"]) == 0
    assert cli.main(["bench", "--profile", "quick"]) == 2
    err = capsys.readouterr().err
    assert "gsepconv bench" in err and "simulated" in err
