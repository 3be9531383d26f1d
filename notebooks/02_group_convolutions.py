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
# # 2. Group convolutions
#
# A regular group convolution network {cite:p}`cohen2016group` first *lifts* an image to a
# function on the group, then convolves functions on the group with kernels on the group. With
# continuous kernels {cite:p}`bekkers2020bspline,knigge2022exploiting` every kernel is one
# function, evaluated at transformed coordinates:
#
# $$\text{lifting:}\quad F[o, a](x) = \sum_{i}\sum_{y} \frac{1}{|\det h_a|}\, k_{oi}(h_a^{-1}y)\, f[i](x+y),$$
#
# $$\text{group conv:}\quad F[o, a](x) = \sum_{i, b}\sum_{y} K_{oi}\big(h_a^{-1}y,\ \log(h_a^{-1}h_b)\big)\, f[i, b](x+y).$$
#
# Images are `[B, C_i, H, W]`; functions on the group are `[B, C, N, H, W]` with one axis for the
# $N$ sampled elements of $H$. This chapter looks at the sampled kernels, then checks what the
# construction promises: rotate the input, and the output rotates and moves along the group axis.

# %% tags=["parameters"]
profile = "quick"  # "smoke" | "quick" | "paper": image sizes and how many angles are measured
device = "cpu"
train = "auto"  # "auto": reuse the film's two small trained models (committed with the results), train them if missing | "always" | "never"

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import HTML, Markdown, display

from gsepconv.analysis.film import film_config, film_digit, film_errors, film_features, rotation_film
from gsepconv.analysis.plots import film_animation, image_grid, offline_jshtml
from gsepconv.analysis.sweeps import compare_equivariance, demo_image, dilation_factors, lifted_pair, planar_pair
from gsepconv.companion import committed_results, save_animation, save_figure, set_style
from gsepconv.equivariance import check_equivariance
from gsepconv.nn import GroupConv, LiftingConv

BASE = committed_results(profile, train)  # the folder holding results/<profile>/ (fetched where no clone is)
set_style()
torch.set_num_threads(1)  # small float64 convolutions: one thread is fastest on a shared CPU
SIZES = {  # per profile: image size, kernel size, channels, elements for the angle sweep, angle step
    "smoke": dict(image=29, k=5, channels=2, n_sweep=8, step=45.0),
    "quick": dict(image=41, k=7, channels=4, n_sweep=16, step=22.5),
    "paper": dict(image=41, k=7, channels=4, n_sweep=16, step=22.5),
}[profile]
FILM = {  # per profile: the film's two small models (trained here), its digit's canvas and frames
    "smoke": dict(model=dict(widths=(4, 8), train_subset=64, eval_subset=32, batch_size=16), canvas=29, frames=8),
    "quick": dict(model=dict(widths=(6, 12), train_subset=2400, eval_subset=500, batch_size=32), canvas=33, frames=32),
    "paper": dict(model=dict(widths=(6, 12), train_subset=2400, eval_subset=500, batch_size=32), canvas=33, frames=32),
}[profile]
MAX_SCALE = 1.74

# %% [markdown]
# ## A lifted kernel is one function on transformed grids
#
# `LiftingConv(...).sample_weights()` returns the sampled lifting kernel `[C_o, N, C_i, w, w]`:
# the kernel net $k_{oi}$ evaluated at $h_a^{-1}y$ for every element $h_a$ of the grid and every
# pixel offset $y$, with a disk mask and the factor $1/|\det h_a|$.
#
# *Question: what does one lifting kernel look like at the 8 rotations of SE(2), and at the
# 4 rotations × 3 scales of Sim(2)?*

# %%
torch.manual_seed(1)
lift_se2 = LiftingConv("SE2", 1, 1, 9, 8).double().eval()
k_se2 = lift_se2.sample_weights()[0][0].detach()  # [C_o=1, 8, 1, 9, 9] -> [8, 1, 9, 9]
fig = image_grid(k_se2[:, 0][None], col_labels=[f"{360 * a / 8:g}°" for a in range(8)], cell=1.1,
                 title="SE(2) lifting kernel at the 8 grid rotations")
save_figure(fig, "02_lifting_kernel_se2", profile)
plt.show()

