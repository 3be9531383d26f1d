"""Base class of the datasets: a processed, verified cache of uint8 arrays per split.

Cache layout (under the data folder)::

    processed/<name>/train.pt, val.pt, test.pt   {"images": uint8 [N, C, H, W], "labels": int64 [N]}
    processed/<name>/manifest.json               format, cache key, per-split sha256, meta

The manifest is written last, so its presence means a complete cache. Each split's sha256 is
checked when it is loaded; a bad cache is discarded and rebuilt from the (verified) sources.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import build_augmentation, resolve_augmentation
from .exceptions import CorruptFileError, DigestMismatchError
from .storage import RemoteFile, atomic_path, data_root, file_lock

__all__ = ["SPLITS", "ImageDataset", "split_digest", "combine_digests", "check_split"]

SPLITS: tuple[str, ...] = ("train", "val", "test")
CACHE_FORMAT = 1
#: Set to 1 to downgrade a pinned-digest mismatch (another platform/numpy) to a warning.
ENV_ALLOW_MISMATCH = "GSEPCONV_ALLOW_DIGEST_MISMATCH"

Splits = dict[str, tuple[np.ndarray, np.ndarray]]


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known splits: {', '.join(SPLITS)}")
    return split


def split_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of a split: shape, then uint8 image bytes (C order), then int64 little-endian labels."""
    h = hashlib.sha256()
    images = np.ascontiguousarray(images, dtype=np.uint8)
    h.update(repr(tuple(images.shape)).encode())
    h.update(images.tobytes())
    h.update(np.ascontiguousarray(labels, dtype="<i8").tobytes())
    return h.hexdigest()


def combine_digests(split_digests: Mapping[str, str]) -> str:
    """The dataset digest: sha256 of ``"train:<hex>\\nval:<hex>\\ntest:<hex>\\n"``."""
    text = "".join(f"{s}:{split_digests[s]}\n" for s in SPLITS)
    return hashlib.sha256(text.encode()).hexdigest()


