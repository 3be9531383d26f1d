"""What, besides a claim, could explain the numbers a check of :mod:`gsepconv.report.claims`
reads: short training, a training subset, stand-in data, how cost was measured, equal-time
budgets, how many seeds.

Each is read from the same results tables as the evidence and from the profile's plan
(:func:`gsepconv.experiments.registry.get_runs`), and comes back as short phrases the checks
join into their ``confounders``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from gsepconv.experiments.config import RunConfig
from gsepconv.experiments.profiles import PROFILES, get_profile
from gsepconv.experiments.registry import get_runs
from gsepconv.report.comparisons import Comparison
from gsepconv.report.summaries import is_budget

__all__ = ["training_length", "training_confounders", "budget_confounders", "seed_confounders"]


def distinct_values(frame: pd.DataFrame, column: str) -> list[str]:
    """Distinct non-empty values of ``column`` as text, in order of appearance."""
    if column not in frame.columns:
        return []
    return list(dict.fromkeys(str(v) for v in frame[column].dropna() if str(v) != ""))


def _planned(experiment: str, profile: str, run_ids: Iterable[str]) -> list[RunConfig]:
    """The configurations the profile's plan gives these runs (those it still plans: run ids hash
    the configuration, so a run from older code is not found)."""
    try:
        plan = {c.run_id(): c for c in get_runs(experiment, profile)}
    except ValueError:  # an experiment or profile the registry does not know
        return []
    return [plan[r] for r in dict.fromkeys(str(r) for r in run_ids) if r in plan]


def training_length(experiment: str, profile: str, run_ids: Iterable[str], fallback: str) -> str:
    """``"mnist_rot: 4 epochs of 4,000 mnist_rot_seeded training images (≈252 steps of 64)"``."""
    configs = _planned(experiment, profile, run_ids)
    if not configs:
        return f"{experiment}: {fallback} (not in the {profile!r} plan, so the training set size is not known)"
    texts = []
    for epochs, subset, batch, data in dict.fromkeys(
        (c.epochs, c.data.train_subset, c.batch_size, c.data.name) for c in configs
    ):
        if subset is None:
            texts.append(f"{epochs} epochs of the whole {data} training split")
        else:
            texts.append(
                f"{epochs} epochs of {subset:,} {data} training images "
                f"(≈{epochs * math.ceil(subset / batch)} steps of {batch})"
            )
    return f"{experiment}: " + ", ".join(texts)


def _profile_of(results: Mapping[str, pd.DataFrame]) -> str:
    found = sorted({p for frame in results.values() for p in distinct_values(frame, "profile")})
    return found[0] if len(found) == 1 else ""


def training_confounders(results: Mapping[str, pd.DataFrame], used: Sequence[str], cost: bool = True) -> list[str]:
    """Training length of the fixed-epoch experiments in ``used`` against the paper's, the data
    stand-ins, and (``cost``) how cost was measured."""
    profile = _profile_of({n: results[n] for n in used})
    parts = []
    fixed = [n for n in used if not is_budget(results[n])]
    if fixed:
        lengths = "; ".join(
            training_length(
                n, profile, results[n].get("run_id", []), "epochs " + "/".join(distinct_values(results[n], "epochs"))
            )
            for n in fixed
        )
        paper_epochs = get_profile("paper").mnist.epochs
        parts.append(
            f"training length — {lengths}"
            + ("" if profile == "paper" else f"; the paper trains {paper_epochs} epochs on the full training sets")
        )
    stand_ins = sorted(
        {
            f"{d} for {s}"
            for n in used
            for d, s in zip(results[n].get("dataset", []), results[n].get("stand_in_for", []))
            if isinstance(s, str) and s and s != d
        }
    )
    if stand_ins:
        parts.append("stand-in data: " + ", ".join(stand_ins))
    devices = sorted({d for n in used for d in distinct_values(results[n], "device")})
    if devices and cost:
        sharing = ""
        if profile in PROFILES and any(d.startswith("cpu") for d in devices):
            workers = get_profile(profile).training.cpu_workers
            sharing = f", {workers} runs at a time sharing its cores" if workers > 1 else ""
        parts.append(f"cost = time per epoch on {'/'.join(devices)}, one machine{sharing}")
    return parts


def budget_confounders(comparisons: Sequence[Comparison]) -> list[str]:
    """Equal-time comparisons: the budget and the epochs each model finished."""
    parts = []
    for c in comparisons:
        if math.isnan(c.extra.get("budget_s", float("nan"))):
            continue
        finished = []
        for model, epochs in ((c.a, str(c.extra.get("epochs_a", "?"))), (c.b, str(c.extra.get("epochs_b", "?")))):
            first = {"0": ", not one epoch", "1": ", no more than its first epoch"}.get(epochs.split("–")[0], "")
            finished.append(f"{epochs} ({model}{first})")
        parts.append(
            f"{c.extra.get('experiment', '')}: {c.extra['budget_s']:g} s of training per run, epochs "
            f"finished {' vs '.join(finished)}"
        )
    return parts


def seed_confounders(comparisons: Sequence[Comparison]) -> list[str]:
    """The experiments whose comparisons rest on one seed, so stay undetermined."""
    single = list(dict.fromkeys(c.extra.get("experiment", "") for c in comparisons if c.accuracy_verdict == "one seed"))
    return [f"one seed, so undetermined: {', '.join(single)}"] if single else []
