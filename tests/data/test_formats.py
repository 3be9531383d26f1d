"""End-to-end loaders on small files in the real formats, written here: an MNIST-rot zip of .amat
files, CIFAR-10/100 python-pickle archives (.tar.gz), a Galaxy10 .h5, the CIFAR-10 subset .npz.
Also the registry, items, augmentations, the processed cache and the ``data`` CLI. No network."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import pickle
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gsepconv.data import (
    CIFAR10,
    CIFAR100,
    DATASETS,
    ChecksumError,
    CIFAR10Subset,
    CorruptFileError,
    DatasetNotAvailableError,
    DigestMismatchError,
    Galaxy10,
    ImageDataset,
    MNISTRot,
    get_dataset,
    get_dataset_info,
    storage,
)
from gsepconv.data.cifar import array_sha256
from gsepconv.data.command_line import register
from gsepconv.data.galaxy import stratified_split

h5py = pytest.importorskip("h5py")


pytestmark = pytest.mark.usefixtures("offline_storage")  # no network, fresh data folder, no mirror


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def serve(monkeypatch, cls, path: Path, index: int = 0, **checks) -> None:
    """Point ``cls.resources[index]`` at ``path`` (file:// URL) with the given checksums."""
    resources = list(cls.resources)
    resources[index] = replace(resources[index], urls=(path.as_uri(),), **checks)
    monkeypatch.setattr(cls, "resources", tuple(resources))


# ============================================================================ MNIST-rot (.amat zip)
N_TV, N_TEST, N_VAL = 12, 5, 2


def amat_rows(n: int, seed: int, label_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 784)) / 255.0
    x[:, 0] = 1.0  # the value the x*256 bug wraps to 0
    x[:, 1] = 0.0
    y = (np.arange(n) + label_offset) % 10
    return x, y


def write_amat_zip(path: Path, fmt: str = "%.18e", tv_rows: int = N_TV, corrupt_member: bytes | None = None) -> dict:
    xtv, ytv = amat_rows(tv_rows, 0)
    xte, yte = amat_rows(N_TEST, 1, label_offset=3)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, x, y in (
            ("mnist_all_rotation_normalized_float_train_valid.amat", xtv, ytv),
            ("mnist_all_rotation_normalized_float_test.amat", xte, yte),
        ):
            buf = io.StringIO()
            np.savetxt(buf, np.concatenate([x, y[:, None]], axis=1), fmt=fmt)
            data = buf.getvalue().encode() if corrupt_member is None or "test" in name else corrupt_member
            zf.writestr(name, data)
    return {"xtv": xtv, "ytv": ytv, "xte": xte, "yte": yte}


@pytest.fixture
def small_mnist_rot(monkeypatch):
    monkeypatch.setattr(MNISTRot, "expected_rows", {"train_valid": N_TV, "test": N_TEST})
    monkeypatch.setattr(MNISTRot, "val_size", N_VAL)
    monkeypatch.setattr(MNISTRot, "split_sizes", {"train": N_TV - N_VAL, "val": N_VAL, "test": N_TEST})


@pytest.mark.parametrize("fmt", ["%.18e", "%g"])
def test_mnist_rot_end_to_end(monkeypatch, tmp_path, small_mnist_rot, fmt):
    src = tmp_path / "server" / "mnist_rotation_new.zip"
    src.parent.mkdir()
    ref = write_amat_zip(src, fmt)
    serve(monkeypatch, MNISTRot, src, md5=md5(src))
    train = get_dataset("mnist_rot", "train", root=tmp_path / "root")
    val = get_dataset("mnist_rot", "val", root=tmp_path / "root")
    test = get_dataset("mnist_rot", "test", root=tmp_path / "root")
    assert (len(train), len(val), len(test)) == (N_TV - N_VAL, N_VAL, N_TEST)
    # val is the LAST rows of the train_valid file
    assert val.targets.tolist() == ref["ytv"][-N_VAL:].tolist()
    assert train.targets.tolist() == ref["ytv"][:-N_VAL].tolist()
    assert test.targets.tolist() == ref["yte"].tolist()
    expected = np.rint(ref["xtv"][:-N_VAL] * 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    np.testing.assert_array_equal(train.images.numpy(), expected)
    assert train.images[:, 0, 0, 0].tolist() == [255] * len(train)  # 1.0 -> 255, no wrap-around
    x, y = train[0]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28) and isinstance(y, int)
    torch.testing.assert_close(x, (train.images[0].float() / 255 - 0.1306) / 0.2900)
    assert (tmp_path / "root" / "mnist_rot" / "mnist_rotation_new.zip").is_file()
    assert (tmp_path / "root" / "processed" / "mnist_rot" / "manifest.json").is_file()


