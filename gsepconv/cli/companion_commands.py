"""The companion's sub-commands, from :mod:`gsepconv.companion`: ``reproduce`` (the notebooks, then
the book), ``figures`` (every figure and table from the CSVs) and ``publish-notebooks`` (the
``.ipynb`` files Colab opens).

Each ``cmd_*`` handler imports what it calls inside the function: those modules import torch and
matplotlib (seconds), and importing the command line (``gsepconv --version``) must not.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .arguments import add_folders


def add_companion_commands(sub: Any) -> None:
    """``reproduce``, ``figures`` and ``publish-notebooks`` (the book and its notebooks)."""
    for add in (_add_reproduce, _add_figures, _add_publish_notebooks):
        add(sub)


# ---------------------------------------------------------------------------- the parsers
def _add_reproduce(sub: Any) -> None:
    """``reproduce``: the notebooks with papermill, then the book."""
    p = sub.add_parser(
        "reproduce",
        help="run the notebooks with papermill, then build the book strictly",
        description="Execute notebooks/NN_name.py in order with papermill (parameters profile, device, "
        "train injected) into notebooks/NN_name.ipynb, skipping notebooks whose source, "
        "parameters and input tables did not change, then build the book with "
        "`jupyter-book build -W -n --keep-going .` (any warning fails). train=auto reuses "
        "results/<profile>/, always reruns every experiment (runs in "
        "runs/reproduce-<commit>/, so an interrupted reproduction resumes), never fails "
        "when a table is missing.",
        epilog="examples:\n  gsepconv reproduce --profile quick                   (make book)\n"
        "  gsepconv reproduce --profile quick --train always     (make reproduce)\n"
        "  gsepconv reproduce --profile paper --device cuda --train always\n"
        "  gsepconv reproduce --profile smoke --notebooks 03,05 --no-book --out /tmp/nb",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--profile", default="quick", help="smoke, quick (default) or paper")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--train", default="auto", help="auto (default), always or never")
    p.add_argument("--notebooks", metavar="LIST", help="only these notebooks, e.g. 03,05 or 05_rotated_mnist")
    p.add_argument("--no-book", dest="book", action="store_false", help="run the notebooks, do not build the book")
    p.add_argument("--force", action="store_true", help="rerun notebooks even if nothing changed")
    add_folders(p, runs=False)
    p.add_argument(
        "--runs",
        metavar="DIR",
        help="base folder of training runs (default: $GSEPCONV_RUNS, runs/reproduce-<commit> with "
        "--train always, else ./runs)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write executed notebooks to DIR/notebooks and build a copy of the book in DIR/_build/html",
    )
    p.set_defaults(func=cmd_reproduce)


def _add_figures(sub: Any) -> None:
    """``figures``: every figure and table redrawn from the result CSVs."""
    p = sub.add_parser(
        "figures",
        help="redraw every figure and table from results/<profile>/ CSVs (no training)",
        description="Redraw every figure (PNG and SVG, results/<profile>/figures/) and summary "
        "table (results/<profile>/tables/) from the result CSVs in seconds.",
    )
    p.add_argument("--profile", default="quick", help="smoke, quick (default) or paper")
    add_folders(p, runs=False)
    p.set_defaults(func=cmd_figures)


def _add_publish_notebooks(sub: Any) -> None:
    """``publish-notebooks``: the ``.ipynb`` files Colab opens, committed to a branch."""
    p = sub.add_parser(
        "publish-notebooks",
        help="publish the .ipynb notebooks Colab opens to a git branch",
        description="Generate notebooks/NN_name.ipynb from the Jupytext sources (with a Colab "
        "badge) and commit them to the branch named by repository.branch in "
        "_config.yml of REMOTE; push. No commit when nothing changed.",
    )
    p.add_argument(
        "--remote", help="git remote URL or path (e.g. an authenticated GitHub URL); required unless --export"
    )
    p.add_argument("--branch", help="branch to publish to (default: repository.branch of _config.yml)")
    p.add_argument("--message", help="commit message (default: notebooks from <commit>)")
    p.add_argument("--export", metavar="DIR", help="only write the branch's files to DIR; no git")
    p.set_defaults(func=cmd_publish_notebooks)


# --------------------------------------------------------------------------- the handlers
def cmd_reproduce(args: argparse.Namespace) -> int:
    from gsepconv.companion.reproduce import reproduce

    reproduce(
        args.profile,
        args.device,
        args.train,
        notebooks=args.notebooks,
        book=args.book,
        results=args.results,
        out=args.out,
        runs=args.runs,
        force=args.force,
        log=lambda m: print(m, flush=True),
    )
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from gsepconv.companion.reproduce import figures

    figures(args.profile, results=args.results)
    return 0


def cmd_publish_notebooks(args: argparse.Namespace) -> int:
    from gsepconv.companion.publish import export_notebooks, publish_notebooks
    from gsepconv.experiments.folders import repo_root

    root = repo_root()
    if not args.export and not args.remote:
        print(
            "error: give --remote URL (publish to its branch) or --export DIR (write the files only)", file=sys.stderr
        )
        return 2
    if args.export:
        print(f"wrote {len(export_notebooks(root, args.export))} notebooks to {args.export}")
    else:
        publish_notebooks(root, args.remote, branch=args.branch, message=args.message)
    return 0