err = float((torch.rot90(k_se2[0, 0], 1) - k_se2[2, 0]).abs().max())
print(f"kernel at 90° vs the identity's kernel rotated by torch.rot90: max |difference| = {err:.1e}")
assert err < 1e-12, f"the sampled kernel at 90° should be the identity's kernel rotated, to round-off; differs by {err:.1e}"

# %% [markdown]
# The eight kernels are one pattern, rotated. At $90°$ the sampled kernel *is* the identity's
# kernel with its pixels rotated (the printed difference is round-off), because the kernel grid is
# closed under quarter turns. At $45°$ the net is evaluated between the original taps: the pattern
# is the same function, not a resampled image, so nothing is interpolated.

# %%
torch.manual_seed(1)
lift_sim2 = LiftingConv("Sim2", 1, 1, 9, (4, 3), max_scale=MAX_SCALE).double().eval()
k_sim2 = lift_sim2.sample_weights()[0][0, :, 0].detach()  # [12, w, w], rotation-major
w = lift_sim2.window
fig = image_grid(k_sim2.reshape(4, 3, w, w).transpose(0, 1),
                 row_labels=[f"s = {math.exp(v):.3g}" for v in lift_sim2.grid.H.factors[1].grid(3)[:, 0].tolist()],
                 col_labels=[f"{90 * r}°" for r in range(4)], cell=1.3,
                 title=f"Sim(2) lifting kernel: kernel_size 9 at s = 1, sampled on {w}×{w} windows")
save_figure(fig, "02_lifting_kernel_sim2", profile)
plt.show()

# %% [markdown]
# Rows are scales, columns rotations. The dilated kernels keep the identity's tap spacing and grow,
# so all are sampled on a common window of `w × w` taps (`layer.window`), larger than
# `kernel_size`, and the $1/s^2$ factor makes the larger kernels fainter (the same $L^1$ mass).
# Colours share one range over the grid.

# %% [markdown]
# ## The group-convolution kernel
#
# A group convolution's kernel has a second group axis: `GroupConv.product_kernel()` is the dense
# kernel `[C_o, N_out, C_i, N_in, w, w]`, one $w\times w$ image per pair (output element $h_a$,
# input element $h_b$).
#
# *Question: how are the $8\times 8$ images of one SE(2) kernel related?*

# %%
torch.manual_seed(2)
lift = LiftingConv("SE2", 1, 1, 9, 8)
gconv = GroupConv("SE2", 1, 1, 9, 8, implementation="nonseparable", grid=lift.grid).double().eval()
K = gconv.product_kernel()[0, :, 0].detach()  # [N_out, N_in, 9, 9]
fig = image_grid(K, row_labels=[f"a = {a}" for a in range(8)], col_labels=[f"b = {b}" for b in range(8)], cell=0.85,
                 title="SE(2) group kernel K[a, b]: output element a (rows), input element b (columns)")
