"""Small drawing helpers shared by the chapters (matplotlib; style from
:func:`gsepconv.analysis.style.set_style`).

matplotlib comes with the optional ``plot`` extra: it is imported inside the functions that draw,
so that the analyses, which import this package, need it only to draw.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["crop_to_support", "film_animation", "image_grid", "letter_f_points", "offline_jshtml"]


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
    return images[..., margin : h - margin, margin : w - margin]


def image_grid(
    images: Tensor,
    row_labels: Sequence[str] = (),
    col_labels: Sequence[str] = (),
    cmap: str = "RdBu_r",
    symmetric: bool = True,
    share_scale: str = "all",
    cell: float = 0.9,
    title: str | None = None,
) -> Any:
    """Draw ``images: [R, C, h, w]`` as an ``R × C`` grid of framed panels; returns the figure.

    ``symmetric``: colour range ``±max|x|`` (kernels, signed feature maps) instead of min..max;
    ``share_scale``: ``"all"`` one range for the whole grid, ``"row"`` one per row. The panels are
    drawn as one mosaic image (fast to render and small as SVG even for dozens of panels)."""
    import matplotlib.pyplot as plt
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
            canvas[y0 : y0 + h, x0 : x0 + w] = (2.0 * (imgs[r, c].numpy() - lo) / (hi - lo)) - 1.0  # to [-1, 1]
    label_w = 1.2 if row_labels else 0.2
    fig, ax = plt.subplots(
        figsize=(cell * cols + label_w, cell * rows + (0.45 if col_labels else 0.1) + (0.35 if title else 0))
    )
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
    pts = [
        (-0.3, -0.7),
        (-0.3, 0.7),
        (0.45, 0.7),
        (0.45, 0.45),
        (-0.05, 0.45),
        (-0.05, 0.15),
        (0.3, 0.15),
        (0.3, -0.1),
        (-0.05, -0.1),
        (-0.05, -0.7),
        (-0.3, -0.7),
    ]
    return torch.tensor(pts, dtype=torch.float64)


def film_animation(
    film: Any,
    labels: Mapping[str, str] | None = None,
    cell: float = 0.8,
    dpi: int = 72,
    interval_ms: int = 150,
    cmap: str = "magma",
) -> tuple[Any, Any]:
    """Animate a :class:`~gsepconv.analysis.film.RotationFilm`: the rotated input on the left,
    then one row per model with its channel's ``N`` group-axis slices (one colour range per model
    over all frames, zero black). The slice with the most energy in each frame has an orange
    frame, so a roll along the group axis is visible at a glance. Returns ``(figure,
    FuncAnimation)`` (``dpi`` sets the size of the frames it renders; close the figure after
    rendering, or a notebook shows it once more as a still)."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    names = list(film.maps)
    labels = {name: (labels or {}).get(name, name) for name in names}
    slots = max(m.shape[1] for m in film.maps.values())
    fig = plt.figure(figsize=(cell * (slots + 2.4) + 0.3, cell * len(names) + 0.75), dpi=dpi)
    shown, images, frames = _film_panels(fig, film, labels, slots, cell, cmap)
    caption = fig.suptitle("", fontsize=10)
    draw = _film_drawer(film, shown, caption, images, frames)
    draw(0)
    return fig, FuncAnimation(fig, draw, frames=len(film.angles), interval=interval_ms, blit=False)


