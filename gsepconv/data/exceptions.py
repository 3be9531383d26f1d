"""Exceptions raised by :mod:`gsepconv.data`.

All of them subclass :class:`gsepconv.errors.GsepconvError` and :class:`RuntimeError` (a missing
dataset also :class:`FileNotFoundError`; unknown names/splits raise :class:`ValueError`), and their
messages say what to do next.
"""

from __future__ import annotations

from gsepconv.errors import GsepconvError

__all__ = [
    "LockHeld",
    "DataError",
    "DatasetNotAvailableError",
    "ChecksumError",
    "CorruptFileError",
    "DigestMismatchError",
]


class DataError(GsepconvError, RuntimeError):
    """Base class of the data errors."""


class LockHeld(GsepconvError, RuntimeError):
    """Another process holds a lock (:func:`gsepconv.data.storage.file_lock`) this one may not wait for."""


class DatasetNotAvailableError(DataError, FileNotFoundError):
    """A source file is missing and cannot be fetched (offline, ``download=False``, ...)."""


class ChecksumError(DataError):
    """A file does not match its pinned checksum; the bad copy is kept out of the cache."""


class CorruptFileError(DataError):
    """A file has the right name but cannot be parsed (truncated archive, bad .amat/.h5/.npz/pickle)."""


class DigestMismatchError(DataError):
    """A deterministic build produced arrays whose sha256 differs from the digest pinned in code."""
