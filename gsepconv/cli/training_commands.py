"""The training sub-commands: ``train`` (one run), ``run`` (a named experiment grid), ``results``
(its table), ``predict`` (a finished run on a split) and ``list`` (experiments and profiles).

Each ``cmd_*`` handler imports what it calls inside the function: those modules import torch
(seconds), and importing the command line (``gsepconv --version``) must not.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .arguments import add_folders, device_list, int_or_pair, int_tuple, integer, key_value

# (flag, dotted config key, argparse keyword arguments)
_TRAIN_FLAGS: list[tuple[str, str, dict[str, Any]]] = [
    ("--dataset", "data.name", {"help": "dataset name (see `gsepconv data list`)"}),
    ("--train-subset", "data.train_subset", {"type": integer, "help": "use N training images"}),
    ("--val-subset", "data.val_subset", {"type": integer, "help": "use N validation images"}),
    ("--test-subset", "data.test_subset", {"type": integer, "help": "use N test images"}),
    ("--augment", "data.augment", {"action": "store_const", "const": True, "help": "training augmentation"}),
    ("--arch", "model.arch", {"help": "resnet, cnn or allcnnc"}),
    ("--group", "model.group", {"help": "Z2, SE2, R2xRplus or Sim2"}),
    (
        "--implementation",
        "model.implementation",
        {"help": "nonseparable, separable, gseparable, dseparable, dgseparable, separable2d, gseparable2d"},
    ),
    ("--num-elements", "model.num_elements", {"type": int_or_pair, "help": "N, or NROTxNSCALE for Sim2 (16x3)"}),
    ("--sampling", "model.sampling", {"help": "discretise (fixed grid) or uniform (random offset per step)"}),
    ("--widths", "model.widths", {"type": int_tuple, "help": "channel widths, e.g. 32,32,64"}),
    ("--kernel-size", "model.kernel_size", {"type": integer, "help": "spatial kernel size k"}),
    ("--max-scale", "model.max_scale", {"type": float, "help": "largest scale of R2xRplus/Sim2 (e.g. 1.74)"}),
    ("--optimizer", "optim.name", {"help": "adam, adamw or sgd"}),
    ("--lr", "optim.lr", {"type": float, "help": "learning rate"}),
    ("--weight-decay", "optim.weight_decay", {"type": float, "help": "weight decay"}),
    ("--schedule", "optim.schedule", {"help": "cosine or constant"}),
    ("--warmup-epochs", "optim.warmup_epochs", {"type": float, "help": "linear warm-up epochs"}),
    ("--epochs", "epochs", {"type": integer, "help": "number of epochs"}),
    ("--batch-size", "batch_size", {"type": integer, "help": "global batch size"}),
    ("--seed", "seed", {"type": integer, "help": "random seed"}),
    ("--device", "device", {"help": "auto, cpu, cuda or cuda:N"}),
    (
        "--precision",
        "precision",
        {"help": "fp32, amp (CUDA autocast float16) or bf16 (autocast bfloat16, CPU or CUDA)"},
    ),
    ("--compile", "compile", {"action": "store_const", "const": True, "help": "use torch.compile"}),
    ("--num-workers", "num_workers", {"type": integer, "help": "DataLoader worker processes"}),
    ("--threads", "threads", {"type": integer, "help": "CPU threads for torch (default: torch's choice)"}),
    ("--experiment", "experiment", {"help": "label: run folder <runs>/<profile>/<experiment>/ (default custom)"}),
    (
        "--profile",
        "profile",
        {
            "help": "start from that profile's MNIST-rot run of the group (smoke, quick or paper: "
            "dataset, subsets, widths, k, epochs, batch, optimiser; flags override; "
            "with --config the file is the start); also the run folder's label"
        },
    ),
    (
        "--label",
        "profile",
        {
            "help": "a free label for the run folder in place of the profile: "
            "<runs>/<label>/<experiment>/<run id> (default custom); changes no setting"
        },
    ),
]


def add_training_commands(sub: Any) -> None:
    """``train``, ``run``, ``results``, ``predict`` and ``list``, in that order."""
    for add in (_add_train, _add_run, _add_results, _add_predict, _add_list):
        add(sub)


# ---------------------------------------------------------------------------- the parsers
def _add_train(sub: Any) -> None:
    """``train``: one model from flags and/or a config file."""
    p = sub.add_parser(
        "train",
        help="train one model (flags, or a YAML/JSON config file)",
        description="Train one model. Defaults are the paper's MNIST-rot ResNet (SE2 separable, N=8, "
        "widths 32,32,64, k=7, Adam lr 1e-4, wd 1e-4, cosine, 300 epochs, batch 64); with "
        "--profile smoke|quick|paper, that profile's run of the group. "
        "Flags override the config file; --set overrides anything. The run folder "
        "(<runs>/<profile>/<experiment>/<run id>) keeps a checkpoint per epoch: repeat "
        "the command to resume, or to get the stored metrics of a finished run. Under "
        "torchrun the run is data-parallel (DDP, gloo on CPU, nccl on CUDA).",
        epilog="examples:\n"
        "  gsepconv train --dataset mnist_rot_seeded --epochs 5 --widths 8,8,16 --kernel-size 5\n"
        "  gsepconv train --group Sim2 --implementation separable2d --num-elements 16x3 --max-scale 1.74\n"
        "  gsepconv train --config run.yaml --set model.kernel_options.omega_0=30 --print-config\n"
        "  torchrun --nproc_per_node 2 -m gsepconv train --config run.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help="YAML or JSON config (see --print-config for the format)")
    for flag, key, kwargs in _TRAIN_FLAGS:
        if "action" not in kwargs:
            kwargs = {"metavar": flag[2:].upper().replace("-", "_"), **kwargs}
        dest = flag[2:] if flag in ("--profile", "--label") else "cfg:" + key  # checked in _train_config
        p.add_argument(flag, dest=dest, default=None, **kwargs)
    p.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        type=key_value,
        action="append",
        default=[],
        help="override any config field, e.g. model.kernel_options.omega_0=30",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--run-dir", metavar="DIR", help="run folder (default: <runs>/<profile>/<experiment>/<run id>)")
    add_folders(p, results=False)
    p.add_argument("--force", action="store_true", help="retrain even if the run finished or has a checkpoint")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    p.set_defaults(func=cmd_train)


def _add_run(sub: Any) -> None:
    """``run``: an experiment's grid under a profile."""
    p = sub.add_parser(
        "run",
        help="run every model of a named experiment (skips finished runs)",
        description="Run an experiment's grid under a profile (smoke: seconds, quick: 2 CPU cores, "
        "paper: the paper's settings on GPUs). Finished runs are reused, interrupted "
        "ones resume, and the results table is rewritten at the end.",
        epilog="examples:\n  gsepconv run mnist_rot --profile smoke\n"
        "  gsepconv run rotations --profile quick --dry-run\n"
        "  gsepconv run cifar10 --profile paper --devices cuda:0,cuda:1,cuda:2,cuda:3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("experiment", help="experiment name (`gsepconv list` shows them)")
    p.add_argument("--profile", default="quick", help="smoke, quick (default) or paper")
    p.add_argument(
        "--devices",
        type=device_list,
        metavar="D1,D2",
        help="spread runs over these devices, one worker process each (e.g. cuda:0,cuda:1)",
    )
    p.add_argument("--dry-run", action="store_true", help="list the runs and their status, train nothing")
    p.add_argument("--force", action="store_true", help="retrain runs that already finished")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (1 helps on a busy machine)")
    add_folders(p)
    p.set_defaults(func=cmd_run)


def _add_results(sub: Any) -> None:
    """``results``: an experiment's summary table."""
    p = sub.add_parser(
        "results",
        help="print an experiment's results (mean ± std over seeds)",
        description="Print the results table of an experiment: the summary over seeds (default), or every run (--all).",
    )
    p.add_argument("experiment", help="experiment name")
    p.add_argument("--profile", default="quick", help="smoke, quick (default) or paper")
    p.add_argument("--all", action="store_true", help="one row per run instead of the summary")
    p.add_argument("--csv", action="store_true", help="print CSV instead of an aligned table")
    add_folders(p, runs=False)
    p.set_defaults(func=cmd_results)


def _add_predict(sub: Any) -> None:
    """``predict``: a trained run on a dataset split."""
    p = sub.add_parser(
        "predict",
        help="load a finished run and predict on a split of its dataset",
        description="Load the best-validation model of a finished run folder (gsepconv.load_run) and "
        "predict on a split of the dataset it was trained on (its own subset of that split).",
        epilog="examples:\n  gsepconv predict runs/quick/mnist_rot/RUN_ID --split test --limit 100\n"
        "  gsepconv predict runs/quick/mnist_rot/RUN_ID --out predictions.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_folder", help="a run folder holding config.yaml, metrics.json and model_best.pt")
    p.add_argument("--split", default="test", help="train, val or test (default: test)")
    p.add_argument("--limit", type=int, default=None, help="only the first N images of the split")
    p.add_argument("--out", default=None, help="write one row per image (index, label, predicted, confidence) as CSV")
    p.set_defaults(func=cmd_predict)


def _add_list(sub: Any) -> None:
    """``list``: experiments and profiles, or every setting of one profile."""
    p = sub.add_parser(
        "list",
        help="list the experiments and profiles, or every setting of one profile",
        description="List the experiments (with the profiles each has) and the profiles; with --profile, "
        "every setting of that profile instead, a block per section (training, mnist, budget, rotations, "
        "cifar, bench, sweep, equivariance, layer_costs).",
        epilog="examples:\n  gsepconv list\n  gsepconv list --profile quick",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--profile", default=None, help="print every setting of this profile: smoke, quick or paper")
    p.set_defaults(func=cmd_list)


# --------------------------------------------------------------------------- the handlers
def _train_config(args: argparse.Namespace) -> Any:
    from gsepconv.experiments.config import ConfigError, RunConfig, load_config
    from gsepconv.experiments.profiles import PROFILES
    from gsepconv.experiments.registry import profile_run

    changes: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key.startswith("cfg:") and value is not None:
            changes[key[4:]] = value
    profile = args.profile
    if profile is not None and profile not in PROFILES:
        raise ConfigError(
            f"--profile {profile!r} is not a profile; choose one of {', '.join(PROFILES)} "
            f"(a free label for the run folder: --label NAME)"
        )
    if profile is not None:
        changes["profile"] = profile  # the run folder's label too, unless --label gives another
    if args.label is not None:
        changes["profile"] = args.label
    for key, value in args.overrides:
        changes[key] = value
    if args.config:
        config = load_config(args.config)
    elif profile in PROFILES:  # the profile's own run of the group asked for, then the flags
        config = profile_run(profile, group=str(changes.get("model.group", "SE2")), experiment="custom")
    else:
        config = RunConfig()
    if args.no_progress:
        changes["progress"] = False
    return config.replace(**changes) if changes else config.validate()


def cmd_train(args: argparse.Namespace) -> int:
    from gsepconv.experiments.distributed import distributed_env
    from gsepconv.experiments.io import check_writable
    from gsepconv.experiments.runner import dump_yaml, run_dir_for, run_one

    config = _train_config(args).check_model()  # a bad model option fails here, before --print-config
    if args.print_config:
        print(dump_yaml(config.to_dict()), end="")
        return 0
    folder = args.run_dir or run_dir_for(config, args.runs)
    check_writable(Path(folder), "the run's checkpoints and metrics", "--runs or --run-dir")
    metrics = run_one(config, run_dir=folder, force=args.force)
    if distributed_env().is_main:
        _print_metrics(metrics, folder)
    return 0


def _print_metrics(metrics: dict[str, Any], folder: Any) -> None:
    keys = (
        "run_id",
        "dataset",
        "group",
        "implementation",
        "num_elements",
        "params",
        "epochs",
        "best_epoch",
        "val_acc",
        "test_acc",
        "test_err",
        "time_per_epoch_s",
        "peak_mem_mb",
        "device",
    )
    shown = {k: metrics[k] for k in keys if k in metrics}
    note = " (reused: finished earlier; --force retrains)" if metrics.get("reused") else ""
    print(f"run folder: {folder}{note}")
    print(json.dumps(shown, indent=2, default=str))


def cmd_run(args: argparse.Namespace) -> int:
    from gsepconv.experiments.io import check_replaceable, check_writable, runs_root
    from gsepconv.experiments.results import format_summary, history_path, results_path, summarise
    from gsepconv.experiments.runner import describe_plan, run_experiment

    progress = False if args.no_progress else None
    if not args.dry_run:  # fail before hours of training, not after
        check_writable(
            results_path(args.experiment, args.profile, args.results).parent, "the results table", "--results"
        )
        check_writable(runs_root(args.runs), "the run folders", "--runs")
        check_replaceable(results_path(args.experiment, args.profile, args.results))
        check_replaceable(history_path(args.experiment, args.profile, args.results))
    frame = run_experiment(
        args.experiment,
        args.profile,
        runs=args.runs,
        results=args.results,
        force=args.force,
        devices=args.devices,
        dry_run=args.dry_run,
        progress=progress,
        threads=args.threads,
    )
    if args.dry_run:
        print(describe_plan(frame))
        counts = frame["status"].value_counts().to_dict() if not frame.empty else {}
        print(f"{len(frame)} runs ({', '.join(f'{v} {k}' for k, v in counts.items())}); drop --dry-run to train them")
        return 0
    header, table = format_summary(summarise(frame))
    print(header)
    print(table.to_string(index=False))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from gsepconv.experiments.io import check_writable, write_table
    from gsepconv.experiments.load import load_run, predict

    if args.out:
        check_writable(Path(args.out).resolve().parent, "the predictions", "--out")
    run = load_run(args.run_folder)
    table = predict(run, split=args.split, limit=args.limit)
    accuracy = 100.0 * float((table["label"] == table["predicted"]).mean()) if len(table) else float("nan")
    print(
        f"{run.config.run_id()}: {len(table)} {args.split} images of {run.config.data.name}, "
        f"accuracy {accuracy:.2f} % "
        f"(stored test accuracy of the run: {run.metrics.get('test_acc', float('nan')):.2f} %)"
    )
    if args.out:
        write_table(args.out, table.to_csv(index=False), "the predictions")
        print(f"written to {args.out}")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from gsepconv.experiments.registry import get_runs
    from gsepconv.experiments.results import format_summary, read_results, results_path, summarise

    get_runs(args.experiment, args.profile)  # validates both names
    path = results_path(args.experiment, args.profile, args.results)
    frame = read_results(path)
    if args.all:
        table = frame
        header = f"{path}: {len(frame)} runs"
    else:
        header, table = format_summary(summarise(frame))
        header = f"{path}: {len(frame)} runs; {header}"
    if args.csv:
        print(table.to_csv(index=False), end="")
    else:
        print(header)
        print(table.to_string(index=False))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from gsepconv.experiments.profiles import PROFILES, get_profile
    from gsepconv.experiments.registry import EXPERIMENTS

    if getattr(args, "profile", None) is not None:
        print(get_profile(args.profile).describe())
        return 0
    print("experiments:")
    for e in EXPERIMENTS.values():
        print(f"  {e.name:<10} [{', '.join(e.profiles)}]  {e.description}")
    print("profiles:")
    for p in PROFILES.values():
        print(f"  {p.name:<10} {p.description}")
    return 0
