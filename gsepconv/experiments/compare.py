"""Fidelity: our models and the original code's, trained side by side under one identical loop.

``gsepconv compare --against PATH`` takes a profile's MNIST-rot runs of the headline models
(:data:`FIDELITY_MODELS`) and trains each twice per seed: once with our model, once with the
original implementation's ``CKGResNet`` of the same settings (widths, kernel size, group
elements, SIREN width, fixed grid, batch norm; :func:`gsepconv.experiments.against.original_model`)
from a checkout at ``PATH`` that the user cloned. Everything but the model constructor is the
same code: data subsets, batch order, optimiser, schedule, selection on the validation split and
one evaluation of the test split (:func:`gsepconv.experiments.train` with a
``model_builder``). So a difference between the two columns is a difference of the models —
initialisation, kernel nets, masks — and nothing else.

Runs live in ``<runs>/<profile>/fidelity/`` (ours) and ``<runs>/<profile>/fidelity-original/``
(resumable like every run); the table ``<results>/<profile>/fidelity.csv`` has one row per run
(``model``, ``code``, ``seed``, accuracies, provenance) and is rewritten atomically after the pool.
:func:`summarise_fidelity` pairs the two codes by seed (Student-t interval of the difference,
:mod:`gsepconv.experiments.stats`).

``--vary KEY=VALUE[,KEY=VALUE...]`` (repeatable) adds a third kind of row: our model with some of
its model settings changed (e.g. ``hidden_bias=uniform``, a convention of the kernel networks), in
``<runs>/<profile>/fidelity-<key>-<value>/`` and with ``code`` ``"ours hidden_bias=uniform"``.
:func:`summarise_variants` pairs each variant with ``ours`` by seed: which of our conventions
matter, measured on validation accuracy (the choice is made there, not on the test split).
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml
from torch import nn
from torch.utils.data import Dataset

from gsepconv.experiments.against import has_original, load_original, original_model
from gsepconv.experiments.config import RunConfig
from gsepconv.experiments.io import check_writable, runs_root
from gsepconv.experiments.planning import default_devices
from gsepconv.experiments.profiles import get_profile
from gsepconv.experiments.registry import get_runs
from gsepconv.experiments.results import ResultsError, read_table, results_path, write_results
from gsepconv.experiments.runner import RunFailed
from gsepconv.experiments.single_run import load_metrics, run_dir_for
from gsepconv.experiments.stats import mean_interval, paired_interval
from gsepconv.experiments.workers import train_runs

__all__ = [
    "FIDELITY_MODELS",
    "FIDELITY_COLUMNS",
    "OriginalBuilder",
    "Variant",
    "fidelity_plan",
    "run_compare",
    "summarise_fidelity",
    "summarise_variants",
    "fidelity_path",
    "register",
]

#: (group, implementation) of the models compared: SE(2) non-separable, separable and
#: depthwise-separable, R²⋊R⁺ separable, Sim(2) separable over rotations and scales.
FIDELITY_MODELS: tuple[tuple[str, str], ...] = (
    ("SE2", "nonseparable"),
    ("SE2", "separable"),
    ("SE2", "dseparable"),
    ("R2xRplus", "separable"),
    ("Sim2", "separable2d"),
)

CODES = ("ours", "original")
EXPERIMENT = {"ours": "fidelity", "original": "fidelity-original"}

FIDELITY_COLUMNS = (
    "model",
    "group",
    "implementation",
    "num_elements",
    "code",
    "seed",
    "val_acc",
    "test_acc",
    "final_train_loss",
    "params",
    "epochs",
    "train_time_s",
    "run_id",
    "profile",
    "dataset",
    "device",
    "torch_version",
    "gsepconv_version",
    "git_commit",
    "original_commit",
    "timestamp",
)


@dataclass(frozen=True)
class Variant:
    """Our model with some model settings changed: ``settings`` are ``(key, value)`` pairs of
    :attr:`gsepconv.experiments.config.ModelConfig.kernel_options` (passed to ``build_model``)."""

    settings: tuple[tuple[str, Any], ...]

    @classmethod
    def parse(cls, text: str) -> Variant:
        """``"hidden_bias=uniform,skip_hidden_ratio=1.0"``; values read as YAML scalars."""
        settings = []
        for item in filter(None, (t.strip() for t in text.split(","))):
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ValueError(
                    f"--vary expects KEY=VALUE items separated by commas, e.g. hidden_bias=uniform; got {item!r}"
                )
            parsed = yaml.safe_load(value.strip())
            if not isinstance(parsed, (str, int, float, bool)):
                raise ValueError(f"--vary {key.strip()}: {value!r} is not a single value")
            settings.append((key.strip(), parsed))
        if not settings:
            raise ValueError("--vary is empty; give KEY=VALUE, e.g. hidden_bias=uniform")
        if len({k for k, _ in settings}) != len(settings):
            raise ValueError(f"--vary {text!r} sets a key twice")
        return cls(tuple(settings))

    @property
    def code(self) -> str:
        """The ``code`` column: ``"ours hidden_bias=uniform"``."""
        return "ours " + ",".join(f"{k}={v}" for k, v in self.settings)

    @property
    def experiment(self) -> str:
        """The runs' experiment folder: ``"fidelity-hidden_bias-uniform"``."""
        return "fidelity-" + "-".join(f"{k}-{v}" for k, v in self.settings)

    def apply(self, config: RunConfig) -> RunConfig:
        """``config`` with the settings in its model's ``kernel_options``."""
        options = {**config.model.kernel_options, **dict(self.settings)}
        return config.replace(
            model=dataclasses.replace(config.model, kernel_options=options), experiment=self.experiment
        )