def test_mnist_rot_wrong_checksum(monkeypatch, tmp_path, small_mnist_rot):
    src = tmp_path / "mnist_rotation_new.zip"
    write_amat_zip(src)
    serve(monkeypatch, MNISTRot, src, md5="0" * 32)
    with pytest.raises(ChecksumError, match="mnist_rotation_new.zip"):
        get_dataset("mnist_rot", "train", root=tmp_path / "root")
    assert not (tmp_path / "root" / "mnist_rot" / "mnist_rotation_new.zip").exists()
    assert (tmp_path / "root" / "mnist_rot" / "mnist_rotation_new.zip.corrupt").exists()


@pytest.mark.parametrize(
    "problem, match",
    [
        ("truncated_zip", "not a readable zip"),
        ("bad_token", "unparsable"),
        ("wrong_columns", "columns"),
        ("too_few_rows", "rows, expected"),
        ("out_of_range", "outside \\[0, 1\\]"),
    ],
)
def test_mnist_rot_corrupt_files(monkeypatch, tmp_path, small_mnist_rot, problem, match):
    src = tmp_path / "mnist_rotation_new.zip"
    if problem == "truncated_zip":
        write_amat_zip(src)
        src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    elif problem == "bad_token":
        write_amat_zip(src, corrupt_member=b"0.1 0.2 oops\n")
    elif problem == "wrong_columns":
        write_amat_zip(src, corrupt_member=b"0.0 0.5 3\n" * 12)
    elif problem == "too_few_rows":
        write_amat_zip(src, tv_rows=N_TV - 1)
    else:
        write_amat_zip(src, corrupt_member=(" ".join(["2.0"] * 784) + " 1\n").encode())
    serve(monkeypatch, MNISTRot, src, md5=None)  # "format checked only"
    with pytest.raises(CorruptFileError, match=match):
        get_dataset("mnist_rot", "train", root=tmp_path / "root")


def test_mnist_rot_offline_error(tmp_path):
    with pytest.raises(DatasetNotAvailableError) as info:
        get_dataset("mnist_rot", "test", root=tmp_path / "root", download=False)
    msg = str(info.value)
    assert "mnist_rotation_new.zip" in msg
    assert "http://www.iro.umontreal.ca/~lisa/icml2007data/mnist_rotation_new.zip" in msg
    assert MNISTRot.resources[0].md5 in msg
    assert str(tmp_path / "root" / "mnist_rot") in msg and "GSEPCONV_MIRROR" in msg


def test_mnist_rot_from_a_mirror(monkeypatch, tmp_path, small_mnist_rot):
    mirror = tmp_path / "mirror"
    (mirror / "mnist_rot").mkdir(parents=True)
    write_amat_zip(mirror / "mnist_rot" / "mnist_rotation_new.zip")
    serve(monkeypatch, MNISTRot, tmp_path / "nowhere.zip", md5=md5(mirror / "mnist_rot" / "mnist_rotation_new.zip"))
    monkeypatch.setenv(storage.ENV_MIRROR, str(mirror))
    monkeypatch.setattr(storage, "fetch_url", lambda *a, **k: pytest.fail("network used despite the mirror"))
    assert len(get_dataset("mnist_rot", "val", root=tmp_path / "root")) == N_VAL


# ============================================================================ CIFAR (pickle tar.gz)
def batch_bytes(data: np.ndarray, labels: list[int], label_key: str, bytes_keys: bool, legacy_numpy: bool) -> bytes:
    """A CIFAR batch pickle (protocol 2). ``bytes_keys``: keys as the Python-2 pickles decode
    without an encoding; ``legacy_numpy``: reference ``numpy.core`` as the official files do."""
    batch = {
        "batch_label": "testing batch 1 of 1",
        label_key: labels,
        "data": data,
        "filenames": [f"img_{i}.png" for i in range(len(labels))],
    }
    if bytes_keys:
        batch = {k.encode(): v for k, v in batch.items()}
    raw = pickle.dumps(batch, protocol=2)
    if legacy_numpy:
        raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    return raw


