"""The one base class of gsepconv's own errors.

Every error that gsepconv raises on purpose (bad configuration, damaged run folder or results
table, missing data, a companion step that cannot go on) subclasses :class:`GsepconvError`; its
message says which file or option is wrong and what to do. Subclasses also derive from the
built-in type a caller would expect (``ValueError``, ``FileNotFoundError``, ``RuntimeError`` …),
so the Python API raises those. The command line prints such an error as one ``error:`` paragraph
and exits with :attr:`GsepconvError.exit_code`, chosen by type, never by module or name.
"""

from __future__ import annotations

__all__ = ["GsepconvError"]


class GsepconvError(Exception):
    """Base class of gsepconv's errors; ``exit_code`` is the command line's exit status for it."""

    exit_code: int = 2
