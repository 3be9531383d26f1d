# ---
# jupyter:
#   accelerator: GPU
#   jupytext:
#     notebook_metadata_filter: accelerator
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["remove-cell"]
# Colab: install gsepconv (keeps Colab's own torch)
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("gsepconv") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "gsepconv @ git+https://github.com/gsepconv/gsepconv@main"])

# %% [markdown]
# # 6. Natural images
#
# Rotated MNIST is built to need rotation equivariance. Natural images are not: a photograph has an
# upright orientation, and objects appear at many scales. The paper {cite:p}`knigge2022exploiting`
# also trains G-CNNs on CIFAR-10, CIFAR-100 and Galaxy10 (galaxy images, where orientation carries
# no meaning) and reports that equivariance to rotations and, with Sim(2), to scale helps there too.
#
# The CIFAR models are All-CNN-C-style networks {cite:p}`springenberg2015striving` whose
# convolutions become lifting and group convolutions; the Z2 CNN control is the same network with
# ordinary convolutions, trained the same way.

# %% tags=["parameters"]
profile = "quick"  # "smoke" (seconds, numbers mean nothing) | "quick" (2 CPU cores) | "paper" (GPUs)
device = "cpu"  # where missing runs train: "auto" (CUDA when present), "cpu", "cuda", "cuda:0", ...
train = "auto"  # "auto": reuse results/<profile>/, train what is missing | "always" | "never"

# %%
from dataclasses import replace

import pandas as pd
from IPython.display import Markdown, display

from gsepconv import report
from gsepconv.companion import (
    MissingResults,
    check_device,
    check_train_mode,
    committed_results,
    ensure_results,
    save_figure,
    set_style,
)
from gsepconv.experiments import EXPERIMENTS, PROFILES, get_runs
from gsepconv.report import figures as draw

check_train_mode(train)
set_style()
device = check_device(device)  # "auto": CUDA when present
BASE = committed_results(profile, train)  # the folder holding results/<profile>/ (fetched where no clone is)
THREADS = 1 if profile == "smoke" else None  # tiny smoke models are overhead-bound: one thread is fastest

# %% [markdown]
# ## What this profile runs
#
# *Question: which of the paper's natural-image experiments does this profile define, on which
# data?* The registry says, and says why where it does not.

# %%
rows = []
for name in report.NATURAL_IMAGES:
    experiment = EXPERIMENTS[name]
    if profile in experiment.profiles:
        run = get_runs(name, profile)[0]
        data = run.data.name + (f" (stand-in for {run.data.stand_in_for})" if run.data.stand_in_for else "")
        rows.append({"experiment": name, "defined": "yes", "trains on": data,
                     "train images": run.data.train_subset or "all", "epochs": run.epochs,
                     "runs": len(get_runs(name, profile))})
    else:
        rows.append({"experiment": name, "defined": "no", "trains on": experiment.missing_profile_reason})
pd.set_option("display.max_colwidth", 200)
pd.DataFrame(rows).fillna("")

# %% [markdown]
# This chapter trains CIFAR-10 under every profile. CIFAR-100 and Galaxy10 are trained only under
# `paper`, where they are the real datasets: `quick` does not define them (the reason is in the
# table), and in `smoke` they are labelled stand-ins trained on the same CIFAR-10 subset, which
# would repeat the CIFAR-10 pipeline check; their results are shown here when they already exist.

# %%
assert set(PROFILES) <= set(EXPERIMENTS["cifar10"].profiles), "CIFAR-10 should be defined for every profile"
smoke_cifar10 = get_runs("cifar10", "smoke")[0].data
for name in ("cifar100", "galaxy10"):
    experiment = EXPERIMENTS[name]
    assert "quick" not in experiment.profiles and experiment.missing_profile_reason, f"quick should not define {name}, and say why"
    real = get_runs(name, "paper")[0].data
    assert real.name == name and real.stand_in_for is None, f"under paper, {name} should train on the real dataset"
    stand_in = get_runs(name, "smoke")[0].data
    assert stand_in.stand_in_for == name and replace(stand_in, stand_in_for=None) == replace(smoke_cifar10, stand_in_for=None), \
        f"under smoke, {name} should be a labelled stand-in trained on the same CIFAR-10 subset as cifar10"

# %% tags=["hide-output"]
modes = {name: (train if name == "cifar10" or profile == "paper" else "never") for name in report.NATURAL_IMAGES}
results: dict[str, pd.DataFrame] = {}
not_run: dict[str, str] = {}
for name, mode in modes.items():
    if profile not in EXPERIMENTS[name].profiles:
        not_run[name] = f"not defined for profile {profile!r}"
        continue
    try:
        results[name] = ensure_results(name, profile, mode, device=device, results=BASE, threads=THREADS)
    except MissingResults:
        not_run[name] = f"not trained by this chapter under {profile!r} (run `gsepconv run {name} --profile {profile}`)"

# %% [markdown]
# ## Accuracy and cost
#
# *Question: do the G-CNNs beat the plain CNN on natural images, and what do they cost?* One table
# per experiment (mean ± std over seeds; the mean alone for one seed).

# %%
for name, frame in results.items():
    settings, table = report.experiment_table(frame)
    display(Markdown(f"**{name}** — {settings}"))
    display(table)
for name, reason in not_run.items():
    print(f"{name}: {reason}")

# %% [markdown]
# The same numbers as a figure: test accuracy (left) and time per training epoch (right, log
# scale), one row per experiment, the Z2 CNN control on top.

# %%
summaries = {name: report.experiment_summary(frame) for name, frame in results.items()}
fig = draw.natural_images(summaries)
save_figure(fig, "natural_images_accuracy", profile, root=BASE);

# %% [markdown]
# Computed from the tables: separable against non-separable SE(2), each G-CNN against the control,
# and Sim(2) against SE(2) where both were trained.

# %%
SE2 = {"group": "SE2"}
pairs = [
    ({**SE2, "implementation": "separable"}, {**SE2, "implementation": "nonseparable"}),
    ({**SE2, "implementation": "separable"}, {"group": "Z2"}),
    ({**SE2, "implementation": "nonseparable"}, {"group": "Z2"}),
    ({"group": "Sim2", "implementation": "separable2d"}, {**SE2, "implementation": "separable"}),
]
lines = [f"* {name}: {c.sentence()}" for name, summary in summaries.items() for a, b in pairs
         for c in report.compare_models(summary, a, b, runs=results[name])]
display(Markdown("\n".join(lines)))

# %% [markdown]
# What the figure shows: how each model does on this profile's data and training length, beside a
# plain CNN of the same architecture trained identically. What it does not show: accuracy at
# convergence (the CPU profiles train a few epochs on a subset), nor anything about CIFAR-100 or
# Galaxy10 unless they appear above. An upright dataset can reward a plain CNN, which is free to
# use orientation; whether equivariance helps on CIFAR is an empirical question that only the
# `paper` profile's full training settles.
