r"""A trained model's feature maps while its input rotates: the frames of chapter 02's animation.

Two small models of the paper's MNIST-rot ResNet (``build_model(arch="resnet")``, small widths)
are trained briefly on rotated MNIST: an SE(2) G-CNN and the same network with plain
convolutions (group ``Z2``). Their first two layers — the lifting layer and the first group
convolution, each with its batch norm and ReLU — are then run on one test digit rotated
continuously, and one channel is kept per model:

* the SE(2) channel is ``[N, H, W]``, one map per sampled rotation; as the digit turns by
  :math:`360°/N` the maps turn with it and move one slot along the group axis (a roll);
* the plain CNN's channel is ``[1, H, W]``: its maps turn only approximately and cannot roll.

At multiples of 90° the SE(2) frames are the 0° frame rotated by ``torch.rot90`` and rolled by
:math:`N/4` slots, to round-off (the pixel grid is closed under quarter turns, the layers pad
symmetrically with odd kernels); between them the rotated digit is resampled, and how far the
maps are from equivariance is measured, not assumed
(:func:`~gsepconv.analysis.sweeps.compare_equivariance` with the digit as input).

Training goes through :func:`~gsepconv.analysis.table.trained_model`, so a run is stored in the
runs folder (``<runs>/<profile>/rotation_film/<run_id>``), reused when finished, and seeded. Its
weights are also kept beside the profile's tables (:func:`film_snapshot_path`), committed with
them and fetched on Colab like them: a reader sees the book's film without training anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor, nn

from ..data import dataset_class, get_dataset
from ..equivariance import check_equivariance, disk, rotate
from ..experiments.config import DataConfig, ModelConfig, OptimConfig, RunConfig
from ..experiments.folders import default_runs, results_dir
from ..experiments.io import atomic_torch_save
from ..experiments.runfolder import RunFolderError, load_checkpoint
from ..experiments.single_run import load_metrics, run_dir_for
from ..models.build import GResNet, ResidualBlock
from .table import initial_model, trained_model

__all__ = [
    "FILM_DATASET",
    "FILM_EXPERIMENT",
    "RotationFilm",
    "film_config",
    "film_digit",
    "film_errors",
    "film_features",
    "film_snapshot_path",
    "lift_and_group_conv",
    "oriented_channel",
    "rotation_film",
]

#: the dataset the film's models train on, and the digit comes from (offline mirror)
FILM_DATASET = "mnist_rot_seeded"
#: the experiment name of the film's runs in the runs folder
FILM_EXPERIMENT = "rotation_film"


def film_config(
    group: str,
    profile: str,
    *,
    widths: tuple[int, ...] = (6, 12),
    kernel_size: int = 5,
    num_elements: int = 8,
    implementation: str = "dseparable",
    train_subset: int = 2400,
    eval_subset: int = 500,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
) -> RunConfig:
    """The run of one of the film's models: the paper's MNIST-rot ResNet (``arch="resnet"``) at
    small ``widths``, ``group`` ``"SE2"`` (``implementation``, ``num_elements`` rotations) or
    ``"Z2"`` (the same network with plain convolutions), trained on ``train_subset`` digits of
    :data:`FILM_DATASET` for ``epochs`` (Adam, cosine schedule, one CPU thread, CPU)."""
    if group not in ("SE2", "Z2"):
        raise ValueError(
            f"the film compares an SE(2) G-CNN with a plain CNN: group must be 'SE2' or 'Z2', got {group!r}"
        )
    if num_elements % 4:
        raise ValueError(
            f"num_elements must be a multiple of 4 so that quarter turns are grid elements, got {num_elements}"
        )
    model = ModelConfig(
        arch="resnet",
        group=group,
        implementation=implementation,
        widths=tuple(widths),
        kernel_size=kernel_size,
        **({"num_elements": num_elements} if group == "SE2" else {}),
    )
    data = DataConfig(name=FILM_DATASET, train_subset=train_subset, val_subset=eval_subset, test_subset=eval_subset)
    config = RunConfig(
        data=data,
        model=model,
        optim=OptimConfig(lr=lr, weight_decay=1e-4),
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        experiment=FILM_EXPERIMENT,
        profile=profile,
        device="cpu",
        threads=1,
        progress=False,
    )
    return config.validate()


def lift_and_group_conv(model: nn.Module) -> nn.Sequential:
    """The first two convolutions of a ResNet from :func:`gsepconv.models.build_model`, each with
    the batch norm and ReLU after it: the lifting layer and the first group convolution of the
    first residual block (before any pooling, so exactly equivariant to quarter turns)."""
    if not isinstance(model, GResNet) or not isinstance(model.features[2], ResidualBlock):
        raise ValueError(
            f"expected a ResNet of build_model(arch='resnet') with at least two widths, got {type(model).__name__}"
        )
    return nn.Sequential(model.features[0], model.features[1], model.features[2].body[0], model.features[2].body[1])


class _Standardise(nn.Module):
    """``(x − mean) / std`` with the dataset's constants: the film rotates images in ``[0, 1]``
    (zero background, so nothing but the digit turns) and the models see what they trained on."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        return (x - self.mean) / self.std