class ImageDataset(Dataset):
    """A labelled image split held in memory as uint8, served as normalised float tensors.

    Items: ``(image, label)`` with ``image`` float32 ``[C, H, W]`` = ``(x / 255 - mean) / std``
    (after the optional augmentation, before ``transform``) and ``label`` an ``int``.

    Args:
        root: writable data folder (default ``$GSEPCONV_DATA`` or ``~/.cache/gsepconv``).
        split: ``"train"``, ``"val"`` or ``"test"``.
        transform: optional callable applied to the normalised image tensor.
        target_transform: optional callable applied to the label.
        download: fetch missing sources from the network (after the data folder and the mirror).
        augment: ``False`` (default), ``True`` (the dataset's default augmentation) or a name from
            :data:`gsepconv.data.augment.AUGMENTATIONS`. It is applied to whichever split you ask
            for; normally only ``train``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    in_channels: ClassVar[int] = 1
    num_classes: ClassVar[int] = 10
    image_size: ClassVar[tuple[int, int]] = (28, 28)
    split_sizes: ClassVar[dict[str, int]] = {}
    #: Per-channel normalisation constants; ``None``: computed from the train split when built.
    mean: ClassVar[tuple[float, ...] | None] = None
    std: ClassVar[tuple[float, ...] | None] = None
    default_augment: ClassVar[str | None] = None
    resources: ClassVar[tuple[RemoteFile, ...]] = ()
    #: sha256 (see :func:`combine_digests`) pinned in code for deterministic builds, else ``None``.
    expected_digest: ClassVar[str | None] = None
    #: Bump when the build changes; a cache with another version is rebuilt.
    build_version: ClassVar[int] = 1

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "train",
        transform: Callable[[torch.Tensor], Any] | None = None,
        download: bool = True,
        augment: bool | str = False,
        target_transform: Callable[[int], Any] | None = None,
    ) -> None:
        self.split = check_split(split)
        self.augment = resolve_augmentation(augment, self.default_augment, self.name)  # fail before loading
        self.root = data_root(root)
        self.transform = transform
        self.target_transform = target_transform
        manifest = self.prepare(self.root, download=download)
        images, labels = self._load_split(self.root, manifest, split, download)
        self.images: torch.Tensor = torch.from_numpy(images)  # uint8 [N, C, H, W]
        self.targets: torch.Tensor = torch.from_numpy(labels)  # int64 [N]
        mean = self.mean if self.mean is not None else manifest["meta"]["mean"]
        std = self.std if self.std is not None else manifest["meta"]["std"]
        self.norm_mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.norm_std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self._augmentation = build_augmentation(self.augment, self.image_size)
        self.digest: str = manifest["digest"]

    # ------------------------------------------------------------------ items
    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        x = self.images[index].to(torch.float32).div_(255.0)
        if self._augmentation is not None:
            x = self._augmentation(x)
        x = (x - self.norm_mean) / self.norm_std
        y: Any = int(self.targets[index])
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"augment={self.augment!r}, root={str(self.root)!r})"
        )

    # ------------------------------------------------------------------ cache
    @classmethod
    def cache_dir(cls, root: str | os.PathLike[str] | None = None) -> Path:
        return data_root(root) / "processed" / cls.name

    @classmethod
    def cache_key(cls) -> dict[str, Any]:
        """Everything that determines the built arrays; a cache with another key is rebuilt."""
        return {"build_version": cls.build_version, "split_sizes": dict(cls.split_sizes)}

    @classmethod
    def _build(cls, root: Path, download: bool) -> tuple[Splits, dict[str, Any]]:
        """Build all splits from verified sources: ``{split: (uint8 [N,C,H,W], int64 [N])}``, meta."""
        raise NotImplementedError

    @classmethod
    def read_manifest(cls, root: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
        """The cache manifest if a cache with the current key exists, else ``None``."""
        path = cls.cache_dir(root) / "manifest.json"
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("format") != CACHE_FORMAT or manifest.get("key") != json.loads(json.dumps(cls.cache_key())):
            return None
        if not all(s in manifest.get("split_digests", {}) for s in SPLITS):
            return None
        return manifest

    @classmethod
    def prepare(cls, root: str | os.PathLike[str] | None = None, download: bool = True) -> dict[str, Any]:
        """Fetch/verify the sources and build the processed cache if needed; return its manifest."""
        root_path = data_root(root)
        folder = cls.cache_dir(root_path)

        def ready() -> dict[str, Any] | None:
            manifest = cls.read_manifest(root_path)
            complete = manifest is not None and all((folder / f"{s}.pt").is_file() for s in SPLITS)
            return manifest if complete else None

        manifest = ready()
        if manifest is not None:
            return manifest
        with file_lock(folder.parent / f".{cls.name}.lock", f"another process is building {cls.name}"):
            manifest = ready()  # another process may have built it while we waited
            if manifest is not None:
                return manifest
            splits, meta = cls._build(root_path, download)
            return cls._write_cache(root_path, splits, meta)

    @classmethod
    def verify_cache(cls, root: str | os.PathLike[str] | None = None) -> bool:
        """Whether a complete cache exists and every split matches its recorded sha256."""
        manifest = cls.read_manifest(root)
        if manifest is None:
            return False
        try:
            for split in SPLITS:
                cls._read_split_file(data_root(root), manifest, split)
        except CorruptFileError:
            return False
        return True

    @classmethod
    def _validate(cls, splits: Splits) -> None:
        c, (h, w) = cls.in_channels, cls.image_size
        for split in SPLITS:
            if split not in splits:
                raise CorruptFileError(f"{cls.name}: the build produced no {split!r} split")
            images, labels = splits[split]
            n = cls.split_sizes.get(split)
            problem = None
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (c, h, w):
                problem = f"images {images.dtype} {images.shape}, expected uint8 [N, {c}, {h}, {w}]"
            elif labels.shape != (images.shape[0],):
                problem = f"{labels.shape[0]} labels for {images.shape[0]} images"
            elif n is not None and images.shape[0] != n:
                problem = f"{images.shape[0]} images, expected {n}"
            elif labels.size and (labels.min() < 0 or labels.max() >= cls.num_classes):
                problem = f"labels outside [0, {cls.num_classes})"
            if problem:
                raise CorruptFileError(
                    f"{cls.name}: the {split} split has {problem}; the source files are truncated or "
                    f"not the expected files ({', '.join(r.relpath for r in cls.resources)}). "
                    f"Delete them from the data folder and prepare again."
                )

    @classmethod
    def _write_cache(cls, root: Path, splits: Splits, meta: dict[str, Any]) -> dict[str, Any]:
        cls._validate(splits)
        digests = {s: split_digest(*splits[s]) for s in SPLITS}
        digest = combine_digests(digests)
        if cls.expected_digest is not None and digest != cls.expected_digest:
            message = (
                f"{cls.name}: the deterministic build gave digest {digest}, but the digest pinned in "
                f"code is {cls.expected_digest}. This platform or numpy version produces different "
                f"bytes, so results are not comparable with the reference build. Set "
                f"{ENV_ALLOW_MISMATCH}=1 to use the data anyway."
            )
            if os.environ.get(ENV_ALLOW_MISMATCH) != "1":
                raise DigestMismatchError(message)
            warnings.warn(message, stacklevel=3)
        meta = dict(meta)
        if cls.mean is None or cls.std is None:
            x = splits["train"][0]
            meta["mean"] = [float(v) for v in (x.mean(axis=(0, 2, 3), dtype=np.float64) / 255.0)]
            meta["std"] = [float(v) for v in (x.std(axis=(0, 2, 3), dtype=np.float64) / 255.0)]
        folder = cls.cache_dir(root)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            images, labels = splits[split]
            tmp = atomic_path(folder / f"{split}.pt")
            torch.save(
                {
                    "images": torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)),
                    "labels": torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
                },
                tmp,
            )
            os.replace(tmp, folder / f"{split}.pt")
        manifest = {
            "format": CACHE_FORMAT,
            "dataset": cls.name,
            "key": cls.cache_key(),
            "digest": digest,
            "split_digests": digests,
            "split_sizes": {s: int(splits[s][1].shape[0]) for s in SPLITS},
            "meta": meta,
        }
        tmp = atomic_path(folder / "manifest.json")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(tmp, folder / "manifest.json")
        return json.loads(json.dumps(manifest))

    @classmethod
    def _read_split_file(cls, root: Path, manifest: dict[str, Any], split: str) -> tuple[np.ndarray, np.ndarray]:
        path = cls.cache_dir(root) / f"{split}.pt"
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            images, labels = blob["images"].numpy(), blob["labels"].numpy()
        except Exception as exc:  # torch raises many types for a damaged file
            raise CorruptFileError(f"cannot read the cache file {path}: {type(exc).__name__}: {exc}") from exc
        if split_digest(images, labels) != manifest["split_digests"][split]:
            raise CorruptFileError(f"the cache file {path} does not match its recorded sha256")
        return images, labels

    @classmethod
    def _load_split(
        cls, root: Path, manifest: dict[str, Any], split: str, download: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        try:
            return cls._read_split_file(root, manifest, split)
        except CorruptFileError as exc:
            warnings.warn(f"{exc}; rebuilding the {cls.name} cache", stacklevel=3)
            (cls.cache_dir(root) / "manifest.json").unlink(missing_ok=True)
            manifest = cls.prepare(root, download=download)
            return cls._read_split_file(root, manifest, split)
