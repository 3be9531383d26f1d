"""Named experiments and profiles: each ``(experiment, profile)`` pair expands to a list of runs.

Profiles
--------
``smoke``
    Seconds per run: 1 epoch on a few dozen images, widths (4, 4, 8), k = 3, N = 4. Used by the
    tests and CI to exercise the whole pipeline, not to measure anything.
``quick``
    Fits 2 CPU cores; numbers good enough for the notebooks' plots (see :data:`QUICK` for the
    time budget). Uses the offline datasets ``mnist_rot_seeded`` and ``cifar10_subset``.
``paper``
    The paper's settings (Knigge, Romero & Bekkers 2022, experiments) with 3 seeds, for GPUs.

Honest stand-ins: where a profile cannot use the real dataset offline, the run trains on the
closest dataset that is available and records ``stand_in_for`` (e.g. ``dataset=cifar10_subset,
stand_in_for=cifar100``), a column in the results; the ``dataset`` column always names what the
run actually trained on. The ``quick`` profile does not define ``cifar100``/``galaxy10`` at all:
stand-in numbers would be mistaken for results.

Paper profile beyond MNIST-rot: the settings of the paper's CIFAR and Galaxy10 tables are unknown
(Knigge, Romero & Bekkers 2022, experiments), so these are our choices, stated here: the MNIST-rot optimiser (Adam 1e-4,
wd 1e-4, cosine, 300 epochs, batch 64); CIFAR with All-CNN-C widths (96, 192), SE(2) N = 8,
Sim(2) 8 x 3, crop + flip augmentation; Galaxy10 with the MNIST-rot ResNet and no augmentation
(so that rotation robustness comes from the architecture alone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gsepconv.experiments.config import DataConfig, ModelConfig, OptimConfig, RunConfig

__all__ = [
    "PROFILES",
    "Profile",
    "Experiment",
    "EXPERIMENTS",
    "SMOKE",
    "QUICK",
    "PAPER",
    "get_runs",
    "get_profile",
    "list_experiments",
    "profile_run",
]

#: Scales 1, 1.319, 1.74 for 3 scales (Knigge, Romero & Bekkers 2022, experiments).
MAX_SCALE = 1.74


@dataclass(frozen=True)
class Profile:
    """Shared settings of one profile (per-experiment overrides live in the experiment builders)."""

    name: str
    description: str
    epochs: int
    batch_size: int
    seeds: tuple[int, ...]
    lr: float
    weight_decay: float
    # MNIST-style experiments (the paper's MNIST-rot ResNet)
    mnist_dataset: str
    mnist_stand_in: str | None
    arch: str
    widths: tuple[int, ...]
    kernel_size: int
    num_rotations: int
    sim2_elements: tuple[int, int]
    rotations_sweep: tuple[int, ...]
    train_subset: int | None
    val_subset: int | None
    test_subset: int | None
    # CIFAR / Galaxy10
    cifar_dataset: str
    cifar_widths: tuple[int, ...]
    cifar_kernel_size: int
    cifar_epochs: int
    cifar_train_subset: int | None
    cifar_val_subset: int | None
    cifar_test_subset: int | None
    cifar_rotations: int
    sim2_nonseparable: bool = False
    se2_implementations: tuple[str, ...] = ("nonseparable", "separable", "gseparable", "dseparable", "dgseparable")
    rotations_widths: tuple[int, ...] | None = None
    rotations_seeds: tuple[int, ...] | None = None
    # kernel options of the scale-group (R2xR+, Sim(2)) variants, e.g. {"mask": "smooth"}
    scale_kernel_options: dict = field(default_factory=dict)
    # mnist_rot_budget: every model trains for the same wall-clock time (epochs is only a cap)
    budget_s: float = 60.0
    budget_epochs_cap: int = 50
    budget_seeds: tuple[int, ...] = (0,)
    rotations_epochs: int | None = None
    rotations_train_subset: int | None = None
    rotations_val_subset: int | None = None
    rotations_test_subset: int | None = None
    num_workers: int = 0
    # independent runs trained side by side when they train on CPU (one worker process each, the
    # cores shared between them): small G-CNN steps use two threads poorly, so two one-thread runs
    # finish ~1.4x sooner than one two-thread run after another (measured for the quick grid)
    cpu_workers: int = 1
    extra: dict = field(default_factory=dict)


SMOKE = Profile(
    name="smoke",
    description="seconds per run, to exercise the pipeline (tests, CI); numbers mean nothing",
    epochs=1,
    batch_size=16,
    seeds=(0,),
    lr=1e-3,
    weight_decay=1e-4,
    mnist_dataset="mnist_rot_seeded",
    mnist_stand_in="mnist_rot",
    arch="resnet",
    widths=(4, 4, 8),
    kernel_size=3,
    num_rotations=4,
    sim2_elements=(4, 2),
    rotations_sweep=(4, 8, 16),
    train_subset=48,
    val_subset=32,
    test_subset=32,
    cifar_dataset="cifar10_subset",
    cifar_widths=(4, 8),
    cifar_kernel_size=3,
    cifar_epochs=1,
    cifar_train_subset=48,
    cifar_val_subset=32,
    cifar_test_subset=32,
    cifar_rotations=4,
    sim2_nonseparable=True,
    budget_s=2.0,
    budget_epochs_cap=2,
)

QUICK = Profile(
    name="quick",
    description=(
        "2 CPU cores, ~50 min of training: 3 seeds of the headline models at widths (12, 12, 24), 252 steps each"
    ),
    epochs=4,
    batch_size=64,
    seeds=(0, 1, 2),
    lr=3e-3,
    weight_decay=1e-4,
    mnist_dataset="mnist_rot_seeded",
    mnist_stand_in="mnist_rot",
    arch="resnet",
    widths=(12, 12, 24),
    kernel_size=5,
    num_rotations=8,
    sim2_elements=(4, 3),
    rotations_sweep=(4, 8, 16),
    train_subset=4_000,
    val_subset=500,
    test_subset=2_000,
    cifar_dataset="cifar10_subset",
    cifar_widths=(16, 32),
    cifar_kernel_size=3,
    cifar_epochs=4,
    cifar_train_subset=None,
    cifar_val_subset=None,
    cifar_test_subset=None,
    cifar_rotations=4,
    sim2_nonseparable=False,
    se2_implementations=("nonseparable", "separable", "dseparable"),
    rotations_widths=(8, 8, 16),
    rotations_seeds=(0,),
    rotations_epochs=2,
    rotations_train_subset=2_000,
    rotations_val_subset=500,
    rotations_test_subset=2_000,
    budget_s=90.0,
    budget_epochs_cap=50,
    budget_seeds=(0, 1, 2),
    scale_kernel_options={"mask": "smooth"},
    cpu_workers=2,
)
"""The CPU profile, sized by measurement so that every headline comparison has 3 seeds, at
widths where separable layers are not capacity-starved, within ~50 min of training.

