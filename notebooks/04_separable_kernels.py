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
# # 4. Separable kernels
#
# Every kernel in this library is a small neural network of relative coordinates, a SIREN
# {cite:p}`sitzmann2020siren`, so its parameter count depends on neither the kernel size nor the
# number of group elements {cite:p}`knigge2022exploiting`. This chapter shows what a SIREN kernel
# looks like and how its frequency $\omega_0$ shapes it, how its nets are initialised and which of
# those conventions matter in training, draws every factorisation of the group kernel next to the
# full one, and measures what each costs: parameters, multiply–accumulates and time per layer.

# %% tags=["parameters"]
profile = "quick"  # "smoke" | "quick" | "paper": sizes of the per-layer measurement
device = "cpu"  # where layers are timed: "auto" (CUDA when present), "cpu", "cuda", ...
train = "auto"  # "auto": reuse results/<profile>/layer_costs.csv if its sizes match; "always": re-measure; "never"

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

from gsepconv.analysis import energy_share
from gsepconv.analysis.costs import cost_formula
from gsepconv.analysis.kernels import implementation_kernels, kernel_net_conventions, siren_field
from gsepconv.analysis.plots import crop_to_support, image_grid
from gsepconv.companion import check_device, committed_results, ensure_table, save_figure, set_style
from gsepconv.experiments import get_profile, get_runs
from gsepconv.experiments.compare import summarise_variants
from gsepconv.kernels import SIREN
from gsepconv.models import build_model
from gsepconv.nn import GroupConv

set_style()
device = check_device(device)  # "auto": CUDA when present
BASE = committed_results(profile, train)  # the folder holding results/<profile>/ (fetched where no clone is)
MAX_SCALE = 1.74

# %% [markdown]
# ## SIREN kernels and $\omega_0$
#
# A SIREN maps coordinates $z$ to $W_\mathrm{out}\,\sin(\omega_0(W_L \cdots \sin(\omega_0(W_1 z + b_1)) \cdots) + b_L)$,
# with weights initialised so that $\omega_0$ sets the frequencies the network starts from. A
# kernel is this function sampled at the $k\times k$ taps of $[-1, 1]^2$ (transformed by $h_a^{-1}$).
# The library's default is the paper's $\omega_0 = 10$.
#
# *Question: how does $\omega_0$ change a kernel at initialisation, as a function and at $k = 7$
# taps?*

