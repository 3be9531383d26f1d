"""Data folders, mirror copies and verified atomic downloads (gsepconv.data.storage). No network."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from gsepconv.data import storage
from gsepconv.data.exceptions import ChecksumError, DatasetNotAvailableError
from gsepconv.data.storage import RemoteFile, check_file, data_root, ensure_file, mirror_root

PAYLOAD = b"gsepconv test payload\n" * 1000


pytestmark = pytest.mark.usefixtures("offline_storage")  # no network, fresh data folder, no mirror


def _source(tmp_path: Path, payload: bytes = PAYLOAD) -> Path:
    src = tmp_path / "server" / "blob.bin"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(payload)
    return src


def _res(src: Path, **kw) -> RemoteFile:
    fields = dict(
        relpath="things/blob.bin",
        urls=(src.as_uri(),),
        md5=hashlib.md5(PAYLOAD).hexdigest(),
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        size=len(PAYLOAD),
    )
    fields.update(kw)
    return RemoteFile(**fields)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_data_root_precedence(monkeypatch, tmp_path):
    assert data_root(tmp_path / "explicit") == (tmp_path / "explicit").resolve()
    assert data_root() == (tmp_path / "data").resolve()
    monkeypatch.delenv(storage.ENV_DATA)
    assert data_root() == Path("~/.cache/gsepconv").expanduser().resolve()


def test_mirror_root(monkeypatch, tmp_path):
    assert mirror_root() is None
    monkeypatch.setenv(storage.ENV_MIRROR, str(tmp_path / "nowhere"))
    assert mirror_root() is None
    monkeypatch.setenv(storage.ENV_MIRROR, str(tmp_path))
    assert mirror_root() == tmp_path.resolve()


def test_download_file_url_verified_and_atomic(tmp_path):
    res = _res(_source(tmp_path))
    path = ensure_file(res, tmp_path / "root")
    assert path == (tmp_path / "root" / "things" / "blob.bin").resolve()
    assert path.read_bytes() == PAYLOAD
    assert _leftovers(path.parent) == []
    # second call: found in the data folder, no fetch
    res_offline = replace(res, urls=())
    assert ensure_file(res_offline, tmp_path / "root", download=False) == path


def test_wrong_checksum_download_is_refused_and_quarantined(tmp_path):
    res = _res(_source(tmp_path), md5="0" * 32)
    with pytest.raises(ChecksumError) as info:
        ensure_file(res, tmp_path / "root")
    msg = str(info.value)
    assert "blob.bin" in msg and "0" * 32 in msg and "md5" in msg
    folder = tmp_path / "root" / "things"
    assert not (folder / "blob.bin").exists()  # never trusted later
    assert (folder / "blob.bin.corrupt").read_bytes() == PAYLOAD
    assert _leftovers(folder) == []


def test_wrong_sha256_and_size(tmp_path):
    src = _source(tmp_path)
    with pytest.raises(ChecksumError, match="sha256"):
        ensure_file(_res(src, md5=None, sha256="f" * 64), tmp_path / "a")
    with pytest.raises(ChecksumError, match="size"):
        ensure_file(_res(src, size=3), tmp_path / "b")


def test_corrupted_local_copy_is_replaced(tmp_path):
    res = _res(_source(tmp_path))
    dest = tmp_path / "root" / res.relpath
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"half a file")
    with pytest.warns(UserWarning, match="failed verification"):
        path = ensure_file(res, tmp_path / "root")
    assert path.read_bytes() == PAYLOAD
    assert (dest.parent / "blob.bin.corrupt").read_bytes() == b"half a file"


def test_unpinned_file_is_accepted(tmp_path):
    src = _source(tmp_path)
    res = RemoteFile("things/blob.bin", (src.as_uri(),))
    assert "format checked only" in res.describe_checksum()
    assert ensure_file(res, tmp_path / "root").read_bytes() == PAYLOAD


def test_interrupted_download_leaves_no_file(monkeypatch, tmp_path):
    res = _res(_source(tmp_path), urls=("https://example.invalid/blob.bin",))

    def broken(url, dest, desc=None, timeout=60.0):
        Path(dest).write_bytes(PAYLOAD[:100])
        raise urllib.error.URLError("connection reset")

    monkeypatch.setattr(storage, "fetch_url", broken)
    with pytest.raises(DatasetNotAvailableError, match="connection reset"):
        ensure_file(res, tmp_path / "root")
    folder = tmp_path / "root" / "things"
    assert not (folder / "blob.bin").exists()
    assert _leftovers(folder) == []


def test_offline_error_names_file_url_checksum_folder_and_mirror(monkeypatch, tmp_path):
    res = _res(_source(tmp_path), urls=("https://example.invalid/blob.bin",))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(storage, "urlopen", offline)
    with pytest.raises(DatasetNotAvailableError) as info:
        ensure_file(res, tmp_path / "root")
    msg = str(info.value)
    for part in (
        "blob.bin",
        "https://example.invalid/blob.bin",
        res.md5,
        str(tmp_path / "root" / "things"),
        "GSEPCONV_MIRROR",
        "no route to host",
    ):
        assert part in msg, part
    assert isinstance(info.value, RuntimeError)


def test_download_false_does_not_fetch(monkeypatch, tmp_path):
    res = _res(_source(tmp_path))
    monkeypatch.setattr(storage, "fetch_url", lambda *a, **k: pytest.fail("fetched with download=False"))
    with pytest.raises(DatasetNotAvailableError, match="download=False"):
        ensure_file(res, tmp_path / "root", download=False)


def test_mirror_is_copied_verified_and_never_written(monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "things").mkdir(parents=True)
    (mirror / "things" / "blob.bin").write_bytes(PAYLOAD)
    os.chmod(mirror / "things", 0o555)
    monkeypatch.setenv(storage.ENV_MIRROR, str(mirror))
    monkeypatch.setattr(storage, "fetch_url", lambda *a, **k: pytest.fail("network used despite the mirror"))
    try:
        path = ensure_file(_res(tmp_path / "unused", urls=("https://example.invalid/x",)), tmp_path / "root")
        assert path.read_bytes() == PAYLOAD and not path.is_symlink()
        assert sorted(p.name for p in (mirror / "things").iterdir()) == ["blob.bin"]
    finally:
        os.chmod(mirror / "things", 0o755)


def test_bad_mirror_copy_falls_back_to_download(monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "things").mkdir(parents=True)
    (mirror / "things" / "blob.bin").write_bytes(b"wrong bytes")
    monkeypatch.setenv(storage.ENV_MIRROR, str(mirror))
    with pytest.warns(UserWarning, match="mirror copy"):
        path = ensure_file(_res(_source(tmp_path)), tmp_path / "root")
    assert path.read_bytes() == PAYLOAD
    assert (mirror / "things" / "blob.bin").read_bytes() == b"wrong bytes"


def test_second_url_used_when_first_fails(tmp_path):
    src = _source(tmp_path)
    res = _res(src, urls=((tmp_path / "missing.bin").as_uri(), src.as_uri()))
    assert ensure_file(res, tmp_path / "root").read_bytes() == PAYLOAD


def test_check_file(tmp_path):
    src = _source(tmp_path)
    assert check_file(src, _res(src)) is None
    assert "md5" in check_file(src, _res(src, md5="1" * 32))


def test_a_corrupt_mirror_file_is_named_and_never_copied(tmp_path, monkeypatch):
    """The mirror's own SHA256SUMS lists the file; a damaged copy in the mirror is refused with a
    message naming the mirror file, so deleting the data-folder copy cannot bring it back."""
    import hashlib

    from gsepconv.data import storage
    from gsepconv.data.exceptions import ChecksumError

    mirror, data = tmp_path / "mirror", tmp_path / "data"
    good = b"the real bytes" * 100
    (mirror / "SET").mkdir(parents=True)
    (mirror / "SET" / "file.npz").write_bytes(good[:-1] + b"X")  # damaged in the mirror
    (mirror / "SHA256SUMS").write_text(f"{hashlib.sha256(good).hexdigest()}  ./SET/file.npz\n")
    monkeypatch.setenv(storage.ENV_MIRROR, str(mirror))
    res = storage.RemoteFile("SET/file.npz")  # no pinned checksum: only the mirror's list protects it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ChecksumError, match=r"mirror file .*SET/file.npz is corrupt .*SHA256SUMS"):
            storage.ensure_file(res, data, download=False)
    assert not (data / "SET" / "file.npz").exists() and not list((data / "SET").glob("*"))
    (mirror / "SET" / "file.npz").write_bytes(good)  # repaired mirror: copied and verified
    assert storage.ensure_file(res, data, download=False).read_bytes() == good
    (mirror / "SHA256SUMS").write_text("not a checksum line\n")
    (data / "SET" / "file.npz").unlink()
    with pytest.raises(ChecksumError, match="SHA256SUMS line 1"):
        storage.ensure_file(res, data, download=False)
