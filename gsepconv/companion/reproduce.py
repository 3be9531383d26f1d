"""Reproduce the companion: run its notebooks in order with papermill, then build the book strictly.

``gsepconv reproduce`` (``make book``, ``make reproduce``) and ``gsepconv figures`` (``make figures``)
are thin wrappers over :func:`reproduce` and :func:`figures`. This module is the driver; the steps
it drives live beside it:

* :mod:`gsepconv.companion.notebooks`: finding and selecting the chapters, checking the choices,
  and the errors a reproduction stops with;
* :mod:`gsepconv.companion.stamps`: loading a chapter with its Colab badge, the provenance stamps
  that let an unchanged chapter be skipped, and the offline MathJax;
* :mod:`gsepconv.companion.execute`: executing the chapters with papermill;
* :mod:`gsepconv.companion.book`: the strict book build, ``jupyter-book build -W -n
  --keep-going``, where any warning fails.

The names of those steps that callers use are importable from here as well, so that a caller needs
one import for a whole reproduction.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gsepconv.companion.book import build_book, check_book_stack, stage_book
from gsepconv.companion.committed import read_manifest, write_manifest
from gsepconv.companion.execute import Outcome, run_notebooks
from gsepconv.companion.notebooks import (
    NOTEBOOK_DIR,
    BookBuildFailed,
    Log,
    MissingDependency,
    Notebook,
    NotebookFailed,
    ReproduceError,
    UsageError,
    check_choices,
    find_notebooks,
    select_notebooks,
)
from gsepconv.companion.stamps import (
    colab_url,
    install_spec,
    load_notebook,
    mathjax_source,
    prepare_mathjax,
    repository,
)
from gsepconv.experiments.folders import ROOT_MARKER, repo_root
from gsepconv.experiments.io import MANIFEST_IN_PACKAGE
from gsepconv.experiments.ondemand import MissingResults
from gsepconv.experiments.planning import default_devices
from gsepconv.experiments.profiles import PROFILES
from gsepconv.experiments.runner import train_profile

__all__ = [
    "ReproduceError",
    "UsageError",
    "MissingDependency",
    "NotebookFailed",
    "BookBuildFailed",
    "Notebook",
    "Outcome",
    "find_notebooks",
    "select_notebooks",
    "check_choices",
    "repository",
    "colab_url",
    "install_spec",
    "load_notebook",
    "run_notebooks",
    "stage_book",
    "prepare_mathjax",
    "build_book",
    "reproduce",
    "figures",
    "runs_for_commit",
]

#: the profile whose tables and figures the book's results page shows (book/results.md)
BOOK_PROFILE = "quick"
RESULTS_PAGE = "book/results.md"


def runs_for_commit(root: str | Path) -> Path:
    """``<root>/runs/reproduce-<short commit>[-dirty]``: a reproduction resumes within a commit and
    retrains for a new one."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "gsepconv", f":(exclude)gsepconv/{MANIFEST_IN_PACKAGE}"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "nogit", ""
    return Path(root) / "runs" / f"reproduce-{commit}{'-dirty' if dirty else ''}"


def pretrain(profile: str, device: str, runs: str | Path, log: Log = print) -> None:
    """Before a whole ``train="always"`` reproduction: train every run of ``profile`` into the
    runs folder the notebooks will use, as one longest-first pool
    (:func:`gsepconv.experiments.runner.train_profile`), when the profile trains on several
    workers; the notebooks then find each run finished and only write its table. On one device
    this changes nothing (the notebooks train the same runs in the same time), so it is skipped.
    Failed runs are left for the notebook that needs them to report."""
    devices = default_devices(profile, device)
    if not devices or len(devices) < 2:
        return
    start = time.perf_counter()
    done = train_profile(profile, device=device, devices=devices, runs=runs, log=log)
    log(
        f"trained {done['runs']} run(s) of profile {profile} in {time.perf_counter() - start:.0f} s"
        + (f"; {done['failed']} failed (their notebook reports them)" if done["failed"] else "")
    )