# %%
omegas = (1.0, 3.0, 10.0, 30.0)
fine = torch.stack([siren_field(w, resolution=96, seed=0) for w in omegas])  # [4, 96, 96]
taps = torch.stack([siren_field(w, resolution=7, seed=0) for w in omegas])  # [4, 7, 7]
fig, axes = plt.subplots(2, len(omegas), figsize=(2.6 * len(omegas), 5.4))
for j, w in enumerate(omegas):
    for row, img in enumerate((fine[j], taps[j])):
        ax = axes[row, j]
        ax.imshow(img.numpy(), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest", extent=(-1, 1, -1, 1))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    axes[0, j].set_title(rf"$\omega_0 = {w:g}$")
axes[0, 0].set_ylabel("the function\n(96×96 samples)")
axes[1, 0].set_ylabel("the kernel\n(7×7 taps)")
fig.tight_layout()
save_figure(fig, "04_siren_omega0", profile)
plt.show()
omega_defaults = {k: p.default for k, p in inspect.signature(SIREN).parameters.items() if "omega" in k}
assert omega_defaults == {"omega_0": 10.0, "first_omega_0": 10.0}, f"the SIREN default should be ω₀ = 10, got {omega_defaults}"

# %% [markdown]
# The same random weights (same seed) with four values of $\omega_0$: small $\omega_0$ gives a
# smooth, nearly linear function, so its $7\times 7$ samples are a smooth blob or ramp; large
# $\omega_0$ gives oscillations finer than the tap spacing, so the sampled kernel looks like noise
# and neighbouring rotations of it (chapter 2) share little. $\omega_0 = 10$ sits in between: a few
# oscillations across the kernel. This is initialisation only; training moves the frequencies, and
# the figure says nothing about which $\omega_0$ trains best.

# %% [markdown]
# ## How a kernel net starts
#
# A kernel net's output layer sets the scale of the kernel it samples. The library follows the
# conventions of the paper's code: the head weights have variance $2/(h\,C_\mathrm{in}\,k^2)$ for
# hidden width $h$, with $C_\mathrm{in}$ counted only when the factor is indexed by the input
# channel (the subgroup factor $k^H_{oi}$, not the spatial factor $k^{\mathbb{R}^2}_{o}$), $k^2$ only
# for spatial factors, and the number of group elements $N$ never; the hidden sine layers start
# with zero biases; and the kernel nets of the $1\times 1$ skip convolutions are half as wide as
# the others. Batch norm follows every convolution, so a kernel's scale does not change what a
# normalised layer computes — but the residual skips are added unnormalised, and Adam moves every
# weight by about its learning rate whatever the weight's size, so the conventions can still
# change how training goes.
#
# *Question: does the profile's SE(2) separable model start as described?*

# %%
se2_separable = next(c for c in get_runs("mnist_rot", profile)
                     if (c.model.group, c.model.implementation) == ("SE2", "separable"))
torch.manual_seed(0)
conventions = kernel_net_conventions(build_model(**se2_separable.model_kwargs()))
display(conventions.round(4))
skip = conventions["layer"].str.contains("skip")
assert conventions["hidden_bias_zero"].all(), "every hidden sine layer should start with zero biases"
assert ((conventions["head_std"] / conventions["channels_std"] - 1).abs() < 0.1).all(), \
    "every head's std should be within 10 % of sqrt(2 / (h C_in k²))"
assert (conventions.loc[skip, "hidden"] * 2 == conventions.loc[~skip, "hidden"].iloc[0]).all(), \
    "the skip convolutions' kernel nets should be half as wide as the others"

# %% [markdown]
# Every head's standard deviation is within 10 % of $\sqrt{2/(h\,C_\mathrm{in}\,k^2)}$ (uniform
# weights of that variance, sampled once), every hidden bias is zero, and the skip nets are half
# as wide. Each convention has a common alternative, available as an option: a head scaled by
# the full fan-in, $N$ and the masked taps included (`head_init="fan_in"`, unit-scale activations
# without batch norm), PyTorch's default hidden biases (`hidden_bias="uniform"`), skip nets as wide
# as the others (`skip_hidden_ratio=1.0`). With all three alternatives at once, the library trained
# the separable SE(2) model below the original code under one identical loop; chapter 5 compares
# the two codes.
#
# *Question: which of these conventions matter?* `gsepconv compare --vary` trains our model with
# one alternative, or all three, on the same seeds as the default, in the loop of chapter 5. Conventions are judged on **validation** accuracy, paired by seed (mean difference and
# its 95 % Student-t interval); the test split is kept for chapter 5's comparison with the original
# code.

# %%
fidelity_file = BASE / profile / "fidelity.csv"
if fidelity_file.is_file():
    variants = summarise_variants(pd.read_csv(fidelity_file), "val_acc")
    display(variants.round(2))
    lines = []
    for r in variants.itertuples(index=False):
        what = f"{r.model}, `{r.variant}`"
        numbers = f"{r.diff_mean:+.2f} points [{r.diff_low:+.2f}, {r.diff_high:+.2f}], {r.seeds} seeds"
        if r.seeds < 2:
            lines.append(f"* {what}: one paired seed, undetermined ({r.diff_mean:+.2f} points).")
        elif r.diff_high < 0:
            lines.append(f"* {what}: worse than the default beyond seed noise ({numbers}).")
        elif r.diff_low > 0:
            lines.append(f"* {what}: better than the default beyond seed noise ({numbers}).")
        else:
            lines.append(f"* {what}: no difference beyond seed noise ({numbers}).")
    display(Markdown("\n".join(lines) or "No variants in the table."))
else:
    print(f"{fidelity_file} is not there: it needs a checkout of the original code, "
          f"`gsepconv compare --against PATH --profile {profile} --vary hidden_bias=uniform ...` writes it")

# %% [markdown]
# ## Every factorisation next to the full kernel
#
# The implementations differ in how $K_{oi}(u, v)$, with $u = h_a^{-1}y$ and $v = \log(h_a^{-1}h_b)$,
# is built (method of the paper, appendix C):
#
# | implementation | $K_{oi}(u, v)$ |
# |---|---|
# | `nonseparable` | $k_{oi}(u, v)$ |
# | `separable` | $k^H_{oi}(v)\,k^{\mathbb{R}^2}_{o}(u)$ |
# | `gseparable` | $k^H_{oi}(v)\,k^{\mathbb{R}^2}_{oi}(u)$ |
# | `dseparable` | $W_{io}\,k_{o}(u, v)$ |
# | `dgseparable` | $W_{io}\,k^H_{o}(v)\,k^{\mathbb{R}^2}_{o}(u)$ |
# | `separable2d` (Sim(2)) | $k^{SO(2)}_{oi}(v_\theta)\,k^{\mathbb{R}^+}_{o}(v_s)\,k^{\mathbb{R}^2}_{o}(u)$ |
# | `gseparable2d` (Sim(2)) | the three factors, each indexed by $(o, i)$ |
#
# `implementation_kernels` builds one layer of each (same seed, 2 → 2 channels) and returns the dense
# kernel `[C_o, N, C_i, N, w, w]` (`GroupConv.product_kernel()`).
#
# *Question: what does the slice for output element $h_a = e$, channels $(0, 0)$, look like across
# the input elements $h_b$, for each factorisation?*

# %%
se2 = implementation_kernels("SE2", kernel_size=7, num_elements=8, channels=(2, 2), seed=0)
rows = torch.stack([k[0, 0, 0] for k in se2.values()])  # [impl, N_in, 7, 7]
labels = [f"{impl}\nE1 = {float(energy_share(k).mean()):.2f}" for impl, k in se2.items()]
fig = image_grid(rows, row_labels=labels, col_labels=[f"b = {b}" for b in range(8)], share_scale="row", cell=1.0,
                 title="SE(2): K[o=0, a=e, i=0, b] for the 8 input rotations b")
save_figure(fig, "04_factorisations_se2", profile)
plt.show()
se2_share = {impl: float(energy_share(k).mean()) for impl, k in se2.items()}
for impl in ("separable", "gseparable", "dgseparable"):
    assert abs(se2_share[impl] - 1) < 1e-12, f"{impl}'s slices should have rank 1 (E1 = 1), got {se2_share[impl]}"
for impl in ("nonseparable", "dseparable"):
    assert se2_share[impl] < 0.99, f"{impl} should draw a different pattern per input element (E1 < 1)"

# %% [markdown]
# In the rows of `separable`, `gseparable` and `dgseparable` every image is the same spatial pattern
# times a number (possibly negative, which flips the colours): the slice has rank 1, and the mean
# energy share $E_1$ of chapter 3 (row labels) is 1. `nonseparable` and `dseparable` draw a
# different pattern per input element. The difference between `separable` and `gseparable` is not
# visible in one slice: `separable` shares the spatial pattern over input channels, `gseparable`
# does not.

# %%
sim2 = implementation_kernels("Sim2", kernel_size=7, num_elements=(4, 3), channels=(2, 2), seed=0,
                              implementations=("nonseparable", "separable", "separable2d", "gseparable2d"))
w = next(iter(sim2.values())).shape[-1]
rows = crop_to_support(torch.stack([k[0, 0, 0] for k in sim2.values()]))  # [impl, 12, w', w'], identity-scale support
fig = image_grid(rows, row_labels=list(sim2), share_scale="row", cell=0.95,
                 col_labels=[f"{90 * (b // 3)}°, s{b % 3}" for b in range(12)],
                 title=f"Sim(2), 4 rotations × 3 scales: K[o=0, a=e, i=0, b] (centre of the {w}×{w} windows)")
save_figure(fig, "04_factorisations_sim2", profile)
plt.show()
sim2_share = {impl: float(energy_share(k).mean()) for impl, k in sim2.items()}
for impl in ("separable", "separable2d", "gseparable2d"):
    assert abs(sim2_share[impl] - 1) < 1e-12, f"{impl}'s Sim(2) slices should have rank 1 (E1 = 1), got {sim2_share[impl]}"
assert sim2_share["nonseparable"] < 0.99, "the full Sim(2) kernel should draw a different pattern per input element"

# %% [markdown]
# For $\mathrm{Sim}(2)$ the input elements run rotation-major (4 rotations, each at 3 scales).
# Every factorised row is one spatial pattern at the output element, weighted per input element by
# one number: $k^H_{oi}(v)$ for `separable`, a rotation factor times a scale factor for
# `separable2d` and `gseparable2d`. The full kernel draws twelve different patterns. The
# spatial pattern here belongs to the *output* element $h_a = e$ (scale 1), so it is not dilated
# along the row: dilation appears across output elements, as in chapter 2. The layers sample every
# kernel on windows sized for the largest dilation; the figure shows their centre, where the
# identity's kernel lies.

# %% [markdown]
# ## A separable layer is two small convolutions
#
# The `separable` layer never builds its dense kernel. It flattens the input `[B, C_i, N, H, W]`
# to `[B, C_i·N, H, W]`, so that channels and group elements are one axis. The subgroup factor
# $k^H_{oi}(v)$, sampled as `[C_o, N, C_i, N]`, is then a $1\times 1$ convolution from `C_i·N` to
# `C_o·N` channels: at every pixel it mixes all input channels and elements. The spatial factor
# $k^{\mathbb{R}^2}_{o}(u)$, sampled as `[C_o, N, w, w]`, is one $w\times w$ filter for each of the
# `C_o·N` output maps: a depthwise convolution (`groups = C_o·N`) of the mixed maps. Per output
# pixel that is $C_o N \cdot C_i N$ multiply–adds for the mix and $C_o N \cdot w^2$ for the
# depthwise filters, instead of $C_o N \cdot C_i N \cdot w^2$ for the dense kernel
# `[C_o, N, C_i, N, w, w]` (`product_kernel()`).
#
# *Question: do the two small convolutions compute what one convolution with the dense kernel
# computes?* One small SE(2) layer in float64, written out with `torch.nn.functional.conv2d`:

# %%
torch.manual_seed(0)
c_in, c_out, k, n, size = 3, 2, 5, 8, 12
layer = GroupConv("SE2", c_in, c_out, k, n, implementation="separable", bias=False).double().eval()
x = torch.randn(1, c_in, n, size, size, dtype=torch.float64)  # [B, C_i, N, H, W]
flat_x = x.reshape(1, c_in * n, size, size)  # [B, C_i·N, H, W]
with torch.no_grad():
    mix, spatial = layer.sample_weights()  # [C_o, N, C_i, N], [C_o, N, k, k]
    mixed = F.conv2d(flat_x, mix.reshape(c_out * n, c_in * n, 1, 1))  # 1×1 over C_i·N: [B, C_o·N, H, W]
    by_hand = F.conv2d(mixed, spatial.reshape(c_out * n, 1, k, k), padding=k // 2, groups=c_out * n)  # depthwise
    dense_kernel = layer.product_kernel()  # [C_o, N, C_i, N, k, k]
    dense = F.conv2d(flat_x, dense_kernel.reshape(c_out * n, c_in * n, k, k), padding=k // 2)
    by_layer = layer(x).reshape(1, c_out * n, size, size)
hand_vs_dense = float((by_hand - dense).abs().max())
hand_vs_layer = float((by_hand - by_layer).abs().max())
print(f"subgroup factor {tuple(mix.shape)}, spatial factor {tuple(spatial.shape)}, dense kernel {tuple(dense_kernel.shape)}")
print(f"max |1×1 then depthwise − dense| = {hand_vs_dense:.1e}; max |by hand − the layer| = {hand_vs_layer:.1e} "
      f"(output scale {float(dense.abs().max()):.2f})")
macs_hand, macs_dense = mix.numel() + spatial.numel(), dense_kernel.numel()  # MACs per output pixel (stride 1)
print(f"multiply–adds per output pixel: {mix.numel()} + {spatial.numel()} = {macs_hand} by hand, {macs_dense} dense")
assert hand_vs_dense < 1e-10, f"1×1 then depthwise should equal the dense convolution to round-off, differs by {hand_vs_dense:.1e}"
assert hand_vs_layer < 1e-10, f"the layer should compute the two convolutions written out here, differs by {hand_vs_layer:.1e}"
assert macs_hand == cost_formula("separable", c_in, c_out, n, k), "the separable cost formula should count these MACs"
assert macs_dense == cost_formula("nonseparable", c_in, c_out, n, k), "the dense cost formula should count these MACs"

# %% [markdown]
# The two agree to round-off, and the layer computes the same two convolutions (in channels-last
# memory; the second printed difference is round-off too). The saving is in the printed counts:
# the dense convolution does the mix's $C_o N \cdot C_i N$ multiply–adds once for each of the
# $w^2$ taps. `gseparable`, whose spatial factor depends on the input channel as well, has no
# such split: it builds the dense kernel and runs one full convolution.

# %% [markdown]
# ## What each implementation costs, per layer
#
# `layer_costs(profile)` builds one `GroupConv` of each implementation, `C → C` channels on
# `[B, C, N, H, W]` (sizes below), and measures: kernel-net parameters; MACs of the convolutions
# (PyTorch's `FlopCounterMode` on the layer with frozen kernels) beside the formulas of the method
# (`cost_formula`); the time to sample the kernels, to run the convolutions, and a training
# forward + backward. With `train="auto"` a stored `results/<profile>/layer_costs.csv` of the same
# sizes is reused (timings depend on the machine that made them: see its `device` and `threads`).

# %%
sizes = get_profile(profile).layer_costs
print(f"sizes ({profile}): C = {sizes.channels}, k = {sizes.kernel_size}, {sizes.image_size}×{sizes.image_size} images, "
      f"batch {sizes.batch_size}, SE(2) N = {sizes.se2_elements}, Sim(2) {sizes.sim2_elements}, "
      f"SIREN width {sizes.hidden_features}; best of {sizes.repeats} repeats")
costs = ensure_table("layer_costs", profile, train, device=device, results=BASE)
print(f"measured on {costs['device'].iloc[0]} with {costs['threads'].iloc[0]} threads, torch {costs['torch_version'].iloc[0]}, "
      f"commit {costs['git_commit'].iloc[0]}")
print("flop counter equals the formula for every implementation:", bool((costs["macs"] == costs["macs_formula"]).all()))
assert (costs["macs"] == costs["macs_formula"]).all(), \
    f"MACs should follow the formulas exactly: {costs.loc[costs['macs'] != costs['macs_formula'], 'implementation'].tolist()}"
for group, rows in costs.groupby("group"):
    dense_macs = rows.loc[rows["implementation"].isin(["nonseparable", "gseparable", "gseparable2d"]), "macs"]
    assert dense_macs.nunique() == 1, f"{group}: nonseparable and the g-variants should run the same dense convolution"
params = costs.pivot_table(index="group", columns="implementation", values="params")
for group, p in params.iterrows():
    assert p["nonseparable"] < p["separable"] < p["gseparable"] and p["dseparable"] == p.min(), \
        f"{group}: kernel-net parameters should rank nonseparable < separable < gseparable, dseparable fewest: {p.to_dict()}"
view = costs.set_index(["group", "implementation"])[
    ["num_elements", "window", "params", "macs", "macs_formula", "kernel_ms", "conv_ms", "train_ms"]]
view.assign(macs=view["macs"] / 1e6, macs_formula=view["macs_formula"] / 1e6).rename(
    columns={"macs": "MMACs (counted)", "macs_formula": "MMACs (formula)"}).round(2)

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), sharey=True)
labels = list(costs["group"] + " " + costs["implementation"])
y = np.arange(len(labels))
colours = dict(zip(costs["group"].unique(), sns.color_palette("colorblind", costs["group"].nunique())))
point_colours = [colours[g] for g in costs["group"]]
axes[0].barh(y, costs["params"], color=point_colours)
axes[0].set_title("kernel-net parameters", fontsize=10)
for ax, column, title in zip(axes[1:], ("macs", "train_ms"), ("MACs of the convolutions (log)", "training forward + backward, ms (log)")):
    ax.hlines(y, costs[column].min() / 2, costs[column], color="0.85", lw=1)
    ax.scatter(costs[column], y, c=point_colours, s=45, zorder=3)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_title(title, fontsize=10)
axes[0].set_yticks(y, labels)
axes[0].invert_yaxis()
fig.suptitle(f"one group convolution, C = {sizes.channels} → {sizes.channels}, k = {sizes.kernel_size}  [{profile}]",
             fontsize=11)
fig.tight_layout()
save_figure(fig, "04_layer_costs", profile)
plt.show()

# %% [markdown]
# Parameters are those of the kernel nets and the channel projections, and do not depend on $k$
# or $N$. Each factor is its own net and a net's output head has one value per channel pair it
# indexes, so `separable` (two nets) has more kernel-net parameters than `nonseparable` (one),
# `gseparable` (two nets indexed by $(o, i)$) more still, and `dseparable`, whose net outputs
# $C_o$ values, the fewest: separability saves computation, not parameters. MACs follow the formulas exactly: `nonseparable` and the `g`-variants run
# one dense convolution with $C_o N \cdot C_i N \cdot w^2$ MACs per pixel; `separable` replaces it
# by a $1\times1$ mix over $(C_i \times N)$ plus a depthwise $w\times w$ convolution,
# $C_o N (C_i N + w^2)$ (as written out above); `dgseparable` also factorises the channels. The
# $\mathrm{Sim}(2)$ layers pay for their larger window $w$ (dilated kernels) and their larger
# number of elements $N$ (the rotations × scales printed above the table). A hard disk mask zeroes
# every tap outside an element's own dilated window $w_a$ ($k$ at scale 1), so the dense and the
# separable forms convolve each element over its own window only (`GroupConv.conv_windows`):
# $w^2$ in their formulas becomes the mean of $w_a^2$ over the output elements, which is what the
# counter finds. A smooth mask zeroes no tap, and every element pays for the whole window. Times are single
# measurements on whatever machine made the table (best of a few repeats; on a shared CPU they
# are noisy); they rank the implementations but are not a benchmark — chapter 7 measures whole
# networks.
