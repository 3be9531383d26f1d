"""Atomic file writes, default folders and provenance (versions, git commit).

Every file this package writes goes through :func:`atomic_write_bytes`: the bytes go to a
temporary file in the same folder, are flushed and fsync'ed, and then ``os.replace`` swaps it in.
A crash or a full disk mid-write leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_torch_save",
    "runs_root",
    "results_root",
    "git_commit",
]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + ``os.replace``)."""
    return _atomic_write(path, lambda f: f.write(data))


def _atomic_write(path: str | Path, write: Callable[[Any], Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def runs_root(path: str | Path | None = None) -> Path:
    """Base folder of run folders: ``path``, else env ``GSEPCONV_RUNS``, else ``./runs``."""
    return Path(path or os.environ.get("GSEPCONV_RUNS") or "runs")


def results_root(path: str | Path | None = None) -> Path:
    """Base folder of results CSVs: ``path``, else env ``GSEPCONV_RESULTS``, else ``./results``."""
    return Path(path or os.environ.get("GSEPCONV_RESULTS") or "results")


_GIT_COMMIT: str | None = None


def git_commit() -> str:
    """Commit of the gsepconv source tree (``+dirty`` if modified), or ``"unknown"``."""
    global _GIT_COMMIT
    if _GIT_COMMIT is None:
        here = Path(__file__).resolve().parent
        try:
            sha = subprocess.run(
                ["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                text=True, timeout=10, check=True,
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
                cwd=here.parent, capture_output=True, text=True, timeout=10,
            ).stdout.strip()
            _GIT_COMMIT = sha + ("+dirty" if dirty else "") if sha else "unknown"
        except (OSError, subprocess.SubprocessError):
            _GIT_COMMIT = "unknown"
    return _GIT_COMMIT
