"""Typed run configurations: :class:`RunConfig` with nested data, model and optimiser settings.

A configuration is plain data. It round-trips through dictionaries, JSON and YAML
(:meth:`RunConfig.to_dict` / :meth:`RunConfig.from_dict`, :func:`save_config` / :func:`load_config`),
rejects unknown keys with the list of valid ones, and names its run with :meth:`RunConfig.run_id`:
a readable prefix plus a short hash of the fields that affect the result.

Fields that only say *how* a run executes (``device``, ``num_workers``, ``compile``, ``progress``,
the data folder, the experiment/profile labels) are left out of the hash, so a run keeps its id
(and its checkpoint) when it moves to another machine or device.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gsepconv.data.catalogue import DATASETS
from gsepconv.errors import GsepconvError
from gsepconv.experiments.io import atomic_write_text, check_name
from gsepconv.groups import SCALE_GROUPS, num_elements_text
from gsepconv.models import build_model

__all__ = [
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "load_config",
    "save_config",
    "config_from_dict",
]

PRECISIONS = ("fp32", "amp", "bf16")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("cosine", "constant")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")


class ConfigError(GsepconvError, ValueError):
    """The configuration cannot be trained (invalid field, model or data that does not fit it, ...);
    the message names the field or file and what is expected."""


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not valid; choose one of {', '.join(choices)}")


def _check_integer(name: str, value: Any, allow_none: bool = False, allow_zero: bool = False) -> None:
    """Counts: ``16.5`` or ``"16"`` is an error naming the field."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    _check_bound(name, value, ok, "an integer", allow_none, allow_zero)


