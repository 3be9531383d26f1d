"""The sub-commands other packages own: ``data`` (:mod:`gsepconv.data.command_line`), ``bench``
(:mod:`gsepconv.experiments.bench`), ``compare`` (:mod:`gsepconv.experiments.compare`) and
``equivariance`` (:mod:`gsepconv.experiments.equivariance_report`). Each module's ``register(sub)``
adds its parser. The modules are imported by name while the parser is built, so that one that
fails to import leaves the rest of the command line usable: its sub-command then explains why it
is unavailable and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

#: (sub-command, module with ``register(sub)``, summary shown when the module does not import)
ATTACHED: tuple[tuple[str, str, str], ...] = (
    ("data", "gsepconv.data.command_line", "download, verify and list datasets"),
    ("bench", "gsepconv.experiments.bench", "efficiency benchmark (time and memory per step)"),
    (
        "compare",
        "gsepconv.experiments.compare",
        "train our models and the original code's side by side under one loop (fidelity.csv)",
    ),
    ("equivariance", "gsepconv.experiments.equivariance_report", "equivariance errors per group and implementation"),
)


def add_attached_commands(sub: Any) -> None:
    """Every sub-command of :data:`ATTACHED`, in that order."""
    for name, module, summary in ATTACHED:
        attach(sub, name, module, summary)


def attach(sub: Any, name: str, module: str, summary: str) -> None:
    """Let ``module`` register sub-command ``name``; if it does not import, add a stand-in that
    says so (``summary`` is its help line)."""
    try:
        importlib.import_module(module).register(sub)
    except Exception as err:  # keep the rest of the CLI usable
        reason = f"{type(err).__name__}: {err}"
        p = sub.add_parser(name, help=f"{summary} (unavailable: {module} failed to import)")

        def unavailable(args: argparse.Namespace, _reason: str = reason) -> int:
            print(
                f"error: `gsepconv {name}` is unavailable because {module} could not be imported "
                f"({_reason}); check your installation (pip install -e .) or update the source tree",
                file=sys.stderr,
            )
            return 2

        p.set_defaults(func=unavailable, accepts_anything=True)