def write_cifar_archive(
    path: Path,
    layout: str,
    per_batch: int = 4,
    n_test: int = 6,
    seed: int = 0,
    bytes_keys: bool = False,
    legacy_numpy: bool = True,
    extra: dict | None = None,
) -> dict:
    rng = np.random.default_rng(seed)
    if layout == "cifar10":
        folder, label_key, n_classes = "cifar-10-batches-py", "labels", 10
        train_names = [f"data_batch_{i}" for i in range(1, 6)]
        test_name, meta = "test_batch", ("batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    else:
        folder, label_key, n_classes = "cifar-100-python", "fine_labels", 100
        train_names, test_name = ["train"], "test"
        per_batch *= 5
        meta = ("meta", {"fine_label_names": [f"f{i}" for i in range(100)]})
    members, ref = {}, {"train_x": [], "train_y": []}
    for name in train_names:
        x = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        y = rng.integers(0, n_classes, size=per_batch).tolist()
        members[f"{folder}/{name}"] = batch_bytes(x, y, label_key, bytes_keys, legacy_numpy)
        ref["train_x"].append(x)
        ref["train_y"] += y
    xt = rng.integers(0, 256, size=(n_test, 3072), dtype=np.uint8)
    yt = rng.integers(0, n_classes, size=n_test).tolist()
    members[f"{folder}/{test_name}"] = batch_bytes(xt, yt, label_key, bytes_keys, legacy_numpy)
    members[f"{folder}/{meta[0]}"] = pickle.dumps(meta[1], protocol=2)
    members.update(extra or {})
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    ref["train_x"] = np.concatenate(ref["train_x"]).reshape(-1, 3, 32, 32)
    ref["train_y"] = np.array(ref["train_y"])
    ref["test_x"], ref["test_y"] = xt.reshape(-1, 3, 32, 32), np.array(yt)
    return ref


@pytest.fixture
def small_cifar(monkeypatch):
    for cls in (CIFAR10, CIFAR100):
        monkeypatch.setattr(cls, "val_size", 5)
        monkeypatch.setattr(cls, "split_sizes", {"train": 15, "val": 5, "test": 6})


@pytest.mark.parametrize(
    "cls, layout, bytes_keys", [(CIFAR10, "cifar10", False), (CIFAR10, "cifar10", True), (CIFAR100, "cifar100", False)]
)
def test_cifar_end_to_end(monkeypatch, tmp_path, small_cifar, cls, layout, bytes_keys):
    src = tmp_path / cls.resources[0].filename
    ref = write_cifar_archive(src, layout, bytes_keys=bytes_keys)
    serve(monkeypatch, cls, src, md5=md5(src))
    root = tmp_path / "root"
    ds = {s: get_dataset(cls.name, s, root=root) for s in ("train", "val", "test")}
    assert [len(ds[s]) for s in ("train", "val", "test")] == [15, 5, 6]
    val_idx = cls.val_indices(20)
    assert len(set(val_idx.tolist())) == 5
    np.testing.assert_array_equal(ds["val"].images.numpy(), ref["train_x"][val_idx])
    keep = np.setdiff1d(np.arange(20), val_idx)
    np.testing.assert_array_equal(ds["train"].targets.numpy(), ref["train_y"][keep])  # original order kept
    np.testing.assert_array_equal(ds["test"].images.numpy(), ref["test_x"])
    x, y = ds["test"][2]
    assert x.shape == (3, 32, 32) and y == int(ref["test_y"][2])
    mean = torch.tensor(cls.mean).view(3, 1, 1)
    std = torch.tensor(cls.std).view(3, 1, 1)
    torch.testing.assert_close(x, (torch.from_numpy(ref["test_x"][2]).float() / 255 - mean) / std)


def test_cifar_wrong_checksum(monkeypatch, tmp_path, small_cifar):
    src = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_archive(src, "cifar10")
    serve(monkeypatch, CIFAR10, src, md5="f" * 32)
    with pytest.raises(ChecksumError, match="cifar-10-python.tar.gz"):
        get_dataset("cifar10", "train", root=tmp_path / "root")
    assert (tmp_path / "root" / "CIFAR10" / "cifar-10-python.tar.gz.corrupt").exists()
    assert not (tmp_path / "root" / "CIFAR10" / "cifar-10-python.tar.gz").exists()


def test_cifar_corrupt_archives(monkeypatch, tmp_path, small_cifar):
    root = tmp_path / "root"
    src = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_archive(src, "cifar10")
    src.write_bytes(src.read_bytes()[:200])
    serve(monkeypatch, CIFAR10, src, md5=None)
    with pytest.raises(CorruptFileError, match="not a readable .tar.gz"):
        get_dataset("cifar10", "train", root=root)
    # a batch that is not a pickle
    (root / "CIFAR10" / "cifar-10-python.tar.gz").unlink()
    write_cifar_archive(src, "cifar10", extra={"cifar-10-batches-py/data_batch_3": b"garbage"})
    with pytest.raises(CorruptFileError, match="data_batch_3"):
        get_dataset("cifar10", "train", root=root)


def test_cifar_pickle_cannot_run_code(monkeypatch, tmp_path, small_cifar):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    src = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_archive(src, "cifar10", extra={"cifar-10-batches-py/test_batch": pickle.dumps(Evil(), protocol=2)})
    serve(monkeypatch, CIFAR10, src, md5=None)
    with pytest.raises(CorruptFileError, match="not allowed"):
        get_dataset("cifar10", "test", root=tmp_path / "root")


def test_cifar_missing_member(monkeypatch, tmp_path, small_cifar):
    src = tmp_path / "cifar-100-python.tar.gz"
    write_cifar_archive(src, "cifar10")  # wrong layout for CIFAR-100
    serve(monkeypatch, CIFAR100, src, md5=None)
    with pytest.raises(CorruptFileError, match="no member cifar-100-python/train"):
        get_dataset("cifar100", "train", root=tmp_path / "root")


# ============================================================================ CIFAR-10 subset
def subset_arrays(n_train=40, n_test=10, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.int64),
        "x_test": rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.int64),
    }