def _check_positive(name: str, value: Any, allow_none: bool = False, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    _check_bound(name, value, ok, "a finite number", allow_none, allow_zero)


def _check_bound(name: str, value: Any, typed: bool, kind: str, allow_none: bool, allow_zero: bool) -> None:
    """``name`` must be ``kind`` (``typed`` says whether it is), finite, above 0 (or at least 0), or
    null if allowed."""
    if value is None and allow_none:
        return
    if not (typed and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {kind} {bound}{' or null' if allow_none else ''}, got {value!r}")


@dataclass
class DataConfig:
    """Which dataset, and how much of it.

    ``train_subset`` / ``val_subset`` / ``test_subset`` keep that many examples of each split
    (a fixed permutation drawn with ``subset_seed``, the same for every run seed, so seeds differ
    only in initialisation and batch order); ``None`` keeps the whole split.
    ``stand_in_for`` names the dataset this one replaces when a profile cannot use the real one
    offline (e.g. the smoke profile of ``cifar100`` trains on ``cifar10_subset``): it is copied
    into the results so a stand-in can never pass for the real thing. ``root`` is the data folder
    (``None``: the data package's default, env ``GSEPCONV_DATA``).
    """

    name: str = "mnist_rot"
    train_subset: int | None = None
    val_subset: int | None = None
    test_subset: int | None = None
    subset_seed: int = 0
    augment: bool = False
    stand_in_for: str | None = None
    root: str | None = None

    def validate(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"data.name must be a dataset name, got {self.name!r}")
        for key in ("train_subset", "val_subset", "test_subset"):
            _check_integer(f"data.{key}", getattr(self, key), allow_none=True)


@dataclass
class ModelConfig:
    """Arguments of :func:`gsepconv.models.build_model`.

    ``in_channels`` / ``num_classes`` default to the dataset's (``None``). ``num_elements`` is an
    int, or ``(n_rotations, n_scales)`` for Sim(2). ``kernel_options`` is passed on as keyword
    arguments (kernel net, omega0, mask, ...).
    """

    arch: str = "resnet"
    group: str = "SE2"
    implementation: str = "separable"
    num_elements: int | tuple[int, int] = 8
    sampling: str = "discretise"
    widths: tuple[int, ...] = (32, 32, 64)
    kernel_size: int = 7
    max_scale: float | None = None
    in_channels: int | None = None
    num_classes: int | None = None
    kernel_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.widths, list):
            self.widths = tuple(self.widths)
        if isinstance(self.num_elements, list):
            self.num_elements = tuple(self.num_elements)
        if isinstance(self.num_elements, str) and re.fullmatch(r"\s*\d+\s*x\s*\d+\s*", self.num_elements):
            # the form the results tables print Sim(2) sizes in, e.g. "4x2"
            self.num_elements = tuple(int(v) for v in self.num_elements.split("x"))

    def validate(self) -> None:
        for key in ("arch", "group", "implementation", "sampling"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(f"model.{key} must be a string, got {getattr(self, key)!r}")
        if (
            not isinstance(self.widths, tuple)
            or not self.widths
            or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in self.widths)
        ):
            raise ConfigError(f"model.widths must be positive integers, got {self.widths!r}")
        ne = self.num_elements
        if isinstance(ne, tuple):
            if len(ne) != 2 or not all(isinstance(n, int) and n > 0 for n in ne):
                raise ConfigError(f"model.num_elements must be an int or (n_rot, n_scale), got {ne!r}")
        elif not (isinstance(ne, int) and not isinstance(ne, bool) and ne > 0):
            raise ConfigError(
                f"model.num_elements must be a positive int (e.g. 8), or for Sim2 "
                f'[n_rotations, n_scales] (e.g. [4, 2] or "4x2"), got {ne!r}'
            )
        _check_integer("model.kernel_size", self.kernel_size)
        _check_positive("model.max_scale", self.max_scale, allow_none=True)
        if self.max_scale is not None and self.group not in SCALE_GROUPS:
            raise ConfigError(
                f"model.max_scale={self.max_scale!r}: group {self.group} has no scale axis; "
                f"max_scale applies to {' and '.join(SCALE_GROUPS)} only — leave it out"
            )
        if not isinstance(self.kernel_options, dict):
            raise ConfigError(f"model.kernel_options must be a mapping, got {self.kernel_options!r}")

    def build_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``build_model`` (``None`` entries dropped)."""
        kwargs: dict[str, Any] = {
            "arch": self.arch,
            "group": self.group,
            "implementation": self.implementation,
            "num_elements": self.num_elements,
            "sampling": self.sampling,
            "widths": tuple(self.widths),
            "kernel_size": self.kernel_size,
        }
        for key in ("max_scale", "in_channels", "num_classes"):
            if getattr(self, key) is not None:
                kwargs[key] = getattr(self, key)
        kwargs.update(self.kernel_options)
        return kwargs


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule (stepped once per iteration).

    ``schedule="cosine"`` decays from ``lr`` to 0 over all training steps, after
    ``warmup_epochs`` of linear warm-up (0: none).
    """

    name: str = "adam"
    lr: float = 1e-4
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    momentum: float = 0.9
    grad_clip: float | None = None

    def validate(self) -> None:
        _check_choice("optim.name", self.name, OPTIMIZERS)
        _check_choice("optim.schedule", self.schedule, SCHEDULES)
        _check_positive("optim.lr", self.lr)
        _check_positive("optim.weight_decay", self.weight_decay, allow_zero=True)
        _check_positive("optim.warmup_epochs", self.warmup_epochs, allow_zero=True)
        _check_positive("optim.grad_clip", self.grad_clip, allow_none=True)


# Fields of RunConfig that describe how a run executes, not what it computes.
_EXECUTION_FIELDS = ("experiment", "profile", "device", "num_workers", "threads", "compile", "progress")


@dataclass
class RunConfig:
    """Everything one training run needs.

    ``batch_size`` is the global batch (split over processes under ``torchrun``).
    ``device``: ``"auto"`` (CUDA if present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    ``precision``: ``"fp32"``, ``"amp"`` (autocast float16 + GradScaler; CUDA only, fp32 on CPU) or
    ``"bf16"`` (autocast bfloat16 on CPU or CUDA; whether it is faster depends on the hardware:
    ``gsepconv bench --precision bf16`` measures it).
    ``compile``: wrap the model in ``torch.compile``. ``threads``: CPU threads for torch
    (``None``: torch's default).
    ``time_budget_s``: train for this many seconds of wall-clock training time instead of a fixed
    number of epochs (``epochs`` becomes a cap): the cosine schedule runs over the budget and
    training stops at the first step past it, then validates and tests. The same budget for every
    model compares accuracy at equal training time (the paper's claim 4); such runs depend on
    the machine's speed, so they are not bit-reproducible.
    ``precise_bn_batches``: before every evaluation, re-estimate the batch-norm statistics on the
    evaluation grid from this many training batches (:func:`gsepconv.nn.precise_batch_norm`).
    ``None`` (default): 20 with ``sampling="uniform"`` — whose running statistics otherwise
    average over random grids and do not fit the fixed grid of evaluation — and 0 otherwise.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    epochs: int = 300
    batch_size: int = 64
    eval_batch_size: int | None = None
    seed: int = 0
    precision: str = "fp32"
    deterministic: bool = True
    experiment: str = "custom"
    profile: str = "custom"
    device: str = "auto"
    num_workers: int = 0
    threads: int | None = None
    compile: bool = False
    progress: bool = True
    time_budget_s: float | None = None
    precise_bn_batches: int | None = None

    def __post_init__(self) -> None:
        for name, cls in (("data", DataConfig), ("model", ModelConfig), ("optim", OptimConfig)):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                setattr(self, name, _from_mapping(cls, value, name))
            elif not isinstance(value, cls):
                raise ConfigError(
                    f"{name} must be a mapping of {name} settings (e.g. {name}: {{...}} in YAML), "
                    f"got {type(value).__name__} {value!r}"
                )

    # ------------------------------------------------------------------ validation
    def validate(self) -> RunConfig:
        """Check every field; raise ``ValueError`` saying which one is wrong. Returns ``self``."""
        self.data.validate()
        self.model.validate()
        self.optim.validate()
        _check_integer("epochs", self.epochs)
        _check_integer("batch_size", self.batch_size)
        _check_integer("eval_batch_size", self.eval_batch_size, allow_none=True)
        _check_integer("num_workers", self.num_workers, allow_zero=True)
        _check_integer("threads", self.threads, allow_none=True)
        _check_positive("time_budget_s", self.time_budget_s, allow_none=True)
        _check_integer("precise_bn_batches", self.precise_bn_batches, allow_none=True, allow_zero=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        _check_choice("precision", self.precision, PRECISIONS)
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise ConfigError(f"device={self.device!r} is not valid; use auto, cpu, cuda or cuda:N")
        check_name(self.experiment, "experiment")  # each names one folder level of the run folder
        check_name(self.profile, "profile")
        return self

    def resolved_precise_bn_batches(self) -> int:
        """:attr:`precise_bn_batches` with its default resolved (20 for uniform sampling, else 0)."""
        if self.precise_bn_batches is not None:
            return self.precise_bn_batches
        return 20 if self.model.sampling == "uniform" and self.model.group != "Z2" else 0

    def model_kwargs(self) -> dict[str, Any]:
        """``build_model`` arguments without loading data: :meth:`ModelConfig.build_kwargs` with
        ``in_channels`` / ``num_classes`` from the data registry's entry for ``data.name``
        (where the model config leaves them to the dataset and the dataset is registered)."""
        kwargs = self.model.build_kwargs()
        info = DATASETS.get(self.data.name)
        if info is not None:
            kwargs.setdefault("in_channels", info.in_channels)
            kwargs.setdefault("num_classes", info.num_classes)
        return kwargs

    def check_model(self) -> RunConfig:
        """Build the model once (CPU, no data: :meth:`model_kwargs`) so that a model or kernel
        option the model rejects is a ``ValueError`` naming the option before any data loads.
        Returns ``self``."""
        try:
            build_model(**self.model_kwargs())
        except (ValueError, TypeError) as err:
            raise ConfigError(f"model settings {self.model.build_kwargs()} do not build a model: {err}") from None
        return self

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of JSON/YAML-friendly values (tuples become lists)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` listing the valid ones."""
        return _from_mapping(cls, values, "config").validate()

    def replace(self, **changes: Any) -> RunConfig:
        """Copy with top-level fields changed; nested ones via dotted keys (``"model.widths"``)."""
        values = self.to_dict()
        for key, value in changes.items():
            parts = key.split("__") if "__" in key else key.split(".")
            target = values
            for part in parts[:-1]:
                if part not in target or not isinstance(target[part], dict):
                    raise ConfigError(f"unknown config section {part!r} in {key!r}")
                target = target[part]
            target[parts[-1]] = _plain(value)
        return RunConfig.from_dict(values)

    # ------------------------------------------------------------------ identity
    def result_fields(self) -> dict[str, Any]:
        """The fields that affect the result (everything but the execution details)."""
        values = self.to_dict()
        for key in _EXECUTION_FIELDS:
            values.pop(key, None)
        values["data"].pop("root", None)
        values["data"].pop("stand_in_for", None)
        for key in ("time_budget_s", "precise_bn_batches"):  # unset: hash as before the option existed
            if values.get(key) is None:
                values.pop(key, None)
        return values

    def config_hash(self, length: int = 8) -> str:
        """Short sha256 of the canonical JSON of :meth:`result_fields`."""
        canonical = json.dumps(self.result_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:length]

    def run_id(self) -> str:
        """Readable, unique run name, e.g. ``resnet-SE2-separable-n8-s0-1a2b3c4d``."""
        m = self.model
        parts = [m.arch, m.group]
        if m.group != "Z2":
            parts += [m.implementation, f"n{num_elements_text(m.num_elements)}"]
            if m.sampling != "discretise":
                parts.append(m.sampling)
        if self.time_budget_s is not None:
            parts.append(f"budget{self.time_budget_s:g}s")
        parts += [f"s{self.seed}", self.config_hash()]
        return re.sub(r"[^A-Za-z0-9_.-]", "", "-".join(parts))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Path):
        return str(value)
    return value