def model_label(group: str, implementation: str) -> str:
    """``"SE2 separable"``: the ``model`` column."""
    return f"{group} {implementation}"


@dataclass(frozen=True)
class OriginalBuilder:
    """Model builder (``gsepconv.experiments.setup.ModelBuilder``) giving the original
    code's ``CKGResNet`` for a run: picklable, so that worker processes can build it."""

    path: str

    def __call__(
        self, config: RunConfig, datasets: dict[str, Dataset], device: torch.device
    ) -> tuple[nn.Module, dict[str, Any]]:
        m = config.model
        x = datasets["train"][0][0]
        options = dict(m.kernel_options)
        kwargs = dict(
            widths=tuple(m.widths),
            kernel_size=m.kernel_size,
            hidden_features=int(options.get("hidden_features", 64)),
            image_size=int(x.shape[-1]),
            in_channels=int(x.shape[0]),
        )
        if m.max_scale is not None:
            kwargs["max_scale"] = m.max_scale
        model = original_model(
            load_original(self.path), m.group, m.implementation, m.num_elements, device=device, **kwargs
        )
        return model, {
            "code": "original",
            "group": m.group,
            "implementation": m.implementation,
            "num_elements": m.num_elements,
            **kwargs,
        }


def fidelity_path(profile: str, results: str | Path | None = None) -> Path:
    """``<results>/<profile>/fidelity.csv``."""
    return results_path("fidelity", profile, results)


def fidelity_plan(
    profile: str,
    models: Sequence[tuple[str, str]] = FIDELITY_MODELS,
    seeds: Sequence[int] | None = None,
    variants: Sequence[Variant] = (),
) -> list[tuple[str, RunConfig]]:
    """``(code, config)`` for every model × seed × code: the profile's ``mnist_rot`` run of the
    model with the seed replaced (default seeds: the profile's), then each of ``variants`` of it.
    ``ValueError`` for a model the profile's grid or the original code lacks, or a variant whose
    settings do not build a model."""
    grid = {(c.model.group, c.model.implementation): c for c in get_runs("mnist_rot", profile)}
    seeds = tuple(seeds) if seeds is not None else get_profile(profile).training.seeds
    plan: list[tuple[str, RunConfig]] = []
    for group, impl in models:
        if (group, impl) not in grid:
            have = ", ".join(model_label(*k) for k in grid if k[0] != "Z2")
            raise ValueError(
                f"the {profile} profile's mnist_rot grid has no {model_label(group, impl)}; choose from {have}"
            )
        if not has_original(group, impl):
            raise ValueError(f"the original implementation has no {model_label(group, impl)} model to compare against")
        for seed in seeds:
            for code in CODES:
                plan.append((code, grid[(group, impl)].replace(seed=seed, experiment=EXPERIMENT[code])))
            for variant in variants:
                plan.append((variant.code, variant.apply(grid[(group, impl)].replace(seed=seed))))
    for code, config in plan:
        if code not in CODES:
            try:
                config.check_model()
            except ValueError as err:
                raise ValueError(f"--vary {code[len('ours ') :]}: {err}") from None
    return plan


