"""When to draw progress bars: only where someone watches them.

A bar redrawn a hundred times is useful on a terminal and in an interactive notebook, and noise
in a log file or a stored notebook output; there the training loop's one line per epoch says the
same. ``$GSEPCONV_PROGRESS=1`` / ``0`` forces bars on / off (``gsepconv reproduce`` sets ``0`` for
the notebooks it executes).

:data:`tqdm` is the one bar class the package uses: ``tqdm.auto``'s choice (a widget in a notebook
with ipywidgets, text elsewhere), imported without the ``TqdmWarning`` that a kernel lacking
ipywidgets prints — a warning that would otherwise be stored in every executed chapter of the book.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import IO

from tqdm import TqdmWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

__all__ = ["ENV_PROGRESS", "bars_enabled", "tqdm"]

ENV_PROGRESS = "GSEPCONV_PROGRESS"


def bars_enabled(requested: bool | None = True, stream: IO[str] | None = None) -> bool:
    """Whether to draw bars: ``requested`` (``False`` wins), then ``$GSEPCONV_PROGRESS``, then
    whether ``stream`` (default ``sys.stderr``) is a terminal or this is a Jupyter kernel."""
    if requested is False:
        return False
    forced = os.environ.get(ENV_PROGRESS, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    stream = stream if stream is not None else sys.stderr
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # closed or unusual streams
        pass
    return "ipykernel" in sys.modules
