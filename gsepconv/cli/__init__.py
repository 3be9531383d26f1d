"""The ``gsepconv`` command line (also ``python -m gsepconv``).

Sub-commands: ``train`` (one run), ``run`` (a named experiment grid), ``results`` (its table),
``predict`` (a finished run on a split), ``list`` (experiments and profiles), ``data`` (datasets,
from :mod:`gsepconv.data.command_line`), ``bench`` (efficiency benchmark, from
:mod:`gsepconv.experiments.bench`), ``compare`` and ``equivariance`` (from
:mod:`gsepconv.experiments.compare` and :mod:`gsepconv.experiments.equivariance_report`), and the
companion's ``reproduce`` (notebooks, then the book), ``figures`` (every figure and table from the
CSVs) and ``publish-notebooks`` (the ``.ipynb`` files Colab opens), from
:mod:`gsepconv.companion.reproduce`.

Modules: ``arguments`` (the parser class, argument types, folder options), ``training_commands``
(``train`` to ``list``), ``attached_commands`` (the sub-commands other packages register),
``companion_commands`` (``reproduce``, ``figures``, ``publish-notebooks``) and ``entry_point``
(:func:`build_parser`, and :func:`main` with its mapping of errors to exit statuses).
"""

from __future__ import annotations

from .entry_point import build_parser, main

__all__ = ["main", "build_parser"]
