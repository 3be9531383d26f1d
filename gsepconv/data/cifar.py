"""CIFAR-10, CIFAR-100 (official python-pickle archives) and the 4,000/1,000 CIFAR-10 subset.

The archives are read in place (no extraction) with a restricted unpickler that only accepts the
numpy reconstruction functions the real batches need. Splits:

* ``cifar10``/``cifar100``: val = 5,000 training images drawn with ``PCG64(0)`` (see
  :meth:`CIFAR10.val_indices`), train = the other 45,000 (original order kept), test = 10,000.
* ``cifar10_subset``: the first 4,000 training / first 1,000 test images of CIFAR-10; val = the
  *last* 500 of the 4,000, train = the first 3,500, test = the 1,000.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .dataset import ImageDataset, Splits
from .exceptions import ChecksumError, CorruptFileError, DatasetNotAvailableError
from .geometry import RandomStream
from .storage import RemoteFile, atomic_path, ensure_file

__all__ = [
    "CIFAR10_RESOURCE",
    "CIFAR100_RESOURCE",
    "CIFAR10_SUBSET_RESOURCE",
    "CIFAR10_SUBSET_SHA256",
    "read_cifar_archive",
    "array_sha256",
    "CIFAR10",
    "CIFAR100",
    "CIFAR10Subset",
]

CIFAR10_RESOURCE = RemoteFile(
    "CIFAR10/cifar-10-python.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
    md5="c58f30108f718f92721af3b95e74349a",
    checksum_note="md5 published with CIFAR, as in torchvision",
)
CIFAR100_RESOURCE = RemoteFile(
    "CIFAR100/cifar-100-python.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
    md5="eb9058c3a382ffc7106e4002c42a8d85",
    checksum_note="md5 published with CIFAR, as in torchvision",
)
#: The subset as the offline mirror holds it; the .npz container itself is not pinned (zip
#: timestamps), its arrays are (:data:`CIFAR10_SUBSET_SHA256`).
CIFAR10_SUBSET_RESOURCE = RemoteFile("CIFAR10-subset/cifar10_subset_4000_1000.npz")
#: sha256 of ``np.ascontiguousarray(a).tobytes()`` per array (from the mirror's SOURCES.md).
CIFAR10_SUBSET_SHA256: dict[str, str] = {
    "x_train": "bac45b45504ed1289a3f437be4bfbefece248abbc094a428a0b4dfab00e776ae",
    "y_train": "9f4600c456726c0a94de60dc8fbb6186ebfef07335f5b9435f98a7079b858efa",
    "x_test": "da362006b99671213d1a5d856cab2bedf64d40bad4501630ee60f4ceb2d3ec7f",
    "y_test": "6327b0e49549c8cf6ad65317a0fb463ec49ade30d02f63daec6b149052db4922",
}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler for CIFAR batches: only numpy array reconstruction is allowed."""

    def find_class(self, module: str, name: str) -> Any:
        target = _ALLOWED_GLOBALS.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(*target)


