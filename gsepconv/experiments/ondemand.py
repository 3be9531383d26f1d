"""Results on demand: what a notebook's ``train`` parameter means.

``train="auto"``
    Use ``results/<profile>/<experiment>.csv`` when it holds every run the profile plans (run ids
    include a hash of the configuration, so a changed profile counts as missing); train only the
    missing runs and keep the rest.
``train="always"``
    Run the whole grid now (finished runs in the runs folder are reused, so an interrupted
    reproduction resumes; use a fresh runs folder to retrain from scratch).
``train="never"``
    Never train: a missing table or run is a :class:`MissingResults` error saying what to run.

Training is never a surprise: before ``"auto"`` or ``"always"`` trains or measures anything, the
chapter prints what is missing; on a notebook front end (Colab, Jupyter, papermill) also a rough
estimate of its cost, and with ``"auto"`` work estimated above :func:`max_train_minutes` (5
minutes unless ``$GSEPCONV_MAX_TRAIN_MINUTES`` says otherwise) or not estimated at all is not
started: a :class:`TrainingNotStarted` says what it would cost and how to ask for it
(``train="always"``).

The report (:func:`gsepconv.report.ensure_inputs`), the analyses and the notebooks (through
:mod:`gsepconv.companion`) all produce their tables through :func:`ensure_results` and
:func:`ensure_csv`, so this module sits below them, beside the runner it calls.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import torch

from gsepconv.errors import GsepconvError
from gsepconv.experiments.folders import repo_root, results_dir
from gsepconv.experiments.planning import default_devices, estimated_cost
from gsepconv.experiments.registry import get_runs
from gsepconv.experiments.results import read_results, results_path
from gsepconv.experiments.runner import run_experiment

TRAIN_MODES = ("auto", "always", "never")
_DEVICE_CHOICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
#: Minutes of training or measuring that ``train="auto"`` starts unasked on a notebook front end
#: (``$GSEPCONV_MAX_TRAIN_MINUTES`` overrides; ``none`` or ``inf``: no limit).
ENV_MAX_TRAIN_MINUTES = "GSEPCONV_MAX_TRAIN_MINUTES"
NOTEBOOK_MAX_TRAIN_MINUTES = 5.0
#: Set by ``gsepconv reproduce --train always`` for the notebooks it runs: a time (``time.time()``)
#: since which tables count as produced by this reproduction, so a later chapter that needs the
#: same table (chapter 08 needs them all) reads it instead of producing it a second time.
FRESH_SINCE = "GSEPCONV_FRESH_SINCE"


def _produced_since_start(path: Path) -> bool:
    since = os.environ.get(FRESH_SINCE)
    if not since or not path.is_file():
        return False
    try:
        return path.stat().st_mtime >= float(since)
    except ValueError:
        raise ValueError(f"${FRESH_SINCE} must be a time in seconds (time.time()), got {since!r}") from None


class MissingResults(GsepconvError, RuntimeError):
    """Results a notebook needs are missing and ``train="never"`` forbids producing them."""


class TrainingNotStarted(MissingResults):
    """``train="auto"`` on a notebook front end would start work longer than
    :func:`max_train_minutes` (or of unknown length); nothing was started."""


def check_train_mode(train: str) -> str:
    """``train`` itself, or a ``ValueError`` listing the valid modes."""
    if train not in TRAIN_MODES:
        raise ValueError(f"unknown train mode {train!r}; choose one of {', '.join(TRAIN_MODES)}")
    return train


def check_device(device: str) -> str:
    """The device a chapter computes on: ``"auto"`` is ``"cuda"`` when torch sees a GPU (a Colab GPU
    runtime), else ``"cpu"``; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` as given. A ``ValueError`` names
    the valid choices, or says that no GPU is visible."""
    if not isinstance(device, str) or not _DEVICE_CHOICE.match(device):
        raise ValueError(f"unknown device {device!r}; choose one of auto, cpu, cuda, cuda:N")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but torch sees no GPU here; use device='auto' or 'cpu' "
            f"(on Colab: Runtime > Change runtime type > GPU)"
        )
    return device


def on_notebook_front_end() -> bool:
    """Whether this code runs in a Jupyter kernel (Colab, JupyterLab, papermill), not in a terminal."""
    if "ipykernel" not in sys.modules:
        return False
    # IPython and ipykernel come with the optional `docs` extra; ipykernel is loaded when this is a kernel
    from ipykernel.zmqshell import ZMQInteractiveShell
    from IPython import get_ipython

    return isinstance(get_ipython(), ZMQInteractiveShell)


def max_train_minutes(value: float | None = None) -> float:
    """The most minutes of work ``train="auto"`` starts unasked: ``value``, else
    ``$GSEPCONV_MAX_TRAIN_MINUTES`` (``none``/``inf``: no limit), else
    :data:`NOTEBOOK_MAX_TRAIN_MINUTES` on a notebook front end and no limit elsewhere (a command
    in a terminal, e.g. ``gsepconv reproduce``, which shows its own progress)."""
    if value is not None:
        return float(value)
    text = os.environ.get(ENV_MAX_TRAIN_MINUTES, "").strip().lower()
    if text in ("none", "inf", "infinity"):
        return math.inf
    if text:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"${ENV_MAX_TRAIN_MINUTES} must be a number of minutes or 'none', got {text!r}") from None
    return NOTEBOOK_MAX_TRAIN_MINUTES if on_notebook_front_end() else math.inf


def training_minutes(configs: Sequence, devices: Sequence[str] | None) -> float:
    """A rough wall-clock estimate, in minutes, of training ``configs`` on ``devices`` (runs spread
    over the workers): ``estimated_cost`` summed. It is computed
    from multiply–adds at one CPU thread's nominal speed, so real times differ several-fold (and a
    GPU is usually much faster); it says whether a chapter would take minutes or hours."""
    workers = max(1, len(devices)) if devices else 1
    return sum(estimated_cost(c) for c in configs) / workers / 60


def _cost_text(minutes: float | None, on_gpu: bool = False) -> str:
    if minutes is None:
        return "has no estimate"
    text = f"would take about {minutes:.0f} min" if minutes >= 1 else "would take under a minute"
    return (
        text
        + " (a rough estimate"
        + (" for one CPU thread per worker; a GPU is usually much faster)" if on_gpu else " from multiply–adds)")
    )


def announce_work(
    what: str,
    minutes: Callable[[], float] | None,
    train: str,
    command: str,
    limit: float | None = None,
    on_gpu: bool = False,
    log: Callable[[str], None] | None = None,
) -> None:
    """Say what is about to be produced before anything starts. Where a time limit applies
    (:func:`max_train_minutes` ``(limit)`` finite: a notebook front end) ``minutes()`` estimates
    its cost, which is printed, and with ``train="auto"`` work above the limit, or of unknown
    cost (``minutes`` ``None``), is refused (:class:`TrainingNotStarted`). Without a limit (a
    terminal, ``gsepconv reproduce``) the estimate, which builds every model once, is skipped.
    ``command``: the shell command that produces it (quoted in the messages)."""
    log = log or print
    allowed = max_train_minutes(limit)
    if not math.isfinite(allowed):
        log(
            f"{what}. Producing it now with train='{train}' (no time limit applies here, so its cost is not "
            f"estimated; ${ENV_MAX_TRAIN_MINUTES} sets one). To stop, interrupt it (finished runs are kept, an "
            f"interrupted one resumes); the shell command is `{command}`"
        )
        return
    estimate = minutes() if minutes is not None else None
    cost = _cost_text(estimate, on_gpu)
    if train == "auto" and (estimate is None or estimate > allowed):
        raise TrainingNotStarted(
            f"{what}. Producing it here {cost}: more than this notebook starts unasked "
            f"(max_train_minutes={allowed:g}), so nothing was started. To produce it, set train='always' in the "
            f"parameters cell (or allow more time: %env {ENV_MAX_TRAIN_MINUTES}=60), or run `{command}`; to see "
            f"the committed results instead, run the chapter in a clone of the repository, or where "
            f"gsepconv.companion.committed_results can fetch them"
        )
    log(
        f"{what}. Producing it now with train='{train}': it {cost}. To stop, interrupt the kernel (finished "
        f"runs are kept, an interrupted one resumes); train='never' never trains; the shell command is `{command}`"
    )


def ensure_results(
    experiment: str,
    profile: str,
    train: str = "auto",
    *,
    device: str | None = None,
    results: str | Path | None = None,
    runs: str | Path | None = None,
    threads: int | None = None,
    max_train_minutes: float | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """The results table of ``experiment`` under ``profile`` (one row per planned run, in plan
    order), training what ``train`` allows. ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:0"`` …
    (default: each run's own, ``auto``). Before training, the runs and their estimated time are
    printed (:func:`announce_work`; ``max_train_minutes`` is its limit for ``train="auto"``)."""
    check_train_mode(train)
    # folders of the repository (not of the working directory, e.g. notebooks/), unless given or
    # set by $GSEPCONV_RESULTS / $GSEPCONV_RUNS
    results = results if results is not None else results_dir(profile).parent
    if runs is None:
        runs = os.environ.get("GSEPCONV_RUNS") or repo_root() / "runs"
    plan = get_runs(experiment, profile)
    wanted = [c.run_id() for c in plan]
    path = results_path(experiment, profile, results)
    existing = read_results(path) if path.is_file() else None
    have = set(existing["run_id"]) if existing is not None else set()
    missing = [c for c in plan if c.run_id() not in have]
    if train == "never" and missing:
        names = ", ".join(c.run_id() for c in missing[:4]) + (" …" if len(missing) > 4 else "")
        raise MissingResults(
            f"{path} lacks {len(missing)} of the {len(plan)} runs that profile {profile!r} plans for "
            f"{experiment!r} ({names}); run `gsepconv run {experiment} --profile {profile}` or execute "
            f"the notebook with train='auto'"
        )
    if train == "always" or missing:
        todo = plan if train == "always" else missing
        devices = default_devices(profile, device, threads)
        announce_work(
            f"{path} lacks {len(missing)} of the {len(plan)} runs profile {profile!r} plans for {experiment!r}"
            if train == "auto"
            else f"train='always': all {len(plan)} runs of {experiment!r} ({profile})",
            lambda: training_minutes(todo, devices),
            train,
            f"gsepconv run {experiment} --profile {profile}",
            max_train_minutes,
            on_gpu=bool(device and device.startswith("cuda")),
            log=log,
        )
        run_experiment(
            experiment,
            profile,
            configs=todo,
            devices=devices,
            results=results,
            runs=runs,
            threads=threads,
            keep_rows=None if train == "always" else existing,
            log=log,
        )
        existing = read_results(path)
    frame = existing.set_index("run_id").loc[wanted].reset_index()
    return frame[[c for c in existing.columns]]


def ensure_csv(
    path: str | Path,
    train: str,
    produce: Callable[[], object],
    command: str,
    is_current: Callable[[pd.DataFrame], bool] | None = None,
    *,
    minutes: Callable[[], float] | None = None,
    max_train_minutes: float | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """A table that is not a training grid (benchmark, equivariance report, redundancy …):
    ``produce()`` writes ``path``; it is called when ``train="always"``, or when ``train="auto"``
    and the file is missing (or ``is_current(table)`` is false). ``command`` is the shell command
    that produces it, quoted in the :class:`MissingResults` message for ``train="never"``.
    Under ``train="always"`` a table already produced in the running reproduction
    (:data:`FRESH_SINCE`) is read, not produced again. ``minutes()``: the estimated time of
    ``produce()``, announced first (:func:`announce_work`; unknown when not given)."""
    check_train_mode(train)
    path = Path(path)
    table = pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None
    stale = table is None or (is_current is not None and not is_current(table))
    if train == "never" and stale:
        raise MissingResults(
            f"{path} is {'missing' if table is None else 'out of date'}; run `{command}` "
            f"or execute the notebook with train='auto'"
        )
    if (train == "always" and not _produced_since_start(path)) or stale:
        state = "missing" if table is None else "out of date" if stale else "to be remade (train='always')"
        announce_work(f"{path} is {state}", minutes, train, command, max_train_minutes, log=log)
        produce()
        if not path.is_file():
            raise RuntimeError(f"`{command}` did not write {path}")
        table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert table is not None
    return table