def reproduce(
    profile: str = "quick",
    device: str = "cpu",
    train: str = "auto",
    *,
    notebooks: str | Sequence[str] | None = None,
    book: bool = True,
    results: str | Path | None = None,
    out: str | Path | None = None,
    runs: str | Path | None = None,
    force: bool = False,
    root: str | Path | None = None,
    log: Log = print,
) -> dict[str, Any]:
    """The whole pipeline: run the (selected) notebooks, redraw the results page's figures and
    tables (profile :data:`BOOK_PROFILE`) from their CSVs, then build the book strictly.

    ``out``: write executed notebooks to ``<out>/notebooks`` and build a staged copy of the book
    in ``out`` (``<out>/_build/html``) instead of the repository's ``_build/html``. With
    ``train="always"`` and no runs folder given, runs go to :func:`runs_for_commit`; with
    ``train="always"`` and every notebook chosen, every run of the profile is trained first as
    one pool (:func:`pretrain`).
    Returns ``{"notebooks": [Outcome], "html": Path | None, "seconds": float}``."""
    start = time.perf_counter()
    root = Path(root).resolve() if root else repo_root()
    chosen = _chosen_notebooks(root, profile, device, train, notebooks, book)
    results = results or os.environ.get("GSEPCONV_RESULTS") or None
    if runs is None and not os.environ.get("GSEPCONV_RUNS") and train == "always":
        runs = runs_for_commit(root)
    book_root = root
    out_path = Path(out).resolve() if out else None
    if book and out_path is None and results and Path(results).resolve() != (root / "results").resolve():
        raise UsageError(
            f"the book reads the tables in {root / 'results'}; to build it from {results} "
            f"add --out DIR (a copy of the book with those results), or use --no-book"
        )
    if out_path is not None:
        book_root = stage_book(root, out_path, results) if book else out_path
    if train == "always" and notebooks is None:
        pretrain(profile, device, runs or os.environ.get("GSEPCONV_RUNS") or root / "runs", log=log)
    outcomes = run_notebooks(
        chosen,
        root=root,
        profile=profile,
        device=device,
        train=train,
        out_dir=(book_root / NOTEBOOK_DIR) if out_path else None,
        results=results,
        runs=runs,
        force=force,
        rerun_out=out_path,
        log=log,
    )
    refresh_manifest(root, profile, results, log)
    html = _book(root, book_root, out_path, results, log) if book else None
    seconds = time.perf_counter() - start
    ran = sum(o.status == "ran" for o in outcomes)
    log(
        f"done in {seconds:.0f} s: {ran} notebook(s) executed, {len(outcomes) - ran} unchanged"
        + (f"; book: {html / 'index.html'}" if html else "")
    )
    return {"notebooks": outcomes, "html": html, "seconds": seconds}


def _chosen_notebooks(
    root: Path, profile: str, device: str, train: str, notebooks: str | Sequence[str] | None, book: bool
) -> list[Notebook]:
    """The notebooks a reproduction runs, once its choices are checked and, when it builds the
    book, the book's stack and MathJax are found: fail before hours of notebooks, not after."""
    if not (root / ROOT_MARKER).is_file():
        raise UsageError(f"no {ROOT_MARKER} in {root}: run from the gsepconv repository")
    check_choices(profile, device, train)
    chosen = select_notebooks(find_notebooks(root), notebooks)
    if not chosen:
        raise UsageError(f"no notebooks found in {root / NOTEBOOK_DIR} (expected NN_name.py files)")
    if book:
        check_book_stack()
        if not (mathjax_source(root) / "tex-chtml.js").is_file():
            prepare_mathjax(root)  # raises MissingDependency saying how to install it
    return chosen


def _book(root: Path, book_root: Path, out_path: Path | None, results: str | Path | None, log: Log) -> Path:
    """Build the book of a reproduction (the staged copy with ``out``); returns its HTML folder."""
    if out_path is not None:
        stage_book(root, out_path, results)  # tables/figures the notebooks just wrote
    # the results page shows BOOK_PROFILE's tables and figures: redraw them from their CSVs, so
    # the book never shows a stale figure (a missing CSV stops here, naming the command)
    if (book_root / RESULTS_PAGE).is_file():
        figures(BOOK_PROFILE, results=book_root / "results", log=log)
    return build_book(book_root, root=root, log=log)


def refresh_manifest(root: Path, profile: str, results: str | Path | None, log: Log = print) -> bool:
    """After notebooks wrote the repository's own ``results/<profile>/`` of a committed profile,
    record its tables' checksums in the package's manifest (what Colab fetches and verifies;
    :mod:`gsepconv.companion.committed`). Other roots, results folders and profiles: nothing."""
    package_root = Path(__file__).resolve().parents[2]
    own = root.resolve() == package_root and Path(results or root / "results").resolve() == (root / "results").resolve()
    if not own or profile not in read_manifest():
        return False
    wrote = write_manifest(root / "results", [profile])
    if wrote:
        log(
            f"results manifest: the checksums of results/{profile}/ changed; "
            "commit gsepconv/companion/results_manifest.json "
            f"with them"
        )
    return wrote


def figures(profile: str = "quick", results: str | Path | None = None, log: Log = print) -> dict[str, Any]:
    """Redraw every figure and table of ``profile`` from its CSVs (``gsepconv.report.make_all``)."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    # gsepconv.report draws with matplotlib (the optional `plot` extra); imported here so that the
    # notebook runner works without it and a missing extra is a MissingDependency, not a traceback
    try:
        from gsepconv.report import make_all
    except ImportError as err:
        raise MissingDependency(
            f"`gsepconv figures` needs gsepconv.report.make_all, which could not be imported "
            f'({err}); update the source tree or reinstall (pip install -e ".[plot]")'
        ) from None
    try:
        report = make_all(profile, results_root=results)
    except MissingResults as err:  # report.MissingInputs: names each missing CSV and the command that makes it
        raise UsageError(f"cannot draw the figures of profile {profile!r}: {err}") from None
    n_fig, n_tab = len(report.get("figures", {})), len(report.get("tables", {}))
    log(f"figures: {n_fig} figures and {n_tab} tables of profile {profile} redrawn in {report.get('seconds', 0):.1f} s")
    for name, reason in report.get("skipped", {}).items():
        log(f"  skipped {name}: {reason}")
    return report
