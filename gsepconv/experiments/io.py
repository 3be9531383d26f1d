"""Atomic file writes, default folders and provenance (versions, git commit).

Every file this package writes goes through :func:`atomic_write_bytes`: the bytes go to a
temporary file in the same folder, are flushed and fsync'ed, and then ``os.replace`` swaps it in.
A crash or a full disk mid-write leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from gsepconv.errors import GsepconvError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_torch_save",
    "runs_root",
    "results_root",
    "SAFE_NAME",
    "PathError",
    "check_name",
    "check_writable",
    "check_replaceable",
    "WriteRefused",
    "write_table",
    "git_commit",
    "installed_commit",
]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + ``os.replace``)."""
    return _atomic_write(path, lambda f: f.write(data))


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class WriteRefused(GsepconvError, PermissionError):
    """A file gsepconv would replace is read-only or a symbolic link: reported, never replaced."""


def check_replaceable(path: str | Path) -> Path:
    """``path`` unless it is a symbolic link (an atomic replace would turn it into a plain file) or
    a read-only file (the user protected it): then a :class:`WriteRefused` that says so."""
    path = Path(path)
    if path.is_symlink():
        raise WriteRefused(
            f"{path} is a symbolic link (to {os.readlink(path)}); gsepconv replaces its files "
            f"atomically and would turn the link into a plain file — write to the link's target "
            f"folder instead (e.g. --results), or remove the link; nothing was replaced"
        )
    if path.exists() and (not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222):
        raise WriteRefused(
            f"{path} is read-only; make it writable (chmod u+w {path}) or write elsewhere "
            f"(e.g. --results); nothing was replaced"
        )
    return path


def _atomic_write(path: str | Path, write: Callable[[Any], Any]) -> Path:
    path = check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600; give it the mode an ordinary write would (an existing file
    # keeps its mode, a new one gets 0666 minus the umask), so results are readable on a shared machine
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Atomic UTF-8 text write."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Atomic JSON write (indented, keys in insertion order)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` through an in-memory buffer and an atomic replace."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def check_writable(folder: str | Path, what: str, option: str) -> Path:
    """Fail before any work if ``folder`` could not receive a new file: ``ValueError`` naming the
    folder, what would have gone there and the ``option`` that moves it. Nothing is created: a
    missing folder is judged by its nearest existing ancestor (a probe file is made and removed
    there), so a command that fails later leaves no empty folders behind."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is a file, not a folder")
        fd, probe = tempfile.mkstemp(prefix=".gsepconv-write-check.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(
            f"cannot write {what} in {folder} ({err.strerror or err}); choose a writable folder "
            f"with {option} or fix its permissions (nothing was computed)"
        ) from None
    return folder


def write_table(path: str | Path, text: str, what: str) -> Path:
    """Write a computed table atomically; if that fails (disk full, permissions changed meanwhile)
    keep it in the temporary folder and raise an ``OSError`` that says where, so the work is not lost."""
    path = Path(path)
    try:
        return atomic_write_text(path, text)
    except OSError as err:
        fd, kept = tempfile.mkstemp(prefix=f"gsepconv-{path.stem}-", suffix=path.suffix)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        raise type(err)(
            f"could not write {what} to {path} ({err.strerror or err}); it was saved to {kept} "
            f"instead — move it to {path} once the folder is writable"
        ) from None


#: Experiment, profile and run names: one safe character set, so that a name is exactly one
#: folder (or file) level below the folder the user named — never ``..``, ``/`` or an absolute path.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class PathError(GsepconvError, ValueError):
    """A name or path that would put a file outside the folder the user named."""


def check_name(value: Any, what: str) -> str:
    """``value`` if it is a safe name (:data:`SAFE_NAME`), else a :class:`PathError` naming ``what``."""
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value):
        raise PathError(
            f"{what}={value!r} is not a valid name: use letters, digits, '_', '.' and '-', starting "
            f"with a letter or digit (at most 100 characters); it names one folder or file under "
            f"the runs or results folder"
        )
    return value


def runs_root(path: str | Path | None = None) -> Path:
    """Base folder of run folders: ``path``, else env ``GSEPCONV_RUNS``, else ``./runs``."""
    return Path(path or os.environ.get("GSEPCONV_RUNS") or "runs")


def results_root(path: str | Path | None = None) -> Path:
    """Base folder of results CSVs: ``path``, else env ``GSEPCONV_RESULTS``, else ``./results``."""
    return Path(path or os.environ.get("GSEPCONV_RESULTS") or "results")


_GIT_COMMIT: str | None = None


def installed_commit() -> str | None:
    """The commit gsepconv was installed from by ``pip install git+…@<ref>`` (Colab's setup cell):
    ``vcs_info.commit_id`` of the distribution's ``direct_url.json`` (PEP 610), or ``None`` (an
    install from a folder, a wheel or an index records no commit)."""
    try:
        text = metadata.distribution("gsepconv").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        commit = json.loads(text or "{}").get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None
    return commit if isinstance(commit, str) and commit else None


#: The one data file inside the package (``gsepconv.companion.committed.MANIFEST``, the checksums
#: of ``results/``): every reproduction rewrites it, which says nothing about the code.
MANIFEST_IN_PACKAGE = "companion/results_manifest.json"


def _checkout_commit(package: Path) -> str | None:
    """``<short commit>[+dirty]`` when ``package`` is the ``gsepconv`` folder of a git checkout
    (not a copy installed into a virtual environment that happens to lie inside one)."""

    def git(*args: str, cwd: Path) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        top = git("rev-parse", "--show-toplevel", cwd=package)
        if not top or Path(top).resolve() / "gsepconv" != package:
            return None
        sha = git("rev-parse", "--short=12", "HEAD", cwd=package)
        # the results manifest (checksums of results/, rewritten by every reproduction) is data
        dirty = git(
            "status", "--porcelain", "--untracked-files=no", "--", ".", f":(exclude){MANIFEST_IN_PACKAGE}", cwd=package
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "") if sha else None


def git_commit() -> str:
    """Commit of the gsepconv source tree (``+dirty`` if modified); for a ``pip install git+…``
    the commit pip recorded (:func:`installed_commit`, 12 digits); else ``"unknown"``."""
    global _GIT_COMMIT
    if _GIT_COMMIT is None:
        package = Path(__file__).resolve().parents[1]
        installed = installed_commit()
        _GIT_COMMIT = _checkout_commit(package) or (installed[:12] if installed else "unknown")
    return _GIT_COMMIT