def film_snapshot_path(config: RunConfig, results: str | Path | None = None) -> Path:
    """``results/<profile>/film_<group>.pt``: the trained weights of the film's ``config.model.group``
    model kept beside the profile's tables, so a reader without the runs folder (a fresh clone,
    Colab) sees the book's animation without training (``results``: the folder holding the profile
    folders; default ``results/`` of the repository or ``$GSEPCONV_RESULTS``)."""
    return results_dir(config.profile, results) / f"film_{config.model.group}.pt"


def _read_snapshot(path: Path, config: RunConfig) -> tuple[nn.Module, dict] | None:
    """``(model, metrics)`` of the snapshot at ``path`` when it holds the run ``config`` (same run
    id, so the same settings and seed), else ``None``. Read as data (``weights_only=True``)."""
    data = load_checkpoint(path, f"delete {path} to train the film's model again")
    if not isinstance(data, dict) or not {"run_id", "metrics", "state"} <= set(data):
        raise RunFolderError(
            f"{path} is not a snapshot of a film model (expected run_id, metrics and state); "
            f"delete it to train the film's model again"
        )
    if data["run_id"] != config.run_id():
        return None
    metrics = json.loads(data["metrics"])
    model = initial_model(config, metrics["model_kwargs"])
    try:
        model.load_state_dict(data["state"])
    except (RuntimeError, TypeError, KeyError) as err:
        raise RunFolderError(
            f"{path} does not fit the film's {config.model.group} model: "
            f"{str(err).splitlines()[0]}; delete it to train the model again"
        ) from None
    return model.eval(), metrics


def film_features(
    config: RunConfig,
    *,
    runs: str | Path | None = None,
    results: str | Path | None = None,
    device: str = "cpu",
    allow_training: bool = True,
    use_snapshot: bool = True,
    log: Callable[[str], None] | None = None,
) -> tuple[nn.Module, dict]:
    """``(features, metrics)`` of the trained run ``config`` (see :func:`film_config`):
    ``features`` maps images ``[B, 1, H, W]`` in ``[0, 1]`` to the feature maps after the
    model's first group convolution (:func:`lift_and_group_conv`), ``[B, C, N, H, W]`` (``N = 1``
    for the plain CNN), float64, ``eval()``; ``metrics`` are the run's (``test_acc``,
    ``train_time_s`` …).

    Where the weights come from, first found: the snapshot :func:`film_snapshot_path` of this run
    (committed with the profile's results; skipped when ``use_snapshot`` is false), the finished
    run in ``runs`` (default ``$GSEPCONV_RUNS`` or ``<repo>/runs``), or a run trained now when
    ``allow_training``. Weights taken from a run are written to the snapshot (atomically)."""
    snapshot = film_snapshot_path(config, results)
    found = _read_snapshot(snapshot, config) if use_snapshot and snapshot.is_file() else None
    if found is None:
        runs = runs if runs is not None else default_runs()
        if not allow_training and load_metrics(run_dir_for(config, runs)) is None:
            raise FileNotFoundError(
                f"neither {snapshot} nor {run_dir_for(config, runs)} holds the trained film's {config.model.group} "
                "model; execute chapter 02 with train='auto' (it trains the model in seconds)"
            )
        trained, _, metrics = trained_model(config, runs=runs, device=device, allow_training=allow_training, log=log)
        atomic_torch_save(
            {"run_id": config.run_id(), "metrics": json.dumps(metrics, default=str), "state": trained.state_dict()},
            snapshot,
        )
        found = trained, metrics
    trained, metrics = found
    info = dataset_class(config.data.name)
    features = nn.Sequential(_Standardise(info.mean[0], info.std[0]), *lift_and_group_conv(trained))
    return features.double().eval(), metrics


def film_digit(index: int = 0, size: int = 33, split: str = "test") -> tuple[Tensor, int]:
    """Digit ``index`` of :data:`FILM_DATASET`'s ``split`` as ``[size, size]`` float64 in ``[0, 1]``
    (the 28×28 image zero-padded to ``size``; odd sizes keep a pixel at the centre of rotation)
    and its label."""
    if size < 28:
        raise ValueError(f"size must be at least the digits' 28 pixels, got {size}")
    ds = get_dataset(FILM_DATASET, split)
    if not 0 <= index < len(ds):
        raise ValueError(f"index must be in [0, {len(ds)}) for the {split} split, got {index}")
    image = ds.images[index, 0].to(torch.float64) / 255.0
    before = (size - 28) // 2
    padded = nn.functional.pad(image, (before, size - 28 - before, before, size - 28 - before))
    return padded, int(ds.targets[index])


def oriented_channel(maps: Tensor) -> int:
    """The channel of ``maps: [C, N, H, W]`` whose ``N`` slices differ most in energy relative to
    their mean (the most orientation-selective one: its roll along the group axis is the easiest
    to see); for ``N = 1`` the channel whose pixels vary most relative to their mean (a map that
    picks out parts of the digit rather than lighting up the background)."""
    if maps.dim() != 4:
        raise ValueError(f"maps must be [C, N, H, W], got shape {tuple(maps.shape)}")
    values = (
        maps.detach().flatten(2).norm(dim=2) if maps.shape[1] > 1 else maps.detach().flatten(1)
    )  # [C, N] or [C, HW]
    score = values.std(dim=1) / values.mean(dim=1).abs().clamp_min(1e-30)
    return int(torch.where(values.abs().sum(dim=1) > 0, score, -1.0).argmax())


