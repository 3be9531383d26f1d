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
# # 1. Lie groups
#
# A group convolution is defined on a group $G = \mathbb{R}^2 \rtimes H$: translations of the
# plane, handled by ordinary convolution, and a subgroup $H \subset GL(2)$ that acts on the plane.
# This chapter shows the three subgroups the library uses
# {cite:p}`knigge2022exploiting`: rotations $SO(2)$, dilations $\mathbb{R}^+$ and their direct
# product $SO(2)\times\mathbb{R}^+$ (which makes the similarity group $\mathrm{Sim}(2)$), and the
# four operations layers ask of them: the group law, $\exp$/$\log$, the action on
# $\mathbb{R}^2$, and finite grids of elements.

# %% tags=["parameters"]
profile = "quick"  # "smoke" | "quick" | "paper": sizes of the figures (nothing is trained here)
device = "cpu"
train = "auto"  # "auto" | "always" | "never" (this chapter trains nothing)

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from gsepconv.analysis.plots import letter_f_points
from gsepconv.companion import check_train_mode, save_figure, set_style
from gsepconv.groups import SO2, Dilation, get_group

check_train_mode(train)
set_style()
MAX_SCALE = 1.74  # the paper's largest dilation: scales 1, 1.319, 1.74 with 3 elements
n_rot = 8
n_scale = 3

# %% [markdown]
# ## Elements, the group law, $\exp$ and $\log$
#
# An element of $H$ is stored as its Lie-algebra coordinates, a tensor `g: [..., dim]`: an angle
# $\theta$ for $SO(2)$ (`dim = 1`), a log-scale $\log s$ for dilations (`dim = 1`), both for
# $SO(2)\times\mathbb{R}^+$ (`dim = 2`). Rotations and isotropic scalings commute, so the product,
# inverse, $\exp$ and $\log$ act coordinate-wise. The only subtlety is that $\log$ on $SO(2)$
# wraps angles into $[-\pi, \pi)$, so $\log(\exp v) = v$ only up to multiples of $2\pi$.
#
# *Question: does $\log \circ \exp$ give back the coordinates, and does $g\,g^{-1}$ give the identity?*

# %%
rotations, dilations = SO2(), Dilation(MAX_SCALE)
sim2 = get_group("Sim2", MAX_SCALE).H  # DirectProduct(SO2, Dilation): coordinates (theta, log s)
v = torch.tensor([[0.5, 0.2], [3.0, -0.4], [7.0, 0.55], [-4.0, 0.0]], dtype=torch.float64)  # [4, 2]
g = sim2.exp(v)
table = pd.DataFrame({
    "v = (theta, log s)": [tuple(np.round(r, 3)) for r in v.tolist()],
    "exp(v)": [tuple(np.round(r, 3)) for r in g.tolist()],
    "log(exp(v))": [tuple(np.round(r, 3)) for r in sim2.log(g).tolist()],
    "|g g^-1 - e|": (sim2.product(g, sim2.inverse(g)) - sim2.identity()).abs().amax(-1).numpy(),
    "det g = s^2": sim2.det(g).numpy().round(3),
})
back = sim2.log(g)
wrapped = torch.tensor([0.5, 3.0, 7.0 - 2 * math.pi, -4.0 + 2 * math.pi], dtype=torch.float64)
assert (back[:, 0] - wrapped).abs().max() < 1e-12, f"log(exp(v)) should wrap the angles into [-pi, pi): got {back[:, 0].tolist()}"
assert (back[:, 1] - v[:, 1]).abs().max() < 1e-12, "log(exp(v)) should give back the log-scales"
assert table["|g g^-1 - e|"].max() < 1e-12, f"g g^-1 should be the identity to round-off, got {table['|g g^-1 - e|'].max():.1e}"
assert (sim2.det(g) - torch.exp(2 * v[:, 1])).abs().max() < 1e-12, "det g should be s^2"
table

