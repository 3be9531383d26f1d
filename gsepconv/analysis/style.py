"""One look for every figure, and saving it (and animations) next to the tables it is drawn from.

The notebooks (through :mod:`gsepconv.companion`) and the report (:func:`gsepconv.report.make_all`)
save their figures here. matplotlib and seaborn come with the optional ``plot`` extra, so they are
imported inside the functions that draw or save: importing this module needs neither.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from gsepconv.experiments.folders import figures_dir
from gsepconv.experiments.io import atomic_write_bytes

__all__ = ["FORMATS", "set_style", "save_figure", "save_animation"]

#: the formats :func:`save_figure` writes, by file extension
FORMATS = ("png", "svg")


def set_style() -> None:
    """Seaborn's ``whitegrid`` theme with the project's palette and sizes (call once per notebook)."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith(".") or "." in Path(name).name:
        raise ValueError(f"figure name must be a plain file stem like 'mnist_rot_accuracy', got {name!r}")


def save_figure(fig: Any, name: str, profile: str, root: str | Path | None = None, dpi: int = 150) -> dict[str, Path]:
    """Write ``fig`` (a matplotlib figure) to ``results/<profile>/figures/<name>.png`` and ``.svg``,
    atomically; returns the paths by format. ``name`` is a plain file stem such as
    ``"mnist_rot_accuracy_vs_params"`` (no folders, no extension)."""
    _check_name(name)
    out = figures_dir(profile, root)
    import matplotlib as mpl

    paths = {}
    for fmt in FORMATS:
        buffer = io.BytesIO()
        # fixed metadata so that redrawing the same data gives the same bytes
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        with mpl.rc_context({"svg.hashsalt": "gsepconv"}):  # stable SVG element ids: same data, same bytes
            fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
        paths[fmt] = atomic_write_bytes(out / f"{name}.{fmt}", buffer.getvalue())
    return paths


def save_animation(
    animation: Any, name: str, profile: str, root: str | Path | None = None, fps: float = 8.0, dpi: int | None = None
) -> Path:
    """Write ``animation`` (a matplotlib ``FuncAnimation``) as a looping GIF to
    ``results/<profile>/figures/<name>.gif``, atomically (Pillow, offline); returns the path.
    ``dpi``: default the figure's own."""
    from matplotlib.animation import PillowWriter

    _check_name(name)
    out = figures_dir(profile, root)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / f"{name}.gif"
        animation.save(str(scratch), writer=PillowWriter(fps=fps), dpi=dpi)
        return atomic_write_bytes(out / f"{name}.gif", scratch.read_bytes())