@pytest.fixture
def small_subset(monkeypatch):
    monkeypatch.setattr(CIFAR10Subset, "n_train", 40)
    monkeypatch.setattr(CIFAR10Subset, "n_test", 10)
    monkeypatch.setattr(CIFAR10Subset, "val_size", 5)
    monkeypatch.setattr(CIFAR10Subset, "split_sizes", {"train": 35, "val": 5, "test": 10})


def test_cifar10_subset_from_a_mirror_npz(monkeypatch, tmp_path, small_subset):
    arrays = subset_arrays()
    mirror = tmp_path / "mirror"
    (mirror / "CIFAR10-subset").mkdir(parents=True)
    np.savez(mirror / "CIFAR10-subset" / "cifar10_subset_4000_1000.npz", **arrays)
    monkeypatch.setattr(CIFAR10Subset, "expected_arrays", {k: array_sha256(v) for k, v in arrays.items()})
    monkeypatch.setenv(storage.ENV_MIRROR, str(mirror))
    val = get_dataset("cifar10_subset", "val", root=tmp_path / "root")
    train = get_dataset("cifar10_subset", "train", root=tmp_path / "root")
    assert (len(train), len(val)) == (35, 5)
    np.testing.assert_array_equal(val.images.numpy(), arrays["x_train"][35:].transpose(0, 3, 1, 2))  # the last 5
    np.testing.assert_array_equal(train.targets.numpy(), arrays["y_train"][:35])


def test_cifar10_subset_wrong_arrays_are_refused(monkeypatch, tmp_path, small_subset):
    arrays = subset_arrays()
    mirror = tmp_path / "mirror"
    (mirror / "CIFAR10-subset").mkdir(parents=True)
    np.savez(mirror / "CIFAR10-subset" / "cifar10_subset_4000_1000.npz", **arrays)
    monkeypatch.setenv(storage.ENV_MIRROR, str(mirror))
    with pytest.raises(ChecksumError, match="x_train"):  # real pinned sha256s, fake arrays
        get_dataset("cifar10_subset", "train", root=tmp_path / "root")
    assert (tmp_path / "root" / "CIFAR10-subset" / "cifar10_subset_4000_1000.npz.corrupt").exists()
    assert (mirror / "CIFAR10-subset" / "cifar10_subset_4000_1000.npz").exists()