# %% [markdown]
# Rows 3 and 4 show the wrap: the angles $7$ and $-4$ come back as $7 - 2\pi$ and $-4 + 2\pi$, the
# same rotations. The products $g\,g^{-1}$ are the identity to round-off, and $\det g = s^2$ is the
# factor by which $g$ scales areas (a dilated kernel is divided by it so its $L^1$ mass stays the
# same). The table checks four elements; the test suite checks the group axioms on random elements
# (hypothesis), which a table cannot.

# %% [markdown]
# ## Finite grids: fixed and randomly offset
#
# A layer samples $N$ elements of $H$. The fixed grid (`H.grid(N)`, used in `eval()`) is
# $\theta_j = 2\pi j/N$ for rotations and $\log s_j = j\,\log S/(N-1)$ for dilations on $[1, S]$
# (log-uniform, which is uniform for the Haar measure of $\mathbb{R}^+$). With
# `sampling="uniform"` every training step shifts the whole grid by one random offset of less than a
# step (`H.sample(N)`), so the kernels are trained on all of $H$, not only on $N$ points, while
# the *relative* elements $h_a^{-1}h_b$, which the kernels actually see, keep the grid's spacing.
# The $\mathrm{Sim}(2)$ grid is the Cartesian product, flattened rotation-major:
# index $= i_\mathrm{rot} \cdot N_s + i_\mathrm{scale}$.
#
# *Question: where do the fixed and the randomly offset elements lie?*

# %%
gen = torch.Generator().manual_seed(0)
samples = 3
fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))

ax = axes[0]  # SO(2) on the unit circle
circle = np.linspace(0, 2 * np.pi, 200)
ax.plot(np.cos(circle), np.sin(circle), color="0.8", lw=1)
for s in range(samples):
    th = rotations.sample(n_rot, generator=gen)[:, 0].numpy()
    ax.scatter(np.cos(th), np.sin(th), s=25, alpha=0.7, label="random offset" if s == 0 else None, color=f"C{s + 1}")
th = rotations.grid(n_rot)[:, 0].numpy()
ax.scatter(np.cos(th), np.sin(th), s=60, color="k", marker="x", label="fixed grid")
for j, t in enumerate(th):
    ax.annotate(str(j), (1.15 * np.cos(t), 1.15 * np.sin(t)), ha="center", va="center", fontsize=8)
ax.set_aspect("equal")
ax.set_xlim(-1.35, 1.35)
ax.set_ylim(-1.35, 1.35)
ax.set_title(f"SO(2), N = {n_rot}")
ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.38), ncol=2, fontsize=8)

ax = axes[1]  # dilations on a log axis
for s in range(samples):
    ls = dilations.sample(n_scale, generator=gen)[:, 0].numpy()
    ax.scatter(np.exp(ls), np.full_like(ls, s + 1), s=25, color=f"C{s + 1}")
ls = dilations.grid(n_scale)[:, 0].numpy()
ax.scatter(np.exp(ls), np.zeros_like(ls), s=60, color="k", marker="x")
ax.axvspan(1.0, MAX_SCALE, color="0.92", zorder=0)
ax.set_xscale("log")
ax.set_xticks([1.0, *np.exp(ls[1:]).round(3)])
ax.set_xticklabels([f"{x:g}" for x in [1.0, *np.exp(ls[1:]).round(3)]])
ax.xaxis.set_minor_formatter(plt.NullFormatter())
ax.set_yticks(range(samples + 1))
ax.set_yticklabels(["fixed", *[f"sample {s + 1}" for s in range(samples)]])
ax.set_xlabel("scale s (log axis)")
ax.set_title(f"dilations on [1, {MAX_SCALE}], N = {n_scale}")

