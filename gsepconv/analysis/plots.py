"""Small drawing helpers shared by the chapters (matplotlib; style from
:func:`gsepconv.companion.set_style`)."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

__all__ = ["image_grid", "letter_f_points"]


def image_grid(images: Tensor, row_labels: Sequence[str] = (), col_labels: Sequence[str] = (),
               cmap: str = "RdBu_r", symmetric: bool = True, share_scale: str = "all",
               cell: float = 0.9, title: str | None = None) -> Any:
    """Draw ``images: [R, C, h, w]`` as an ``R × C`` grid without axes; returns the figure.

    ``symmetric``: colour range ``±max|x|`` (kernels, signed feature maps) instead of min..max;
    ``share_scale``: ``"all"`` one range for the whole grid, ``"row"`` one per row."""
    import matplotlib.pyplot as plt

    if images.dim() != 4:
        raise ValueError(f"images must be [rows, cols, h, w], got shape {tuple(images.shape)}")
    if share_scale not in ("all", "row"):
        raise ValueError(f"share_scale must be 'all' or 'row', got {share_scale!r}")
    imgs = images.detach().to("cpu", torch.float64)
    rows, cols = imgs.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols + (1.2 if row_labels else 0.2), cell * rows + 0.4),
                             squeeze=False)
    for r in range(rows):
        scope = imgs if share_scale == "all" else imgs[r]
        if symmetric:
            m = float(scope.abs().max()) or 1.0
            lo, hi = -m, m
        else:
            lo, hi = float(scope.min()), float(scope.max())
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(imgs[r, c].numpy(), cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if r == 0 and c < len(col_labels):
                ax.set_title(col_labels[c], fontsize=9)
            if c == 0 and r < len(row_labels):
                ax.set_ylabel(row_labels[r], fontsize=9, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def letter_f_points() -> Tensor:
    """The outline of a letter "F" as a closed polygon ``[P, 2]`` (float64) around the origin,
    inside the unit disk: a shape with no symmetry, to show what group elements do to the plane."""
    pts = [(-0.3, -0.7), (-0.3, 0.7), (0.45, 0.7), (0.45, 0.45), (-0.05, 0.45), (-0.05, 0.15), (0.3, 0.15),
           (0.3, -0.1), (-0.05, -0.1), (-0.05, -0.7), (-0.3, -0.7)]
    return torch.tensor(pts, dtype=torch.float64)