def test_cifar10_subset_corrupt_npz(monkeypatch, tmp_path, small_subset):
    dest = tmp_path / "root" / "CIFAR10-subset" / "cifar10_subset_4000_1000.npz"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorruptFileError, match="not a readable .npz"):
        get_dataset("cifar10_subset", "train", root=tmp_path / "root")


def test_cifar10_subset_built_from_the_full_archive(monkeypatch, tmp_path, small_subset):
    src = tmp_path / "cifar-10-python.tar.gz"
    ref = write_cifar_archive(src, "cifar10", per_batch=50, n_test=12)
    serve(monkeypatch, CIFAR10Subset, src, index=1, md5=md5(src))
    expected = {
        "x_train": ref["train_x"][:40].transpose(0, 2, 3, 1),
        "y_train": ref["train_y"][:40],
        "x_test": ref["test_x"][:10].transpose(0, 2, 3, 1),
        "y_test": ref["test_y"][:10],
    }
    monkeypatch.setattr(CIFAR10Subset, "expected_arrays", {k: array_sha256(v) for k, v in expected.items()})
    test = get_dataset("cifar10_subset", "test", root=tmp_path / "root")
    np.testing.assert_array_equal(test.images.numpy(), ref["test_x"][:10])
    with np.load(tmp_path / "root" / "CIFAR10-subset" / "cifar10_subset_4000_1000.npz") as z:
        assert array_sha256(z["x_train"]) == array_sha256(expected["x_train"])


def test_cifar10_subset_unavailable_names_both_sources(tmp_path):
    with pytest.raises(DatasetNotAvailableError) as info:
        get_dataset("cifar10_subset", "train", root=tmp_path / "root", download=False)
    assert "cifar10_subset_4000_1000.npz" in str(info.value) and "cifar-10-python.tar.gz" in str(info.value)


# ============================================================================ Galaxy10 (.h5)
def write_galaxy_h5(path: Path, counts=(20, 11, 9, 6, 3, 1, 0, 5, 4, 1), seed=0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(10), counts)).astype(np.uint8)
    images = rng.integers(0, 256, (labels.size, 69, 69, 3), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, compression="gzip")
        f.create_dataset("ans", data=labels)
    return images, labels


def test_stratified_split_is_exact_stratified_and_seeded():
    labels = np.repeat(np.arange(10), (3461, 6997, 6292, 394, 1534, 17, 589, 1121, 906, 519))[:21785]
    idx = stratified_split(labels, 10, (0.1, 0.1), seed=0)
    assert {k: v.size for k, v in idx.items()} == Galaxy10.split_sizes
    assert np.array_equal(np.sort(np.concatenate(list(idx.values()))), np.arange(labels.size))
    frac = np.bincount(labels[idx["val"]], minlength=10) / np.bincount(labels, minlength=10)
    assert np.all(np.abs(frac[np.bincount(labels) > 100] - 0.1) < 0.002)
    again = stratified_split(labels, 10, (0.1, 0.1), seed=0)
    assert all(np.array_equal(idx[k], again[k]) for k in idx)
    assert not np.array_equal(idx["val"], stratified_split(labels, 10, (0.1, 0.1), seed=1)["val"])


