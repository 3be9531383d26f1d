"""``python -m gsepconv``: the same command line as ``gsepconv`` (see :mod:`gsepconv.cli`)."""

from __future__ import annotations

import sys

from gsepconv.cli import main

if __name__ == "__main__":
    sys.exit(main())
