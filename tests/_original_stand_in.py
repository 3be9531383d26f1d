"""A stand-in checkout of the original implementation for tests of ``--against``.

The original code is not vendored and not fetched by the tests: this folder has its layout and
constructor (``ck_g_cnn.nn.CKGResNet``, ``ck_g_cnn.groups``) so the plumbing can be checked."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

STAND_IN = '''
import torch
from torch import nn

CALLS = []


class CKGResNet(nn.Module):
    """Stand-in with the original's constructor: a small CNN whose width follows hidden_sizes."""

    def __init__(self, group, in_channels, out_channels, spatial_in_size, implementation, num_group_elem,
                 kernel_size, bias, padding, hidden_sizes, ck_net_num_hidden, ck_net_hidden_size,
                 ck_net_implementation, ck_net_first_omega_0, ck_net_omega_0, stride, dropout,
                 sampling_method, pooling, normalisation, widen_factor):
        super().__init__()
        CALLS.append(dict(group=type(group).__name__, implementation=implementation, num_group_elem=num_group_elem,
                          hidden_sizes=hidden_sizes, kernel_size=kernel_size, sampling_method=sampling_method))
        # like the original's kernels: a grid made on the group's device, a plain attribute that a
        # later .to(device) leaves where it is
        self.grid = torch.zeros(2, device=group.identity.device)
        self.body = nn.Sequential(nn.Conv2d(in_channels, hidden_sizes[0], kernel_size, padding=kernel_size // 2),
                                  nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(hidden_sizes[0], out_channels))

    def forward(self, x):
        return self.body(x)
'''

GROUPS = """
import torch
from torch import nn


class Group(nn.Module):
    def __init__(self, identity):
        super().__init__()
        self.register_buffer("identity", torch.tensor(identity))


class SE2(Group):
    def __init__(self):
        super().__init__([0.0])


class Rplus(Group):
    def __init__(self, max_scale=3):
        super().__init__([1.0])
        self.max_scale = max_scale


class Sim2(Group):
    def __init__(self, max_scale=3.0):
        super().__init__([0.0, 1.0])
        self.max_scale = max_scale
"""


def make_checkout(parent: Path) -> Path:
    """A folder laid out like the original repository, with stand-in modules."""
    root = parent / "separable-group-convolutional-networks"
    (root / "ck_g_cnn" / "nn").mkdir(parents=True)
    (root / "ck_g_cnn" / "groups").mkdir()
    (root / "ck_g_cnn" / "__init__.py").write_text("")
    (root / "ck_g_cnn" / "groups" / "__init__.py").write_text(textwrap.dedent(GROUPS))
    (root / "ck_g_cnn" / "nn" / "__init__.py").write_text("from ck_g_cnn.nn.ck_g_resnet import CKGResNet, CALLS\n")
    (root / "ck_g_cnn" / "nn" / "ck_g_resnet.py").write_text(textwrap.dedent(STAND_IN))
    return root


def forget_checkout() -> None:
    """Unimport the stand-in so the next test can load another checkout."""
    for name in [m for m in sys.modules if m == "ck_g_cnn" or m.startswith("ck_g_cnn.")]:
        del sys.modules[name]
