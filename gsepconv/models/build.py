"""Architectures built from a :class:`LayerFactory`, which hides whether layers are group
convolutions (SE2, R2xRplus, Sim2) or plain convolutions (Z2). Every model maps an image batch
``[B, C, H, W]`` to logits ``[B, num_classes]`` and is invariant to the group by construction
(max over group elements and space at the end)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..groups.affine import GROUPS, get_group, given_options
from ..kernels.kernel import kernel_window
from ..nn.conv import GroupConv, LiftingConv
from ..nn.grid import SAMPLINGS, GroupGrid
from ..nn.implementations import IMPLEMENTATIONS
from ..nn.layers import GroupBatchNorm, InvariantPool, PlanarConv, SpatialMaxPool

ARCHS = ("cnn", "resnet", "allcnnc")
ALL_GROUPS = ("Z2",) + tuple(GROUPS)


class LayerFactory:
    """Makes the layers of one network; all group layers share one :class:`GroupGrid`.

    Args:
        group: ``"Z2"``, ``"SE2"``, ``"R2xRplus"`` or ``"Sim2"``.
        implementation: group-convolution implementation (ignored for Z2).
        num_elements: ``int`` (SE2, R2xRplus) or ``(n_rot, n_scale)`` (Sim2).
        sampling: ``"discretise"`` or ``"uniform"``.
        max_scale: largest dilation for the scale groups.
        mask_sigma: width (in units of ``log max_scale``) of the smooth mask along relative
            log-scale of the scale groups (``None``: no mask).
        kernel_options: ``kernel_net``, ``mask`` and the kernel net's own options.
    """

    def __init__(
        self,
        group: str,
        implementation: str,
        num_elements: int | Sequence[int],
        sampling: str,
        max_scale: float | None,
        kernel_options: dict[str, Any],
        mask_sigma: float | None = None,
        skip_hidden_ratio: float = 0.5,
    ) -> None:
        if group not in ALL_GROUPS:
            raise ValueError(f"unknown group {group!r}; choose one of {', '.join(ALL_GROUPS)}")
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLINGS)}")
        self.group_name = group
        self.kernel_options = dict(kernel_options)
        if not (isinstance(skip_hidden_ratio, (int, float)) and 0 < skip_hidden_ratio <= 4):
            raise ValueError(f"skip_hidden_ratio must be a number in (0, 4], got {skip_hidden_ratio!r}")
        self.skip_hidden_ratio = float(skip_hidden_ratio)
        if group == "Z2":
            ignored = given_options(max_scale=max_scale, mask_sigma=mask_sigma)
            ignored += [f"{k}={v!r}" for k, v in kernel_options.items()]
            if ignored:
                raise ValueError(
                    f"{', '.join(ignored)}: group Z2 (a plain CNN) has no continuous kernels or "
                    "scale axis, so these options would be ignored — leave them out"
                )
            self.group, self.grid, self.implementation = None, None, None
            return
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"unknown implementation {implementation!r}; choose one of {', '.join(IMPLEMENTATIONS)}")
        self.group = get_group(group, max_scale, mask_sigma)
        if implementation not in self.group.implementations:
            raise ValueError(
                f"implementation {implementation!r} is not available for {group}; "
                f"choose one of {', '.join(self.group.implementations)}"
            )
        self.implementation = implementation
        self.grid = GroupGrid(self.group.H, num_elements, sampling)

    def lift(self, cin: int, cout: int, k: int, stride: int = 1, padding: Any = "same") -> nn.Module:
        if self.group is None:
            return PlanarConv(cin, cout, k, stride, padding, bias=False)
        return LiftingConv(
            self.group,
            cin,
            cout,
            k,
            self.grid.num_elements,
            stride=stride,
            padding=padding,
            bias=False,
            grid=self.grid,
            layout=IMPLEMENTATIONS[self.implementation].layout,
            **self.kernel_options,
        )

    def conv(self, cin: int, cout: int, k: int, stride: int = 1, padding: Any = "same", **overrides: Any) -> nn.Module:
        """A group convolution (the plain CNN's convolution for Z2); ``overrides`` replace kernel options."""
        if self.group is None:
            return PlanarConv(cin, cout, k, stride, padding, bias=False)
        return GroupConv(
            self.group,
            cin,
            cout,
            k,
            self.grid.num_elements,
            implementation=self.implementation,
            stride=stride,
            padding=padding,
            bias=False,
            grid=self.grid,
            **{**self.kernel_options, **overrides},
        )

    def skip(self, cin: int, cout: int) -> nn.Module:
        """The 1×1 convolution of a residual skip whose width changes (a pointwise kernel is a
        function of the subgroup coordinate alone). Its kernel nets are ``skip_hidden_ratio`` times
        as wide as the others: default 0.5, as in the paper's code; chapter 4 of the book and
        ``gsepconv compare --vary skip_hidden_ratio=1.0`` measure the effect."""
        if self.group is None:
            return self.conv(cin, cout, 1)
        hidden = self.kernel_options.get("hidden_features", 64)
        return self.conv(cin, cout, 1, hidden_features=max(1, round(hidden * self.skip_hidden_ratio)))

    def valid_padding(self, k: int) -> int:
        """Padding that makes a layer of identity size ``k`` shrink the map by ``k - 1`` like a
        'valid' convolution of the plain CNN, whatever the (dilation-grown) window: the same
        output sizes in every group, and scale groups fit small maps."""
        if self.group is None:
            return 0
        window, _ = kernel_window(self.group.H, k, self.grid.num_elements, self.grid.sampling)
        return (window - k) // 2

    @staticmethod
    def norm(c: int, relu: bool = False) -> nn.Module:
        """Group batch norm (with a fused ReLU when ``relu``)."""
        return GroupBatchNorm(c, relu=relu)


class ResidualBlock(nn.Module):
    """``conv(C_i→C_i)–BN–ReLU–conv(C_i→C_o)–BN–ReLU`` plus a skip (identity, or a 1×1 group
    convolution when the width changes), then ReLU. ``[B, C_i, N, H, W] → [B, C_o, N, H, W]``."""

    def __init__(self, layers: LayerFactory, cin: int, cout: int, kernel_size: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            layers.conv(cin, cin, kernel_size),
            layers.norm(cin, relu=True),
            layers.conv(cin, cout, kernel_size),
            layers.norm(cout, relu=True),
        )
        self.skip = nn.Identity() if cin == cout else layers.skip(cin, cout)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        return torch.relu(self.body(x) + self.skip(x))


class GResNet(nn.Module):
    """The paper's MNIST-rot ResNet (Knigge, Romero & Bekkers 2022, experiments): lifting (k) → BN → ReLU → per further width a
    residual block, BN, 2×2 spatial max-pool, ReLU → final valid group conv (k=3) → BN → ReLU →
    max over (H, x, y) → Linear(256) → BN1d → ReLU → Dropout(0.3) → Linear(classes)."""  # noqa: E501 (a docstring line, not rewrapped: Sphinx renders it)

    def __init__(
        self,
        layers: LayerFactory,
        in_channels: int,
        num_classes: int,
        widths: Sequence[int],
        kernel_size: int,
        final_kernel_size: int = 3,
        dropout: float = 0.3,
        hidden: int = 256,
    ) -> None:
        super().__init__()
        if len(widths) < 1:
            raise ValueError("resnet needs at least one width")
        self.grid = layers.grid
        stages: list[nn.Module] = [layers.lift(in_channels, widths[0], kernel_size), layers.norm(widths[0], relu=True)]
        for cin, cout in zip(widths[:-1], widths[1:]):
            # BN → ReLU → max-pool equals the original BN → max-pool → ReLU (ReLU is monotone)
            stages += [ResidualBlock(layers, cin, cout, kernel_size), layers.norm(cout, relu=True), SpatialMaxPool(2)]
        final_padding = layers.valid_padding(final_kernel_size)
        stages += [
            layers.conv(widths[-1], widths[-1], final_kernel_size, padding=final_padding),
            layers.norm(widths[-1], relu=True),
        ]
        self.features = nn.Sequential(*stages)
        self.readout = InvariantPool("max")
        self.head = nn.Sequential(
            nn.Linear(widths[-1], hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        return self.head(self.readout(self.features(x)))


class GCNN(nn.Module):
    """A small G-CNN: lifting → BN → ReLU → [group conv → BN → ReLU]* → invariant max → Linear.

    ``widths[0]`` is the lifting width; with three or more widths a 2×2 spatial max-pool follows
    the lifting stage (so use even image sizes for exact rot90 invariance)."""

    def __init__(
        self, layers: LayerFactory, in_channels: int, num_classes: int, widths: Sequence[int], kernel_size: int
    ) -> None:
        super().__init__()
        if len(widths) < 1:
            raise ValueError("cnn needs at least one width")
        self.grid = layers.grid
        stages: list[nn.Module] = [layers.lift(in_channels, widths[0], kernel_size), layers.norm(widths[0], relu=True)]
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            stages += [SpatialMaxPool(2)] if i == 0 and len(widths) > 2 else []
            stages += [layers.conv(cin, cout, kernel_size), layers.norm(cout, relu=True)]
        self.features = nn.Sequential(*stages)
        self.readout = InvariantPool("max")
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        return self.head(self.readout(self.features(x)))


class AllCNNC(nn.Module):
    """All-CNN-C-style G-CNN (Springenberg et al. 2015) with ``widths=(w1, w2)`` (paper: 96, 192):
    3×[w1] (third with stride 2) → 3×[w2] (third with stride 2) → w2 (3×3 valid) → w2 (1×1) →
    classes (1×1) → mean over (H, x, y). Stride-2 layers are exactly rotation-equivariant on odd
    input sizes (e.g. 33×33); on 32×32 up to the pixel grid."""

    def __init__(
        self, layers: LayerFactory, in_channels: int, num_classes: int, widths: Sequence[int], kernel_size: int = 3
    ) -> None:
        super().__init__()
        if len(widths) != 2:
            raise ValueError(f"allcnnc takes widths=(w1, w2) (paper: (96, 192)), got {tuple(widths)}")
        w1, w2 = widths
        k, p = kernel_size, "half"  # stride 2: pad half the (possibly dilation-grown) window
        spec = [
            (in_channels, w1, k, 1, "same"),
            (w1, w1, k, 1, "same"),
            (w1, w1, k, 2, p),
            (w1, w2, k, 1, "same"),
            (w2, w2, k, 1, "same"),
            (w2, w2, k, 2, p),
            (w2, w2, k, 1, layers.valid_padding(k)),
            (w2, w2, 1, 1, "same"),
        ]
        self.grid = layers.grid
        stages: list[nn.Module] = []
        for i, (cin, cout, kk, stride, pad) in enumerate(spec):
            make = layers.lift if i == 0 else layers.conv
            stages += [make(cin, cout, kk, stride, pad), layers.norm(cout, relu=True)]
        stages.append(layers.conv(w2, num_classes, 1))
        self.features = nn.Sequential(*stages)
        self.readout = InvariantPool("mean")

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        return self.readout(self.features(x))


def _default_num_elements(group: str) -> int | tuple[int, int]:
    return (8, 3) if group == "Sim2" else (3 if group == "R2xRplus" else 8)


def build_model(
    arch: str = "resnet",
    group: str = "SE2",
    implementation: str = "separable",
    num_elements: int | Sequence[int] | None = None,
    sampling: str = "discretise",
    in_channels: int = 1,
    num_classes: int = 10,
    widths: Sequence[int] | None = None,
    kernel_size: int | None = None,
    max_scale: float | None = None,
    mask_sigma: float | None = None,
    skip_hidden_ratio: float = 0.5,
    **kernel_options: Any,
) -> nn.Module:
    """Build a model ``[B, in_channels, H, W] → logits [B, num_classes]``.

    Args:
        arch: ``"cnn"``, ``"resnet"`` (the paper's MNIST-rot model) or ``"allcnnc"`` (CIFAR).
        group: ``"Z2"`` (ordinary CNN baseline), ``"SE2"``, ``"R2xRplus"`` or ``"Sim2"``.
        implementation: see :data:`gsepconv.nn.IMPLEMENTATIONS` (ignored for Z2).
        num_elements: sampled elements of ``H`` (default 8; R2xRplus 3; Sim2 ``(8, 3)``).
        sampling: ``"discretise"`` or ``"uniform"`` (random offset while training).
        widths: channels per stage (defaults: resnet (32, 32, 64), cnn (16, 32, 32), allcnnc (96, 192)).
        kernel_size: spatial kernel size (default 7; allcnnc 3).
        max_scale: largest dilation of R2xRplus/Sim2 (default 1.74).
        mask_sigma: smooth mask along relative log-scale for R2xRplus/Sim2 (default: none).
        skip_hidden_ratio: width of the residual 1×1 skips' kernel nets relative to the others
            (default 0.5, as in the paper's code; its effect: ``gsepconv compare --vary
            skip_hidden_ratio=1.0``, chapter 4 of the book).
        kernel_options: ``kernel_net`` (``"siren"``, ``"mlp"``, ``"rff"``), ``mask`` and the kernel
            net's options (``hidden_features``, ``num_hidden``, ``omega_0``, ``first_omega_0`` …).
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    for name, value in (("in_channels", in_channels), ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if group not in ALL_GROUPS:
        raise ValueError(f"unknown group {group!r}; choose one of {', '.join(ALL_GROUPS)}")
    if num_elements is None:
        num_elements = 1 if group == "Z2" else _default_num_elements(group)
    if isinstance(num_elements, list):
        num_elements = tuple(num_elements)
    defaults = {"resnet": ((32, 32, 64), 7), "cnn": ((16, 32, 32), 7), "allcnnc": ((96, 192), 3)}
    widths = tuple(widths) if widths is not None else defaults[arch][0]
    kernel_size = kernel_size if kernel_size is not None else defaults[arch][1]
    if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths must be positive ints, got {widths!r}")
    layers = LayerFactory(
        group, implementation, num_elements, sampling, max_scale, kernel_options, mask_sigma, skip_hidden_ratio
    )
    cls = {"resnet": GResNet, "cnn": GCNN, "allcnnc": AllCNNC}[arch]
    model = cls(layers, in_channels, num_classes, widths, kernel_size)
    scales = [f for f in layers.group.H.factors if hasattr(f, "max_scale")] if layers.group is not None else []
    model.config = dict(
        arch=arch,
        group=group,
        implementation=None if group == "Z2" else implementation,
        num_elements=None if group == "Z2" else num_elements,
        sampling=sampling,
        in_channels=in_channels,
        num_classes=num_classes,
        widths=widths,
        kernel_size=kernel_size,
        max_scale=scales[0].max_scale if scales else None,
        mask_sigma=mask_sigma,
        **kernel_options,
    )
    if skip_hidden_ratio != 0.5:
        model.config["skip_hidden_ratio"] = skip_hidden_ratio
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
