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
# # 5. Rotated MNIST
#
# The paper's central experimental claim {cite:p}`knigge2022exploiting` is about cost and accuracy
# together: separable G-CNNs match or beat non-separable ones while using a fraction of their
# training time. Rotated MNIST {cite:p}`larochelle2007empirical` — handwritten digits at random
# angles — is where it is easiest to test, because rotation equivariance is exactly what the task
# needs.
#
# This chapter trains the experiment grid of a profile (or reuses its committed results), then
# asks three questions: how accurate is each model for its size, how accurate for its training
# time, and how does validation accuracy grow with wall-clock time during training. A plain CNN
# (`Z2 CNN`, the same ResNet with ordinary convolutions) is trained the same way and is always shown
# beside the G-CNNs as the control.

# %% tags=["parameters"]
profile = "quick"  # "smoke" (seconds, numbers mean nothing) | "quick" (2 CPU cores) | "paper" (GPUs)
device = "cpu"  # where missing runs train: "auto" (CUDA when present), "cpu", "cuda", "cuda:0", ...
train = "auto"  # "auto": reuse results/<profile>/, train what is missing | "always" | "never"

# %%
import pandas as pd
from IPython.display import Markdown, display

from gsepconv import report
from gsepconv.companion import check_device, check_train_mode, committed_results, ensure_results, save_figure, set_style
from gsepconv.experiments import get_runs
from gsepconv.experiments.results import history_path
from gsepconv.report import figures as draw

check_train_mode(train)
set_style()
device = check_device(device)  # "auto": CUDA when present
BASE = committed_results(profile, train)  # the folder holding results/<profile>/ (fetched where no clone is)
THREADS = 1 if profile == "smoke" else None  # tiny smoke models are overhead-bound: one thread is fastest

# %% [markdown]
# ## The grid
#
# `get_runs("mnist_rot", profile)` lists the runs the profile plans: one per model and seed, all
# with the same data, optimiser, schedule and number of epochs.

# %%
planned = get_runs("mnist_rot", profile)
shared = {(repr(c.data), repr(c.optim), c.epochs, c.batch_size) for c in planned}
assert len(shared) == 1, f"every planned run should share data, optimiser, schedule and epochs; found {len(shared)} settings"
plan = pd.DataFrame([{
    "model": report.model_label(c.model.group, c.model.implementation, c.model.num_elements),
    "widths": ",".join(map(str, c.model.widths)), "kernel_size": c.model.kernel_size, "epochs": c.epochs,
    "train images": c.data.train_subset or "all", "dataset": c.data.name, "seed": c.seed,
} for c in planned])
plan.groupby([c for c in plan.columns if c != "seed"], sort=False)["seed"].apply(list).reset_index()

# %% [markdown]
# ## Accuracy, parameters and time
#
# *Question: how accurate is each model, and what does it cost?* `ensure_results` returns one row
# per run (training only what is missing; its log is folded away below); `report.experiment_table`
# averages over seeds (mean ± sample standard deviation; the mean alone where there is one seed).

# %% tags=["hide-output"]
results = ensure_results("mnist_rot", profile, train, device=device, results=BASE, threads=THREADS)

# %%
settings, table = report.experiment_table(results)
print("shared settings:", settings)
table

# %% [markdown]
# `test_acc` is measured once, on the weights with the best validation accuracy; `train_time_s`
# is the wall time of all epochs (training and validation); `time_per_epoch_s` is one epoch's
# training pass. The comparisons below are computed from this table: the separable kernels against
# the full (non-separable) kernel, the G-CNNs against the control, and Sim(2) against SE(2).
# Every model trains on the same seeds, so each comparison pairs them: the bracket is the 95 %
# Student-t interval of the per-seed accuracy difference, and a gap counts (higher or lower) only
# when that interval excludes 0; with one seed there is no interval and nothing is decided.

# %%
MODEL = ["group", "implementation", "num_elements"]
seeds = results.groupby(MODEL)["seed"].apply(frozenset)
assert seeds.nunique() == 1, f"every model should train on the same seeds: {seeds.to_dict()}"
summary = report.experiment_summary(results)
SE2 = {"group": "SE2"}
pairs = [
    ({**SE2, "implementation": "separable"}, {**SE2, "implementation": "nonseparable"}),
    ({**SE2, "implementation": "dseparable"}, {**SE2, "implementation": "nonseparable"}),
    ({**SE2, "implementation": "nonseparable"}, {"group": "Z2"}),
    ({**SE2, "implementation": "separable"}, {"group": "Z2"}),
    ({"group": "Sim2", "implementation": "separable2d"}, {**SE2, "implementation": "separable"}),
]
display(Markdown("\n".join(f"* {c.sentence()}" for a, b in pairs for c in report.compare_models(summary, a, b, runs=results))))

