# ---
# jupyter:
#   jupytext:
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
# # 3. Redundancy along the subgroup axis
#
# The paper's starting observation {cite:p}`knigge2022exploiting` is that the kernels a regular
# G-CNN learns are highly redundant along the subgroup axis: for a fixed pair of channels, the
# spatial patterns a kernel applies to the different input elements $h_b$ are nearly multiples of
# one pattern. If that is so, the kernel can be factorised as
# $K_{oi}(u, v) = k^H_{oi}(v)\,k^{\mathbb{R}^2}_{o}(u)$ at little loss, and that factorisation is
# what makes separable group convolutions cheap (chapter 4).
#
# This chapter measures the claim on our own trained non-separable SE(2) network.

# %% tags=["parameters"]
profile = "quick"  # "smoke" | "quick" | "paper": which trained model is analysed
device = "cpu"  # where the model is trained if its results are missing: "auto" (CUDA when present), "cpu", "cuda", ...
train = "auto"  # "auto": reuse results/<profile>/redundancy.csv, train only if missing; "always"; "never"

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from gsepconv.analysis import (
    STATES,
    energy_share,
    expected_gaussian_share,
    planned_seeds,
    select_run,
    support_taps,
)
from gsepconv.analysis.kernels import implementation_kernels
from gsepconv.companion import check_device, committed_results, ensure_table, save_figure, set_style
from gsepconv.experiments.stats import paired_interval

set_style()
device = check_device(device)  # "auto": CUDA when present
BASE = committed_results(profile, train)  # the folder holding results/<profile>/ (fetched where no clone is)

# %% [markdown]
# ## The measure
#
# A sampled group kernel is a tensor `[C_o, N_out, C_i, N_in, k, k]`. For output channel $o$,
# input channel $i$ and output element $h_a$, the slice $M_{oia}$ is an $N_\mathrm{in}\times k^2$
# matrix: one row per input element, one column per spatial tap. A separable kernel makes every
# such matrix an outer product (rank 1). With singular values $\sigma_1 \ge \sigma_2 \ge \dots$,
# the **energy share of the first component**
#
# $$E_1 = \frac{\sigma_1^2}{\sum_j \sigma_j^2} \in \Big[\tfrac{1}{r}, 1\Big], \qquad r = \min(N_\mathrm{in}, T),$$
#
# is 1 exactly for a rank-1 matrix and $1/r$ for energy spread evenly over $r$ directions. $T$ is
# the number of spatial taps inside the kernel's disk mask (masked taps are zero columns): 13 of
# the 25 taps at $k = 5$, 5 of the 9 at $k = 3$.
# `gsepconv.analysis.energy_share(kernel)` returns $E_1$ for every slice, `[C_o, C_i, A]`
# (`A = 1` for the identity output element, the default; `output_element=None` for all).
#
# *Question: does the measure read 1 for the factorised implementations and less for the others,
# on freshly initialised layers?*

# %%
kernels = implementation_kernels("SE2", kernel_size=5, num_elements=8, channels=(4, 4), seed=0)
small = implementation_kernels("SE2", kernel_size=3, num_elements=8, channels=(1, 1), implementations=("nonseparable",))
taps = {5: support_taps(kernels["nonseparable"]), 3: support_taps(small["nonseparable"])}
assert taps == {5: 13, 3: 5}, f"the disk mask should keep 13 of 25 taps at k = 5 and 5 of 9 at k = 3, got {taps}"
shares = {impl: energy_share(k, None) for impl, k in kernels.items()}
for impl in ("separable", "gseparable", "dgseparable"):
    assert (shares[impl] - 1).abs().max() < 1e-12, f"{impl} should read E1 = 1 exactly (rank 1), got min {float(shares[impl].min())}"
for impl in ("dseparable", "nonseparable"):
    assert shares[impl].mean() < 0.99, f"{impl} is not factorised along H, so its mean E1 should be below 1"
pd.DataFrame({
    "kernel shape": {impl: "x".join(map(str, k.shape)) for impl, k in kernels.items()},
    "mean E1": {impl: float(s.mean()) for impl, s in shares.items()},
    "min E1": {impl: float(s.min()) for impl, s in shares.items()},
}).round(4)

# %% [markdown]
# `separable`, `gseparable` and `dgseparable` read exactly 1: each is a product of a subgroup factor
# and a spatial factor for every channel pair. `dseparable` shares one kernel $k_o(u, v)$ over the
# input channels but does not factorise it, and `nonseparable` factorises nothing, so both read
# less than 1. This is a check of the measure, not of the claim: the kernels are untrained.