Why these sizes (issue 10): at widths (8, 8, 16) a separable layer has only 8 spatial filters
and is capacity-starved (separable with N = 1 scored like a depthwise-separable CNN), so the
separable-vs-nonseparable comparison meant nothing; one seed could not tell a difference from
noise; and 141 steps (the first redesign: widths (16, 16, 32), 3,000 images, 3 epochs) left every
G-CNN below the plain CNN. Now: widths (12, 12, 24), k = 5, SE(2) N = 8, R2xR+ 3 scales, Sim(2)
4 rotations x 3 scales, Adam 3e-3 with a cosine schedule, batch 64, 4 epochs of 4,000 images =
252 steps per run.

Measured (2026-11-28/29, this 2-core machine, two one-thread runs side by side): at 5 epochs
(313 steps) the runs took Z2 30 s, SE(2) nonseparable 611 s, separable 212 s, dseparable 300 s,
R2xR+ separable 115 s, Sim(2) separable2d 463 s (one thread, batch 64: SE(2) nonseparable
≈ 2.2 s per step, 78 % of it in convolutions), and all runs of the profile together (four
experiments) ≈ 56 min of two workers even when packed without gaps, so the grid was cut to 4 epochs
(≈ 50 min; ``gsepconv reproduce --train always`` trains every run of the profile as one
longest-first pool, :func:`gsepconv.experiments.runner.train_profile`). Two one-thread runs side
by side (``cpu_workers=2``) beat one two-thread run (two threads gave only 1.0-1.5x on these
models).

``mnist_rot``: Z2 CNN, SE(2) nonseparable / separable / dseparable, R2xR+ separable, Sim(2)
separable2d, seeds 0, 1, 2; ``mnist_rot_seeded`` 4,000 train / 500 val / 2,000 of the 50,000
test images, 4 epochs.

