"""Models: the paper's G-ResNet, a small G-CNN and an All-CNN-C-style G-CNN, for any group.

``build_model(group="Z2")`` gives the ordinary CNN of the same architecture (plain ``nn.Conv2d``),
the baseline of every table.
"""

from __future__ import annotations

from .build import ARCHS, GCNN, AllCNNC, GResNet, LayerFactory, ResidualBlock, build_model, count_parameters

__all__ = ["ARCHS", "AllCNNC", "GCNN", "GResNet", "LayerFactory", "ResidualBlock", "build_model", "count_parameters"]