class UnknownKeyError(ConfigError):
    """A configuration has keys this version of gsepconv does not know (a typo, or a newer version's)."""


def _from_mapping(cls: type, values: Mapping[str, Any], where: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(values).__name__}")
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise UnknownKeyError(
            f"unknown key(s) in {where}: {', '.join(map(str, unknown))}; valid keys: {', '.join(valid)}"
        )
    return cls(**dict(values))


def config_from_dict(values: Mapping[str, Any]) -> RunConfig:
    """Alias of :meth:`RunConfig.from_dict`."""
    return RunConfig.from_dict(values)


def save_config(config: RunConfig, path: str | Path) -> Path:
    """Write ``config`` as YAML (``.yaml``/``.yml``) or JSON (anything else), atomically."""
    path = Path(path)
    if path.suffix in (".yaml", ".yml"):
        text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    else:
        text = json.dumps(config.to_dict(), indent=2) + "\n"
    atomic_write_text(path, text)
    return path


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML or JSON config file (a partial file fills the rest with defaults)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            f"config file {path} is a directory; give a .yaml or .json file (a run folder "
            f"holds one: {path / 'config.yaml'})"
        )
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise ConfigError(f"config file {path} is not valid {kind}: {' '.join(str(err).split())}") from None
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(
            f"config file {path} must hold a mapping (data:, model:, optim:, epochs: …), got {type(values).__name__}"
        )
    try:
        return RunConfig.from_dict(values)
    except UnknownKeyError as err:
        raise UnknownKeyError(
            f"config file {path}: {err} (written by a newer gsepconv? upgrade gsepconv, or remove the key)"
        ) from None
    except ValueError as err:
        raise ConfigError(f"config file {path}: {err}") from None
