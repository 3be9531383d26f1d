"""Side by side with the original implementation, and the conv-only limit.

``gsepconv bench --against PATH`` times our G-ResNet and the original code's ``CKGResNet`` (a
checkout of github.com/david-knigge/separable-group-convolutional-networks that the user has
cloned; nothing of it is vendored or required) on the same case, alternating their training steps
in one process, so that both see the same machine state; only such a same-run ratio means
anything (machines differ by 2x and more).

:func:`conv_only_model` is the limit a G-CNN training step can approach in float32: the same
convolutions, batch norms and read-out with the sampled kernels replaced by free weights (no
kernel nets, no sampling). The benchmark times its training step with channels-last (as ours)
and with plain NCHW convolutions; the faster of the two is ``conv_only_train_ms``.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from gsepconv.nn import ExportedConv, export

__all__ = [
    "Original",
    "load_original",
    "original_model",
    "conv_only_model",
    "ORIGINAL_IMPLEMENTATIONS",
    "ORIGINAL_URL",
    "has_original",
]

ORIGINAL_URL = "https://github.com/david-knigge/separable-group-convolutional-networks"

#: our implementation name -> the original's (``None``: the original has no such layer)
ORIGINAL_IMPLEMENTATIONS: dict[str, str | None] = {
    "nonseparable": "nonseparable",
    "separable": "separable",
    "gseparable": "gseparable",
    "dseparable": "dseparable",
    "dgseparable": "dgseparable",
    "separable2d": "separable+2d",
    "gseparable2d": "gseparable+2d",
}

#: our group name -> the class name in the original's ``ck_g_cnn.groups``
_ORIGINAL_GROUPS = {"SE2": "SE2", "R2xRplus": "Rplus", "Sim2": "Sim2"}


@dataclass(frozen=True)
class Original:
    """The original code, imported from a checkout: its ``ck_g_cnn.groups`` and ``ck_g_cnn.nn``."""

    path: Path
    groups: ModuleType
    nn: ModuleType


@contextlib.contextmanager
def _on_path(path: Path) -> Iterator[None]:
    sys.path.insert(0, str(path))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(path))


def load_original(path: str | Path) -> Original:
    """Import the original implementation from the checkout at ``path``; a ``ValueError`` saying
    how to get one when ``path`` is not such a checkout or does not import."""
    path = Path(path).expanduser().resolve()
    marker = path / "ck_g_cnn" / "nn" / "ck_g_resnet.py"
    if not marker.is_file():
        raise ValueError(
            f"{path} is not a checkout of the original implementation (no {marker.relative_to(path)}); "
            f"get one with `git clone {ORIGINAL_URL}` and pass its folder to --against"
        )
    loaded = sys.modules.get("ck_g_cnn")
    if loaded is not None and Path(loaded.__file__ or "").resolve().parent.parent != path:
        raise ValueError(
            f"another copy of the original code is already imported from {loaded.__file__}; "
            f"compare against one checkout per process"
        )
    try:
        with _on_path(path):
            groups = importlib.import_module("ck_g_cnn.groups")
            nn_module = importlib.import_module("ck_g_cnn.nn")
    except Exception as err:  # its own import errors: say which checkout failed and why
        raise ValueError(
            f"the original implementation at {path} does not import with this environment: {type(err).__name__}: {err}"
        ) from None
    return Original(path, groups, nn_module)


def original_model(
    original: Original,
    group: str,
    implementation: str,
    num_elements: Any,
    *,
    widths: tuple[int, ...],
    kernel_size: int,
    hidden_features: int,
    image_size: int,
    max_scale: float = 1.74,
    in_channels: int = 1,
    num_classes: int = 10,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """The original's ``CKGResNet`` for one of our benchmark cases: same widths, kernel size,
    SIREN width (one hidden layer), number of group elements, fixed (discretised) grid, batch
    norm and pooling, on ``device``. ``ValueError`` for a group or implementation the original
    lacks. The group goes to ``device`` before the network is built, as the original's
    ``run_experiment.py`` does: its kernels create their grids on the group's device as plain
    attributes, which a later ``.to(device)`` does not move."""
    impl = ORIGINAL_IMPLEMENTATIONS.get(implementation)
    if group not in _ORIGINAL_GROUPS or impl is None:
        raise ValueError(f"the original implementation has no {group} {implementation!r} layer")
    cls = getattr(original.groups, _ORIGINAL_GROUPS[group])
    grp = (cls() if group == "SE2" else cls(max_scale=max_scale)).to(device)
    n = list(num_elements) if isinstance(num_elements, tuple) else num_elements
    return original.nn.CKGResNet(
        group=grp,
        in_channels=in_channels,
        out_channels=num_classes,
        spatial_in_size=image_size,
        implementation=impl,
        num_group_elem=n,
        kernel_size=kernel_size,
        bias=False,
        padding=True,
        hidden_sizes=list(widths),
        ck_net_num_hidden=1,
        ck_net_hidden_size=hidden_features,
        ck_net_implementation="SIREN",
        ck_net_first_omega_0=10.0,
        ck_net_omega_0=10.0,
        stride=1,
        dropout=0,
        sampling_method="discretise",
        pooling=True,
        normalisation="batchnorm",
        widen_factor=1,
    ).to(device)


def has_original(group: str, implementation: str) -> bool:
    """Whether the original implementation has this group × implementation (not the Z2 CNN)."""
    return group in _ORIGINAL_GROUPS and ORIGINAL_IMPLEMENTATIONS.get(implementation) is not None


def conv_only_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose lifting/group convolutions are their exported convolutions with
    the sampled kernels as free, trainable weights: what training costs without kernel nets.
    Everything else (norms, pooling, read-out) is the same module."""
    was_training = model.training
    out = export(model)  # eval-mode deep copy; exported kernels are buffers, parameters frozen
    for module in out.modules():
        if isinstance(module, ExportedConv):
            for i in range(module.num_weights):
                name = f"weight{i}"
                weight = getattr(module, name)
                delattr(module, name)
                module.register_parameter(name, nn.Parameter(weight.detach().clone()))
    for p in out.parameters():
        p.requires_grad_(True)
    model.train(was_training)
    return out.train(was_training)