# %% [markdown]
# ## A trained non-separable SE(2) G-CNN
#
# `redundancy_table(profile)` takes the profile's non-separable SE(2) runs of the rotated-MNIST
# experiment (every seed it trains: one trained network is an anecdote), trains any whose run folder
# holds no finished run, rebuilds each model at initialisation, and summarises the spectra of every
# group convolution with a spatial kernel (1×1 skips have nothing to factorise) for four states:
#
# * `trained`: the best-validation weights;
# * `init`: the same network before training (same seed);
# * `gaussian`: a control, i.i.d. Gaussian kernels with the trained kernels' shapes and disk masks;
# * `separable`: a control, the profile's separable SE(2) model at initialisation, rank 1 by
#   construction (trained or not).
#
# With `train="auto"` the committed `results/<profile>/redundancy.csv` is reused when it was made
# from the runs the profile plans now.

# %%
seeds = planned_seeds(profile)
runs_analysed = [select_run("mnist_rot", profile, seed=s) for s in seeds]
run = runs_analysed[0]
table = ensure_table("redundancy", profile, train, device=device, results=BASE)  # trains only runs not yet trained
assert sorted(table["seed"].unique()) == list(seeds), "the table should hold every planned seed"
per_seed = table[(table["component"] == 1)].groupby(["seed", "state"])["energy_fraction_mean"].mean().unstack("state")
accuracy = table.groupby("seed")["test_acc"].first()
info = table.iloc[0]
print(f"{len(seeds)} runs (seeds {', '.join(map(str, seeds))}): widths {','.join(map(str, run.model.widths))}, "
      f"k = {run.model.kernel_size}, N = {run.model.num_elements}, {run.epochs} epochs; test accuracy "
      + ", ".join(f"{a:.2f} %" for a in accuracy))
print(f"provenance: gsepconv {info['gsepconv_version']}, commit {info['git_commit']}, torch {info['torch_version']}, "
      f"{info['device']}, {info['timestamp']}")
print("mean E1 over layers, per seed:")
per_seed[[s for s in STATES if s in per_seed.columns]].round(3)

# %% [markdown]
# Every seed's trained network is compared with its own initialisation and controls, paired by
# seed: the mean difference of $E_1$ with its 95 % Student-t interval over the seeds (chapter 8's
# verdict reads the same intervals).

# %%
lines = []
for control in ("init", "gaussian"):
    gap = paired_interval(per_seed["trained"], per_seed[control])
    side = {1: "above", -1: "below", 0: "not distinguishable from"}[gap.sign()] if gap.determined else "undetermined against"
    lines.append(f"* trained − {control}: {gap.text(3)} over {gap.n} seed{'s' * (gap.n != 1)}: trained is {side} {control}.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# The rest of this chapter looks inside one of the networks, the first seed's.

# %%
table = table[table["seed"] == seeds[0]]
first = table[table["component"] == 1]
first.pivot_table(index=["layer_index", "layer", "kernel_shape"], columns="state", values="energy_fraction_mean",
                  sort=False)[[s for s in STATES if s in set(first["state"])]].round(3)

# %% [markdown]
# The table gives the mean energy share $E_1$ of each layer's slices (kernel shape
# `C_o x N x C_i x N x k x k`). The figures show the spread over slices and the whole spectrum.
#
# *Question: is a trained kernel closer to rank 1 than the same kernel at initialisation, and than
# unstructured matrices of the same shape?*

# %%
colours = sns.color_palette("colorblind")
palette = {"trained": colours[0], "init": colours[1], "gaussian": colours[2], "separable": "0.35"}
layers = first[["layer_index", "layer", "kernel_shape", "rank_max"]].drop_duplicates().sort_values("layer_index")
fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(layers) + 2), 4.2))
offsets = dict(zip(STATES, np.linspace(-0.24, 0.24, len(STATES))))
for state in STATES:
    rows = first[first["state"] == state].sort_values("layer_index")
    if rows.empty:
        continue
    x = rows["layer_index"].to_numpy() + offsets[state]
    mid = rows["energy_fraction_q50"].to_numpy()
    err = np.stack([mid - rows["energy_fraction_q10"].to_numpy(), rows["energy_fraction_q90"].to_numpy() - mid])
    ax.errorbar(x, mid, yerr=err, fmt="o", capsize=3, color=palette[state], label=state)
for _, layer in layers.iterrows():
    i = layer["layer_index"]
    ax.hlines(1.0 / layer["rank_max"], i - 0.35, i + 0.35, color="0.4", ls=":", lw=1)
