r"""Kernel networks: small MLPs that map kernel coordinates to kernel values.

A kernel net maps ``z: [P, in_features]`` (relative coordinates of ``P`` kernel points) to
``[P, out_features]`` (one value per channel pair). Its parameter count depends on neither the
kernel size nor the number of sampled group elements.

The output head's initialisation is chosen by the kernel that owns the net (see
:data:`gsepconv.kernels.kernel.HEAD_INITS`): :meth:`KernelNet.init_head` either gives the *sampled
kernel* variance ``gain / fan_in`` (unit-scale activations) or sets the head's weight variance
directly (:meth:`KernelNet.init_head_weights`). Hidden sine layers have zero biases by default, as
in the paper's code (``hidden_bias="uniform"``: PyTorch's default ``U(±1/√fan_in)``); the first
layer keeps PyTorch's default bias.

New nets are added with :func:`register_kernel_net`; layers look them up by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

KERNEL_NETS: dict[str, type[KernelNet]] = {}


def register_kernel_net(name: str) -> Callable[[type[KernelNet]], type[KernelNet]]:
    """Class decorator adding a :class:`KernelNet` subclass to :data:`KERNEL_NETS` under ``name``."""

    def decorate(cls: type[KernelNet]) -> type[KernelNet]:
        if name in KERNEL_NETS:
            raise ValueError(f"kernel net {name!r} is already registered")
        KERNEL_NETS[name] = cls
        cls.registry_name = name
        return cls

    return decorate


class KernelNet(nn.Module):
    """Base class: hidden layers from :meth:`hidden`, then a linear head with variance-aware init."""

    registry_name = "base"

    def __init__(self, in_features: int, out_features: int, hidden_features: int, fan_in: float, gain: float) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1 or hidden_features < 1:
            raise ValueError(
                f"kernel net sizes must be positive, got in={in_features}, out={out_features}, hidden={hidden_features}"
            )
        self.in_features, self.out_features, self.hidden_features = in_features, out_features, hidden_features
        self.head = nn.Linear(hidden_features, out_features)
        self.fan_in, self.gain = float(fan_in), float(gain)

    @torch.no_grad()
    def hidden_second_moment(self, num_points: int = 2048) -> float:
        """Mean square of the hidden features on coordinates uniform in ``[-1, 1]^d`` (measured with
        a private generator, so the global random stream is untouched)."""
        gen = torch.Generator().manual_seed(0)
        z = torch.rand(num_points, self.in_features, generator=gen, dtype=self.head.weight.dtype) * 2 - 1
        return float(self.hidden(z).pow(2).mean())

    def init_head(self, hidden_second_moment: float | None = None) -> None:
        """Uniform head init giving output variance ``gain/fan_in`` for the hidden features' mean
        square (measured by :meth:`hidden_second_moment` unless given); zero bias."""
        moment = self.hidden_second_moment() if hidden_second_moment is None else hidden_second_moment
        self.init_head_weights(self.gain / (self.fan_in * self.hidden_features * max(moment, 1e-8)))

    def init_head_weights(self, weight_var: float) -> None:
        """Uniform head weights of variance ``weight_var`` (bound ``√(3·weight_var)``); zero bias."""
        bound = math.sqrt(3.0 * weight_var)
        with torch.no_grad():
            self.head.weight.uniform_(-bound, bound)
            self.head.bias.zero_()

    def hidden(self, z: Tensor) -> Tensor:
        """Hidden features ``[P, hidden_features]`` (default: ``self.layers``)."""
        return self.layers(z)

    def forward(self, z: Tensor) -> Tensor:
        """``z: [P, in_features] → [P, out_features]``."""
        if z.dim() != 2 or z.shape[-1] != self.in_features:
            raise ValueError(f"{type(self).__name__} expects coordinates [P, {self.in_features}], got {tuple(z.shape)}")
        return self.head(self.hidden(z))

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, hidden={self.hidden_features}"


HIDDEN_BIASES = ("zero", "uniform")


class SineLayer(nn.Module):
    """``sin(ω₀ (W z + b))`` with SIREN initialisation; ``zero_bias``: ``b = 0`` (else PyTorch's
    default ``U(±1/√in_features)``, which after ``ω₀ = 10`` shifts every unit's phase by up to
    ±1.25 rad at width 64)."""

    def __init__(
        self, in_features: int, out_features: int, omega_0: float, first: bool, zero_bias: bool = False
    ) -> None:
        super().__init__()
        self.omega_0 = float(omega_0)
        self.linear = nn.Linear(in_features, out_features)
        bound = 1.0 / in_features if first else math.sqrt(6.0 / in_features) / self.omega_0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)
            if zero_bias:
                self.linear.bias.zero_()

    def forward(self, z: Tensor) -> Tensor:
        return torch.sin(self.omega_0 * self.linear(z))


@register_kernel_net("siren")
class SIREN(KernelNet):
    r"""SIREN kernel net (Sitzmann et al. 2020): ``num_hidden + 1`` sine layers, then a linear head.

    Defaults as in the paper: width 64, one hidden layer (two sine layers), ``ω₀ = first ω₀ = 10``,
    zero biases in the hidden sine layers (``hidden_bias``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int = 64,
        num_hidden: int = 1,
        omega_0: float = 10.0,
        first_omega_0: float = 10.0,
        hidden_bias: str = "zero",
        fan_in: float = 1.0,
        gain: float = 2.0,
    ) -> None:
        super().__init__(in_features, out_features, hidden_features, fan_in, gain)
        if num_hidden < 0:
            raise ValueError(f"num_hidden must be >= 0, got {num_hidden}")
        if hidden_bias not in HIDDEN_BIASES:
            raise ValueError(f"unknown hidden_bias {hidden_bias!r}; choose one of {', '.join(HIDDEN_BIASES)}")
        zero = hidden_bias == "zero"
        layers = [SineLayer(in_features, hidden_features, first_omega_0, first=True)]
        layers += [
            SineLayer(hidden_features, hidden_features, omega_0, first=False, zero_bias=zero) for _ in range(num_hidden)
        ]
        self.layers = nn.Sequential(*layers)
        self.init_head()


