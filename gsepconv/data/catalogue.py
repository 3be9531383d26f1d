"""The dataset catalogue: the registry :data:`DATASETS`, :func:`get_dataset_info` and :func:`get_dataset`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from .cifar import CIFAR10, CIFAR100, CIFAR10Subset
from .dataset import SPLITS, ImageDataset, check_split
from .galaxy import Galaxy10
from .mnist import MNISTRot, MNISTRotScale, MNISTRotSeeded, MNISTScale

__all__ = ["DatasetInfo", "DATASETS", "DATASET_CLASSES", "get_dataset_info", "get_dataset", "dataset_class"]


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset. Also readable like a dict: ``info["num_classes"]``.

    ``mean``/``std`` are per-channel constants applied to pixels in [0, 1]; ``None`` means they are
    computed from the train split when the cache is built (Galaxy10).
    """

    name: str
    in_channels: int
    num_classes: int
    image_size: tuple[int, int]
    splits: dict[str, int] = field(default_factory=dict)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    default_augment: str | None = None
    description: str = ""
    digest: str | None = None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Every dataset class, by name.
DATASET_CLASSES: dict[str, type[ImageDataset]] = {
    cls.name: cls
    for cls in (MNISTRot, MNISTRotSeeded, MNISTScale, MNISTRotScale, CIFAR10, CIFAR100, CIFAR10Subset, Galaxy10)
}


def _info(cls: type[ImageDataset]) -> DatasetInfo:
    return DatasetInfo(
        name=cls.name,
        in_channels=cls.in_channels,
        num_classes=cls.num_classes,
        image_size=tuple(cls.image_size),
        splits=dict(cls.split_sizes),
        mean=cls.mean,
        std=cls.std,
        default_augment=cls.default_augment,
        description=cls.description,
        digest=cls.expected_digest,
    )


#: name -> :class:`DatasetInfo` (in_channels, num_classes, image_size, split sizes, mean/std, ...).
DATASETS: dict[str, DatasetInfo] = {name: _info(cls) for name, cls in DATASET_CLASSES.items()}


def dataset_class(name: str) -> type[ImageDataset]:
    """The class registered as ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return DATASET_CLASSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASET_CLASSES)}") from None


def get_dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name`` (``ValueError`` listing the known names if unknown)."""
    return DATASETS[dataset_class(name).name]


def get_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    transform: Callable[[torch.Tensor], Any] | None = None,
    augment: bool | str = False,
) -> ImageDataset:
    """Load split ``split`` of dataset ``name``.

    Returns a torch ``Dataset`` of ``(image float32 [C, H, W] normalised with the dataset's
    constants, label int)``. Sources are taken from the data folder (``root``, ``$GSEPCONV_DATA``
    or ``~/.cache/gsepconv``), then the read-only mirror ``$GSEPCONV_MIRROR``, then the network
    (if ``download``); they are verified and a processed cache is built on first use.
    ``augment``: ``False``, ``True`` (the dataset's default) or a name in ``AUGMENTATIONS``.
    """
    cls = dataset_class(name)
    check_split(split)
    return cls(root=root, split=split, transform=transform, download=download, augment=augment)


assert all(set(info.splits) == set(SPLITS) for info in DATASETS.values())
