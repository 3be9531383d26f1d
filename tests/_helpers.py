"""Small helpers shared by the core test modules."""

from __future__ import annotations

import os
from pathlib import Path

import torch

F64 = torch.float64
#: small kernel nets keep the tests fast
SMALL = {"hidden_features": 16}


def not_a_folder(tmp_path: Path) -> Path:
    """A folder path no user can write to, root included: below a regular file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "results"


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative error ``‖a − b‖ / ‖b‖``."""
    return float((a - b).detach().norm() / b.detach().norm().clamp_min(1e-300))


def _mirror() -> Path:
    """The offline data mirror: $GSEPCONV_TEST_MIRROR, else $GSEPCONV_MIRROR (set by the Makefile and
    .ci/run), else ``shared/data`` beside the repository."""
    for var in ("GSEPCONV_TEST_MIRROR", "GSEPCONV_MIRROR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path(__file__).resolve().parents[2] / "shared" / "data"


MIRROR = _mirror()
#: CI (``$CI`` set, as .ci/run and GitHub Actions do): missing inputs fail instead of skipping.
IN_CI = bool(__import__("os").environ.get("CI"))

#: The mirror files the data-dependent tests read.
MNIST_RAW = (
    "MNIST/raw/train-images-idx3-ubyte.gz",
    "MNIST/raw/train-labels-idx1-ubyte.gz",
    "MNIST/raw/t10k-images-idx3-ubyte.gz",
    "MNIST/raw/t10k-labels-idx1-ubyte.gz",
)
CIFAR_SUBSET = ("CIFAR10-subset/cifar10_subset_4000_1000.npz",)


def _missing_reason(relpaths: tuple[str, ...]) -> str | None:
    missing = [p for p in relpaths if not (MIRROR / p).is_file()]
    if not missing:
        return None
    return f"the offline data mirror {MIRROR} lacks {', '.join(missing)} (set $GSEPCONV_MIRROR, e.g. to ../shared/data)"


def require_mirror(*relpaths: str) -> None:
    """Inside a test or fixture: the mirror must hold ``relpaths`` (default: MNIST and the CIFAR-10
    subset). Locally a missing file skips; in CI it fails, so a green CI run cannot have skipped
    the data tests."""
    import pytest

    reason = _missing_reason(relpaths or MNIST_RAW + CIFAR_SUBSET)
    if reason is None:
        return
    if IN_CI:
        pytest.fail(reason + "; CI must have the mirror (.ci/run and the workflow prepare it)")
    pytest.skip(reason)


def needs_mirror(*relpaths: str):
    """Decorator form of :func:`require_mirror` for a test function."""
    import functools

    def decorate(test):
        @functools.wraps(test)
        def wrapper(*args, **kwargs):
            require_mirror(*relpaths)
            return test(*args, **kwargs)

        return wrapper

    return decorate


def assert_path_trains_as_without(layer, x, monkeypatch, path: str, rule: str) -> None:
    """Trains ``layer`` one step on ``x`` (loss: the output's sum of squares) with the convolution
    path ``gsepconv.nn.implementations.<path>`` counted, then with ``<rule>`` answering ``False``
    (oneDNN): the layer took the path, and the output and every parameter's gradient are equal."""
    import gsepconv.nn.implementations as impls

    def run():
        layer.zero_grad()
        y = layer(x)
        y.square().sum().backward()
        return y.detach(), [p.grad.clone() for p in layer.parameters()]

    calls = []
    fn = getattr(impls, path)

    def counted(*args):
        calls.append(args[1].shape)
        return fn(*args)

    monkeypatch.setattr(impls, path, counted)
    y1, g1 = run()
    assert calls, f"the layer did not take {path}"
    monkeypatch.setattr(impls, rule, lambda *a: False)
    calls.clear()
    y2, g2 = run()
    assert not calls
    assert rel(y1, y2) < 1e-13
    assert all(rel(a, b) < 1e-12 for a, b in zip(g1, g2))