``mnist_rot_budget``: the same models, seeds 0, 1, 2 (paired by seed: a verdict needs an
interval), each trained for the same 90 s of wall-clock training time on one thread
(:attr:`RunConfig.time_budget_s`; runs go two at a time like the rest): accuracy at equal training
time, the form of the paper's claim that separable G-CNNs do better "while only using a fraction of
their training time" (≈ 15 min with evaluation).

``rotations``: SE(2) nonseparable vs separable for N = 4, 8, 16 at widths (8, 8, 16),
2,000 / 500 / 2,000, 2 epochs, seed 0: its point is time against N. ``cifar10``:
``cifar10_subset`` 3,500 / 500 / 1,000, All-CNN-C widths (16, 32), Z2 vs SE(2) N = 4 separable /
nonseparable, 4 epochs.

Scale groups use the smooth disk mask (``scale_kernel_options``): with a hard mask, taps enter
and leave the disk differently at every scale, and at k = 5 the measured scale-equivariance error
was no better than a plain CNN's (0.44 vs 0.27; smooth mask 0.29, smooth mask with ω₀ = 3: 0.03;
``gsepconv equivariance``); R2xR+ separable at 785 steps (widths 8, 8, 16): hard 73.3 / 77.3 %,
smooth 79.3 / 78.9 % (seeds 0 / 1).
"""

PAPER = Profile(
    name="paper",
    description="the paper's settings (Knigge, Romero & Bekkers 2022, experiments), 3 seeds, for GPUs",
    epochs=300,
    batch_size=64,
    seeds=(0, 1, 2),
    lr=1e-4,
    weight_decay=1e-4,
    mnist_dataset="mnist_rot",
    mnist_stand_in=None,
    arch="resnet",
    widths=(32, 32, 64),
    kernel_size=7,
    num_rotations=8,
    sim2_elements=(16, 3),
    rotations_sweep=(4, 8, 16),
    train_subset=None,
    val_subset=None,
    test_subset=None,
    cifar_dataset="cifar10",
    cifar_widths=(96, 192),
    cifar_kernel_size=3,
    cifar_epochs=300,
    cifar_train_subset=None,
    cifar_val_subset=None,
    cifar_test_subset=None,
    cifar_rotations=8,
    sim2_nonseparable=True,
    budget_s=4 * 3600.0,
    budget_epochs_cap=300,
    budget_seeds=(0, 1, 2),
    scale_kernel_options={"mask": "smooth"},
)

PROFILES: dict[str, Profile] = {p.name: p for p in (SMOKE, QUICK, PAPER)}


@dataclass(frozen=True)
class Experiment:
    """A named grid of runs; ``build(profile)`` returns its :class:`RunConfig` list."""

    name: str
    description: str
    build: Callable[[Profile], list[RunConfig]]
    profiles: tuple[str, ...] = ("smoke", "quick", "paper")
    missing_profile_reason: str = ""


def get_profile(name: str) -> Profile:
    """The :class:`Profile` called ``name`` (``ValueError`` listing the valid ones otherwise)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    return PROFILES[name]


# ------------------------------------------------------------------------------------ builders
# (group, implementation, num_elements, extra model options)
_Variant = tuple[str, str, "int | tuple[int, int]", dict]


def _mnist_run(
    p: Profile,
    experiment: str,
    variant: _Variant,
    seed: int,
    *,
    epochs: int | None = None,
    subsets: tuple[int | None, int | None, int | None] = (None, None, None),
) -> RunConfig:
    group, implementation, num_elements, extra = variant
    train, val, test = subsets
    return RunConfig(
        experiment=experiment,
        profile=p.name,
        data=DataConfig(
            name=p.mnist_dataset,
            stand_in_for=p.mnist_stand_in,
            train_subset=train or p.train_subset,
            val_subset=val or p.val_subset,
            test_subset=test or p.test_subset,
        ),
        model=ModelConfig(
            arch=p.arch,
            group=group,
            implementation=implementation,
            num_elements=num_elements,
            widths=p.widths,
            kernel_size=p.kernel_size,
            **extra,
        ),
        optim=OptimConfig(name="adam", lr=p.lr, weight_decay=p.weight_decay, schedule="cosine"),
        epochs=epochs or p.epochs,
        batch_size=p.batch_size,
        seed=seed,
        num_workers=p.num_workers,
    ).validate()


def _scale_options(p: Profile) -> dict:
    """Model options of the scale-group variants: ``max_scale`` and the profile's kernel options
    for scale groups (e.g. the smooth mask; none by default, so run ids stay unchanged)."""
    options: dict = {"max_scale": MAX_SCALE}
    if p.scale_kernel_options:
        options["kernel_options"] = dict(p.scale_kernel_options)
    return options