def test_galaxy10_end_to_end(monkeypatch, tmp_path):
    src = tmp_path / "Galaxy10.h5"
    images, labels = write_galaxy_h5(src)
    monkeypatch.setattr(Galaxy10, "split_sizes", {"train": 48, "val": 6, "test": 6})
    serve(monkeypatch, Galaxy10, src, sha256=hashlib.sha256(src.read_bytes()).hexdigest())
    ds = {s: get_dataset("galaxy10", s, root=tmp_path / "root") for s in ("train", "val", "test")}
    assert [len(ds[s]) for s in ("train", "val", "test")] == [48, 6, 6]
    idx = stratified_split(labels, 10, (0.1, 0.1), 0)
    np.testing.assert_array_equal(ds["val"].images.numpy(), images[idx["val"]].transpose(0, 3, 1, 2))
    # normalisation constants: per-channel statistics of the train split
    train_x = images[idx["train"]].astype(np.float64) / 255
    np.testing.assert_allclose(ds["test"].norm_mean.flatten().numpy(), train_x.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(ds["test"].norm_std.flatten().numpy(), train_x.std(axis=(0, 1, 2)), rtol=1e-5)
    x, y = ds["train"][0]
    assert x.shape == (3, 69, 69) and isinstance(y, int)
    assert abs(float(torch.stack([ds["train"][i][0] for i in range(48)]).mean())) < 0.05


def test_galaxy10_checksum_and_corrupt(monkeypatch, tmp_path):
    src = tmp_path / "Galaxy10.h5"
    write_galaxy_h5(src)
    serve(monkeypatch, Galaxy10, src)  # the real pinned sha256 does not match our small file
    with pytest.raises(ChecksumError, match="sha256"):
        get_dataset("galaxy10", "train", root=tmp_path / "a")
    src.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    serve(monkeypatch, Galaxy10, src, sha256=None)
    with pytest.raises(CorruptFileError, match="not a readable HDF5"):
        get_dataset("galaxy10", "train", root=tmp_path / "b")
    with h5py.File(src, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 69, 69, 3), np.uint8))
    with pytest.raises(CorruptFileError, match="ans"):
        get_dataset("galaxy10", "train", root=tmp_path / "c")
    with h5py.File(src, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 32, 32, 3), np.uint8))
        f.create_dataset("ans", data=np.zeros(2, np.uint8))
    with pytest.raises(CorruptFileError, match="expected uint8"):
        get_dataset("galaxy10", "train", root=tmp_path / "d")


# ============================================================================ registry and items
def test_registry_contents():
    expected = {
        "mnist_rot",
        "mnist_rot_seeded",
        "mnist_scale",
        "mnist_rot_scale",
        "cifar10",
        "cifar100",
        "cifar10_subset",
        "galaxy10",
    }
    assert set(DATASETS) == expected
    assert DATASETS["mnist_rot"].splits == {"train": 10000, "val": 2000, "test": 50000}
    assert DATASETS["cifar10_subset"]["splits"] == {"train": 3500, "val": 500, "test": 1000}
    assert DATASETS["cifar100"].num_classes == 100 and DATASETS["cifar100"].in_channels == 3
    assert DATASETS["galaxy10"].image_size == (69, 69) and DATASETS["galaxy10"].mean is None
    for info in DATASETS.values():
        assert sum(info.splits.values()) > 0 and info.in_channels in (1, 3)
        if info.mean is not None:
            assert len(info.mean) == len(info.std) == info.in_channels
    assert get_dataset_info("cifar10").as_dict()["mean"] == (0.4914, 0.4822, 0.4465)


def test_unknown_names_list_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="known datasets: mnist_rot, .*galaxy10"):
        get_dataset("imagenet", "train", root=tmp_path)
    with pytest.raises(ValueError, match="known datasets"):
        get_dataset_info("mnist")
    with pytest.raises(ValueError, match="known splits: train, val, test"):
        get_dataset("cifar10", "validation", root=tmp_path)


class Toy(ImageDataset):
    """A synthetic dataset to test the base class."""

    name = "toy"
    in_channels, num_classes, image_size = 3, 4, (8, 8)
    split_sizes = {"train": 6, "val": 2, "test": 3}
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.2, 0.2)
    default_augment = "crop_flip"
    builds = 0

    @classmethod
    def _build(cls, root, download):
        cls.builds += 1
        rng = np.random.default_rng(0)
        return {
            s: (rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8), np.arange(n) % 4)
            for s, n in cls.split_sizes.items()
        }, {}


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(Toy, "builds", 0)
    return Toy


def test_items_transform_and_target_transform(tmp_path, toy):
    ds = toy(tmp_path, "train", transform=lambda x: x * 0, target_transform=lambda y: -y)
    x, y = ds[3]
    assert x.abs().sum() == 0 and y == -3
    plain = toy(tmp_path, "train")
    x, _ = plain[1]
    torch.testing.assert_close(x, (plain.images[1].float() / 255 - plain.norm_mean) / plain.norm_std)
    assert len(torch.utils.data.DataLoader(plain, batch_size=4).__iter__().__next__()[0]) == 4


def test_augmentations(tmp_path, toy):
    torch.manual_seed(0)
    assert toy(tmp_path, "train").augment is None
    aug = toy(tmp_path, "train", augment=True)
    assert aug.augment == "crop_flip"
    outs = torch.stack([aug[0][0] for _ in range(20)])
    assert outs.shape == (20, 3, 8, 8) and (outs - outs[0]).abs().max() > 0
    assert toy(tmp_path, "train", augment="rotate")[0][0].shape == (3, 8, 8)
    with pytest.raises(ValueError, match="unknown augmentation"):
        toy(tmp_path, "train", augment="mixup")
    with pytest.raises(ValueError, match="no default augmentation"):
        get_dataset("mnist_scale", "train", root=tmp_path, augment=True)