@dataclass(frozen=True)
class RotationFilm:
    """The frames of the animation: ``angles [T]`` (degrees, counter-clockwise), the rotated
    input ``images [T, H, W]`` and, per model name, one channel's maps ``maps[name]: [T, N, H, W]``
    (the channel index in ``channels[name]``)."""

    angles: Tensor
    images: Tensor
    maps: dict[str, Tensor]
    channels: dict[str, int]

    def frame_of(self, degrees: float) -> int:
        """The index of the frame at ``degrees`` (``ValueError`` when no frame is at that angle)."""
        hits = torch.nonzero((self.angles - degrees).abs() < 1e-9).flatten()
        if not len(hits):
            raise ValueError(f"no frame at {degrees:g}°; the frames are at {self.angles.tolist()}")
        return int(hits[0])


def _quarter_turns(degrees: float) -> int | None:
    """``k`` when ``degrees`` is ``90·k`` (to 1e-9), else ``None``."""
    k = round(degrees / 90.0)
    return k % 4 if math.isclose(degrees, 90.0 * k, abs_tol=1e-9) else None


def _rotated(x: Tensor, degrees: float) -> Tensor:
    k = _quarter_turns(degrees)
    return torch.rot90(x, k, dims=(-2, -1)) if k is not None else rotate(x, math.radians(degrees))


@torch.no_grad()
def rotation_film(
    models: Mapping[str, nn.Module], image: Tensor, num_frames: int = 32, channels: Mapping[str, int] | None = None
) -> RotationFilm:
    """Rotate ``image: [H, W]`` (square, zero background) through 360° in ``num_frames`` equal
    steps (a multiple of 4, so that 90°, 180° and 270° are frames) and run every model
    (``[B, 1, H, W] → [B, C, N, H, W]``, e.g. :func:`film_features`) on every frame.

    The image is first masked to its inscribed disk, so that no part of it leaves the square;
    frames at multiples of 90° are ``torch.rot90`` of it (exact), the others
    :func:`gsepconv.equivariance.rotate` (bilinear). ``channels``: the channel to keep per model (default
    :func:`oriented_channel` of its 0° maps)."""
    if not models:
        raise ValueError("models must name at least one model, e.g. {'SE(2) G-CNN': ..., 'plain CNN': ...}")
    if image.dim() != 2 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image must be one square image [H, W], got shape {tuple(image.shape)}")
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 4 or num_frames % 4:
        raise ValueError(f"num_frames must be a positive multiple of 4 (so 90° is a frame), got {num_frames!r}")
    size = image.shape[-1]
    x = image.to(torch.float64) * disk(size, (size - 1) / 2, torch.float64)
    angles = torch.arange(num_frames, dtype=torch.float64) * (360.0 / num_frames)
    images = torch.stack([_rotated(x, a) for a in angles.tolist()])  # [T, H, W]
    maps, chosen = {}, {}
    for name, model in models.items():
        param = next(model.parameters(), None)
        out = model(images[:, None].to(param.dtype if param is not None else torch.float64))  # [T, C, N, H, W]
        if out.dim() != 5:
            raise ValueError(f"model {name!r} must return feature maps [B, C, N, H, W], got shape {tuple(out.shape)}")
        c = channels[name] if channels and name in channels else oriented_channel(out[0])
        maps[name], chosen[name] = out[:, c].to(torch.float64), c
    return RotationFilm(angles=angles, images=images, maps=maps, channels=chosen)


def film_errors(models: Mapping[str, nn.Module], film: RotationFilm, crop_fraction: float = 0.5) -> pd.DataFrame:
    """Relative equivariance error of every model at every frame of ``film``, measured by
    :func:`gsepconv.equivariance.check_equivariance` with the film's 0° image as input, so on
    exactly the frames shown: at multiples of 90° with ``torch.rot90`` on the whole map (exact on
    the pixel grid), at other angles with bilinear resampling on the central ``crop_fraction``
    disk. The output is rolled along the group axis by the grid steps the angle spans; ``nan``
    where the angle falls between grid elements (no roll is defined there).

    Columns: ``model``, ``angle`` (degrees), ``error``, ``exact_on_pixels`` (multiples of 90°)."""
    x = film.images[0][None, None]
    rows = []
    for name, model in models.items():
        for angle in film.angles.tolist():
            k = _quarter_turns(angle)
            if k is not None:
                err = check_equivariance(model, x, quarter_turns=(k,), angles=())[f"rot{90 * k}"]
            else:
                err = check_equivariance(model, x, quarter_turns=(), angles=(angle,), crop_fraction=crop_fraction)[
                    f"rot{angle:g}"
                ]
            rows.append({"model": name, "angle": angle, "error": err, "exact_on_pixels": k is not None})
    return pd.DataFrame(rows)
