"""What the sub-commands share: the parser class with gsepconv's error format, the argument types
that turn a flag's text into a value (each failure names what it expected), and the folder options.

``yaml`` is imported where ``--set`` is parsed, not here: ``gsepconv --version`` imports nothing
beyond the version (``tests/test_imports.py``).
"""

from __future__ import annotations

import argparse
from typing import Any


class Parser(argparse.ArgumentParser):
    """argparse with gsepconv's error format: one ``error:`` paragraph naming the option and
    pointing at ``--help`` (no usage block), exit status 2. Sub-command parsers are this class too."""

    def error(self, message: str) -> Any:  # noqa: D102 - argparse's hook
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def int_or_pair(text: str) -> int | tuple[int, int]:
    """``8`` or ``16x3`` (also ``16,3``): the number of group elements, a pair for Sim2."""
    parts = text.replace("x", ",").split(",")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or NROTxNSCALE (e.g. 8 or 16x3), got {text!r}") from None
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return (values[0], values[1])
    raise argparse.ArgumentTypeError(f"expected N or NROTxNSCALE, got {text!r}")


def integer(text: str) -> int:
    """A whole number (``1e8`` is refused rather than read as a float)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer (a whole number such as 1000), got {text!r}") from None


def int_tuple(text: str) -> tuple[int, ...]:
    """Comma-separated integers such as ``32,32,64`` (no empty item)."""
    parts = text.split(",")
    try:
        if not all(p.strip() for p in parts):
            raise ValueError
        return tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers without empty items (e.g. 32,32,64), got {text!r}"
        ) from None


def key_value(text: str) -> tuple[str, Any]:
    """``--set KEY=VALUE``: a dotted config key and its value read as YAML."""
    import yaml  # here, not at the top: see the module docstring

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. model.kernel_options.omega_0=30), got {text!r}")
    key, value = (part.strip() for part in text.split("=", 1))
    if not key:
        raise argparse.ArgumentTypeError(
            f"--set needs a key before '=' (e.g. model.kernel_options.omega_0=30), got {text!r}"
        )
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or type(err).__name__
        raise argparse.ArgumentTypeError(
            f"--set {key}: {value!r} is not a valid YAML value ({problem}); "
            f"close the brackets (e.g. {key}=[32,32,64]) or quote the text"
        ) from None


def device_list(text: str) -> list[str]:
    """A comma-separated list of devices such as ``cuda:0,cuda:1``."""
    found = [d.strip() for d in text.split(",") if d.strip()]
    if not found:
        raise argparse.ArgumentTypeError("expected a comma-separated list such as cuda:0,cuda:1")
    return found


def add_folders(p: argparse.ArgumentParser, runs: bool = True, results: bool = True) -> None:
    """``--runs`` and/or ``--results``: the base folders of run folders and of result tables."""
    if runs:
        p.add_argument("--runs", metavar="DIR", help="base folder of run folders (default: $GSEPCONV_RUNS or ./runs)")
    if results:
        p.add_argument(
            "--results", metavar="DIR", help="base folder of result tables (default: $GSEPCONV_RESULTS or ./results)"
        )
