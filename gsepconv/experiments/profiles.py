"""The profiles: every setting of ``smoke``, ``quick`` and ``paper``, in one place.

A :class:`Profile` has one section per experiment or measurement: ``training`` (what every trained
run shares), ``mnist``, ``budget``, ``rotations`` and ``cifar`` (the training grids of
``gsepconv.experiments.registry``), ``bench`` and ``sweep`` (``gsepconv bench``), ``equivariance``
(``gsepconv equivariance``) and ``layer_costs`` (the per-layer costs of chapter 4).
``gsepconv list --profile NAME`` prints them all.

``smoke``
    Seconds per run: 1 epoch on a few dozen images, widths (4, 4, 8), k = 3, N = 4. Used by the
    tests and CI to exercise the whole pipeline, not to measure anything.
``quick``
    Fits 2 CPU cores; numbers good enough for the notebooks' plots (see ``QUICK`` for the time
    budget). Uses the offline datasets ``mnist_rot_seeded`` and ``cifar10_subset``.
``paper``
    The paper's settings (Knigge, Romero & Bekkers 2022, experiments) with 3 seeds, for GPUs.

Honest stand-ins: where a profile cannot use the real dataset offline, the run trains on the
closest dataset that is available and records ``stand_in_for`` (e.g. ``dataset=cifar10_subset,
stand_in_for=cifar100``), a column in the results; the ``dataset`` column always names what the
run actually trained on. The ``quick`` profile does not define ``cifar100``/``galaxy10`` at all:
stand-in numbers would be mistaken for results.

Paper profile beyond MNIST-rot: the settings of the paper's CIFAR and Galaxy10 tables are unknown
(Knigge, Romero & Bekkers 2022, experiments), so these are our choices, stated here: the MNIST-rot
optimiser (Adam 1e-4, wd 1e-4, cosine, 300 epochs, batch 64); CIFAR with All-CNN-C widths
(96, 192), SE(2) N = 8, Sim(2) 8 x 3, crop + flip augmentation; Galaxy10 with the MNIST-rot ResNet
and no augmentation (so that rotation robustness comes from the architecture alone).

This module imports nothing of gsepconv: ``gsepconv list`` and every layer that reads a profile
(the experiments, the benchmark, the analysis) can import it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from operator import attrgetter
from typing import Any

__all__ = [
    "MAX_SCALE",
    "BenchCase",
    "BenchProfile",
    "BudgetProfile",
    "CifarProfile",
    "EquivarianceProfile",
    "LayerCostProfile",
    "MnistProfile",
    "PAPER",
    "PROFILES",
    "Profile",
    "QUICK",
    "RotationsProfile",
    "SMOKE",
    "SweepProfile",
    "TrainingProfile",
    "get_profile",
]

#: Scales 1, 1.319, 1.74 for 3 scales (Knigge, Romero & Bekkers 2022, experiments).
MAX_SCALE = 1.74


def _from(path: str) -> Any:
    """A setting that is ``None`` unless the profile sets it: then the setting at ``path`` applies
    (the builders of ``gsepconv.experiments.registry`` fall back so; ``describe`` shows it)."""
    return field(default=None, metadata={"from": path})


def _subset(path: str | None = None) -> Any:
    """A number of images of a split; ``None``: the whole split (or the setting at ``path``)."""
    return field(default=None, metadata={"from": path} if path else {"none": "all"})


# ------------------------------------------------------------------------ training grids
@dataclass(frozen=True)
class TrainingProfile:
    """What every trained run shares: seeds, batch, optimiser (Adam, cosine schedule), CPU use."""

    seeds: tuple[int, ...]
    batch_size: int
    lr: float
    weight_decay: float
    #: data-loader worker processes of each run
    num_workers: int = 0
    #: independent runs trained side by side on CPU (one worker process each, the cores shared):
    #: small G-CNN steps use two threads poorly, so two one-thread runs finish sooner than one
    #: two-thread run after another
    cpu_workers: int = 1


@dataclass(frozen=True)
class MnistProfile:
    """``mnist_rot``: the paper's MNIST-rot ResNet on rotated MNIST. Its model sizes are also those of
    ``mnist_rot_budget``, ``rotations``, ``galaxy10`` and ``gsepconv train --profile``; its group
    sizes and ``scale_kernel_options`` those of every experiment."""

    dataset: str
    stand_in_for: str | None = field(metadata={"none": "trains on the real dataset"})
    arch: str
    widths: tuple[int, ...]
    kernel_size: int
    #: SE(2) rotations N
    num_rotations: int
    #: Sim(2) rotations x scales; R2xR+ uses the scales
    sim2_elements: tuple[int, int]
    epochs: int
    train_subset: int | None = _subset()
    val_subset: int | None = _subset()
    test_subset: int | None = _subset()
    se2_implementations: tuple[str, ...] = ("nonseparable", "separable", "gseparable", "dseparable", "dgseparable")
    #: whether the grid has Sim(2) nonseparable too
    sim2_nonseparable: bool = False
    #: kernel options of the scale-group variants (R2xR+, Sim(2)), e.g. ``{"mask": "smooth"}``
    scale_kernel_options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetProfile:
    """``mnist_rot_budget``: the ``mnist`` models, each trained for the same wall-clock time.

    An epoch is a validation point (the best-validation weights are tested) and the cosine schedule
    runs over the budget's time, so the slowest model must finish at least two epochs within the
    budget, or its run is one pass with nothing to select: ``train_subset`` sets the epoch's length
    for this experiment alone (the same images for every model)."""

    #: seconds of training per run (``RunConfig.time_budget_s``)
    time_budget_s: float
    #: epochs at most, whatever the time left
    epochs_cap: int
    seeds: tuple[int, ...] = (0,)
    #: training images per epoch (``None``: those of ``mnist``)
    train_subset: int | None = _subset("mnist.train_subset")


@dataclass(frozen=True)
class RotationsProfile:
    """``rotations``: SE(2) nonseparable vs separable against N, on the ``mnist`` model. A setting
    left unset (``None``) is that of ``mnist`` or ``training``."""

    #: the numbers of rotations N compared
    num_rotations: tuple[int, ...]
    widths: tuple[int, ...] | None = _from("mnist.widths")
    seeds: tuple[int, ...] | None = _from("training.seeds")
    epochs: int | None = _from("mnist.epochs")
    train_subset: int | None = _subset("mnist.train_subset")
    val_subset: int | None = _subset("mnist.val_subset")
    test_subset: int | None = _subset("mnist.test_subset")


@dataclass(frozen=True)
class CifarProfile:
    """``cifar10`` and ``cifar100`` (All-CNN-C). ``galaxy10`` trains the ``mnist`` model on the same
    stand-in dataset, subsets and epochs."""

    #: the dataset of cifar10, and the stand-in of cifar100 and galaxy10 outside ``paper``
    dataset: str
    widths: tuple[int, ...]
    kernel_size: int
    #: SE(2) rotations N (and the rotations of Sim(2))
    num_rotations: int
    epochs: int
    train_subset: int | None = _subset()
    val_subset: int | None = _subset()
    test_subset: int | None = _subset()


# ------------------------------------------------------------------------ measurements
@dataclass(frozen=True)
class BenchCase:
    """One benchmarked model."""

    group: str
    implementation: str
    num_elements: int | tuple[int, int] | None

    @property
    def n_total(self) -> int:
        if self.num_elements is None:
            return 1
        return math.prod(self.num_elements) if isinstance(self.num_elements, tuple) else self.num_elements


@dataclass(frozen=True)
class BenchProfile:
    """``gsepconv bench``: sizes and the list of cases of the model benchmark. ``repeats``: timed
    rounds of the training loop (medians) after ``warmup``; a case timed against the original code
    gets ``max(repeats, against_repeats)`` rounds, enough for the spread of the per-round ratio."""

    #: the profile's name (the ``profile`` column of the rows)
    name: str
    batch_size: int
    image_size: int
    widths: tuple[int, ...]
    kernel_size: int
    hidden_features: int
    warmup: int
    repeats: int
    cases: tuple[BenchCase, ...]
    max_scale: float = MAX_SCALE
    against_repeats: int = 7


@dataclass(frozen=True)
class SweepProfile:
    """``gsepconv bench --sweep``: every case is measured at every image size."""

    #: the profile's name (the ``profile`` column of the rows)
    name: str
    batch_size: int
    widths: tuple[int, ...]
    kernel_size: int
    hidden_features: int
    warmup: int
    repeats: int
    image_sizes: tuple[int, ...]
    cases: tuple[BenchCase, ...]
    max_scale: float = MAX_SCALE


@dataclass(frozen=True)
class EquivarianceProfile:
    """``gsepconv equivariance``: a lifting layer and a group convolution per group x implementation,
    beside ``nn.Conv2d`` controls.

    ``seeds``: the seeds of the control rows and of the ``headline`` implementation of each group;
    the other implementations are measured at the first seed only (they compute the same function
    class; the cost of Sim(2) at k = 11 keeps ``quick`` near a minute on 2 CPU cores)."""

    channels: int
    kernel_size: int
    image_size: int
    #: group elements of each group measured
    num_elements: dict
    seeds: tuple[int, ...] = (0,)
    headline: tuple[tuple[str, str], ...] = (("SE2", "separable"), ("R2xRplus", "separable"), ("Sim2", "separable"))
    batch: int = 2


@dataclass(frozen=True)
class LayerCostProfile:
    """Layer costs (chapter 4): one ``GroupConv``, C to C channels, per implementation."""

    channels: int
    kernel_size: int
    image_size: int
    batch_size: int
    se2_elements: int
    sim2_elements: tuple[int, int]
    hidden_features: int
    warmup: int
    repeats: int
    #: torch CPU threads while measuring (``None``: leave torch's setting); tiny layers are many
    #: times slower with 2 threads on a busy 2-core machine
    threads: int | None = field(default=None, metadata={"none": "torch's setting"})


# ------------------------------------------------------------------------ the profile
@dataclass(frozen=True)
class Profile:
    """Every setting of one profile, a section per experiment or measurement.

    ``training``: what every trained run shares; ``mnist``: the rotated-MNIST grid, whose model
    the other MNIST experiments and Galaxy10 reuse; ``budget``, ``rotations``, ``cifar``: the
    experiments ``mnist_rot_budget``, ``rotations``, ``cifar10``/``cifar100`` (and Galaxy10's data);
    ``bench`` and ``sweep``: ``gsepconv bench`` and ``gsepconv bench --sweep``; ``equivariance``:
    ``gsepconv equivariance``; ``layer_costs``: the per-layer costs of chapter 4.
    ``gsepconv list --profile NAME`` prints them all (:meth:`describe`)."""

    name: str
    description: str
    training: TrainingProfile
    mnist: MnistProfile
    budget: BudgetProfile
    rotations: RotationsProfile
    cifar: CifarProfile
    bench: BenchProfile
    sweep: SweepProfile
    equivariance: EquivarianceProfile
    layer_costs: LayerCostProfile

    def __post_init__(self) -> None:
        for section in (self.bench, self.sweep):
            if section.name != self.name:
                raise ValueError(f"profile {self.name!r}: its {type(section).__name__} is named {section.name!r}")

    def describe(self) -> str:
        """Every setting as text, a block per section: ``name  value``, a setting left unset with
        the value that applies and where it comes from."""
        lines = [f"{self.name}: {self.description}"]
        for part in fields(self):
            section = getattr(self, part.name)
            if not is_dataclass(section):
                continue
            lines += ["", f"{part.name}: {_first_line(type(section).__doc__)}"]
            for setting in fields(section):
                text = _setting_text(self, section, setting.name, setting.metadata)
                lines.append(f"  {setting.name:<22}{text[0]}")
                lines += [f"  {'':<22}{more}" for more in text[1:]]
        return "\n".join(lines)


def _first_line(doc: str | None) -> str:
    """The first sentence of a section's docstring, as plain text."""
    text = " ".join((doc or "").split()).split(". ", 1)[0].rstrip(".").replace("``", "")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _setting_text(profile: Profile, section: Any, name: str, metadata: Any) -> list[str]:
    """The lines of one setting: a tuple of cases one per line, an unset setting with its source."""
    value = getattr(section, name)
    if value is None and "from" in metadata:
        source = metadata["from"]
        return [f"{attrgetter(source)(profile)!r} (from {source})"]
    if value is None and "none" in metadata:
        return [f"None ({metadata['none']})"]
    if isinstance(value, tuple) and value and all(isinstance(v, BenchCase) for v in value):
        return [f"{len(value)} cases:"] + [_case_text(c) for c in value]
    return [repr(value)]


def _case_text(case: BenchCase) -> str:
    n = case.num_elements
    elements = "" if n is None else " N=" + ("x".join(map(str, n)) if isinstance(n, tuple) else str(n))
    return f"{case.group} {case.implementation}{elements}"


def _se2_cases(ns: Sequence[int], impls: Sequence[str]) -> list[BenchCase]:
    return [BenchCase("SE2", impl, n) for n in ns for impl in impls]


def _sweep_cases(se2: Sequence[int], sim2: Sequence[tuple[int, int]]) -> tuple[BenchCase, ...]:
    """The Z2 CNN, then SE(2) non-separable/separable for each ``N`` in ``se2`` and Sim(2)
    non-separable/separable2d for each ``(N_rot, N_scale)`` in ``sim2``."""
    return (
        BenchCase("Z2", "none", None),
        *_se2_cases(se2, ("nonseparable", "separable")),
        *[BenchCase("Sim2", impl, n) for n in sim2 for impl in ("nonseparable", "separable2d")],
    )


_ALL_SE2 = ("nonseparable", "separable", "gseparable", "dseparable", "dgseparable")

# ------------------------------------------------------------------------ smoke
SMOKE = Profile(
    name="smoke",
    description="seconds per run, to exercise the pipeline (tests, CI); numbers mean nothing",
    training=TrainingProfile(seeds=(0,), batch_size=16, lr=1e-3, weight_decay=1e-4),
    mnist=MnistProfile(
        dataset="mnist_rot_seeded",
        stand_in_for="mnist_rot",
        arch="resnet",
        widths=(4, 4, 8),
        kernel_size=3,
        num_rotations=4,
        sim2_elements=(4, 2),
        epochs=1,
        train_subset=48,
        val_subset=32,
        test_subset=32,
        sim2_nonseparable=True,
    ),
    budget=BudgetProfile(time_budget_s=2.0, epochs_cap=2),
    rotations=RotationsProfile(num_rotations=(4, 8, 16)),
    cifar=CifarProfile(
        dataset="cifar10_subset",
        widths=(4, 8),
        kernel_size=3,
        num_rotations=4,
        epochs=1,
        train_subset=48,
        val_subset=32,
        test_subset=32,
    ),
    bench=BenchProfile(
        "smoke",
        batch_size=4,
        image_size=16,
        widths=(4, 4, 8),
        kernel_size=5,
        hidden_features=16,
        warmup=1,
        repeats=2,
        against_repeats=3,
        cases=(
            BenchCase("Z2", "none", None),
            *_se2_cases([4], ("nonseparable", "separable", "dgseparable")),
            BenchCase("Sim2", "separable2d", (4, 2)),
        ),
    ),
    sweep=SweepProfile(
        "smoke",
        batch_size=2,
        widths=(4, 4, 8),
        kernel_size=3,
        hidden_features=8,
        warmup=1,
        repeats=1,
        image_sizes=(12, 20),
        cases=_sweep_cases([4, 8], [(4, 2)]),
    ),
    equivariance=EquivarianceProfile(
        channels=2, kernel_size=5, image_size=17, num_elements={"SE2": 8, "R2xRplus": 3, "Sim2": (8, 3)}
    ),
    layer_costs=LayerCostProfile(
        channels=4,
        kernel_size=5,
        image_size=12,
        batch_size=2,
        se2_elements=4,
        sim2_elements=(4, 2),
        hidden_features=16,
        warmup=1,
        repeats=2,
        threads=1,
    ),
)

# ------------------------------------------------------------------------ quick
# The equivariance sizes of quick, and of paper, which measures at the same sizes. k = 11: dilated
# continuous kernels need enough taps to be resolved on the pixel grid. With the default kernels
# (hard disk mask, SIREN omega_0 = 10), R2xR+ separable lift+gconv, one scale step, 3 seeds (41 px):
# k = 5: 0.44, k = 7: 0.25, k = 11: 0.07, against SE(2) 0.11 / 0.18 / 0.33 and nn.Conv2d 0.27 /
# 0.29 / 0.50: below k = 11 the scale groups do not beat the controls. Two causes: the hard mask
# (taps enter and leave the disk differently at each scale; mask="smooth": 0.29 / 0.07 / 0.03) and
# kernel frequencies near the tap spacing (smooth mask and omega_0 = 3: 0.026 / 0.015). Rotations
# are fine at any k.
_QUICK_EQUIVARIANCE = EquivarianceProfile(
    channels=4,
    kernel_size=11,
    image_size=41,
    num_elements={"SE2": 8, "R2xRplus": 3, "Sim2": (8, 3)},
    seeds=(0, 1, 2),
    batch=1,
)

QUICK = Profile(
    name="quick",
    description=(
        "2 CPU cores, ~56 min of training: 3 seeds of the headline models at widths (12, 12, 24), 252 steps each"
    ),
    training=TrainingProfile(seeds=(0, 1, 2), batch_size=64, lr=3e-3, weight_decay=1e-4, cpu_workers=2),
    mnist=MnistProfile(
        dataset="mnist_rot_seeded",
        stand_in_for="mnist_rot",
        arch="resnet",
        widths=(12, 12, 24),
        kernel_size=5,
        num_rotations=8,
        sim2_elements=(4, 3),
        epochs=4,
        train_subset=4_000,
        val_subset=500,
        test_subset=2_000,
        se2_implementations=("nonseparable", "separable", "dseparable"),
        sim2_nonseparable=False,
        scale_kernel_options={"mask": "smooth"},
    ),
    budget=BudgetProfile(time_budget_s=90.0, epochs_cap=50, seeds=(0, 1, 2), train_subset=2000),
    rotations=RotationsProfile(
        num_rotations=(4, 8, 16),
        widths=(8, 8, 16),
        seeds=(0,),
        epochs=2,
        train_subset=2_000,
        val_subset=500,
        test_subset=2_000,
    ),
    cifar=CifarProfile(dataset="cifar10_subset", widths=(16, 32), kernel_size=3, num_rotations=4, epochs=4),
    # One warm-up and three timed steps, no channels-first comparison. A batch of 32 (cost ∝ batch):
    # at 64 the benchmark took 17 min of the reproduction (a Sim(2) non-separable step alone was
    # 24 s) and `--against` 35 min. With --against (not part of the reproduction) each case the
    # original has takes 7 rounds, so that the quartiles of the per-round ratio mean something:
    # about twice as long.
    bench=BenchProfile(
        "quick",
        batch_size=32,
        image_size=28,
        widths=(16, 16, 32),
        kernel_size=7,
        hidden_features=64,
        warmup=1,
        repeats=3,
        against_repeats=7,
        cases=(
            BenchCase("Z2", "none", None),
            *_se2_cases([4, 8, 16], ("nonseparable", "separable")),
            *_se2_cases([8], ("gseparable", "dseparable", "dgseparable")),
            BenchCase("R2xRplus", "separable", 3),
            BenchCase("Sim2", "separable2d", (4, 3)),
            BenchCase("Sim2", "separable2d", (8, 3)),
            BenchCase("Sim2", "separable", (8, 3)),
            BenchCase("Sim2", "nonseparable", (4, 3)),
        ),
    ),
    # A small batch and images of 16/24/32 pixels (cost ∝ pixels: 256/576/1024) keep the sweep
    # within ~3 min with the cores shared; sizes 20/28/40 (1.9x the pixels) take 325 s beside four
    # other jobs on the two cores.
    sweep=SweepProfile(
        "quick",
        batch_size=8,
        widths=(8, 8, 16),
        kernel_size=5,
        hidden_features=32,
        warmup=1,
        repeats=3,
        image_sizes=(16, 24, 32),
        cases=_sweep_cases([4, 8, 16], [(2, 3), (4, 3)]),
    ),
    equivariance=_QUICK_EQUIVARIANCE,
    # a few minutes on 2 CPU cores (Sim(2) nonseparable/gseparable dominate)
    layer_costs=LayerCostProfile(
        channels=16,
        kernel_size=7,
        image_size=28,
        batch_size=4,
        se2_elements=8,
        sim2_elements=(4, 3),
        hidden_features=64,
        warmup=1,
        repeats=3,
    ),
)
"""The CPU profile: every headline comparison has 3 seeds, at widths where separable layers are not
capacity-starved, within ~56 min of training on 2 cores.

Sizes: at widths (8, 8, 16) a separable layer has only 8 spatial filters and is capacity-starved
(separable with N = 1 scores like a depthwise-separable CNN), so the separable-vs-nonseparable
comparison would mean nothing; one seed cannot tell a difference from noise; and ~140 steps leave
every G-CNN below the plain CNN. Hence widths (12, 12, 24), k = 5, SE(2) N = 8, R2xR+ 3 scales,
Sim(2) 4 rotations x 3 scales, Adam 3e-3 with a cosine schedule, batch 64: 4 epochs of 4,000
images are 252 steps per run.

Time, two one-thread runs side by side on 2 CPU cores (``training.cpu_workers=2``; two threads give
only 1.0-1.5x on these models): at 5 epochs (313 steps) Z2 takes 30 s, SE(2) nonseparable 611 s
(one thread, batch 64: ≈ 2.2 s per step, 78 % of it in convolutions), separable 212 s,
dseparable 300 s, R2xR+ separable 115 s, Sim(2) separable2d 463 s, and all runs of the profile
together ≈ 56 min of two workers even packed without gaps; 4 epochs bring that to ≈ 50 min; measured
at 41a202d and 1fb8546, the whole pool took 55 min 25 s and 56 min 1 s (test evaluations and the
equal-time experiment's 15 runs of 90 s included; a whole reproduction at 1fb8546: 67 min 48 s)
(``gsepconv reproduce --train always`` trains every run of the profile as one longest-first pool,
``gsepconv.experiments.runner.train_profile``).

``mnist_rot``: Z2 CNN, SE(2) nonseparable / separable / dseparable, R2xR+ separable, Sim(2)
separable2d, seeds 0, 1, 2; ``mnist_rot_seeded`` 4,000 train / 500 val / 2,000 of the 50,000
test images, 4 epochs.

``mnist_rot_budget``: the same models, seeds 0, 1, 2 (paired by seed: a verdict needs an
interval), each trained for the same 90 s of wall-clock training time on one thread
(``RunConfig.time_budget_s``; runs go two at a time like the rest): accuracy at equal training
time, the form of the paper's claim that separable G-CNNs do better "while only using a fraction
of their training time" (≈ 14 min with evaluation); its epochs are 2,000 images
(``budget.train_subset``), so the slowest model, SE(2) nonseparable, finishes two.

``rotations``: SE(2) nonseparable vs separable for N = 4, 8, 16 at widths (8, 8, 16),
2,000 / 500 / 2,000, 2 epochs, seed 0: its point is time against N. ``cifar10``:
``cifar10_subset`` 3,500 / 500 / 1,000, All-CNN-C widths (16, 32), Z2 vs SE(2) N = 4 separable /
nonseparable, 4 epochs.

Scale groups use the smooth disk mask (``mnist.scale_kernel_options``): with a hard mask, taps enter
and leave the disk differently at every scale, and at k = 5 the scale-equivariance error is no
better than a plain CNN's (0.44 vs 0.27; smooth mask 0.29, smooth mask with ω₀ = 3: 0.03;
``gsepconv equivariance``); R2xR+ separable at 785 steps (widths 8, 8, 16) reaches 73.3 / 77.3 %
with the hard mask and 79.3 / 78.9 % with the smooth one (seeds 0 / 1).
"""

# ------------------------------------------------------------------------ paper
PAPER = Profile(
    name="paper",
    description="the paper's settings (Knigge, Romero & Bekkers 2022, experiments), 3 seeds, for GPUs",
    training=TrainingProfile(seeds=(0, 1, 2), batch_size=64, lr=1e-4, weight_decay=1e-4),
    mnist=MnistProfile(
        dataset="mnist_rot",
        stand_in_for=None,
        arch="resnet",
        widths=(32, 32, 64),
        kernel_size=7,
        num_rotations=8,
        sim2_elements=(16, 3),
        epochs=300,
        sim2_nonseparable=True,
        scale_kernel_options={"mask": "smooth"},
    ),
    budget=BudgetProfile(time_budget_s=4 * 3600.0, epochs_cap=300, seeds=(0, 1, 2)),
    rotations=RotationsProfile(num_rotations=(4, 8, 16)),
    cifar=CifarProfile(dataset="cifar10", widths=(96, 192), kernel_size=3, num_rotations=8, epochs=300),
    bench=BenchProfile(
        "paper",
        batch_size=64,
        image_size=28,
        widths=(32, 32, 64),
        kernel_size=7,
        hidden_features=64,
        warmup=3,
        repeats=10,
        against_repeats=10,
        cases=(
            BenchCase("Z2", "none", None),
            *_se2_cases([4, 8, 16], _ALL_SE2),
            BenchCase("R2xRplus", "separable", 3),
            *[
                BenchCase("Sim2", impl, n)
                for n in ((4, 3), (8, 3), (16, 3))
                for impl in ("separable2d", "separable", "gseparable2d")
            ],
            BenchCase("Sim2", "nonseparable", (4, 3)),
            BenchCase("Sim2", "nonseparable", (8, 3)),
        ),
    ),
    sweep=SweepProfile(
        "paper",
        batch_size=64,
        widths=(32, 32, 64),
        kernel_size=7,
        hidden_features=64,
        warmup=3,
        repeats=10,
        image_sizes=(28, 56, 112),
        cases=_sweep_cases([4, 8, 16, 32], [(4, 3), (8, 3), (16, 3)]),
    ),
    equivariance=_QUICK_EQUIVARIANCE,
    layer_costs=LayerCostProfile(
        channels=32,
        kernel_size=7,
        image_size=28,
        batch_size=64,
        se2_elements=8,
        sim2_elements=(16, 3),
        hidden_features=64,
        warmup=3,
        repeats=10,
    ),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (SMOKE, QUICK, PAPER)}


def get_profile(name: str) -> Profile:
    """The :class:`Profile` called ``name`` (``ValueError`` listing the valid ones otherwise)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    return PROFILES[name]
