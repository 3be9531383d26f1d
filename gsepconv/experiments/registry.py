"""Named experiments: each ``(experiment, profile)`` pair expands to a list of runs.

A builder reads the sections of the profile (``gsepconv.experiments.profiles``) its experiment
needs: ``training`` always, ``mnist`` for the rotated-MNIST ResNet, then ``budget``, ``rotations``
or ``cifar``. What the profiles are, and the stand-ins of the profiles without offline data, is
said there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gsepconv.experiments.config import DataConfig, ModelConfig, OptimConfig, RunConfig
from gsepconv.experiments.profiles import MAX_SCALE, PAPER, PROFILES, QUICK, SMOKE, Profile, get_profile

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


@dataclass(frozen=True)
class Experiment:
    """A named grid of runs; ``build(profile)`` returns its :class:`RunConfig` list."""

    name: str
    description: str
    build: Callable[[Profile], list[RunConfig]]
    profiles: tuple[str, ...] = ("smoke", "quick", "paper")
    missing_profile_reason: str = ""


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
            name=p.mnist.dataset,
            stand_in_for=p.mnist.stand_in_for,
            train_subset=train or p.mnist.train_subset,
            val_subset=val or p.mnist.val_subset,
            test_subset=test or p.mnist.test_subset,
        ),
        model=ModelConfig(
            arch=p.mnist.arch,
            group=group,
            implementation=implementation,
            num_elements=num_elements,
            widths=p.mnist.widths,
            kernel_size=p.mnist.kernel_size,
            **extra,
        ),
        optim=_optim(p),
        epochs=epochs or p.mnist.epochs,
        batch_size=p.training.batch_size,
        seed=seed,
        num_workers=p.training.num_workers,
    ).validate()


def _optim(p: Profile) -> OptimConfig:
    """Adam with a cosine schedule, at the profile's learning rate and weight decay."""
    return OptimConfig(name="adam", lr=p.training.lr, weight_decay=p.training.weight_decay, schedule="cosine")


def _scale_options(p: Profile) -> dict:
    """Model options of the scale-group variants: ``max_scale`` and the profile's kernel options
    for scale groups (e.g. the smooth mask; none by default, so run ids stay unchanged)."""
    options: dict = {"max_scale": MAX_SCALE}
    if p.mnist.scale_kernel_options:
        options["kernel_options"] = dict(p.mnist.scale_kernel_options)
    return options


def _z2(p: Profile) -> _Variant:
    return ("Z2", "nonseparable", 1, {})


def profile_run(profile: str, group: str = "SE2", seed: int = 0, experiment: str = "custom") -> RunConfig:
    """The profile's MNIST-rot ResNet run of ``group`` (what ``gsepconv train --profile`` starts
    from): the ``mnist`` section's dataset and subsets, widths, kernel size and epochs, the
    ``training`` section's batch size and optimiser, and the group's elements
    (``mnist.num_rotations``; ``mnist.sim2_elements`` for the scale groups, with their kernel
    options) — e.g. ``profile_run("quick", "Sim2")`` is the quick profile's Sim(2) run."""
    p = get_profile(profile)
    scale = _scale_options(p)
    variants: dict[str, _Variant] = {
        "Z2": _z2(p),
        "SE2": ("SE2", "separable", p.mnist.num_rotations, {}),
        "R2xRplus": ("R2xRplus", "separable", p.mnist.sim2_elements[1], scale),
        "Sim2": ("Sim2", "separable2d", p.mnist.sim2_elements, scale),
    }
    if group not in variants:
        raise ValueError(f"unknown group {group!r}; choose one of {', '.join(variants)}")
    return _mnist_run(p, experiment, variants[group], seed)


def _build_mnist_rot(p: Profile) -> list[RunConfig]:
    n = p.mnist.num_rotations
    scale = _scale_options(p)
    variants: list[_Variant] = [_z2(p)]
    variants += [("SE2", impl, n, {}) for impl in p.mnist.se2_implementations]
    variants.append(("R2xRplus", "separable", p.mnist.sim2_elements[1], scale))
    variants.append(("Sim2", "separable2d", p.mnist.sim2_elements, scale))
    if p.mnist.sim2_nonseparable:
        variants.append(("Sim2", "nonseparable", p.mnist.sim2_elements, scale))
    return [_mnist_run(p, "mnist_rot", v, s) for v in variants for s in p.training.seeds]


