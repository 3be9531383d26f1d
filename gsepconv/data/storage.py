"""Where data lives, and how source files get there.

Folders
    * data folder (writable): the ``root`` argument, else ``$GSEPCONV_DATA``, else
      ``~/.cache/gsepconv``. Source files live under it at their :attr:`RemoteFile.relpath`,
      processed caches under ``processed/``.
    * mirror (read-only, optional): ``$GSEPCONV_MIRROR``, laid out like the data folder
      (``MNIST/raw/*.gz``, ``CIFAR10-subset/*.npz``, ``mnist_rot/mnist_rotation_new.zip``, ...).
      It is consulted before the network; files are *copied* from it, never written into it.

:func:`ensure_file` gets one file in place: data folder (verified) -> mirror (copied, verified)
-> each URL in turn (downloaded with a progress bar, verified). Every write goes to a temporary
file in the destination folder and is moved in place with :func:`os.replace` only after it is
verified, so a later run never trusts a half-written file. A copy that fails its checksum is
renamed to ``<name>.corrupt``.

Tests replace the network by monkeypatching :func:`fetch_url` (or :data:`urlopen`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..progress import bars_enabled, tqdm
from .exceptions import ChecksumError, DatasetNotAvailableError, LockHeld

__all__ = [
    "ENV_DATA",
    "ENV_MIRROR",
    "RemoteFile",
    "data_root",
    "mirror_root",
    "file_hash",
    "check_file",
    "fetch_url",
    "ensure_file",
    "atomic_path",
    "locate",
    "file_lock",
]

ENV_DATA = "GSEPCONV_DATA"
ENV_MIRROR = "GSEPCONV_MIRROR"
DEFAULT_ROOT = "~/.cache/gsepconv"

#: The opener used by :func:`fetch_url`; tests replace it to forbid the network.
urlopen: Callable[..., object] = urllib.request.urlopen

_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One source file: where it lives (same relative path in the data folder and the mirror),
    where to download it, and how to verify it.

    ``md5``/``sha256`` of ``None`` mean "not pinned": only ``size`` (if given) and the parser's
    format checks protect that file. ``checksum_note`` says where a pinned checksum comes from.
    """

    relpath: str
    urls: tuple[str, ...] = ()
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    checksum_note: str = ""

    @property
    def filename(self) -> str:
        return Path(self.relpath).name

    def describe_checksum(self) -> str:
        parts = []
        if self.md5:
            parts.append(f"md5 {self.md5}")
        if self.sha256:
            parts.append(f"sha256 {self.sha256}")
        if self.size is not None:
            parts.append(f"{self.size:,} bytes")
        if not parts:
            return "no pinned checksum (format checked only)"
        return ", ".join(parts) + (f" [{self.checksum_note}]" if self.checksum_note else "")


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The writable data folder: ``root``, else ``$GSEPCONV_DATA``, else ``~/.cache/gsepconv``."""
    if root is None:
        root = os.environ.get(ENV_DATA) or DEFAULT_ROOT
    return Path(root).expanduser().resolve()


def mirror_root() -> Path | None:
    """The read-only mirror folder from ``$GSEPCONV_MIRROR`` (``None`` if unset or not a folder)."""
    value = os.environ.get(ENV_MIRROR)
    if not value:
        return None
    path = Path(value).expanduser()
    return path.resolve() if path.is_dir() else None


#: Checksum lists a mirror may ship at its top level (``<hex>  ./relative/path`` lines, as written
#: by ``sha256sum``/``md5sum``), and the hash each one holds.
MIRROR_CHECKSUM_FILES: dict[str, str] = {"SHA256SUMS": "sha256", "MD5SUMS": "md5"}


def mirror_checksums(mirror: Path) -> dict[str, list[tuple[str, str]]]:
    """``{relpath: [(algorithm, hex digest), ...]}`` from the checksum lists the mirror ships
    (:data:`MIRROR_CHECKSUM_FILES`); an unreadable list is a :class:`ChecksumError`."""
    sums: dict[str, list[tuple[str, str]]] = {}
    for name, algorithm in MIRROR_CHECKSUM_FILES.items():
        path = mirror / name
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2 or not all(c in "0123456789abcdefABCDEF" for c in parts[0]):
                raise ChecksumError(
                    f"{path} line {number} is not '<hex digest>  <path>': {line!r}; fix or remove that checksum list"
                )
            rel = parts[1].strip().lstrip("*")
            rel = rel[2:] if rel.startswith("./") else rel
            sums.setdefault(rel, []).append((algorithm, parts[0].lower()))
    return sums


def check_mirror_file(mirror: Path, res: RemoteFile, path: Path) -> str | None:
    """Verify ``path`` (a copy of the mirror's ``res``) against the checksums the mirror lists
    for it; ``None`` if they match or the mirror lists none."""
    for algorithm, expected in mirror_checksums(mirror).get(res.relpath, []):
        if (got := file_hash(path, algorithm)) != expected:
            return f"{algorithm} {got}, but the mirror's {_list_name(algorithm)} lists {expected}"
    return None


def _list_name(algorithm: str) -> str:
    return next(name for name, a in MIRROR_CHECKSUM_FILES.items() if a == algorithm)


def file_hash(path: str | os.PathLike[str], algorithm: str = "md5") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def check_file(path: Path, res: RemoteFile) -> str | None:
    """Verify ``path`` against ``res``; return ``None`` if it matches, else what is wrong."""
    size = path.stat().st_size
    if res.size is not None and size != res.size:
        return f"size {size:,} bytes, expected {res.size:,}"
    if res.md5 and (got := file_hash(path, "md5")) != res.md5.lower():
        return f"md5 {got}, expected {res.md5}"
    if res.sha256 and (got := file_hash(path, "sha256")) != res.sha256.lower():
        return f"sha256 {got}, expected {res.sha256}"
    return None


def atomic_path(dest: Path) -> Path:
    """A fresh temporary path next to ``dest`` (same folder, so :func:`os.replace` is atomic)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest.parent / f".{dest.name}.{uuid.uuid4().hex[:12]}.part"


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _quarantine(path: Path, dest: Path) -> Path:
    """Move a file that failed verification to ``<dest>.corrupt`` (out of the cache)."""
    bad = dest.with_name(dest.name + ".corrupt")
    os.replace(path, bad)
    return bad


@contextmanager
def file_lock(path: Path, holder: str, refuse: str | None = None) -> Iterator[None]:
    """Exclusive inter-process lock on ``path`` (POSIX ``flock``; a no-op where unavailable): the
    one lock of gsepconv — the data folder's cache builds, run folders and results tables use it.

    ``path`` is a folder (its own descriptor is locked: nothing is created in it) or a lock file
    (created if missing). ``holder`` says who holds it (e.g. "another process is building
    cifar10"). When it is held: with ``refuse`` (what to do instead) raise :class:`LockHeld`;
    without, say on stderr that this process is waiting, then wait."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = Path(path)
    if path.is_dir():
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if refuse is not None:
                raise LockHeld(f"{path} is in use: {holder}; {refuse}") from None
            print(f"waiting for {path}: {holder} (this continues when it is released)", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def fetch_url(url: str, dest: Path, desc: str | None = None, timeout: float = 60.0) -> None:
    """Stream ``url`` into ``dest`` with a tqdm progress bar (``file://`` URLs work too)."""
    with urlopen(url, timeout=timeout) as response:  # type: ignore[attr-defined]
        total = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        total_bytes = int(total) if total and str(total).isdigit() else None
        with (
            open(dest, "wb") as out,
            tqdm(
                total=total_bytes,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=desc or Path(url).name,
                leave=False,
                disable=not bars_enabled(),
            ) as bar,
        ):
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
                bar.update(len(block))


def locate(res: RemoteFile, root: Path) -> Iterator[tuple[str, Path]]:
    """Where ``res`` may already be: ``("data", path)`` and ``("mirror", path)`` if they exist."""
    local = root / res.relpath
    if local.is_file():
        yield "data", local
    mirror = mirror_root()
    if mirror is not None and (mirror / res.relpath).is_file():
        yield "mirror", mirror / res.relpath


def not_available_message(res: RemoteFile, root: Path, reason: str) -> str:
    dest = root / res.relpath
    urls = "\n".join(f"    {u}" for u in res.urls) or "    (none: this file has no download URL)"
    value = os.environ.get(ENV_MIRROR)
    if value and mirror_root() is None:  # set, but ignored: say so rather than "set it"
        mirror = (
            f"${ENV_MIRROR}={value} is not a folder, so no mirror was read: point it at the "
            f"mirror folder holding {res.relpath} (e.g. ../shared/data) or unset it"
        )
    else:
        mirror = f"set ${ENV_MIRROR} to a folder holding {res.relpath}"
    return (
        f"{res.filename} is not available: {reason}.\n"
        f"  expected checksum: {res.describe_checksum()}\n"
        f"  download from:\n{urls}\n"
        f"  To fix: put the file at {dest} (it is verified on use), or {mirror}, or run with "
        f"download=True and network access."
    )


def ensure_file(
    res: RemoteFile,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> Path:
    """Make sure ``res`` is in the data folder and verified; return its path there.

    Order: data folder -> ``$GSEPCONV_MIRROR`` (copy) -> ``res.urls`` (download, if ``download``).
    Raises :class:`DatasetNotAvailableError` when no source works and :class:`ChecksumError`
    when every copy found fails verification (the bad copies end as ``*.corrupt``).
    """
    root_path = data_root(root)
    dest = root_path / res.relpath
    problems: list[str] = []
    mismatch = False

    if dest.is_file():
        bad = check_file(dest, res)
        if bad is None:
            return dest
        moved = _quarantine(dest, dest)
        problems.append(f"the copy in the data folder failed verification ({bad}); moved to {moved}")
        mismatch = True
        warnings.warn(problems[-1], stacklevel=2)

    mirror = mirror_root()
    if mirror is not None and (mirror / res.relpath).is_file():
        tmp = atomic_path(dest)
        try:
            shutil.copyfile(mirror / res.relpath, tmp)
            bad = check_file(tmp, res)
            listed = None if bad else check_mirror_file(mirror, res, tmp)
            if bad is None and listed is None:
                os.replace(tmp, dest)
                return dest
            if listed is not None:  # the mirror contradicts its own checksum list: the file is damaged
                problems.append(
                    f"the mirror file {mirror / res.relpath} is corrupt ({listed}); it was not "
                    f"copied — restore it in the mirror (see its SOURCES.md) or point "
                    f"${ENV_MIRROR} at a good mirror"
                )
            else:
                problems.append(
                    f"the mirror copy {mirror / res.relpath} failed verification ({bad}); it was "
                    f"not copied — replace it in the mirror"
                )
            mismatch = True
            warnings.warn(problems[-1], stacklevel=2)
        finally:
            _discard(tmp)

    if download:
        for url in res.urls:
            tmp = atomic_path(dest)
            try:
                fetch_url(url, tmp, desc=res.filename)
                bad = check_file(tmp, res)
                if bad is None:
                    os.replace(tmp, dest)
                    return dest
                moved = _quarantine(tmp, dest)
                problems.append(f"download from {url} failed verification ({bad}); kept as {moved}")
                mismatch = True
            except (urllib.error.URLError, OSError, ValueError) as exc:
                problems.append(f"download from {url} failed ({type(exc).__name__}: {exc})")
            finally:
                _discard(tmp)
    elif not problems:
        problems.append("it is not in the data folder or the mirror, and download=False")

    if not res.urls and download and not problems:
        problems.append("it is not in the data folder or the mirror, and it has no download URL")
    reason = "; ".join(problems) or "no source found"
    message = not_available_message(res, root_path, reason)
    raise (ChecksumError if mismatch else DatasetNotAvailableError)(message)
