"""Datasets for gsepconv: a registry of verified, cached, normalised image datasets.

Entry point::

    from gsepconv.data import get_dataset, DATASETS
    ds = get_dataset("mnist_rot_seeded", "train")      # items: (float32 [1, 28, 28], int)
    DATASETS["cifar10"].num_classes                     # 10

Datasets: ``mnist_rot``, ``mnist_rot_seeded``, ``mnist_scale``, ``mnist_rot_scale``, ``cifar10``,
``cifar100``, ``cifar10_subset``, ``galaxy10``. Folders: ``$GSEPCONV_DATA`` (writable, default
``~/.cache/gsepconv``) and ``$GSEPCONV_MIRROR`` (read-only mirror, consulted before the network).
"""

from __future__ import annotations

from .augment import AUGMENTATIONS
from .catalogue import DATASET_CLASSES, DATASETS, DatasetInfo, dataset_class, get_dataset, get_dataset_info
from .cifar import CIFAR10, CIFAR100, CIFAR10Subset
from .dataset import SPLITS, ImageDataset
from .exceptions import ChecksumError, CorruptFileError, DataError, DatasetNotAvailableError, DigestMismatchError
from .galaxy import Galaxy10
from .mnist import MNISTRot, MNISTRotScale, MNISTRotSeeded, MNISTScale
from .storage import ENV_DATA, ENV_MIRROR, RemoteFile, data_root, ensure_file, mirror_root

__all__ = [
    "AUGMENTATIONS",
    "SPLITS",
    "DATASETS",
    "DATASET_CLASSES",
    "DatasetInfo",
    "ImageDataset",
    "get_dataset",
    "get_dataset_info",
    "dataset_class",
    "prepare",
    "MNISTRot",
    "MNISTRotSeeded",
    "MNISTScale",
    "MNISTRotScale",
    "CIFAR10",
    "CIFAR100",
    "CIFAR10Subset",
    "Galaxy10",
    "DataError",
    "DatasetNotAvailableError",
    "ChecksumError",
    "CorruptFileError",
    "DigestMismatchError",
    "RemoteFile",
    "ENV_DATA",
    "ENV_MIRROR",
    "data_root",
    "mirror_root",
    "ensure_file",
]


def prepare(name: str, root: str | None = None, download: bool = True) -> dict:
    """Fetch, verify and cache dataset ``name`` ahead of time; return its cache manifest."""
    return dataset_class(name).prepare(root, download=download)
