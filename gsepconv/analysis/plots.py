"""Small drawing helpers shared by the chapters (matplotlib; style from
:func:`gsepconv.companion.set_style`)."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

__all__ = ["crop_to_support", "image_grid", "letter_f_points"]


def crop_to_support(images: Tensor, tol: float = 0.0) -> Tensor:
    """Crop ``images: [..., h, w]`` to the smallest centred square holding every entry with
    ``|x| > tol`` in any image (e.g. the identity's kernel inside a window sized for dilations)."""
    if images.dim() < 2:
        raise ValueError(f"images must have at least 2 dimensions [..., h, w], got {tuple(images.shape)}")
    h, w = images.shape[-2:]
    mask = (images.detach().abs() > tol).reshape(-1, h, w).any(0)
    if not mask.any():
        return images
    rows, cols = torch.nonzero(mask, as_tuple=True)
    margin = min(int(rows.min()), h - 1 - int(rows.max()), int(cols.min()), w - 1 - int(cols.max()))
    return images[..., margin:h - margin, margin:w - margin]


def image_grid(images: Tensor, row_labels: Sequence[str] = (), col_labels: Sequence[str] = (),
               cmap: str = "RdBu_r", symmetric: bool = True, share_scale: str = "all",
               cell: float = 0.9, title: str | None = None) -> Any:
    """Draw ``images: [R, C, h, w]`` as an ``R × C`` grid of framed panels; returns the figure.

    ``symmetric``: colour range ``±max|x|`` (kernels, signed feature maps) instead of min..max;
    ``share_scale``: ``"all"`` one range for the whole grid, ``"row"`` one per row. The panels are
    drawn as one mosaic image (fast to render and small as SVG even for dozens of panels)."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    if images.dim() != 4:
        raise ValueError(f"images must be [rows, cols, h, w], got shape {tuple(images.shape)}")
    if share_scale not in ("all", "row"):
        raise ValueError(f"share_scale must be 'all' or 'row', got {share_scale!r}")
    imgs = images.detach().to("cpu", torch.float64)
    rows, cols, h, w = imgs.shape
    gap = max(1, round(0.25 * max(h, w)))
    canvas = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for r in range(rows):
        scope = imgs if share_scale == "all" else imgs[r]
        if symmetric:
            m = float(scope.abs().max()) or 1.0
            lo, hi = -m, m
        else:
            lo, hi = float(scope.min()), float(scope.max())
            hi = hi if hi > lo else lo + 1.0
        for c in range(cols):
            y0, x0 = r * (h + gap), c * (w + gap)
            canvas[y0:y0 + h, x0:x0 + w] = (2.0 * (imgs[r, c].numpy() - lo) / (hi - lo)) - 1.0  # to [-1, 1]
    label_w = 1.2 if row_labels else 0.2
    fig, ax = plt.subplots(figsize=(cell * cols + label_w, cell * rows + (0.45 if col_labels else 0.1) + (0.35 if title else 0)))
    colours = plt.get_cmap(cmap).with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(canvas), cmap=colours, vmin=-1, vmax=1, interpolation="nearest")
    for r in range(rows):
        for c in range(cols):
            ax.add_patch(Rectangle((c * (w + gap) - 0.5, r * (h + gap) - 0.5), w, h, fill=False, ec="0.8", lw=0.8))
    for c, label in enumerate(col_labels[:cols]):
        ax.text(c * (w + gap) + (w - 1) / 2, -0.12 * h - 0.5, label, ha="center", va="bottom", fontsize=9)
    for r, label in enumerate(row_labels[:rows]):
        ax.text(-0.12 * w - 0.5, r * (h + gap) + (h - 1) / 2, label, ha="right", va="center", fontsize=9)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=11, pad=22 if col_labels else 6)
    fig.tight_layout()
    return fig


def letter_f_points() -> Tensor:
    """The outline of a letter "F" as a closed polygon ``[P, 2]`` (float64) around the origin,
    inside the unit disk: a shape with no symmetry, to show what group elements do to the plane."""
    pts = [(-0.3, -0.7), (-0.3, 0.7), (0.45, 0.7), (0.45, 0.45), (-0.05, 0.45), (-0.05, 0.15), (0.3, 0.15),
           (0.3, -0.1), (-0.05, -0.1), (-0.05, -0.7), (-0.3, -0.7)]
    return torch.tensor(pts, dtype=torch.float64)