def _gelu_mlp(in_features: int, hidden_features: int, num_hidden: int) -> nn.Sequential:
    """``num_hidden + 1`` Linear+GELU layers."""
    dims = [in_features] + [hidden_features] * (num_hidden + 1)
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.GELU()]
    return nn.Sequential(*layers)


@register_kernel_net("mlp")
class MLP(KernelNet):
    """Plain MLP kernel net with GELU activations (a smooth, non-periodic baseline)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int = 64,
        num_hidden: int = 1,
        fan_in: float = 1.0,
        gain: float = 2.0,
    ) -> None:
        super().__init__(in_features, out_features, hidden_features, fan_in, gain)
        self.layers = _gelu_mlp(in_features, hidden_features, num_hidden)
        self.init_head()


@register_kernel_net("rff")
class RandomFourierFeatures(KernelNet):
    r"""Random Fourier features (Tancik et al. 2020): ``[sin(2π B z), cos(2π B z)]`` with fixed
    ``B ~ N(0, σ²)`` (a buffer, saved with the model), then a GELU MLP and the linear head."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int = 64,
        num_hidden: int = 1,
        sigma: float = 1.0,
        fan_in: float = 1.0,
        gain: float = 2.0,
    ) -> None:
        super().__init__(in_features, out_features, hidden_features, fan_in, gain)
        num_freq = max(hidden_features // 2, 1)
        self.register_buffer("frequencies", torch.randn(in_features, num_freq) * sigma)
        self.layers = _gelu_mlp(2 * num_freq, hidden_features, num_hidden)
        self.init_head()

    def hidden(self, z: Tensor) -> Tensor:
        proj = 2.0 * math.pi * z @ self.frequencies.to(z.dtype)
        return self.layers(torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1))


#: Kernel-net options that are counts (with their smallest value) or positive finite numbers.
_COUNT_OPTIONS = {"hidden_features": 1, "num_hidden": 0}
_POSITIVE_OPTIONS = ("omega_0", "first_omega_0", "sigma")


def check_net_options(name: str, options: dict) -> None:
    """Counts must be integers in range and frequencies finite and positive: a NaN or negative
    ``omega_0`` would otherwise fail deep in the initialisation or train on NaN."""
    for key, value in options.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key in _COUNT_OPTIONS and not (number and isinstance(value, int) and value >= _COUNT_OPTIONS[key]):
            raise ValueError(f"{key}={value!r} for kernel_net {name!r} must be an integer >= {_COUNT_OPTIONS[key]}")
        if key in _POSITIVE_OPTIONS and not (number and math.isfinite(value) and value > 0):
            raise ValueError(f"{key}={value!r} for kernel_net {name!r} must be a finite number > 0 (e.g. 10)")


def make_kernel_net(
    name: str,
    in_features: int,
    out_features: int,
    fan_in: float,
    gain: float = 2.0,
    **options: float,
) -> KernelNet:
    """Build a registered kernel net; unknown names and options raise a clear error."""
    if name not in KERNEL_NETS:
        raise ValueError(f"unknown kernel_net {name!r}; registered kernel nets: {', '.join(sorted(KERNEL_NETS))}")
    cls = KERNEL_NETS[name]
    check_net_options(name, options)
    try:
        return cls(in_features, out_features, fan_in=fan_in, gain=gain, **options)
    except TypeError as err:
        raise TypeError(f"invalid options {sorted(options)} for kernel_net {name!r}: {err}") from err