ax = axes[2]  # the Sim(2) product grid
grid = sim2.grid((n_rot // 2, n_scale))  # [N_rot * N_scale, 2], rotation-major
ax.scatter(grid[:, 0].numpy(), np.exp(grid[:, 1].numpy()), s=60, color="k", marker="x")
for idx, (t, lsc) in enumerate(grid.tolist()):
    ax.annotate(str(idx), (t, math.exp(lsc)), textcoords="offset points", xytext=(5, 4), fontsize=8)
sample = sim2.sample((n_rot // 2, n_scale), generator=gen)
ax.scatter(sample[:, 0].numpy(), np.exp(sample[:, 1].numpy()), s=25, color="C1", alpha=0.7, label="random offset")
ax.set_yscale("log")
scales = np.exp(dilations.grid(n_scale)[:, 0].numpy())
ax.set_yticks(scales, [f"{x:.3g}" for x in scales])
ax.yaxis.set_minor_formatter(plt.NullFormatter())
ax.set_xticks(np.arange(4) * np.pi / 2, ["0", r"$\pi/2$", r"$\pi$", r"$3\pi/2$"])
ax.set_xlim(-0.3, 2 * np.pi - 0.4)
ax.set_xlabel(r"rotation $\theta$")
ax.set_ylabel("scale s (log axis)")
ax.set_title(f"Sim(2): {n_rot // 2} rotations x {n_scale} scales (flat index)")
ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.38), fontsize=8)
fig.tight_layout()
save_figure(fig, "01_subgroup_grids", profile)
plt.show()

# %% [markdown]
# Crosses are the fixed grids, dots three random offsets. On the circle a random offset is a
# rotation of the whole grid. On the dilation axis a random offset moves the grid by up to half a
# step either way, so samples reach slightly below 1 and above $S$ (the shaded range): the kernel
# windows are sized for that. The $\mathrm{Sim}(2)$ numbers show the flat, rotation-major order of
# feature maps `[B, C, N_rot·N_s, H, W]`. The figure shows positions only; it does not show how many
# elements a task needs (chapter 5 trains with different $N$).

# %% [markdown]
# ## Relative elements: what a kernel sees
#
# A group-convolution kernel is a function of the relative element $\log(h_a^{-1} h_b)$ between
# the output element $h_a$ and the input element $h_b$ (`H.relative(grid_out, grid_in)`,
# shape `[N_out, N_in, dim]`), never of $h_a$ or $h_b$ alone. That is what makes it equivariant:
# transforming both by the same element leaves the relative element unchanged.
#
# *Question: which relative elements does a grid produce?*

# %%
rel_rot = rotations.relative(rotations.grid(n_rot), rotations.grid(n_rot))[..., 0]  # [N, N]
rel_scale = dilations.relative(dilations.grid(n_scale), dilations.grid(n_scale))[..., 0]  # [N_s, N_s]
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [n_rot, n_scale + 2]})
for ax, values, title, labels in (
    (axes[0], rel_rot / math.pi, r"SO(2): $\log(h_a^{-1}h_b)/\pi$", [f"{j}" for j in range(n_rot)]),
    (axes[1], rel_scale, r"dilations: $\log(h_a^{-1}h_b) = \log s_b - \log s_a$", [f"{math.exp(x):.3g}" for x in dilations.grid(n_scale)[:, 0].tolist()]),
):
    m = float(values.abs().max())
    im = ax.imshow(values.numpy(), cmap="RdBu_r", vmin=-m, vmax=m)
    for (a, b), val in np.ndenumerate(values.numpy()):
        ax.text(b, a, f"{val:.2f}", ha="center", va="center", fontsize=7, color="w" if abs(val) > 0.6 * m else "k")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("input element b")
    ax.set_ylabel("output element a")
    ax.set_title(title, fontsize=10)
    ax.grid(False)
fig.tight_layout()
save_figure(fig, "01_relative_elements", profile)
plt.show()
circulant = (torch.roll(rel_rot, (1, 1), dims=(0, 1)) - rel_rot).abs().max()
assert circulant < 1e-12, f"the SO(2) matrix should be circulant (rows rolled by one step), off by {circulant:.1e}"
assert rel_rot.min() >= -math.pi and rel_rot.max() < math.pi, "SO(2) relative elements should wrap into [-pi, pi)"
toeplitz = (rel_scale[1:, 1:] - rel_scale[:-1, :-1]).abs().max()
assert toeplitz < 1e-12, f"the dilation matrix should be Toeplitz, off by {toeplitz:.1e}"
extremes = ((rel_scale.abs() - math.log(MAX_SCALE)).abs() < 1e-12).sum()
assert extremes == 2 and rel_scale[0, -1] > 0, f"+-log S should occur once each, found {int(extremes)} entries"