def _load_batch(data: bytes, where: str) -> dict[str, Any]:
    try:
        obj = _BatchUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as exc:  # pickle raises many types on garbage
        raise CorruptFileError(f"{where}: not a CIFAR python batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise CorruptFileError(f"{where}: a CIFAR batch must be a dict, got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _batch_arrays(batch: dict[str, Any], label_key: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 [N, 3, 32, 32], int64 [N])`` from one unpickled batch."""
    if "data" not in batch or label_key not in batch:
        raise CorruptFileError(f"{where}: batch keys {sorted(batch)} lack 'data' or {label_key!r}")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (data.shape[0],):
        raise CorruptFileError(
            f"{where}: data {data.dtype} {data.shape} with {labels.shape} labels; expected uint8 [N, 3072] and N labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar_archive(
    path: Path, members: dict[str, list[str]], label_key: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read groups of batches from a CIFAR ``.tar.gz`` without extracting it.

    ``members`` maps a group name to member paths inside the archive (concatenated in order).
    Returns ``{group: (uint8 [N, 3, 32, 32], int64 [N])}``.
    """
    out = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for group, names in members.items():
                parts = []
                for name in names:
                    try:
                        f = tar.extractfile(name)
                    except KeyError:
                        f = None
                    if f is None:
                        raise CorruptFileError(f"{path} has no member {name}; it is not the official archive")
                    parts.append(_batch_arrays(_load_batch(f.read(), f"{path}:{name}"), label_key, f"{path}:{name}"))
                out[group] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    except (tarfile.TarError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise CorruptFileError(
            f"{path} is not a readable .tar.gz ({type(exc).__name__}: {exc}); delete it and prepare again"
        ) from exc
    return out


class CIFAR10(ImageDataset):
    """CIFAR-10: 45k train / 5k val (seeded from the 50k training images) / 10k test, 3x32x32."""

    name = "cifar10"
    description = "CIFAR-10 (Krizhevsky 2009), val = 5k seeded from train"
    in_channels = 3
    num_classes = 10
    image_size = (32, 32)
    split_sizes = {"train": 45000, "val": 5000, "test": 10000}
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)
    default_augment = "crop_flip"
    resources = (CIFAR10_RESOURCE,)
    folder: ClassVar[str] = "cifar-10-batches-py"
    train_members: ClassVar[tuple[str, ...]] = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_members: ClassVar[tuple[str, ...]] = ("test_batch",)
    label_key: ClassVar[str] = "labels"
    val_size: ClassVar[int] = 5000
    split_seed: ClassVar[int] = 0

    @classmethod
    def cache_key(cls) -> dict[str, Any]:
        return {
            **super().cache_key(),
            "val_size": cls.val_size,
            "split_seed": cls.split_seed,
            "md5": cls.resources[0].md5,
        }

    @classmethod
    def val_indices(cls, n_train: int) -> np.ndarray:
        """Sorted indices (into the training images) of the validation split:
        the first ``val_size`` entries of ``RandomStream(split_seed).permutation(n_train)``."""
        return np.sort(RandomStream(cls.split_seed).permutation(n_train)[: cls.val_size])

    @classmethod
    def _build(cls, root: Path, download: bool) -> tuple[Splits, dict[str, Any]]:
        path = ensure_file(cls.resources[0], root, download)
        groups = read_cifar_archive(
            path,
            {
                "train": [f"{cls.folder}/{m}" for m in cls.train_members],
                "test": [f"{cls.folder}/{m}" for m in cls.test_members],
            },
            cls.label_key,
        )
        x, y = groups["train"]
        val = np.zeros(x.shape[0], dtype=bool)
        val[cls.val_indices(x.shape[0])] = True
        splits = {"train": (x[~val], y[~val]), "val": (x[val], y[val]), "test": groups["test"]}
        return splits, {"source": cls.resources[0].relpath, "val_seed": cls.split_seed}


class CIFAR100(CIFAR10):
    """CIFAR-100 (fine labels): 45k train / 5k val (seeded) / 10k test, 3x32x32."""

    name = "cifar100"
    description = "CIFAR-100 fine labels (Krizhevsky 2009), val = 5k seeded from train"
    num_classes = 100
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
    resources = (CIFAR100_RESOURCE,)
    folder = "cifar-100-python"
    train_members = ("train",)
    test_members = ("test",)
    label_key = "fine_labels"


def array_sha256(a: np.ndarray) -> str:
    """sha256 of ``np.ascontiguousarray(a).tobytes()`` (the convention of the mirror's SOURCES.md)."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


class CIFAR10Subset(ImageDataset):
    """The first 4,000 train / 1,000 test CIFAR-10 images: 3,500 train / 500 val (the last 500 of
    the 4,000) / 1,000 test, 3x32x32. CIFAR-10's normalisation constants are used.

    Source: ``CIFAR10-subset/cifar10_subset_4000_1000.npz`` (data folder or mirror), else built
    from the full CIFAR-10 archive (``data_batch_1`` first 4,000, ``test_batch`` first 1,000).
    Either way the arrays are checked against :data:`CIFAR10_SUBSET_SHA256`.
    """

    name = "cifar10_subset"
    description = "CIFAR-10 first 4k train / 1k test; val = last 500 of the 4k"
    in_channels = 3
    num_classes = 10
    image_size = (32, 32)
    split_sizes = {"train": 3500, "val": 500, "test": 1000}
    mean = CIFAR10.mean
    std = CIFAR10.std
    default_augment = "crop_flip"
    resources = (CIFAR10_SUBSET_RESOURCE, CIFAR10_RESOURCE)
    n_train: ClassVar[int] = 4000
    n_test: ClassVar[int] = 1000
    val_size: ClassVar[int] = 500
    expected_arrays: ClassVar[dict[str, str]] = CIFAR10_SUBSET_SHA256

    @classmethod
    def cache_key(cls) -> dict[str, Any]:
        return {**super().cache_key(), "arrays": dict(cls.expected_arrays), "val_size": cls.val_size}

    @classmethod
    def _check_arrays(cls, arrays: dict[str, np.ndarray], where: str) -> None:
        expected_shapes = {
            "x_train": (cls.n_train, 32, 32, 3),
            "y_train": (cls.n_train,),
            "x_test": (cls.n_test, 32, 32, 3),
            "y_test": (cls.n_test,),
        }
        for key, shape in expected_shapes.items():
            if key not in arrays:
                raise CorruptFileError(f"{where}: no array {key!r} (has {sorted(arrays)})")
            if arrays[key].shape != shape:
                raise CorruptFileError(f"{where}: {key} has shape {arrays[key].shape}, expected {shape}")
        bad = [k for k, h in cls.expected_arrays.items() if array_sha256(arrays[k]) != h]
        if bad:
            raise ChecksumError(
                f"{where}: arrays {bad} do not match their pinned sha256 "
                f"(CIFAR10_SUBSET_SHA256); the file is not the reference subset"
            )

    @classmethod
    def _read_npz(cls, path: Path) -> dict[str, np.ndarray]:
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as exc:  # zipfile/ValueError/OSError on damage
            raise CorruptFileError(
                f"{path} is not a readable .npz ({type(exc).__name__}: {exc}); delete it and prepare again"
            ) from exc
        arrays = {
            k: (v.astype(np.int64) if k.startswith("y_") and v.dtype != np.int64 else v) for k, v in arrays.items()
        }
        return arrays

    @classmethod
    def _subset_arrays(cls, root: Path, download: bool) -> dict[str, np.ndarray]:
        res = cls.resources[0]
        try:
            path = ensure_file(res, root, download=False)
        except DatasetNotAvailableError as missing:
            try:
                archive = ensure_file(cls.resources[1], root, download)
            except DatasetNotAvailableError as exc:
                raise DatasetNotAvailableError(
                    f"{cls.name} needs {res.relpath} (in the data folder or $GSEPCONV_MIRROR) or the full "
                    f"CIFAR-10 archive.\n--- subset file:\n{missing}\n--- CIFAR-10 archive:\n{exc}"
                ) from exc
            groups = read_cifar_archive(
                archive,
                {"train": [f"{CIFAR10.folder}/data_batch_1"], "test": [f"{CIFAR10.folder}/test_batch"]},
                "labels",
            )
            arrays = {
                "x_train": groups["train"][0][: cls.n_train].transpose(0, 2, 3, 1).copy(),
                "y_train": groups["train"][1][: cls.n_train].copy(),
                "x_test": groups["test"][0][: cls.n_test].transpose(0, 2, 3, 1).copy(),
                "y_test": groups["test"][1][: cls.n_test].copy(),
            }
            cls._check_arrays(arrays, f"subset built from {archive}")
            dest = root / res.relpath
            tmp = atomic_path(dest)
            try:
                with open(tmp, "wb") as f:
                    np.savez(f, **arrays)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
            return arrays
        arrays = cls._read_npz(path)
        try:
            cls._check_arrays(arrays, str(path))
        except (ChecksumError, CorruptFileError):
            bad = path.with_name(path.name + ".corrupt")
            os.replace(path, bad)
            raise
        return arrays

    @classmethod
    def _build(cls, root: Path, download: bool) -> tuple[Splits, dict[str, Any]]:
        a = cls._subset_arrays(root, download)
        x_train = a["x_train"].transpose(0, 3, 1, 2)
        x_test = a["x_test"].transpose(0, 3, 1, 2)
        k = cls.n_train - cls.val_size
        splits = {
            "train": (x_train[:k], a["y_train"][:k]),
            "val": (x_train[k:], a["y_train"][k:]),
            "test": (x_test, a["y_test"]),
        }
        return splits, {"source": cls.resources[0].relpath}