def _build_mnist_rot_budget(p: Profile) -> list[RunConfig]:
    n = p.mnist.num_rotations
    variants: list[_Variant] = [_z2(p)] + [("SE2", impl, n, {}) for impl in ("nonseparable", "separable", "dseparable")]
    variants.append(("Sim2", "separable2d", p.mnist.sim2_elements, _scale_options(p)))
    budget = p.budget
    subsets = (budget.train_subset, None, None)
    return [
        _mnist_run(p, "mnist_rot_budget", v, s, epochs=budget.epochs_cap, subsets=subsets).replace(
            time_budget_s=budget.time_budget_s
        )
        for v in variants
        for s in budget.seeds
    ]


def _build_rotations(p: Profile) -> list[RunConfig]:
    variants = [("SE2", impl, n, {}) for n in p.rotations.num_rotations for impl in ("nonseparable", "separable")]
    subsets = (p.rotations.train_subset, p.rotations.val_subset, p.rotations.test_subset)
    runs = [
        _mnist_run(p, "rotations", v, s, epochs=p.rotations.epochs, subsets=subsets)
        for v in variants
        for s in (p.rotations.seeds or p.training.seeds)
    ]
    if p.rotations.widths is not None:
        runs = [r.replace(**{"model.widths": p.rotations.widths}) for r in runs]
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
        for seed in p.training.seeds:
            runs.append(
                RunConfig(
                    experiment=experiment,
                    profile=p.name,
                    data=DataConfig(
                        name=dataset,
                        stand_in_for=stand_in,
                        train_subset=p.cifar.train_subset,
                        val_subset=p.cifar.val_subset,
                        test_subset=p.cifar.test_subset,
                        augment=augment,
                    ),
                    model=ModelConfig(
                        arch=arch,
                        group=group,
                        implementation=implementation,
                        num_elements=num_elements,
                        widths=widths or p.cifar.widths,
                        kernel_size=kernel_size or p.cifar.kernel_size,
                        **extra,
                    ),
                    optim=_optim(p),
                    epochs=p.cifar.epochs,
                    batch_size=p.training.batch_size,
                    seed=seed,
                    num_workers=p.training.num_workers,
                ).validate()
            )
    return runs


def _cifar_variants(p: Profile, sim2: bool) -> list[_Variant]:
    n = p.cifar.num_rotations
    variants: list[_Variant] = [_z2(p), ("SE2", "separable", n, {}), ("SE2", "nonseparable", n, {})]
    if sim2:
        variants.append(("Sim2", "separable2d", (n, p.mnist.sim2_elements[1]), _scale_options(p)))
    return variants


def _build_cifar10(p: Profile) -> list[RunConfig]:
    stand_in = "cifar10" if p.cifar.dataset != "cifar10" else None
    return _cifar_runs(
        p, "cifar10", p.cifar.dataset, stand_in, _cifar_variants(p, sim2=p.name != "quick"), augment=p.name == "paper"
    )


def _build_cifar100(p: Profile) -> list[RunConfig]:
    dataset, stand_in = ("cifar100", None) if p.name == "paper" else (p.cifar.dataset, "cifar100")
    return _cifar_runs(p, "cifar100", dataset, stand_in, _cifar_variants(p, sim2=True), augment=p.name == "paper")


def _build_galaxy10(p: Profile) -> list[RunConfig]:
    dataset, stand_in = ("galaxy10", None) if p.name == "paper" else (p.cifar.dataset, "galaxy10")
    mnist = p.mnist  # the MNIST-rot ResNet, on the cifar section's data and epochs
    variants: list[_Variant] = [
        _z2(p),
        ("SE2", "separable", mnist.num_rotations, {}),
        ("Sim2", "separable2d", mnist.sim2_elements, _scale_options(p)),
    ]
    return _cifar_runs(
        p, "galaxy10", dataset, stand_in, variants, arch=mnist.arch, widths=mnist.widths, kernel_size=mnist.kernel_size
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