# %% [markdown]
# For rotations the matrix is circulant: each row is the previous one rolled by one step, and the
# values wrap at $\pm\pi$ (so the kernel net receives $(\cos v, \sin v)$, continuous across the
# wrap). For dilations it is a Toeplitz matrix of differences of log-scales: the truncated scale
# axis has no wrap, so the extreme differences $\pm\log S$ occur once each. These are the only
# subgroup coordinates a layer ever evaluates its kernel at.

# %% [markdown]
# ## The action on $\mathbb{R}^2$
#
# An element acts on the plane by its $2\times 2$ matrix (`H.act(g, x)`, `g: [..., dim]`,
# `x: [..., 2]`): $R(\theta)x$ for rotations, $s\,x$ for dilations, $s\,R(\theta)x$ for
# $\mathrm{Sim}(2)$. Kernels are evaluated at $h_a^{-1}y$ for pixel offsets $y$: the kernel at
# element $h_a$ is the identity's kernel transformed by $h_a$.
#
# *Question: what do the grid elements do to a shape?*

# %%
shape = 0.4 * letter_f_points() + torch.tensor([1.0, 0.0], dtype=torch.float64)  # [P, 2], placed right of the origin
cases = [
    ("SO(2)", rotations, rotations.grid(n_rot)),
    ("dilations", dilations, dilations.grid(n_scale)),
    ("Sim(2)", sim2, sim2.grid((n_rot // 2, n_scale))),
]
fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
for ax, (name, H, elements) in zip(axes, cases):
    moved = H.act(elements[:, None, :], shape[None])  # [N, P, 2]
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(elements)))
    for j, poly in enumerate(moved.numpy()):
        ax.fill(poly[:, 0], poly[:, 1], color=colours[j], alpha=0.25, lw=1.5, ec=colours[j])
        centre = poly[:-1].mean(0)
        ax.annotate(str(j), centre, ha="center", va="center", fontsize=7)
    ax.plot(shape[:, 0], shape[:, 1], color="k", lw=1.5, label="identity")
    ax.plot([0], [0], marker="+", color="k", ms=10)
    lim = 1.05 * float(moved.abs().max())
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(f"{name}: {len(elements)} grid elements")
axes[0].legend(loc="lower left", fontsize=8)
fig.tight_layout()
save_figure(fig, "01_actions", profile)
plt.show()
stretch = {name: H.act(elements[:, None, :], shape[None]).norm(dim=-1) / shape.norm(dim=-1) for name, H, elements in cases}
assert (stretch["SO(2)"] - 1).abs().max() < 1e-12, "rotations should keep distances"
assert abs(float(stretch["dilations"].max()) - MAX_SCALE) < 1e-12 and float(stretch["dilations"].min()) > 1 - 1e-12, \
    f"dilations should scale distances by 1 to S = {MAX_SCALE}"
assert (stretch["Sim(2)"] - stretch["Sim(2)"][:, :1]).abs().max() < 1e-12, "a Sim(2) element scales all distances alike"

# %% [markdown]
# Each shape is the letter moved by one grid element (numbers = flat index; black outline = the
# identity; the cross is the origin, the fixed point of every element). Rotations keep distances, dilations scale them by up to $S = 1.74$, and $\mathrm{Sim}(2)$
# does both: this growth is why kernels of the scale groups are sampled on windows larger than the
# identity's `kernel_size` (chapter 2). The picture is of continuous points; on a pixel grid only
# rotations by multiples of $90°$ map pixels onto pixels, which chapter 2 measures.