def _z2(p: Profile) -> _Variant:
    return ("Z2", "nonseparable", 1, {})


def profile_run(profile: str, group: str = "SE2", seed: int = 0, experiment: str = "custom") -> RunConfig:
    """The profile's MNIST-rot ResNet run of ``group`` (what ``gsepconv train --profile`` starts
    from): its dataset and subsets, widths, kernel size, epochs, batch size and optimiser, and the
    group's elements (``num_rotations``; ``sim2_elements`` for the scale groups, with their kernel
    options) — e.g. ``profile_run("quick", "Sim2")`` is the quick profile's Sim(2) run."""
    p = get_profile(profile)
    scale = _scale_options(p)
    variants: dict[str, _Variant] = {
        "Z2": _z2(p),
        "SE2": ("SE2", "separable", p.num_rotations, {}),
        "R2xRplus": ("R2xRplus", "separable", p.sim2_elements[1], scale),
        "Sim2": ("Sim2", "separable2d", p.sim2_elements, scale),
    }
    if group not in variants:
        raise ValueError(f"unknown group {group!r}; choose one of {', '.join(variants)}")
    return _mnist_run(p, experiment, variants[group], seed)


def _build_mnist_rot(p: Profile) -> list[RunConfig]:
    n = p.num_rotations
    scale = _scale_options(p)
    variants: list[_Variant] = [_z2(p)]
    variants += [("SE2", impl, n, {}) for impl in p.se2_implementations]
    variants.append(("R2xRplus", "separable", p.sim2_elements[1], scale))
    variants.append(("Sim2", "separable2d", p.sim2_elements, scale))
    if p.sim2_nonseparable:
        variants.append(("Sim2", "nonseparable", p.sim2_elements, scale))
    return [_mnist_run(p, "mnist_rot", v, s) for v in variants for s in p.seeds]


def _build_mnist_rot_budget(p: Profile) -> list[RunConfig]:
    n = p.num_rotations
    variants: list[_Variant] = [_z2(p)] + [("SE2", impl, n, {}) for impl in ("nonseparable", "separable", "dseparable")]
    variants.append(("Sim2", "separable2d", p.sim2_elements, _scale_options(p)))
    return [
        _mnist_run(p, "mnist_rot_budget", v, s, epochs=p.budget_epochs_cap).replace(time_budget_s=p.budget_s)
        for v in variants
        for s in p.budget_seeds
    ]


def _build_rotations(p: Profile) -> list[RunConfig]:
    variants = [("SE2", impl, n, {}) for n in p.rotations_sweep for impl in ("nonseparable", "separable")]
    subsets = (p.rotations_train_subset, p.rotations_val_subset, p.rotations_test_subset)
    runs = [
        _mnist_run(p, "rotations", v, s, epochs=p.rotations_epochs, subsets=subsets)
        for v in variants
        for s in (p.rotations_seeds or p.seeds)
    ]
    if p.rotations_widths is not None:
        runs = [r.replace(**{"model.widths": p.rotations_widths}) for r in runs]
    return runs


def _cifar_runs(
    p: Profile,
    experiment: str,
    dataset: str,
    stand_in: str | None,
    variants: list[_Variant],
    arch: str = "allcnnc",
    widths: tuple[int, ...] | None = None,
    kernel_size: int | None = None,
    augment: bool = False,
) -> list[RunConfig]:
    runs = []
    for group, implementation, num_elements, extra in variants:
        for seed in p.seeds:
            runs.append(
                RunConfig(
                    experiment=experiment,
                    profile=p.name,
                    data=DataConfig(
                        name=dataset,
                        stand_in_for=stand_in,
                        train_subset=p.cifar_train_subset,
                        val_subset=p.cifar_val_subset,
                        test_subset=p.cifar_test_subset,
                        augment=augment,
                    ),
                    model=ModelConfig(
                        arch=arch,
                        group=group,
                        implementation=implementation,
                        num_elements=num_elements,
                        widths=widths or p.cifar_widths,
                        kernel_size=kernel_size or p.cifar_kernel_size,
                        **extra,
                    ),
                    optim=OptimConfig(name="adam", lr=p.lr, weight_decay=p.weight_decay, schedule="cosine"),
                    epochs=p.cifar_epochs,
                    batch_size=p.batch_size,
                    seed=seed,
                    num_workers=p.num_workers,
                ).validate()
            )
    return runs