def _checkout_commit(path: str | Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        return out or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _row(code: str, metrics: dict[str, Any], original_commit: str) -> dict[str, Any]:
    history = metrics.get("history") or [{}]
    return {
        "model": model_label(metrics["group"], metrics["implementation"]),
        "group": metrics["group"],
        "implementation": metrics["implementation"],
        "num_elements": metrics["num_elements"],
        "code": code,
        "seed": metrics["seed"],
        "val_acc": metrics["val_acc"],
        "test_acc": metrics["test_acc"],
        "final_train_loss": history[-1].get("train_loss", float("nan")),
        "params": metrics["params"],
        "epochs": metrics["epochs"],
        "train_time_s": metrics["train_time_s"],
        "run_id": metrics["run_id"],
        "profile": metrics["profile"],
        "dataset": metrics["dataset"],
        "device": metrics["device"],
        "torch_version": metrics["torch_version"],
        "gsepconv_version": metrics["gsepconv_version"],
        "git_commit": metrics["git_commit"],
        "original_commit": original_commit,
        "timestamp": metrics["timestamp"],
    }


def run_compare(
    against: str | Path,
    profile: str = "quick",
    *,
    models: Sequence[tuple[str, str]] = FIDELITY_MODELS,
    seeds: Sequence[int] | None = None,
    runs: str | Path | None = None,
    out: str | Path | None = None,
    device: str | None = "cpu",
    force: bool = False,
    dry_run: bool = False,
    variants: Sequence[Variant] = (),
) -> pd.DataFrame:
    """Train (or reuse) every run of :func:`fidelity_plan` (``variants`` included) and write the fidelity table to ``out``
    (default :func:`fidelity_path`); returns it. Rows of an existing table whose runs are not in
    this plan (other models or seeds) are kept, so the table grows model by model. With
    ``dry_run`` nothing trains and nothing is written: the frame lists the plan and each run's
    status."""  # noqa: E501 (a docstring line, not rewrapped: Sphinx renders it)
    original = load_original(against)  # fails before any training, saying how to get a checkout
    plan = fidelity_plan(profile, models, seeds, variants)
    root = runs_root(runs)
    path = Path(out) if out is not None else fidelity_path(profile)
    if dry_run:
        return pd.DataFrame(
            [
                {
                    "model": model_label(c.model.group, c.model.implementation),
                    "code": code,
                    "seed": c.seed,
                    "status": "finished" if load_metrics(run_dir_for(c, root)) else "to train",
                    "folder": str(run_dir_for(c, root)),
                }
                for code, c in plan
            ]
        )
    check_writable(path.parent, "the fidelity table", "--out")
    builders = [OriginalBuilder(str(original.path)) if code == "original" else None for code, _ in plan]
    devices = default_devices(profile, device) or [device or "auto"]
    configs = [c.replace(device=devices[0]) if len(devices) == 1 else c for _, c in plan]
    metrics, errors = train_runs(configs, devices, root, force=force, builders=builders)
    commit = _checkout_commit(original.path)
    rows = [_row(plan[i][0], metrics[i], commit) for i in sorted(metrics)]
    frame = pd.DataFrame(rows, columns=list(FIDELITY_COLUMNS))
    if path.is_file():  # keep the rows of runs this plan does not cover
        old = read_table(path)
        missing = [c for c in FIDELITY_COLUMNS if c not in old.columns]
        if missing:
            raise ResultsError(
                f"{path} lacks the column(s) {', '.join(missing)} of a fidelity table; delete it "
                f"(its runs are kept and reused) and run the command again"
            )
        keep = ~old["run_id"].astype(str).add("/" + old["code"].astype(str)).isin(
            frame["run_id"].astype(str) + "/" + frame["code"].astype(str)
        )
        frame = pd.concat([old[keep], frame], ignore_index=True)
    frame = frame.sort_values(["model", "code", "seed"], kind="stable").reset_index(drop=True)
    write_results(frame, path)
    if errors:
        failed = "; ".join(f"{plan[i][0]} {plan[i][1].run_id()}: {e.splitlines()[0]}" for i, e in errors.items())
        raise RunFailed(
            f"{len(errors)} of {len(plan)} fidelity runs failed ({failed}); the table at {path} "
            f"holds the {len(metrics)} that finished — run the command again to resume the rest"
        )
    return frame


def summarise_fidelity(frame: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Per model: each code's mean ± sd over seeds and the paired difference ours − original
    (mean and 95 % Student-t interval over the seeds both codes have)."""
    rows = []
    for model, part in frame.groupby("model", sort=False):
        by_code = {code: part[part["code"] == code].set_index("seed")[metric] for code in CODES}
        seeds = sorted(set(by_code["ours"].index) & set(by_code["original"].index))
        row: dict[str, Any] = {"model": model, "seeds": len(seeds)}
        for code in CODES:
            iv = mean_interval(by_code[code].loc[seeds]) if seeds else None
            row[f"{code}_mean"] = iv.mean if iv else float("nan")
            row[f"{code}_sd"] = iv.sd if iv else float("nan")
        diff = paired_interval(by_code["ours"].loc[seeds], by_code["original"].loc[seeds]) if seeds else None
        row.update(
            diff_mean=diff.mean if diff else float("nan"),
            diff_low=diff.low if diff else float("nan"),
            diff_high=diff.high if diff else float("nan"),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def summarise_variants(frame: pd.DataFrame, metric: str = "val_acc") -> pd.DataFrame:
    """Per model and variant (every ``code`` other than ``ours`` and ``original``): the paired
    difference variant − ours of ``metric`` over the seeds both have (mean and 95 % Student-t
    interval), and the mean of each. Validation accuracy by default: conventions are chosen there."""
    rows = []
    for model, part in frame.groupby("model", sort=False):
        ours = part[part["code"] == "ours"].set_index("seed")[metric]
        for code in [c for c in dict.fromkeys(part["code"]) if c not in CODES]:
            other = part[part["code"] == code].set_index("seed")[metric]
            seeds = sorted(set(ours.index) & set(other.index))
            if not seeds:
                continue
            diff = paired_interval(other.loc[seeds], ours.loc[seeds])
            rows.append(
                {
                    "model": model,
                    "variant": code[len("ours ") :],
                    "seeds": len(seeds),
                    "ours_mean": float(ours.loc[seeds].mean()),
                    "variant_mean": float(other.loc[seeds].mean()),
                    "diff_mean": diff.mean,
                    "diff_low": diff.low,
                    "diff_high": diff.high,
                }
            )
    return pd.DataFrame(
        rows, columns=["model", "variant", "seeds", "ours_mean", "variant_mean", "diff_mean", "diff_low", "diff_high"]
    )


def format_variants(summary: pd.DataFrame, metric: str = "val_acc") -> str:
    """:func:`summarise_variants` as aligned text (what ``gsepconv compare --vary`` prints)."""
    lines = [
        f"{'model':<22} {'variant':<40} {'seeds':>5} {'ours':>7} {'variant':>7}  variant - ours "
        f"({metric}) [95% t-interval]"
    ]
    for r in summary.itertuples(index=False):
        diff = (
            f"{r.diff_mean:+.2f} [{r.diff_low:+.2f}, {r.diff_high:+.2f}]"
            if r.seeds >= 2
            else f"{r.diff_mean:+.2f} (one seed: no interval)"
        )
        lines.append(f"{r.model:<22} {r.variant:<40} {r.seeds:>5} {r.ours_mean:>7.2f} {r.variant_mean:>7.2f}  {diff}")
    return "\n".join(lines)


def format_fidelity(summary: pd.DataFrame) -> str:
    """The summary as aligned text (what ``gsepconv compare`` prints)."""
    lines = [f"{'model':<22} {'seeds':>5} {'ours %':>14} {'original %':>14}  ours - original [95% t-interval]"]
    for r in summary.itertuples(index=False):
        diff = (
            f"{r.diff_mean:+.2f} [{r.diff_low:+.2f}, {r.diff_high:+.2f}]"
            if r.seeds >= 2
            else f"{r.diff_mean:+.2f} (one seed: no interval)"
        )
        lines.append(
            f"{r.model:<22} {r.seeds:>5} {r.ours_mean:>7.2f} ± {r.ours_sd:<4.2f} "
            f"{r.original_mean:>7.2f} ± {r.original_sd:<4.2f}  {diff}"
        )
    return "\n".join(lines)


def _parse_models(text: str) -> list[tuple[str, str]]:
    models = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        group, _, impl = item.partition(":")
        if not impl:
            raise argparse.ArgumentTypeError(
                f"--models expects GROUP:IMPLEMENTATION items, e.g. SE2:separable; got {item!r}"
            )
        models.append((group, impl))
    if not models:
        raise argparse.ArgumentTypeError("--models is empty")
    return models


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds expects integers separated by commas, e.g. 0,1,2; got {text!r}"
        ) from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds expects distinct integers >= 0, got {text!r}")
    return seeds


def _parse_variant(text: str) -> Variant:
    try:
        return Variant.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gsepconv compare``."""
    default_models = ",".join(f"{g}:{i}" for g, i in FIDELITY_MODELS)
    p = subparsers.add_parser(
        "compare",
        help="train our models and the original code's side by side under one identical loop (fidelity.csv)",
        description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog="examples:\n  gsepconv compare --against ../separable-group-convolutional-networks --dry-run\n"
        "  gsepconv compare --against ../separable-group-convolutional-networks --models SE2:separable "
        "--seeds 0,1,2,3,4\n"
        "  gsepconv compare --against ../separable-group-convolutional-networks --models SE2:separable "
        "--seeds 0,1,2,3,4 --vary hidden_bias=uniform --vary skip_hidden_ratio=1.0 --dry-run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--against",
        metavar="PATH",
        required=True,
        help="a checkout of the original implementation (git clone "
        "https://github.com/david-knigge/separable-group-convolutional-networks)",
    )
    p.add_argument(
        "--profile", default="quick", choices=["smoke", "quick", "paper"], help="the runs' settings (default quick)"
    )
    p.add_argument(
        "--models", type=_parse_models, default=None, help=f"GROUP:IMPLEMENTATION,... (default {default_models})"
    )
    p.add_argument("--seeds", type=_parse_seeds, default=None, help="seeds, e.g. 0,1,2,3,4 (default: the profile's)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu: the profile's CPU workers)")
    p.add_argument("--runs", default=None, help="run folders root (default $GSEPCONV_RUNS or ./runs)")
    p.add_argument("--out", default=None, help="CSV path (default <results>/<profile>/fidelity.csv)")
    p.add_argument(
        "--vary",
        type=_parse_variant,
        action="append",
        default=[],
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="also train our model with these model settings changed (repeatable), e.g. "
        "hidden_bias=uniform; printed as the paired difference to ours on validation accuracy",
    )
    p.add_argument("--force", action="store_true", help="retrain finished runs")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their status; train nothing")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    frame = run_compare(
        args.against,
        args.profile,
        models=args.models or FIDELITY_MODELS,
        seeds=args.seeds,
        runs=args.runs,
        out=args.out,
        device=args.device,
        force=args.force,
        dry_run=args.dry_run,
        variants=args.vary,
    )
    if args.dry_run:
        print(frame.to_string(index=False))
        print(f"{len(frame)} runs, {int((frame['status'] != 'finished').sum())} to train; drop --dry-run to train them")
        return 0
    print(format_fidelity(summarise_fidelity(frame)))
    if args.vary:
        print(format_variants(summarise_variants(frame)))
    print(f"written to {args.out or fidelity_path(args.profile)}")
    return 0
