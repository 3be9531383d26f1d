"""The `gsepconv` command line: help, listing, errors that say what to do, `train`."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from _helpers import MIRROR, MNIST_RAW, not_a_folder, require_mirror
from _original_stand_in import forget_checkout, make_checkout
from gsepconv import cli
from gsepconv.cli import attached_commands
from gsepconv.experiments.config import RunConfig, save_config

REPO = Path(__file__).resolve().parents[1]

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
    real_import = attached_commands.importlib.import_module

    def broken(name, *args):
        if name == "gsepconv.experiments.bench":
            raise ImportError("simulated: module is being written")
        return real_import(name, *args)

    monkeypatch.setattr(attached_commands.importlib, "import_module", broken)
    assert cli.main(["list"]) == 0
    assert cli.main(["bench", "--profile", "quick"]) == 2
    err = capsys.readouterr().err
    assert "gsepconv bench" in err and "simulated" in err


def test_print_config_rejects_a_kernel_option_that_training_would_reject(capsys):
    assert cli.main(["train", "--set", "model.kernel_options.omega0=30", "--print-config"]) == 2
    err = capsys.readouterr().err
    assert "omega0" in err and "Traceback" not in err
    assert cli.main(["train", "--set", "model.kernel_options.omega_0=30", "--print-config"]) == 0
    assert "omega_0: 30" in capsys.readouterr().out


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
    example's settings build a model (a wrong option name in an example fails here)."""
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


def test_train_profile_starts_from_that_profiles_run_of_the_group(capsys):
    """`train --profile quick` starts from the quick profile's run of the group asked for (not from
    the paper's 300-epoch defaults with a folder label), and flags still override."""
    import yaml

    from gsepconv.experiments.registry import profile_run

    assert cli.main(["train", "--profile", "quick", "--group", "Sim2", "--epochs", "2", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    expected = profile_run("quick", "Sim2").replace(epochs=2).to_dict()
    assert printed == yaml.safe_load(yaml.safe_dump(expected))  # same YAML round trip (tuples → lists)
    assert printed["model"]["implementation"] == "separable2d" and printed["epochs"] == 2
    assert printed["model"]["widths"] != list(RunConfig().model.widths)  # the profile's, not the paper's
    assert printed["data"]["train_subset"] == profile_run("quick").data.train_subset is not None
    # any other name is refused (a typo such as `smok` must not train the paper's 300 epochs);
    # a free label has its own option and changes no setting
    assert cli.main(["train", "--profile", "mine", "--print-config"]) == 2
    assert "--label" in capsys.readouterr().err
    assert cli.main(["train", "--label", "mine", "--print-config"]) == 0
    label_only = yaml.safe_load(capsys.readouterr().out)
    assert label_only["profile"] == "mine" and label_only["epochs"] == RunConfig().epochs


def test_a_newcomer_session_meets_messages_not_tracebacks(tmp_path, capsys, monkeypatch):
    """The README's first commands, then a newcomer's usual mistakes, in one session with its own
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
    blocked = not_a_folder(tmp_path)
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
