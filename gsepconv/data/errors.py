"""Exceptions raised by :mod:`gsepconv.data`.

All of them subclass :class:`RuntimeError` (except unknown names/splits, which raise
:class:`ValueError`), and their messages say what to do next.
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "DatasetNotAvailableError",
    "ChecksumError",
    "CorruptFileError",
    "DigestMismatchError",
]


class DataError(RuntimeError):
    """Base class of the data errors."""


class DatasetNotAvailableError(DataError):
    """A source file is missing and cannot be fetched (offline, ``download=False``, ...)."""


class ChecksumError(DataError):
    """A file does not match its pinned checksum; the bad copy is kept out of the cache."""


class CorruptFileError(DataError):
    """A file has the right name but cannot be parsed (truncated archive, bad .amat/.h5/.npz/pickle)."""


class DigestMismatchError(DataError):
    """A deterministic build produced arrays whose sha256 differs from the digest pinned in code."""
