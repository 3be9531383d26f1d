"""Small helpers shared by the core test modules."""

from __future__ import annotations

import torch

F64 = torch.float64
#: small kernel nets keep the tests fast
SMALL = {"hidden_features": 16}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative error ``‖a − b‖ / ‖b‖``."""
    return float((a - b).detach().norm() / b.detach().norm().clamp_min(1e-300))


def _mirror() -> "Path":
    """The offline data mirror: $GSEPCONV_TEST_MIRROR, else $GSEPCONV_MIRROR (set by the Makefile and
    .ci/run), else ``shared/data`` beside the repository."""
    import os
    from pathlib import Path

    for var in ("GSEPCONV_TEST_MIRROR", "GSEPCONV_MIRROR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path(__file__).resolve().parents[2] / "shared" / "data"


MIRROR = _mirror()
