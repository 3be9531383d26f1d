"""``gsepconv data`` sub-command: ``prepare NAME...`` and ``list``.

Wire it with ``gsepconv.data.command_line.register(subparsers)``; each leaf parser sets
``func(args) -> int`` (exit code).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .catalogue import DATASET_CLASSES, dataset_class
from .dataset import SPLITS
from .exceptions import DataError
from .storage import ENV_DATA, ENV_MIRROR, check_file, data_root, mirror_root

__all__ = ["register", "cmd_prepare", "cmd_list"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``data`` (with ``prepare`` and ``list``) to an argparse ``_SubParsersAction``."""
    parser = subparsers.add_parser(
        "data",
        help="fetch/prepare datasets and show what is present",
        description=f"Datasets live in the data folder (--root, ${ENV_DATA} or ~/.cache/gsepconv); "
        f"${ENV_MIRROR} names a read-only mirror consulted before the network.",
    )
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    sub = parser.add_subparsers(dest="data_command", metavar="{prepare,list}")

    p = sub.add_parser("prepare", help="fetch, verify and cache datasets ahead of time")
    p.add_argument("names", nargs="+", metavar="NAME", help=f"dataset names or 'all' ({', '.join(DATASET_CLASSES)})")
    p.add_argument("--root", default=None, help=f"data folder (default ${ENV_DATA} or ~/.cache/gsepconv)")
    p.add_argument("--no-download", action="store_true", help="use only the data folder and the mirror")
    p.set_defaults(func=cmd_prepare)

    ls = sub.add_parser("list", help="show, per dataset, whether it is present and verified")
    ls.add_argument("--root", default=None, help=f"data folder (default ${ENV_DATA} or ~/.cache/gsepconv)")
    ls.add_argument("--no-verify", action="store_true", help="skip checksums (only look for files)")
    ls.set_defaults(func=cmd_list)
    return parser


def cmd_prepare(args: argparse.Namespace) -> int:
    """Prepare each named dataset; exit code 2 (an ``error:`` message per failed dataset) if any
    failed or a name is unknown."""
    names = list(DATASET_CLASSES) if "all" in args.names else list(args.names)
    try:
        classes = [dataset_class(n) for n in names]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = data_root(args.root)
    failed = 0
    for cls in classes:
        try:
            manifest = cls.prepare(root, download=not args.no_download)
        except DataError as exc:
            failed += 1
            print(f"error: {cls.name} could not be prepared: {exc}", file=sys.stderr)
            continue
        sizes = "/".join(str(manifest["split_sizes"][s]) for s in SPLITS)
        print(f"{cls.name}: ready ({sizes} train/val/test) in {cls.cache_dir(root)} sha256 {manifest['digest']}")
    return 2 if failed else 0


def cmd_list(args: argparse.Namespace) -> int:
    """Print one line per dataset and one per source file: status and folder. Always exit 0."""
    root = data_root(args.root)
    mirror = mirror_root()
    print(f"data folder: {root}")
    print(f"mirror:      {mirror if mirror else f'(none: ${ENV_MIRROR} unset or not a folder)'}")
    for name, cls in DATASET_CLASSES.items():
        if args.no_verify:
            ready = cls.read_manifest(root) is not None
            state = "cached" if ready else "missing"
        else:
            state = "ready (verified)" if cls.verify_cache(root) else "not prepared"
        print(f"{name:18s} {state:18s} {cls.cache_dir(root)}")
        for res in cls.resources:
            local = root / res.relpath
            if local.is_file():
                if args.no_verify:
                    where = "present"
                elif not (res.md5 or res.sha256 or res.size is not None):
                    where = "present (no file checksum; its contents are checked when built)"
                else:
                    bad = check_file(local, res)
                    where = "present, verified" if bad is None else f"present, BAD ({bad})"
            elif mirror is not None and (mirror / res.relpath).is_file():
                where = "in mirror"
            else:
                where = "missing"
            print(f"    {res.relpath:48s} {where}")
    return 0
