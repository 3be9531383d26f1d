"""When to draw progress bars: only where someone watches them.

A bar redrawn a hundred times is useful on a terminal and in an interactive notebook, and noise
in a log file or a stored notebook output; there the training loop's one line per epoch says the
same. ``$GSEPCONV_PROGRESS=1`` / ``0`` forces bars on / off (``gsepconv reproduce`` sets ``0`` for
the notebooks it executes).
"""

from __future__ import annotations

import os
import sys
from typing import IO

__all__ = ["ENV_PROGRESS", "bars_enabled"]

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