save_figure(fig, "02_group_kernel_se2", profile)
plt.show()
for a in (2, 4, 6):  # the quarter turns, where rotating the pixels is exact
    moved = torch.rot90(torch.roll(K[0], a, dims=0), a // 2, dims=(-2, -1))
    gap = float((K[a] - moved).abs().max())
    assert gap < 1e-12, f"row {a} should be row 0 rotated by {45 * a}° and rolled by {a} columns; differs by {gap:.1e}"

# %% [markdown]
# Row $a$ is row $0$ rotated by $h_a$ and rolled by $a$ columns: $K[a, b]$ depends on $h_a^{-1}y$
# and on the relative rotation $b - a$ only. A trained kernel keeps this structure; how much of
# the freedom *within* a row it uses is chapter 3's question.

# %% [markdown]
# ## Rotate the input: the output rotates and rolls
#
# For a rotation $r$ by $90°$, equivariance says $\Phi(r\cdot f) = r\cdot\Phi(f)$, where $r$ acts
# on a group feature map `[B, C, N, H, W]` by rotating every `H × W` map and rolling the group
# axis by $N/4$ steps.
#
# *Question: does a lifting layer plus a group convolution do that?*

# %%
model = lifted_pair("SE2", channels=SIZES["channels"], kernel_size=SIZES["k"], num_elements=8, seed=0)
x = demo_image(33)  # [1, 1, 33, 33]
with torch.no_grad():
    y = model(x)  # [1, C, 8, 33, 33]
    y_rot = model(torch.rot90(x, 1, dims=(-2, -1)))
expected = torch.roll(torch.rot90(y, 1, dims=(-2, -1)), shifts=2, dims=2)
fig = image_grid(torch.stack([y[0, 0], y_rot[0, 0], expected[0, 0]]),
                 row_labels=["Φ(f)", "Φ(rot90 f)", "rot90 + roll 2\nof Φ(f)"],
                 col_labels=[f"element {a}" for a in range(8)], share_scale="all", cell=1.05,
                 title="one output channel over the 8 group elements")
save_figure(fig, "02_feature_maps_rotate_and_roll", profile)
plt.show()

gap = float((y_rot - expected).abs().max())
print(f"max |Φ(rot90 f) − roll(rot90 Φ(f))| = {gap:.1e}")
assert gap < 1e-12, f"the response to the rotated letter should be the rotated, rolled response; differs by {gap:.1e}"
measured = check_equivariance(model, input_shape=(2, 1, SIZES["image"], SIZES["image"]), angles=(45,))
assert max(measured[f"rot{d}"] for d in (90, 180, 270)) < 1e-12, f"quarter turns should be exact: {measured}"
assert measured["rot45"] > 1e-6, f"45° needs interpolation, so its error should not be zero: {measured['rot45']:.1e}"
print(f"check_equivariance on {SIZES['image']}×{SIZES['image']} random smooth inputs "
      f"(kernel size {SIZES['k']}, {SIZES['channels']} channels, N = 8):")
pd.Series(measured, name="relative error").to_frame()

# %% [markdown]
# The second and third rows are equal to round-off: the response to the rotated letter is the
# rotated response, moved two elements along the group axis. `check_equivariance` measures the same
# on random smooth inputs: $90°$, $180°$, $270°$ are exact; $45°$ (also a grid element, $N = 8$)
# needs the image to be resampled, and what is left is that interpolation error: not zero, and of
# a size that depends on the layers and the inputs (this profile's sizes are printed above the
# table; the sweep below measures it against the angle).

# %% [markdown]
# ## Watch it: a trained model while the digit turns
#
# The same, for a trained network and every angle. Two small copies of the paper's MNIST-rot
# ResNet are trained here on rotated MNIST for one short epoch (sizes per profile): an SE(2)
# G-CNN with $N = 8$ rotations (the depthwise-separable kernels of chapter 4) and the same network
# with plain convolutions. A test digit then turns through $360°$ and both networks look at every
# frame; the animation shows, for one channel of each network's first group convolution (after
# its batch norm and ReLU), the $N$ maps along the group axis — a plain CNN has one.
#
# *Question: what do the feature maps of a trained model do while the input turns?*

# %%
film_names = {"SE2": "SE(2) G-CNN", "Z2": "plain CNN"}
film_models, film_runs = {}, {}
for group, name in film_names.items():
    film_models[name], film_runs[name] = film_features(film_config(group, profile, **FILM["model"]), results=BASE, device=device,
                                                       allow_training=train != "never", use_snapshot=train != "always")
pd.DataFrame.from_dict({name: {"test accuracy (%)": m["test_acc"], "training digits": m["train_size"],
                               "training time (s)": round(m["train_time_s"], 1), "parameters": m["params"]}
                        for name, m in film_runs.items()}, orient="index")

# %%
digit, label = film_digit(0, FILM["canvas"])
film = rotation_film(film_models, digit, FILM["frames"])
fig, anim = film_animation(film, labels={name: f"{name}\nchannel {c}" for name, c in film.channels.items()})
gif = save_animation(anim, "02_rotating_digit", profile, fps=8)
html = offline_jshtml(anim, fps=8)
plt.close(fig)
print(f"a test digit {label}, {FILM['frames']} frames; embedded animation {len(html) / 1e6:.2f} MB, GIF {gif.stat().st_size / 1e6:.2f} MB")
HTML(html)

# %% [markdown]
# Press play (or drag the slider). The SE(2) maps turn with the digit, and the whole pattern
# travels along the group axis: after $45°$ each map stands where its left neighbour was, and
# the orange frame — the map with the most energy — moves one slot to the right per $45°$,
# wrapping around after a full turn. In between, the energy passes gradually from one slot to
# the next. The plain CNN has no group axis to move along: its one map turns roughly with the
# digit but changes its shape, because its filters were learned for the orientations the data
# happened to show, not built to turn.
#
# How exact is this? `film_errors` measures, on the frames above, how far each map is from the
# $0°$ map rotated (and, for the G-CNN, rolled along the group axis by the grid steps the angle
# spans) — with `torch.rot90` at multiples of $90°$, by interpolation on the central disk at the
# other grid angles (multiples of $45°$). Between grid angles no roll is defined, so nothing is
# measured there.

# %%
errors = film_errors(film_models, film)
g_name, c_name = film_names["SE2"], film_names["Z2"]
quarter = errors[errors["exact_on_pixels"] & (errors["angle"] > 0)].set_index(["model", "angle"])["error"]
between = errors[~errors["exact_on_pixels"] & errors["error"].notna()].set_index(["model", "angle"])["error"]
exact_g, exact_c = quarter[g_name].max(), quarter[c_name].min()
assert exact_g < 1e-12, f"the SE(2) maps at quarter turns should equal the rotated, rolled 0° maps to round-off, got {exact_g:.1e}"
assert exact_c > 1e6 * exact_g, "the plain CNN's maps should not follow a quarter turn exactly"
display(Markdown(
    f"**Measured on these frames.** At $90°$, $180°$ and $270°$ the SE(2) maps equal the rotated $0°$ maps, "
    f"rolled by {film.maps[g_name].shape[1] // 4} slots along the group axis, to a relative error of at most "
    f"{exact_g:.1e} (float64 round-off); the plain CNN's maps differ from the rotated $0°$ maps by "
    f"{exact_c:.2f}–{quarter[c_name].max():.2f}. At the other grid angles (interpolated) the SE(2) error is "
    f"{between[g_name].min():.3f}–{between[g_name].max():.3f}, the plain CNN's "
    f"{between[c_name].min():.2f}–{between[c_name].max():.2f}."))
(errors[errors.groupby("angle")["error"].transform(lambda e: e.notna().all())]
 .pivot_table(index="angle", columns="model", values="error", sort=False).rename_axis("angle (degrees)"))

# %% [markdown]
# Quarter turns are exact because the pixel grid is closed under them and the layers pad
# symmetrically with odd kernels; at $45°$ the rotated digit has to be resampled, which both
# networks see, and the G-CNN's error is that interpolation passing through two layers. The
# plain CNN's error is large at every angle, quarter turns included: what it computes for a
# turned digit is a different set of features, which its later layers have to learn to
# recognise for every orientation separately. The animation is also saved as a GIF next to this
# chapter's figures (`results/<profile>/figures/02_rotating_digit.gif`).

# %% [markdown]
# ## Error against the angle and the dilation, beside a plain CNN
#
# A plain CNN of the same shape (`Conv2d → ReLU → Conv2d`, `planar_pair`) is the control: it is
# translation-equivariant only. `compare_equivariance` calls `check_equivariance` once per
# transformation, on the same smooth inputs, masked to a disk and measured on the central part of
# the image.
#
# *Question: how large is the error, for which transformations, and how much of it is the pixel
# grid rather than the model?*

# %%
n, step = SIZES["n_sweep"], SIZES["step"]
angles = np.arange(0.0, 180.0 + 1e-9, step)
rot_models = {
    f"SE(2) G-CNN, N = {n}": lifted_pair("SE2", SIZES["channels"], SIZES["k"], n, seed=0),
    "plain CNN (control)": planar_pair(SIZES["channels"], SIZES["k"], seed=0),
}
scales = dilation_factors(MAX_SCALE, 3)
scale_models = {
    "R²⋊R⁺ G-CNN, 3 scales": lifted_pair("R2xRplus", SIZES["channels"], SIZES["k"], 3, max_scale=MAX_SCALE, seed=0),
    "SE(2) G-CNN, N = 8": lifted_pair("SE2", SIZES["channels"], SIZES["k"], 8, seed=0),
    "plain CNN (control)": planar_pair(SIZES["channels"], SIZES["k"], seed=0),
}
sweep = pd.concat([
    compare_equivariance(rot_models, angles=angles, image_size=SIZES["image"]),
    compare_equivariance(scale_models, scales=scales, image_size=SIZES["image"]),
], ignore_index=True)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
floor = 1e-17
for (name, rows), marker in zip(sweep[sweep["transform"] == "rotation"].groupby("model", sort=False), "os"):
    axes[0].plot(rows["value"], rows["error"].clip(lower=floor), marker=marker, ls="none", ms=8, label=name)
axes[0].set_yscale("log")
ticks = angles[:: max(1, len(angles) // 9)]
axes[0].set_xticks(ticks, [f"{a:g}" for a in ticks])
axes[0].set_xlabel("rotation angle (degrees)")
axes[0].set_ylabel("relative equivariance error")
axes[0].set_title("rotations: exact at multiples of 90°, interpolated otherwise")
for x90 in (90.0, 180.0):
    axes[0].axvline(x90, color="0.6", ls=":", lw=1)
for (name, rows), marker in zip(sweep[sweep["transform"] == "dilation"].groupby("model", sort=False), "o^s"):
    rows = rows[rows["value"] > 1.0]
    axes[1].plot(rows["value"], rows["error"], marker=marker, label=name)
axes[1].set_xticks(scales[1:], [f"{s:.3g}" for s in scales[1:]])
axes[1].set_xlabel("dilation factor (steps of the 3-scale grid)")
axes[1].set_ylabel("relative equivariance error")
axes[1].set_title("dilations: always interpolated")
axes[1].set_ylim(bottom=0)
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "02_equivariance_vs_angle_and_scale", profile)
plt.show()

# %%
rotations = sweep[sweep["transform"] == "rotation"]
g_rows, c_rows = (rotations[rotations["model"] == name].set_index("value") for name in rot_models)
on_pixels = g_rows["exact_on_pixels"]
assert g_rows.loc[on_pixels, "error"].max() < 1e-12, \
    f"the G-CNN should be exact to round-off at 0°, 90°, 180°: {g_rows.loc[on_pixels, 'error'].to_dict()}"
assert c_rows.loc[[90.0, 180.0], "error"].min() > 0.1, "the plain CNN's error at 90° and 180° should be of order one"
assert (g_rows.loc[~on_pixels, "error"] < c_rows.loc[~on_pixels, "error"]).all(), \
    "between the quarter turns the G-CNN's error should stay below the plain CNN's"
rotations.pivot_table(index="value", columns="model", values="error", sort=False).rename_axis("angle (degrees)")

# %%
dilations = sweep[sweep["transform"] == "dilation"]
dilations.pivot_table(index="value", columns="model", values="error", sort=False).rename_axis("dilation factor")

# %% [markdown]
# Left: at $0°$, $90°$ and $180°$ the G-CNN's error is round-off (the log axis is clipped at
# $10^{-17}$) while the CNN's is of order one — rotating the input changes what a plain CNN
# computes completely. Between them both errors include the interpolation of the rotated image;
# the G-CNN's error stays far below the CNN's, which bounds how much of the CNN's error is
# interpolation: most of it is the CNN not being rotation-equivariant.
# Right: a dilation is never exact on pixels. The scale measurement (`check_equivariance(...,
# scales=...)`, i.e. `scale_equivariance_error`) already uses smooth inputs, compares only the part
# of the scale axis that both inputs cover and removes the artefacts of truncating that axis to
# $[1, S]$; what is left is the pixel grid itself — dilated, masked kernels resampled on pixels,
# and interpolated outputs. Read the table: the scale group should sit clearly below both
# controls. The SE(2) layer is the sharper control: it is not built for dilations, so whatever the
# scale group gains over it is what dilation equivariance buys. Where it gains nothing at some
# factor, these untrained layers at this size do not show scale equivariance there.
#
# What a pixel grid allows, in one line: exact equivariance for the symmetries of the square
# lattice that the group grid contains (quarter turns, $N$ divisible by 4); everything else is
# approximate and the approximation has to be measured, as here. These are fresh, untrained layers
# on random smooth inputs; whole trained models are measured in chapter 5.
