"""Small helpers shared by the core test modules."""

from __future__ import annotations

import torch

F64 = torch.float64
#: small kernel nets keep the tests fast
SMALL = {"hidden_features": 16}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative error ``‖a − b‖ / ‖b‖``."""
    return float((a - b).detach().norm() / b.detach().norm().clamp_min(1e-300))