# %% [markdown]
# ## Ours against the original code, under one loop
#
# *Question: do our models train like the paper's own code?* A gap between two implementations of
# one model says nothing unless everything else is equal, so `gsepconv compare --against PATH`
# (with `PATH` a checkout of the original repository) trains our model and the original code's
# `CKGResNet` of the same settings with *the same* training loop: the same data subsets, batch
# order, optimiser, schedule, selection on the validation split, and one evaluation of the test
# split. Only the model constructor differs. The last column pairs the two codes by seed: the mean
# difference of test accuracy with its 95 % Student-t interval.

# %%
fidelity_file = BASE / profile / "fidelity.csv"
if fidelity_file.is_file():
    fidelity = report.read_csv(fidelity_file)
    fidelity_summary = report.fidelity_table(fidelity)
    display(fidelity_summary)
    from gsepconv.experiments.compare import summarise_fidelity

    lines = []
    for r in summarise_fidelity(fidelity).itertuples(index=False):
        if r.seeds < 2:
            lines.append(f"* {r.model}: one paired seed, so undetermined ({r.diff_mean:+.2f} points).")
        elif r.diff_low > 0 or r.diff_high < 0:
            side = "above" if r.diff_low > 0 else "below"
            lines.append(f"* {r.model}: ours is {side} the original beyond seed noise "
                         f"({r.diff_mean:+.2f} points [{r.diff_low:+.2f}, {r.diff_high:+.2f}], {r.seeds} seeds).")
        else:
            lines.append(f"* {r.model}: no difference beyond seed noise ({r.diff_mean:+.2f} points "
                         f"[{r.diff_low:+.2f}, {r.diff_high:+.2f}], {r.seeds} seeds).")
    display(Markdown("\n".join(lines)))
    # the same runs (settings and seed) in both tables, maybe trained at two commits of the library
    shared = report.same_runs_two_commits(results, fidelity)
    moved = shared[shared["results commit"] != shared["fidelity commit"]]
    if len(moved):
        display(Markdown(
            "The results table above and the fidelity table share runs (same settings and seed) that were "
            "trained at different commits of the library; read each table's numbers with its commit:\n"
            + "\n".join(f"* {r.model}: {r.runs} runs, {r['results (% test)']:.2f} % test at {r['results commit']} "
                         f"(results table), {r['fidelity ours (% test)']:.2f} % at {r['fidelity commit']} (fidelity table)."
                         for _, r in moved.iterrows())
            + "\n\nBetween these commits the models compute the same functions (memory layouts and refactors "
            "changed, not the maths), but not in the same floating-point order, and a few hundred Adam steps "
            "carry a rounding difference into another training path: read a gap here against the "
            "seed-to-seed spread (the ± columns), not as an effect of the code."))
else:
    print(f"{fidelity_file} is not there: it needs a checkout of the original code, "
          f"`gsepconv compare --against PATH --profile {profile}` writes it")

# %% [markdown]
# Our model and the original differ in their code, not only in their maths: how the kernel nets
# are initialised is one such difference that batch norm does not remove. Chapter 4 lists the
# conventions the library shares with the original code and measures, with this same loop,
# which of them change the accuracy.
#
# *Question: is accuracy bought with parameters?* Each point is a model (mean over seeds, bars one
# standard deviation); the x-axis is the number of trainable parameters.

# %%
fig = draw.accuracy_vs(summary, "params", title=f"Rotated MNIST: test accuracy against parameters ({profile})")
save_figure(fig, "mnist_rot_accuracy_vs_params", profile, root=BASE);

# %% [markdown]
# Continuous kernels make the parameter count independent of the number of group elements and of
# the kernel size, so the G-CNNs' parameters come from their kernel networks and channel widths,
# not from how finely the group is sampled. The figure says nothing about cost in time: a
# non-separable kernel has no more parameters than a separable one but many more multiply–adds.
#
# *Question: is accuracy bought with training time?* The same points against the wall time of the
# whole training run.

# %%
se2_params = results[results["group"] == "SE2"].groupby("implementation")["params"].max()
if {"separable", "nonseparable"} <= set(se2_params.index):
    assert se2_params["nonseparable"] <= se2_params["separable"], \
        f"the non-separable SE(2) model should have no more parameters than the separable one: {se2_params.to_dict()}"
fig = draw.accuracy_vs(summary, "train_time_s", title=f"Rotated MNIST: test accuracy against training time ({profile})")
save_figure(fig, "mnist_rot_accuracy_vs_time", profile, root=BASE);

# %% [markdown]
# This is the paper's claim drawn directly: a model up and to the left of another is more accurate
# for less training time. Times are wall-clock on the machine that trained the runs (the device is
# in the results' `device` column), so only their ratios carry over to other machines, and a few
# epochs on a subset do not say where each model would converge.

# %% [markdown]
# ## Validation accuracy during training
#
# *Question: with the same wall-clock budget, which model is ahead?* The per-epoch history
# (`results/<profile>/mnist_rot_history.csv`) gives validation accuracy after every epoch against
# the cumulative wall time of the run; one line per run, seeds in their model's colour.

