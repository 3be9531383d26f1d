r"""Lifting and group convolutions with continuous kernels.

* :class:`LiftingConv`: :math:`F[o, a](x) = \sum_{i} \sum_y \frac{1}{|\det h_a|} k_{oi}(h_a^{-1} y) f[i](x + y)`,
  ``[B, C_i, H, W] → [B, C_o, N, H', W']``.
* :class:`GroupConv`: :math:`F[o, a](x) = \sum_{i, b} \sum_y K_{oi}(h_a^{-1} y, \log(h_a^{-1} h_b)) f[i, b](x + y)`,
  ``[B, C_i, N, H, W] → [B, C_o, N, H', W']``, with ``K`` factorised as the chosen implementation.

Kernels are sampled once per forward pass (vectorised over elements). In ``eval()`` the sampled
kernels are cached until a parameter changes, so inference costs only the convolutions;
:meth:`export` returns a plain module with the sampled kernels frozen.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..groups.affine import AffineGroup, get_group
from ..kernels.kernel import MASKS, SpatialKernel, element_windows, kernel_window
from .grid import GroupGrid
from .implementations import (
    IMPLEMENTATIONS,
    LAYOUTS,
    Implementation,
    NonSeparable,
    Padding,
    conv2d,
    in_layer_layout,
    unflat,
)
from .layers import check_input


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_padding(padding: Any, kernel_size: int, stride: int) -> Padding:
    """``kernel_size`` here is the sampled window (see :func:`gsepconv.kernels.kernel_window`).
    ``"same"``: keep the size (stride 1); ``"half"``: pad ``window // 2`` on every side at any
    stride (``"same"`` for stride 1; ``⌈H/stride⌉`` outputs otherwise); ``"valid"``: no padding."""
    if padding == "half":
        if kernel_size % 2 == 0:
            raise ValueError(f"padding='half' needs an odd kernel_size, got {kernel_size}")
        return kernel_size // 2
    if padding == "same":
        if stride != 1:
            raise ValueError(
                "padding='same' needs stride=1 (as in torch.nn.Conv2d); "
                "use padding='half' (window // 2 on every side) for strided layers"
            )
        if kernel_size % 2 == 0:
            raise ValueError(f"padding='same' needs an odd kernel_size for exact equivariance, got {kernel_size}")
        return kernel_size // 2
    if padding == "valid":
        return 0
    if isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
        return padding
    if (
        isinstance(padding, tuple)
        and len(padding) == 2
        and all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in padding)
    ):
        return padding
    raise ValueError(f"padding must be 'same', 'half', 'valid', a non-negative int or a pair of ints, got {padding!r}")


#: Whether ``eval()`` caches sampled kernels, per thread / async context (a ``ContextVar``), so a
#: ``kernel_cache(False)`` block in one thread does not change another's layers.
_CACHE_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("gsepconv_kernel_cache", default=True)


@contextlib.contextmanager
def kernel_cache(enabled: bool) -> Iterator[None]:
    """Within the block (this thread or context only), switch the ``eval()`` kernel cache on or
    off (the benchmark's baseline); the previous setting returns on exit."""
    token = _CACHE_ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        _CACHE_ENABLED.reset(token)


class SampledConv(nn.Module):
    """Base class of :class:`LiftingConv` and :class:`GroupConv`: a convolution whose kernel is
    sampled from a kernel net on a grid. It holds the machinery both share: grid, bias, eval cache,
    export, shape checks. ``isinstance(m, SampledConv)`` finds every such layer in a model (the
    benchmark times their kernel sampling)."""

    def __init__(
        self,
        *,
        group: str | AffineGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_elements: int | Sequence[int] | None,
        sampling: str,
        stride: int,
        padding: Any,
        bias: bool,
        grid: GroupGrid | None,
        mask: str,
        max_scale: float | None,
        mask_sigma: float | None,
    ) -> None:
        super().__init__()
        if isinstance(group, AffineGroup) and (max_scale is not None or mask_sigma is not None):
            raise ValueError(
                "max_scale/mask_sigma apply to a group given by name; build the group object with them instead"
            )
        self.group = get_group(group, max_scale, mask_sigma)
        self.in_channels = _check_positive_int("in_channels", in_channels)
        self.out_channels = _check_positive_int("out_channels", out_channels)
        self.kernel_size = _check_positive_int("kernel_size", kernel_size)
        self.stride = _check_positive_int("stride", stride)
        _check_padding(padding, kernel_size, stride)  # argument errors before anything is built
        if mask not in MASKS:
            raise ValueError(f"unknown mask {mask!r}; choose one of {', '.join(MASKS)}")
        if num_elements is None:
            num_elements = grid.num_elements if grid is not None else self.group.H.default_num_elements
        if grid is None:
            grid = GroupGrid(self.group.H, num_elements, sampling)
            self._owns_grid = True
        else:
            if not isinstance(grid, GroupGrid):
                raise TypeError(f"grid must be a gsepconv.nn.GroupGrid, got {type(grid).__name__}")
            if grid.H != self.group.H:
                raise ValueError(f"grid is over {grid.H!r} but the layer's group is {self.group!r}")
            if tuple(grid.num_elements) != self.group.H.check_num_elements(num_elements):
                raise ValueError(f"grid has num_elements={grid.num_elements} but the layer was given {num_elements!r}")
            self._owns_grid = False
        self.grid = grid
        # who draws the random elements of a forward pass: the lifting layer (the network's entry
        # point), or a group convolution that was given no shared grid
        self._draws_grid = self._owns_grid or self._input_rank == 4
        self.num_elements = grid.num_elements
        # the sampled kernels are window×window: kernel_size at the identity, grown for dilations
        self.window = kernel_window(self.group.H, kernel_size, self.num_elements, grid.sampling)[0]
        self.padding = _check_padding(padding, self.window, stride)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self._cache: tuple[tuple, tuple[Tensor, ...]] | None = None

    # --- subclasses -------------------------------------------------------------------------
    def sample_weights(self) -> tuple[Tensor, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply_weights(self, x: Tensor, weights: tuple[Tensor, ...]) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def _check_input(self, x: Tensor) -> None:  # pragma: no cover
        raise NotImplementedError

    # --- cache ------------------------------------------------------------------------------
    def _kernel_parameters(self) -> list[Tensor]:
        return [p for name, p in self.named_parameters() if not name.startswith("bias")]

    def _cache_key(self) -> tuple:
        params = self._kernel_parameters()
        return tuple((id(p), p._version, p.data_ptr(), p.device, p.dtype) for p in params)

    def _sample_full_precision(self) -> tuple[Tensor, ...]:
        """Kernels sampled outside autocast (kernel nets in their own dtype): a SIREN's
        ``sin(ω₀·…)`` loses percents in float16; the convolutions cast the kernels as they need."""
        device_type = self.bias.device.type if self.bias is not None else next(self.parameters()).device.type
        with torch.autocast(device_type=device_type, enabled=False):
            return self.sample_weights()

    def weights(self) -> tuple[Tensor, ...]:
        """The sampled kernels for the current grid (cached in ``eval()`` while no gradient is needed).

        The cache is keyed by each kernel parameter's identity, version counter and storage, so an
        optimiser step, ``load_state_dict`` or a device/dtype move invalidates it; code that edits
        ``p.data`` directly should call :meth:`clear_kernel_cache`."""
        cacheable = (
            _CACHE_ENABLED.get() and not self.training and not self.grid.is_random and not torch.compiler.is_compiling()
        )
        needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in self._kernel_parameters())
        if not cacheable or needs_grad:
            return self._sample_full_precision()
        key = self._cache_key()
        if self._cache is None or self._cache[0] != key:
            # normal (not inference-mode) tensors, so the cache also serves later autograd passes
            with torch.inference_mode(False), torch.no_grad():
                self._cache = (key, tuple(w.detach() for w in self._sample_full_precision()))
        return self._cache[1]

    def clear_kernel_cache(self) -> None:
        """Forget the cached ``eval()`` kernels (they are resampled at the next forward)."""
        self._cache = None

    def train(self, mode: bool = True) -> SampledConv:
        self.clear_kernel_cache()
        return super().train(mode)

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - nn.Module internals (device/dtype moves)
        self.clear_kernel_cache()
        return super()._apply(fn, recurse)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        self.grid.elements_for(self, self._draws_grid)  # fresh random elements at the start of a pass
        y = self._apply_weights(x, self.weights())
        if self.bias is not None:  # in the output's dtype: a float32 bias would undo autocast
            y = y + self.bias.to(y.dtype).view(1, -1, 1, 1, 1)
        return y

    def export(self) -> ExportedConv:
        """A plain module computing the same function with the sampled kernels frozen (eval grid)."""
        was_training = self.training
        self.eval()
        with torch.no_grad():  # full precision, as forward samples (not under the caller's autocast)
            weights = tuple(w.detach().clone() for w in self._sample_full_precision())
        self.train(was_training)
        bias = None if self.bias is None else self.bias.detach().clone()
        return ExportedConv(
            self._apply_name, weights, self.stride, self.padding, bias, self._input_rank, self._layout()
        )

    def _layout(self) -> dict[str, str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        s = (
            f"{self.group.name}, {self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            + (f"window={self.window}, " if self.window != self.kernel_size else "")
            + f"num_elements={self.num_elements}, sampling={self.grid.sampling!r}, "
            + f"stride={self.stride}, padding={self.padding}"
        )
        return s + ("" if self.bias is not None else ", bias=False")


class LiftingConv(SampledConv):
    """Lifting convolution ``R² → G``: ``[B, C_i, H, W] → [B, C_o, N, H', W']``.

    Args:
        group: ``"SE2"``, ``"R2xRplus"``, ``"Sim2"`` or an :class:`~gsepconv.groups.AffineGroup`.
        in_channels, out_channels, kernel_size, stride, padding, bias: as ``torch.nn.Conv2d``
            (``padding="same"`` keeps the size for odd kernels; ``"half"`` pads half the window at
            any stride). ``kernel_size`` is the size at the identity: for scale groups the sampled
            kernels are ``window × window`` (attribute :attr:`window`), grown so that the largest
            dilated kernel fits whole; integer paddings apply to that window.
        num_elements: elements of ``H`` sampled (``int``; ``(n_rot, n_scale)`` for Sim(2)); default:
            the shared ``grid``'s, else 8 rotations / 3 scales / ``(8, 3)``.
        sampling: ``"discretise"`` (fixed grid) or ``"uniform"`` (random offset while training).
        kernel_net: a name in :data:`gsepconv.kernels.KERNEL_NETS`; ``kernel_options`` go to it
            (e.g. ``hidden_features=64, num_hidden=1, omega_0=10., first_omega_0=10.``).
        mask: ``"hard"``, ``"smooth"`` or ``"none"`` disk mask on ``h⁻¹ y``.
        head_init: how the kernel nets' heads are initialised, ``"channels"`` (the paper's code's
            convention, the default) or ``"fan_in"`` (see :data:`gsepconv.kernels.kernel.HEAD_INITS`).
        grid: a :class:`GroupGrid` to share with later layers (created if omitted). The lifting
            layer draws fresh random elements for it at every training forward pass.
        max_scale, mask_sigma: for a scale group given by name: largest dilation (default 1.74) and
            the width of the smooth mask along relative log-scale (default: none).
        layout: memory layout of its convolution per device type, e.g. ``{"cpu": "nchw"}``
            (names in :data:`gsepconv.nn.LAYOUTS`); a model passes its group convolutions'
            :attr:`Implementation.layout`, so the lifted map needs no conversion. Default:
            channels-last.
    """

    _input_rank = 4

    def __init__(
        self,
        group: str | AffineGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_elements: int | Sequence[int] | None = None,
        sampling: str = "discretise",
        stride: int = 1,
        padding: Any = "same",
        bias: bool = True,
        kernel_net: str = "siren",
        mask: str = "hard",
        grid: GroupGrid | None = None,
        max_scale: float | None = None,
        mask_sigma: float | None = None,
        head_init: str = "channels",
        layout: dict[str, str] | None = None,
        **kernel_options: Any,
    ) -> None:
        super().__init__(
            group=group,
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            num_elements=num_elements,
            sampling=sampling,
            stride=stride,
            padding=padding,
            bias=bias,
            grid=grid,
            mask=mask,
            max_scale=max_scale,
            mask_sigma=mask_sigma,
        )
        self.kernel = SpatialKernel(
            self.group.H,
            out_channels,
            in_channels,
            kernel_size,
            fan_in=in_channels,
            kernel_net=kernel_net,
            net_options=kernel_options,
            mask=mask,
            num_elements=self.num_elements,
            sampling=self.grid.sampling,
            head_init=head_init,
        )
        if layout is not None and any(v not in LAYOUTS for v in layout.values()):
            raise ValueError(f"layout values must be among {', '.join(LAYOUTS)}, got {layout!r}")
        self.layout = dict(layout or Implementation.layout)

    _apply_name = "lifting"

    def _layout(self) -> dict[str, str]:
        return self.layout

    def sample_weights(self) -> tuple[Tensor, ...]:
        return (self.kernel(self.grid.elements()),)  # [Co, N, Ci, k, k]

    def _apply_weights(self, x: Tensor, weights: tuple[Tensor, ...]) -> Tensor:
        with in_layer_layout(self.layout, x.device):
            return lifting_apply(x, weights, self.stride, self.padding)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"LiftingConv expects an image batch [B, {self.in_channels}, H, W], got shape {tuple(x.shape)}"
                + (" (a group feature map? use GroupConv)" if x.dim() == 5 else "")
            )
        check_input(x, "LiftingConv")


def lifting_apply(x: Tensor, weights: tuple[Tensor, ...], stride: int, padding: Padding) -> Tensor:
    """Apply sampled lifting kernels ``[C_o, N, C_i, k, k]`` to ``x: [B, C_i, H, W]``."""
    (k,) = weights
    co, n, ci, kh, kw = k.shape
    return unflat(conv2d(x, k.reshape(co * n, ci, kh, kw), stride, padding), co)


class GroupConv(SampledConv):
    """Group convolution ``G → G``: ``[B, C_i, N, H, W] → [B, C_o, N, H', W']``.

    Args:
        implementation: one of :data:`gsepconv.nn.IMPLEMENTATIONS` (``"nonseparable"``,
            ``"separable"``, ``"gseparable"``, ``"dseparable"``, ``"dgseparable"``; for Sim(2) also
            ``"separable2d"``, ``"gseparable2d"``).
        grid: the :class:`GroupGrid` of the lifting layer (share it so that all layers of one
            forward pass use the same elements); a private one is created if omitted.
        Other arguments as :class:`LiftingConv`.
    """

    _input_rank = 5

    def __init__(
        self,
        group: str | AffineGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_elements: int | Sequence[int] | None = None,
        implementation: str = "separable",
        sampling: str = "discretise",
        stride: int = 1,
        padding: Any = "same",
        bias: bool = True,
        kernel_net: str = "siren",
        mask: str = "hard",
        grid: GroupGrid | None = None,
        max_scale: float | None = None,
        mask_sigma: float | None = None,
        head_init: str = "channels",
        **kernel_options: Any,
    ) -> None:
        super().__init__(
            group=group,
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            num_elements=num_elements,
            sampling=sampling,
            stride=stride,
            padding=padding,
            bias=bias,
            grid=grid,
            mask=mask,
            max_scale=max_scale,
            mask_sigma=mask_sigma,
        )
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"unknown implementation {implementation!r}; choose one of {', '.join(IMPLEMENTATIONS)}")
        if implementation not in self.group.implementations:
            raise ValueError(
                f"implementation {implementation!r} needs a product subgroup such as Sim(2)'s SO(2)×R⁺; "
                f"{self.group.name} supports {', '.join(self.group.implementations)}"
            )
        self.implementation = implementation
        self.impl: Implementation = IMPLEMENTATIONS[implementation](
            self.group.H,
            in_channels,
            out_channels,
            kernel_size,
            self.num_elements,
            kernel_net=kernel_net,
            net_options=kernel_options,
            mask=mask,
            sampling=self.grid.sampling,
            head_init=head_init,
        )
        self._apply_name = implementation

    def sample_weights(self) -> tuple[Tensor, ...]:
        g = self.grid.elements()
        return self.impl.sample(g, g)

    def _apply_weights(self, x: Tensor, weights: tuple[Tensor, ...]) -> Tensor:
        return self.impl.convolve(x, weights, self.stride, self.padding)

    def _layout(self) -> dict[str, str]:
        return type(self.impl).layout

    def conv_windows(self) -> list[int]:
        """Per output element of the grid, the side of the window its spatial convolution runs
        over: the taps its mask keeps (:func:`gsepconv.kernels.element_windows`) where the
        implementation crops each element's kernel to them (``crops_windows``; an integer
        padding), the whole sampled window (:attr:`window`) otherwise. The cost formulas'
        ``w²`` is the mean of their squares."""
        n = self.grid.size
        if not type(self.impl).crops_windows or isinstance(self.padding, str) or n < 2:
            return [self.window] * n
        mask = self.impl.mask
        return element_windows(
            self.group.H, self.grid.elements(), self.kernel_size, mask, self.num_elements, self.grid.sampling
        )

    def product_kernel(self) -> Tensor:
        """The dense kernel ``[C_o, N, C_i, N, k, k]`` this layer convolves with (for tests/plots)."""
        return type(self.impl).product_kernel(self.weights())

    def _check_input(self, x: Tensor) -> None:
        n = self.grid.size
        if x.dim() != 5 or x.shape[1] != self.in_channels or x.shape[2] != n:
            raise ValueError(
                f"GroupConv expects a group feature map [B, {self.in_channels}, {n}, H, W] "
                f"(channels, then {n} group elements), got shape {tuple(x.shape)}"
                + (" (an image batch? lift it first with LiftingConv)" if x.dim() == 4 else "")
            )
        check_input(x, "GroupConv")

    def extra_repr(self) -> str:
        return super().extra_repr() + f", implementation={self.implementation!r}"