ax.set_xticks(layers["layer_index"], [f"{name}\n{s}" for name, s in zip(layers["layer"], layers["kernel_shape"])],
              fontsize=7)
ax.set_ylim(0, 1.05)
ax.set_xlim(layers["layer_index"].min() - 0.5, layers["layer_index"].max() + 0.5)
ax.set_ylabel(r"energy share $E_1 = \sigma_1^2/\sum\sigma_j^2$")
ax.set_title(f"energy share per layer (median, 10–90 % of slices); dotted: 1/r  [{profile}]")
ax.legend(fontsize=8, ncol=len(STATES), loc="lower center")
fig.tight_layout()
save_figure(fig, "03_energy_share", profile)
plt.show()
control = table[table["state"] == "separable"]
if not control.empty:  # the separable control: one non-zero component in every layer
    lead = control.loc[control["component"] == 1, "energy_fraction_mean"]
    rest = control.loc[control["component"] > 1, "energy_fraction_mean"]
    assert (lead - 1).abs().max() < 1e-9, f"the separable control should sit at E1 = 1, got min {lead.min()}"
    assert rest.max() < 1e-9, f"the separable control's later components should be zero, got up to {rest.max():.1e}"
means = first.groupby("state")["energy_fraction_mean"].mean()
print("mean E1 over all layers: " + ", ".join(f"{s} {means[s]:.3f}" for s in STATES if s in means))

# %% [markdown]
# Each point is the median $E_1$ over a layer's $C_o \times C_i$ slices, the bars span the 10 % and
# 90 % quantiles, and the dotted line is $1/r$ (energy spread evenly). The `separable` control sits
# at 1 by construction; `gaussian` shows what matrices of this shape with no structure along $H$
# give. Redundancy in the paper's sense means `trained` well above `gaussian` and above `init`,
# moving toward 1. `init` itself can sit above `gaussian`: a SIREN is a smooth function of the
# relative rotation $(\cos v, \sin v)$, so neighbouring input elements get similar patterns before
# any training; the trained-versus-init difference is what training adds. What this does not show: whether a separable network can *reach* the same
# accuracy (chapter 5), or how redundancy develops over a long training — the `quick` model is
# trained for a few epochs, the `smoke` model for one epoch on a few dozen images (its numbers mean
# nothing).

# %%
spec = table.sort_values(["state", "layer_index", "component"])
n_layers = len(layers)
cols = min(n_layers, 4)
rows_n = int(np.ceil(n_layers / cols))
fig, axes = plt.subplots(rows_n, cols, figsize=(3.3 * cols, 2.9 * rows_n), squeeze=False, sharey=True)
for ax, (_, layer) in zip(axes.flat, layers.iterrows()):
    for state in STATES:
        rows = spec[(spec["state"] == state) & (spec["layer_index"] == layer["layer_index"])]
        if rows.empty:
            continue
        ax.plot(rows["component"], rows["energy_fraction_mean"].clip(lower=1e-6), marker="o", ms=3,
                color=palette[state], ls="--" if state == "separable" else "-", label=state)
    ax.set_yscale("log")
    ax.set_ylim(1e-6, 1.5)
    ax.set_title(f"{layer['layer']}  ({layer['kernel_shape']})", fontsize=8)
    ax.set_xlabel("component j")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
for ax in axes.flat[n_layers:]:
    ax.axis("off")
for ax in axes[:, 0]:
    ax.set_ylabel(r"mean $\sigma_j^2/\sum\sigma^2$")
axes.flat[0].legend(fontsize=7)
fig.suptitle(f"singular-value spectra of the [N_in × k²] slices, mean over slices  [{profile}]", fontsize=10)
fig.tight_layout()
save_figure(fig, "03_spectra", profile)
plt.show()

# %% [markdown]
# The spectra show where the energy goes after the first component. A separable kernel has a single
# non-zero component (later components are clipped at $10^{-6}$). A kernel that is redundant along
# $H$ but not exactly separable has a steep spectrum: a dominant first component and a fast decay.
# The Gaussian control's flat spectrum is the other extreme. For reference, the Monte-Carlo mean
# $E_1$ of Gaussian matrices of the first layer's shape, without masks, is printed below; the masked
# `gaussian` rows above are the fairer control, since masked taps are zero columns.

# %%
shape = [int(v) for v in layers.iloc[0]["kernel_shape"].split("x")]
print(f"E1 of a Gaussian {shape[3]} x {shape[4] * shape[5]} matrix: {expected_gaussian_share(shape[3], shape[4] * shape[5]):.3f}")