def _film_panels(
    fig: Any, film: Any, labels: Mapping[str, str], slots: int, cell: float, cmap: str
) -> tuple[Any, dict[str, list[Any]], dict[str, list[Any]]]:
    """Lay out the first frame of ``film`` on ``fig``: the input image spanning every row, a gap
    column for the model labels, then per model (one row each, in the order of ``labels``) its
    ``N`` group-axis slices titled with their angle ``360°·a/N``. Returns ``(input image, images,
    axes)``, the last two per model name, one entry per slice."""
    names = list(labels)
    grid = fig.add_gridspec(
        len(names),
        slots + 2,
        width_ratios=[1.0, 1.4] + [1.0] * slots,
        wspace=0.06,
        hspace=0.3,
        left=0.02,
        right=0.99,
        top=1 - 0.55 / (cell * len(names) + 0.75),
        bottom=0.02,
    )
    inp = fig.add_subplot(grid[:, 0])
    shown = inp.imshow(film.images[0].numpy(), cmap="gray", vmin=0.0, vmax=float(film.images.max()) or 1.0)
    inp.set_title("input", fontsize=9)
    images: dict[str, list[Any]] = {}
    frames: dict[str, list[Any]] = {}
    for r, name in enumerate(names):
        maps = film.maps[name]
        top = float(maps.abs().max()) or 1.0
        images[name], frames[name] = [], []
        for a in range(maps.shape[1]):
            ax = fig.add_subplot(grid[r, 2 + a])
            images[name].append(ax.imshow(maps[0, a].numpy(), cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest"))
            if maps.shape[1] > 1:
                ax.set_title(f"{360 * a / maps.shape[1]:g}°", fontsize=7, pad=2)
            frames[name].append(ax)
        frames[name][0].text(
            -0.08,
            0.5,
            labels[name],
            transform=frames[name][0].transAxes,
            ha="right",
            va="center",
            fontsize=8,
            wrap=True,
        )
    for ax in fig.axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return shown, images, frames


def _film_drawer(
    film: Any, shown: Any, caption: Any, images: Mapping[str, list[Any]], frames: Mapping[str, list[Any]]
) -> Callable[[int], list[Any]]:
    """``draw(t)``: show frame ``t`` of ``film`` on the panels of :func:`_film_panels` (the slice
    of largest norm per model framed in orange, the others in grey) and return the artists it
    changed."""

    def draw(t: int) -> list[Any]:
        shown.set_data(film.images[t].numpy())
        changed = [shown, caption]
        for name in images:
            maps = film.maps[name][t]
            brightest = int(maps.flatten(1).norm(dim=1).argmax())
            for a, (im, ax) in enumerate(zip(images[name], frames[name])):
                im.set_data(maps[a].numpy())
                highlight = len(frames[name]) > 1 and a == brightest
                for spine in ax.spines.values():
                    spine.set_edgecolor("orange" if highlight else "0.7")
                    spine.set_linewidth(2.5 if highlight else 0.6)
                changed.append(im)
        caption.set_text(f"input rotated by {float(film.angles[t]):g}°")
        return changed

    return draw


#: matplotlib's animation buttons use Font Awesome icons from a CDN; offline they are blank, so
#: they become plain characters (U+FE0E asks for the text form, not an emoji)
_BUTTON_GLYPHS = {
    "fa-minus": "\u2212",
    "fa-fast-backward": "|\u25c0\ufe0e\u25c0\ufe0e",
    "fa-step-backward": "|\u25c0\ufe0e",
    "fa-play fa-flip-horizontal": "\u25c0\ufe0e",
    "fa-pause": "\u275a\u275a",
    "fa-play": "\u25b6\ufe0e",
    "fa-step-forward": "\u25b6\ufe0e|",
    "fa-fast-forward": "\u25b6\ufe0e\u25b6\ufe0e|",
    "fa-plus": "+",
}
_REMOTE = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def offline_jshtml(animation: Any, fps: float | None = None, default_mode: str = "loop") -> str:
    """``animation.to_jshtml()`` made to work without a network and to be the same for the same
    frames: the frames are embedded PNGs; the Font Awesome stylesheet it links from a CDN is
    dropped and the button icons become plain characters; the random element id becomes a hash of
    the content. Raises ``RuntimeError`` if anything would still load from the network."""
    html = animation.to_jshtml(fps=fps, embed_frames=True, default_mode=default_mode)
    html = re.sub(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", "", html, flags=re.IGNORECASE)
    html = re.sub(
        r'<i class="fa (fa-[a-z-]+(?: fa-flip-horizontal)?)"></i>',
        lambda m: _BUTTON_GLYPHS.get(m.group(1), m.group(1).removeprefix("fa-")),
        html,
    )
    ids = set(re.findall(r"_anim_img([0-9a-f]{32})", html))
    for old in ids:
        stable = hashlib.sha256(html.replace(old, "").encode()).hexdigest()[:32]
        html = html.replace(old, stable)
    remote = _REMOTE.search(html)
    if remote:
        start = max(0, remote.start() - 60)
        raise RuntimeError(f"the animation's HTML would load from the network: ...{html[start : remote.end() + 60]}...")
    return html