class ExportedConv(nn.Module):
    """A lifting/group convolution with frozen sampled kernels: no kernel nets, no grid.

    Produced by ``layer.export()``; computes exactly what the layer computes in ``eval()``.
    """

    def __init__(
        self,
        apply_name: str,
        weights: tuple[Tensor, ...],
        stride: int,
        padding: Padding,
        bias: Tensor | None,
        input_rank: int,
        layout: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.apply_name, self.stride, self.padding, self.input_rank = apply_name, stride, padding, input_rank
        self.layout = dict(layout or Implementation.layout)
        self.num_weights = len(weights)
        for i, w in enumerate(weights):
            self.register_buffer(f"weight{i}", w)
        if bias is not None:
            self.register_buffer("bias", bias)
        else:
            self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != self.input_rank:
            raise ValueError(
                f"exported {self.apply_name} convolution expects a {self.input_rank}-D input, got {tuple(x.shape)}"
            )
        weights = tuple(getattr(self, f"weight{i}") for i in range(self.num_weights))
        fn = lifting_apply if self.apply_name == "lifting" else IMPLEMENTATIONS[self.apply_name].apply
        with in_layer_layout(self.layout, x.device):
            y = fn(x, weights, self.stride, self.padding)
        return y if self.bias is None else y + self.bias.to(y.dtype).view(1, -1, 1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.apply_name}, stride={self.stride}, padding={self.padding}"


def export(module: nn.Module) -> nn.Module:
    """Deep-copy ``module`` in ``eval()`` mode with every lifting/group convolution replaced by its
    :class:`ExportedConv` (frozen kernels, no kernel nets): same outputs, inference cost only."""
    out = copy.deepcopy(module).eval()
    if isinstance(out, SampledConv):
        return out.export()
    for _name, child in list(out.named_modules()):
        for child_name, grandchild in list(child.named_children()):
            if isinstance(grandchild, SampledConv):
                setattr(child, child_name, grandchild.export())
    for p in out.parameters():
        p.requires_grad_(False)
    return out


__all__ = ["ExportedConv", "GroupConv", "LiftingConv", "NonSeparable", "SampledConv", "export", "lifting_apply"]