def test_cache_is_reused_and_repaired(tmp_path, toy):
    a = toy(tmp_path, "val")
    toy(tmp_path, "test")
    assert toy.builds == 1
    manifest = json.loads((toy.cache_dir(tmp_path) / "manifest.json").read_text())
    assert manifest["digest"] == a.digest and manifest["split_sizes"] == toy.split_sizes
    assert toy.verify_cache(tmp_path)
    (toy.cache_dir(tmp_path) / "val.pt").write_bytes(b"rubbish")
    assert not toy.verify_cache(tmp_path)
    with pytest.warns(UserWarning, match="rebuilding"):
        b = toy(tmp_path, "val")
    assert toy.builds == 2 and torch.equal(a.images, b.images)


def test_pinned_digest_mismatch(monkeypatch, tmp_path, toy):
    monkeypatch.setattr(toy, "expected_digest", "0" * 64)
    with pytest.raises(DigestMismatchError, match="0" * 64):
        toy(tmp_path, "train")
    assert not (toy.cache_dir(tmp_path) / "manifest.json").exists()
    monkeypatch.setenv("GSEPCONV_ALLOW_DIGEST_MISMATCH", "1")
    with pytest.warns(UserWarning, match="pinned in code"):
        assert len(toy(tmp_path, "train")) == 6


def test_build_with_wrong_sizes_is_refused(monkeypatch, tmp_path, toy):
    monkeypatch.setattr(toy, "split_sizes", {"train": 6, "val": 2, "test": 3})
    monkeypatch.setattr(
        toy,
        "_build",
        classmethod(
            lambda cls, root, dl: (
                {s: (np.zeros((1, 3, 8, 8), np.uint8), np.zeros(1, np.int64)) for s in ("train", "val", "test")},
                {},
            )
        ),
    )
    with pytest.raises(CorruptFileError, match="1 images, expected 6"):
        toy(tmp_path, "train")


# ============================================================================ CLI
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gsepconv")
    register(p.add_subparsers(dest="command"))
    return p


def test_cli_list(tmp_path, capsys):
    args = parser().parse_args(["data", "list", "--root", str(tmp_path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "mnist_rot_seeded" in out and "galaxy10/Galaxy10.h5" in out
    assert "not prepared" in out and "missing" in out


def test_cli_prepare(monkeypatch, tmp_path, capsys, small_mnist_rot):
    p = parser()
    args = p.parse_args(["data", "prepare", "nonsense", "--root", str(tmp_path)])
    assert args.func(args) == 2 and "known datasets" in capsys.readouterr().err
    args = p.parse_args(["data", "prepare", "mnist_rot", "--root", str(tmp_path), "--no-download"])
    assert args.func(args) == 2  # every failure: one `error:` message, exit 2
    err = capsys.readouterr().err
    assert err.startswith("error: mnist_rot could not be prepared") and "mnist_rotation_new.zip" in err
    src = tmp_path / "mnist_rotation_new.zip"
    write_amat_zip(src)
    serve(monkeypatch, MNISTRot, src, md5=md5(src))
    args = p.parse_args(["data", "prepare", "mnist_rot", "--root", str(tmp_path)])
    assert args.func(args) == 0
    assert "mnist_rot: ready (10/2/5" in capsys.readouterr().out
    args = p.parse_args(["data", "list", "--root", str(tmp_path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "mnist_rot          ready (verified)" in out and "present, verified" in out
    args = p.parse_args(["data"])
    assert args.func(args) == 2


def test_parallel_prepare_builds_once(monkeypatch, tmp_path, toy):
    import threading
    import time

    original = toy._build.__func__

    def slow_build(cls, root, download):
        time.sleep(0.3)
        return original(cls, root, download)

    monkeypatch.setattr(toy, "_build", classmethod(slow_build))
    digests = []
    threads = [threading.Thread(target=lambda: digests.append(toy.prepare(tmp_path)["digest"])) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert toy.builds == 1 and len(set(digests)) == 1 and len(digests) == 3
