"""The parser of every sub-command and :func:`main`, which runs one and maps its errors to an exit
status and one ``error:`` paragraph.

``RunFailed`` is imported when a command runs, not at the top: :mod:`gsepconv.experiments.runner`
imports torch (seconds), and ``gsepconv --version`` answers without it (``tests/test_imports.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from gsepconv.errors import GsepconvError
from gsepconv.version import __version__

from .arguments import Parser
from .attached_commands import add_attached_commands
from .companion_commands import add_companion_commands
from .training_commands import add_training_commands

EPILOG = """\
examples:
  gsepconv list                                     experiments and profiles
  gsepconv run mnist_rot --profile smoke            the rotated-MNIST grid in seconds (pipeline check)
  gsepconv run mnist_rot --profile quick --dry-run  list the runs of the CPU profile
  gsepconv run mnist_rot --profile quick            train them (finished runs are reused)
  gsepconv run mnist_rot --profile paper --devices cuda:0,cuda:1
  gsepconv results mnist_rot --profile quick        mean ± std over seeds
  gsepconv train --group SE2 --implementation separable --num-elements 8 --epochs 300
  gsepconv train --config my_run.yaml --set model.kernel_options.omega_0=30
  torchrun --nproc_per_node 2 -m gsepconv train --config my_run.yaml
  gsepconv data prepare mnist_rot_seeded cifar10_subset
  gsepconv bench --profile quick
  gsepconv equivariance --profile quick           exact and measured equivariance errors
  gsepconv reproduce --profile quick                notebooks (reusing results/quick), then the book
  gsepconv reproduce --profile paper --device cuda --train always
  gsepconv figures --profile quick                  redraw every figure and table from the CSVs

folders: runs go to $GSEPCONV_RUNS (default ./runs), result tables to $GSEPCONV_RESULTS (default
./results), datasets to $GSEPCONV_DATA (default ~/.cache/gsepconv); an offline copy of the data
is read from $GSEPCONV_MIRROR. An interrupted run resumes when you repeat the command.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``data`` and ``bench`` are attached if their modules import)."""
    parser = Parser(
        prog="gsepconv",
        description="Separable group convolutional networks on Lie groups (Knigge, Romero & Bekkers, "
        "ICML 2022): train models, run the paper's experiments, read their results.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_training_commands(sub)
    # data, bench, compare and equivariance, owned by other modules: attach what imports, explain what does not
    add_attached_commands(sub)
    add_companion_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failed runs or a file that could not be
    written, 2 usage/config/data error, 130 interrupted). Errors are mapped by type: a
    :class:`~gsepconv.errors.GsepconvError` exits with its ``exit_code``; ``ValueError`` and
    ``FileNotFoundError`` (the API's documented errors for bad arguments) with 2.
    Every failure is one ``error:`` paragraph on stderr, never a traceback of these; argparse's
    own usage errors (and ``--help``) end with ``SystemExit`` as usual."""
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:  # without building the parser (torch)
        print(f"gsepconv {__version__}")
        return 0
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_anything", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.version:
        print(f"gsepconv {__version__}")
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_command(args.func, args)


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``func(args)``'s exit status, its errors mapped to a status and an ``error:`` paragraph
    (see :func:`main`)."""
    from gsepconv.experiments.runner import RunFailed  # here, not at the top: see the module docstring

    try:
        return int(func(args) or 0)
    except RunFailed as err:
        print(f"error: {err}\nfix the cause and repeat the command: finished runs are reused", file=sys.stderr)
        return err.exit_code
    except GsepconvError as err:  # gsepconv's own errors: the message says which file or option, and the fix
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted: repeat the same command to resume from the last finished epoch", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `gsepconv results … | head`: the reader has what it wanted
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so that flushing at exit does not raise again
        except (OSError, ValueError):
            pass
        return 0
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. a table that could not be written (write_table says where it went)
        print(f"error: {err}", file=sys.stderr)
        return 1
