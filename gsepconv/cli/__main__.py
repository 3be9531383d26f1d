"""``python -m gsepconv.cli``: the same as ``python -m gsepconv``."""

from __future__ import annotations

import sys

from .entry_point import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