def _cifar_variants(p: Profile, sim2: bool) -> list[_Variant]:
    n = p.cifar_rotations
    variants: list[_Variant] = [_z2(p), ("SE2", "separable", n, {}), ("SE2", "nonseparable", n, {})]
    if sim2:
        variants.append(("Sim2", "separable2d", (n, p.sim2_elements[1]), _scale_options(p)))
    return variants


def _build_cifar10(p: Profile) -> list[RunConfig]:
    stand_in = "cifar10" if p.cifar_dataset != "cifar10" else None
    return _cifar_runs(
        p, "cifar10", p.cifar_dataset, stand_in, _cifar_variants(p, sim2=p.name != "quick"), augment=p.name == "paper"
    )


def _build_cifar100(p: Profile) -> list[RunConfig]:
    dataset, stand_in = ("cifar100", None) if p.name == "paper" else (p.cifar_dataset, "cifar100")
    return _cifar_runs(p, "cifar100", dataset, stand_in, _cifar_variants(p, sim2=True), augment=p.name == "paper")


def _build_galaxy10(p: Profile) -> list[RunConfig]:
    dataset, stand_in = ("galaxy10", None) if p.name == "paper" else (p.cifar_dataset, "galaxy10")
    n = p.num_rotations
    variants: list[_Variant] = [
        _z2(p),
        ("SE2", "separable", n, {}),
        ("Sim2", "separable2d", p.sim2_elements, _scale_options(p)),
    ]
    return _cifar_runs(
        p, "galaxy10", dataset, stand_in, variants, arch=p.arch, widths=p.widths, kernel_size=p.kernel_size
    )


_NOT_OFFLINE = (
    "{name} is not in the offline mirror and too large for 2 CPU cores, so it has no "
    "quick profile (a stand-in would be mistaken for a result); use --profile smoke "
    "(pipeline check on a labelled stand-in) or --profile paper"
)

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "mnist_rot",
            "rotated MNIST: Z2 CNN; SE(2) nonseparable/separable/gseparable/"
            "dseparable/dgseparable; R2xR+ separable; Sim(2) separable2d (+ nonseparable "
            "in smoke/paper)",
            _build_mnist_rot,
        ),
        Experiment(
            "mnist_rot_budget",
            "rotated MNIST at equal wall-clock training time: Z2, SE(2) "
            "nonseparable/separable/dseparable, Sim(2) separable2d, each given the profile's "
            "time budget",
            _build_mnist_rot_budget,
        ),
        Experiment(
            "rotations", "rotated MNIST, SE(2) nonseparable vs separable for N = 4, 8, 16 rotations", _build_rotations
        ),
        Experiment(
            "cifar10",
            "CIFAR-10, All-CNN-C: Z2 vs SE(2) separable/nonseparable (+ Sim(2) "
            "separable2d in smoke/paper); smoke/quick use cifar10_subset",
            _build_cifar10,
        ),
        Experiment(
            "cifar100",
            "CIFAR-100, All-CNN-C: Z2 vs SE(2) separable/nonseparable vs Sim(2) separable2d",
            _build_cifar100,
            ("smoke", "paper"),
            _NOT_OFFLINE.format(name="CIFAR-100"),
        ),
        Experiment(
            "galaxy10",
            "Galaxy10 (SDSS, 69x69x3), ResNet: Z2 vs SE(2) separable vs Sim(2) separable2d",
            _build_galaxy10,
            ("smoke", "paper"),
            _NOT_OFFLINE.format(name="Galaxy10"),
        ),
    )
}


def list_experiments() -> list[str]:
    """Names of the experiments."""
    return list(EXPERIMENTS)


def get_runs(experiment: str, profile: str) -> list[RunConfig]:
    """The runs of ``experiment`` under ``profile``; ``ValueError`` naming the valid choices."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; valid experiments: {', '.join(EXPERIMENTS)}")
    exp = EXPERIMENTS[experiment]
    prof = get_profile(profile)
    if profile not in exp.profiles:
        raise ValueError(
            f"experiment {experiment!r} has no profile {profile!r}: "
            f"{exp.missing_profile_reason}; valid profiles for it: {', '.join(exp.profiles)}"
        )
    runs = exp.build(prof)
    ids = [r.run_id() for r in runs]
    if len(set(ids)) != len(ids):  # a programming error in a builder
        raise RuntimeError(f"duplicate run ids in {experiment}/{profile}: {ids}")
    return runs