# %%
hist_file = history_path("mnist_rot", profile, BASE)
if hist_file.is_file():
    curves = report.history_curves(report.read_csv(hist_file), results)
    fig = draw.validation_vs_wallclock(curves, title=f"Rotated MNIST: validation accuracy during training ({profile})")
    save_figure(fig, "mnist_rot_val_vs_wallclock", profile, root=BASE)
    budget, within = report.accuracy_within(curves)
    print(f"best validation accuracy within {budget:.1f} s, the shortest complete G-CNN run:")
    display(within.round(2))
else:
    print(f"{hist_file} is missing (results from before per-epoch histories were recorded); "
          f"rerun `gsepconv run mnist_rot --profile {profile}` with a fresh runs folder to record them")

# %% [markdown]
# Reading a vertical line through the figure compares models at equal wall time. The table does it
# at one line, the time the fastest G-CNN needed for all its epochs: each model's best validation
# accuracy by then (mean ± std over seeds) and the epochs it had finished (NaN: none). Early epochs are noisy and a log time axis stretches
# them: the figure shows how quickly each model learns, not where it would end.

# %% [markdown]
# ## The same training time for every model
#
# *Question: given the same wall-clock time, which model ends up more accurate?* This is the
# paper's claim in its most direct form. The `mnist_rot_budget` experiment trains every model for
# the same training time (`time_budget_s`; the learning-rate schedule runs over that time, and
# `epochs` is only a cap), so a faster model simply sees more epochs. An epoch ends with a
# validation pass, and the best-validation weights are the ones tested: a model that finished
# only one epoch has nothing to choose from. So this experiment has its own, shorter epoch (the
# profile's `budget.train_subset` images, the same images for every model), short enough that
# even the slowest model finishes at least two; the check below fails the chapter if it does not.

# %% tags=["hide-output"]
budget_results = ensure_results("mnist_rot_budget", profile, train, device=device, results=BASE, threads=THREADS)

# %%
budget_settings, budget_table = report.experiment_table(budget_results)
assert budget_results["time_budget_s"].nunique() == 1, "every model should be trained for the same time budget"
epoch_images = {c.data.train_subset for c in get_runs("mnist_rot_budget", profile)}
print(f"images per epoch in this experiment: {', '.join(map(str, sorted(epoch_images)))}")
if profile != "smoke":  # smoke's budget is a second or two: one epoch is all it means to show
    assert budget_results["epochs"].min() >= 2, "a model finished fewer than two epochs within the budget"
print("shared settings:", budget_settings)
display(budget_table)
budget_summary = report.experiment_summary(budget_results)
fig = draw.budget_accuracy(budget_summary)
save_figure(fig, "mnist_rot_budget_accuracy", profile, root=BASE)
display(Markdown("\n".join(f"* {c.sentence()}" for a, b in pairs
                           for c in report.compare_models(budget_summary, a, b, runs=budget_results))))

# %% [markdown]
# `epochs_run` is how many epochs each model finished within the budget (a range when seeds
# differ). The budget is the same wall-clock time on the machine that ran it (under `quick` two
# runs train side by side, one core each), so the comparison is only as fair as that machine was
# quiet. The per-epoch history of these runs:

# %%
budget_hist = history_path("mnist_rot_budget", profile, BASE)
if budget_hist.is_file():
    fig = draw.validation_vs_wallclock(report.history_curves(report.read_csv(budget_hist), budget_results),
                                       title=f"Rotated MNIST, equal training time: validation accuracy ({profile})")
    save_figure(fig, "mnist_rot_budget_val_vs_wallclock", profile, root=BASE)
else:
    print(f"{budget_hist} is missing; rerun `gsepconv run mnist_rot_budget --profile {profile}`")

# %% [markdown]
# ## More rotations: where separability pays
#
# *Question: how do accuracy and cost change with the number of rotations N?* The `rotations`
# experiment trains SE(2) separable and non-separable models for several N. A non-separable group
# convolution costs $C_o N \cdot C_i N \cdot k^2$ multiply–adds per pixel, a separable one
# $C_o N (C_i N + k^2)$: the gap grows with N.

# %% tags=["hide-output"]
rotations = ensure_results("rotations", profile, train, device=device, results=BASE, threads=THREADS)

# %%
per_n = rotations.groupby("implementation")["params"].nunique()
assert (per_n == 1).all(), f"the parameter count should not depend on N: {rotations.groupby(['implementation', 'num_elements'])['params'].first().to_dict()}"
rot_summary = report.experiment_summary(rotations)
print("shared settings:", report.experiment_table(rotations)[0])
fig = draw.rotations_sweep(rot_summary, title=f"Rotated MNIST: separable vs non-separable against N ({profile})")
save_figure(fig, "rotations_sweep", profile, root=BASE)
found = report.compare_models(rot_summary, {"implementation": "separable"}, {"implementation": "nonseparable"},
                              runs=rotations)
display(Markdown("\n".join(f"* N = {c.context['num_elements']}: {c.sentence()}" for c in found)))

# %% [markdown]
# The right panel is the cost side of the claim, measured on whole training runs; chapter 7
# measures it in isolation, for more N and image sizes. The left panel shows whether the finer
# rotation grid buys accuracy at this profile's training length; it does not separate the effect
# of N from that of the shorter training this sweep uses (its settings are printed above).
