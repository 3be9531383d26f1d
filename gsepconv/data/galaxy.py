"""Galaxy10 SDSS (Leung & Bovy 2019): 21,785 colour galaxy images 69x69, 10 classes.

``Galaxy10.h5`` holds ``images`` (uint8 ``[N, 69, 69, 3]``) and ``ans`` (labels ``[N]``). The split
is seeded and stratified (:func:`stratified_split`): 10 % val, 10 % test, the rest train, with the
per-class counts allocated by largest remainder so the totals are exact (17,429 / 2,178 / 2,178).
Normalisation constants are the per-channel statistics of the train split, computed when the cache
is built (``dataset.norm_mean``/``norm_std``; stored in the cache manifest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .dataset import ImageDataset, Splits
from .exceptions import CorruptFileError
from .geometry import RandomStream
from .storage import RemoteFile, ensure_file

__all__ = ["GALAXY10_RESOURCE", "stratified_split", "read_galaxy10_h5", "Galaxy10"]

#: The sha256 is the one pinned by astroNN (``astroNN/datasets/galaxy10sdss.py``) for this file;
#: gsepconv could not verify it (no copy offline). A mismatching download is refused (``.corrupt``).
GALAXY10_RESOURCE = RemoteFile(
    "galaxy10/Galaxy10.h5",
    (
        "https://www.astro.utoronto.ca/~bovy/Galaxy10/Galaxy10.h5",
        "https://zenodo.org/records/10844811/files/Galaxy10.h5",
    ),
    sha256="969a6b1cefcc36e09fffa86febd2f699a4aa19b837ba0427f01b0bc6ded458af",
    checksum_note="sha256 as pinned by astroNN; not verified by gsepconv",
)


def _allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over classes proportionally to ``counts`` (largest remainder, ties by class)."""
    quotas = counts.astype(np.float64) * total / max(int(counts.sum()), 1)
    base = np.floor(quotas).astype(np.int64)
    order = np.argsort(-(quotas - base), kind="stable")
    base[order[: total - int(base.sum())]] += 1
    return base


def stratified_split(
    labels: np.ndarray, num_classes: int, fractions: tuple[float, float] = (0.1, 0.1), seed: int = 0
) -> dict[str, np.ndarray]:
    """Seeded stratified split into train/val/test index arrays (each sorted ascending).

    ``n_val = floor(N * fractions[0])`` and ``n_test = floor(N * fractions[1])`` are allocated to the
    classes by largest remainder; within class ``c`` (in label order) the indices are shuffled with
    ``RandomStream(seed)`` and the first ``n_val[c]`` go to val, the next ``n_test[c]`` to test.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = labels.shape[0]
    counts = np.bincount(labels, minlength=num_classes)
    n_val = _allocate(counts, int(np.floor(n * fractions[0])))
    n_test = _allocate(counts, int(np.floor(n * fractions[1])))
    rs = RandomStream(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        idx = idx[rs.permutation(idx.size)]
        v, t = int(n_val[c]), int(n_test[c])
        parts["val"].append(idx[:v])
        parts["test"].append(idx[v : v + t])
        parts["train"].append(idx[v + t :])
    return {k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in parts.items()}


def read_galaxy10_h5(path: Path, image_shape: tuple[int, int, int] = (69, 69, 3)) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 [N, H, W, 3], int64 [N])`` from a Galaxy10 ``.h5`` (keys ``images`` and ``ans``)."""
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is in the [data] extra
        raise RuntimeError("galaxy10 needs h5py: pip install 'gsepconv[data]'") from exc
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("images", "ans") if k not in f]
            if missing:
                raise CorruptFileError(f"{path}: no dataset(s) {missing} (has {sorted(f.keys())}); not a Galaxy10 file")
            images = np.asarray(f["images"][()])
            labels = np.asarray(f["ans"][()])
    except CorruptFileError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/... on damaged files
        raise CorruptFileError(
            f"{path} is not a readable HDF5 file ({type(exc).__name__}: {exc}); delete it and prepare again"
        ) from exc
    if images.dtype != np.uint8 or images.shape[1:] != image_shape or labels.shape != (images.shape[0],):
        raise CorruptFileError(
            f"{path}: images {images.dtype} {images.shape}, labels {labels.shape}; "
            f"expected uint8 [N, {', '.join(map(str, image_shape))}] and N labels"
        )
    if labels.size and (not np.all(labels == np.round(labels)) or labels.min() < 0):
        raise CorruptFileError(f"{path}: labels are not non-negative integers")
    return images, labels.astype(np.int64)


class Galaxy10(ImageDataset):
    """Galaxy10 SDSS: seeded stratified 80/10/10 split (17,429 / 2,178 / 2,178), 3x69x69."""

    name = "galaxy10"
    description = "Galaxy10 SDSS (Leung & Bovy 2019), seeded stratified 80/10/10 split"
    in_channels = 3
    num_classes = 10
    image_size = (69, 69)
    split_sizes = {"train": 17429, "val": 2178, "test": 2178}
    mean = None  # computed from the train split when the cache is built
    std = None
    default_augment = "rotate_flip"
    resources = (GALAXY10_RESOURCE,)
    fractions: ClassVar[tuple[float, float]] = (0.1, 0.1)
    split_seed: ClassVar[int] = 0

    @classmethod
    def cache_key(cls) -> dict[str, Any]:
        return {
            **super().cache_key(),
            "fractions": list(cls.fractions),
            "split_seed": cls.split_seed,
            "sha256": cls.resources[0].sha256,
        }

    @classmethod
    def _build(cls, root: Path, download: bool) -> tuple[Splits, dict[str, Any]]:
        path = ensure_file(cls.resources[0], root, download)
        images, labels = read_galaxy10_h5(path, (*cls.image_size, cls.in_channels))
        if labels.size and labels.max() >= cls.num_classes:
            raise CorruptFileError(f"{path}: label {labels.max()} >= {cls.num_classes}")
        idx = stratified_split(labels, cls.num_classes, cls.fractions, cls.split_seed)
        chw = images.transpose(0, 3, 1, 2)
        splits = {s: (np.ascontiguousarray(chw[i]), labels[i]) for s, i in idx.items()}
        return splits, {"source": cls.resources[0].relpath, "split_seed": cls.split_seed}
