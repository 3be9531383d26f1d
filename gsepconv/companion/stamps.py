"""What ties an executed notebook to its sources and to where it is published: provenance
stamps, Colab links and badges, and the offline MathJax of the book.

* Stamps: a small JSON file beside each executed notebook records what it was executed from (the
  notebook source, the parameters, the gsepconv package sources and the result tables under
  ``results/<profile>/``, the derived ``figures/`` and ``tables/`` excluded), so that a notebook
  whose stamp still matches is not executed again.
* Colab: ``_config.yml``'s ``repository`` is the one source of the repository's URL and branch;
  :func:`colab_url` and :func:`install_spec` derive from it what the book's badges and the
  published notebooks' setup cell point to, and :func:`load_notebook` reads a chapter with its
  badge.
* MathJax: the book typesets its math with the MathJax that ``npm ci`` installs, copied into the
  book's static folder, never from a CDN.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from gsepconv.companion.notebooks import NOTEBOOK_DIR, MissingDependency, Notebook, ReproduceError, UsageError
from gsepconv.experiments.folders import ROOT_MARKER

__all__ = [
    "repository",
    "colab_url",
    "install_spec",
    "load_notebook",
    "add_colab_badge",
    "package_digest",
    "results_digest",
    "stamp_record",
    "stamp_path",
    "unchanged_stamp",
    "mathjax_source",
    "prepare_mathjax",
]

#: folders of ``results/<profile>/`` that are drawn from the tables, not inputs of the notebooks
DERIVED_RESULTS = ("figures", "tables")
STAMP_DIR = ".stamps"
STAMP_VERSION = 1
COLAB = "https://colab.research.google.com"
COLAB_BADGE_REMOTE = f"{COLAB}/assets/colab-badge.svg"
COLAB_BADGE_LOCAL = "../book/_static/colab-badge.svg"  # relative to notebooks/; the book stays offline
BADGE_MARK = "<!-- colab-badge -->"


# ----------------------------------------------------------------------------- repository
def _read_config(root: Path) -> dict[str, Any]:
    path = Path(root) / ROOT_MARKER
    if not path.is_file():
        raise UsageError(f"{path} not found: run from the gsepconv repository (the folder holding {ROOT_MARKER})")
    return yaml.safe_load(path.read_text()) or {}


def repository(root: str | Path) -> dict[str, str]:
    """``_config.yml``'s ``repository`` (``url``, ``branch``, ``path_to_book``): the one source of
    the repository's URL and of the branch the launch buttons open."""
    repo = dict(_read_config(Path(root)).get("repository") or {})
    if not repo.get("url"):
        raise ReproduceError(f"{Path(root) / ROOT_MARKER} has no repository.url")
    repo["url"] = str(repo["url"]).rstrip("/")
    repo.setdefault("branch", "main")
    repo["path_to_book"] = str(repo.get("path_to_book") or "").strip("/")
    return repo


def colab_url(root: str | Path, notebook: str) -> str:
    """The Colab address of ``notebooks/<notebook>.ipynb`` on the published branch (the same
    address sphinx-book-theme's launch button uses)."""
    repo = repository(root)
    match = re.match(r"^https://github\.com/([^/]+)/([^/]+?)(\.git)?$", repo["url"])
    if not match:
        raise ReproduceError(f"repository.url {repo['url']!r} is not a GitHub repository; Colab cannot open it")
    prefix = f"{repo['path_to_book']}/" if repo["path_to_book"] else ""
    return (
        f"{COLAB}/github/{match.group(1)}/{match.group(2)}/blob/{repo['branch']}/"
        f"{prefix}{NOTEBOOK_DIR}/{notebook}.ipynb"
    )


def install_spec(root: str | Path, ref: str = "main") -> str:
    """What the notebooks' setup cell installs on Colab: ``gsepconv @ git+<url>@<ref>`` (the
    sources say ``main``; the published notebooks pin the commit they were published from)."""
    return f"gsepconv @ git+{repository(root)['url']}@{ref}"


def load_notebook(path: str | Path, root: str | Path, badge: str | None = "local") -> Any:
    """``path`` (Jupytext percent) as a notebook node, with a Colab badge after the first heading of
    its first markdown cell: ``badge="local"`` draws it from the book's static folder (the website
    stays offline), ``"remote"`` from Colab (the published notebooks), ``None``: no badge."""
    import jupytext

    nb = jupytext.read(str(path))
    for i, cell in enumerate(nb.cells):  # stable ids: the same source gives the same file
        if "id" in cell:
            cell["id"] = hashlib.sha256(f"{i}\0{cell.source}".encode()).hexdigest()[:12]
    if badge is not None:
        add_colab_badge(
            nb, colab_url(root, Path(path).stem), COLAB_BADGE_LOCAL if badge == "local" else COLAB_BADGE_REMOTE
        )
    return nb


def add_colab_badge(nb: Any, url: str, image: str) -> None:
    """Put ``[![Open in Colab](image)](url)`` after the first heading of the first markdown cell
    (or first in it); an earlier badge of this function is replaced."""
    badge = f"[![Open in Colab]({image})]({url}) {BADGE_MARK}"
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = [ln for ln in cell.source.splitlines() if BADGE_MARK not in ln]
        at = 1 if lines and lines[0].lstrip().startswith("#") else 0
        cell.source = "\n".join(lines[:at] + ["", badge, ""] + lines[at:]).strip("\n")
        return
    import nbformat

    nb.cells.insert(0, nbformat.v4.new_markdown_cell(badge))


# ---------------------------------------------------------------------------------- stamps
def _digest(items: Iterator[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    for name, data in items:
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def package_digest() -> str:
    """Hash of the gsepconv package sources (every ``.py``) that the notebooks import."""
    package = Path(__file__).resolve().parents[1]
    files = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    return _digest((str(p.relative_to(package)), p.read_bytes()) for p in files)


def results_digest(results: Path, profile: str) -> str:
    """Hash of the tables under ``<results>/<profile>/`` (CSV, any depth), the derived
    ``figures/`` and ``tables/`` excluded."""
    folder = Path(results) / profile
    files = (
        sorted(p for p in folder.rglob("*.csv") if p.relative_to(folder).parts[0] not in DERIVED_RESULTS)
        if folder.is_dir()
        else []
    )
    return _digest((str(p.relative_to(folder)), p.read_bytes()) for p in files)


def stamp_record(nb: Notebook, parameters: dict[str, Any], results: Path, package: str) -> dict[str, Any]:
    """The stamp of executing ``nb`` with ``parameters`` against the tables under ``results`` and
    the package sources of digest ``package`` (:func:`package_digest`)."""
    return {
        "version": STAMP_VERSION,
        "notebook": nb.name,
        "source": hashlib.sha256(nb.path.read_bytes()).hexdigest(),
        "parameters": parameters,
        "results": str(results),
        "package": package,
        "inputs": results_digest(results, parameters["profile"]),
    }


def stamp_path(out_dir: Path, nb: Notebook) -> Path:
    """Where the stamp of ``nb``'s executed copy in ``out_dir`` is kept."""
    return out_dir / STAMP_DIR / f"{nb.name}.json"


def unchanged_stamp(out_dir: Path, nb: Notebook, stamp: dict[str, Any]) -> dict[str, Any] | None:
    """The stamp kept for ``nb``'s executed copy in ``out_dir`` when it matches ``stamp`` (its
    time aside) and the copy exists, so that executing it again would change nothing; else ``None``."""
    path = stamp_path(out_dir, nb)
    if not (out_dir / f"{nb.name}.ipynb").is_file() or not path.is_file():
        return None
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    same = {k: v for k, v in old.items() if k not in ("finished", "seconds")} == stamp
    return old if same else None


# --------------------------------------------------------------------------------- mathjax
def mathjax_source(root: str | Path) -> Path:
    """MathJax's ``es5/`` folder: ``$GSEPCONV_MATHJAX``, else ``<root>/node_modules/mathjax/es5``."""
    return Path(os.environ.get("GSEPCONV_MATHJAX") or Path(root) / "node_modules" / "mathjax" / "es5")


def prepare_mathjax(root: str | Path, book: str | Path | None = None) -> Path:
    """Copy MathJax (installed by ``npm ci``) to ``<book>/book/_static/mathjax`` (git-ignored), so
    the website typesets math with no network. Raises :class:`MissingDependency` without it."""
    src = mathjax_source(root)
    if not (src / "tex-chtml.js").is_file():
        raise MissingDependency(
            f"MathJax is not installed ({src / 'tex-chtml.js'} is missing): run `npm ci` in {Path(root).resolve()} "
            f"(`make book` does); the book must typeset its math offline, so it is not loaded from a CDN"
        )
    dest = Path(book or root) / "book" / "_static" / "mathjax"
    version = (src.parent / "package.json").read_text() if (src.parent / "package.json").is_file() else ""
    marker = dest / ".source"
    if not (dest / "tex-chtml.js").is_file() or not marker.is_file() or marker.read_text() != version:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(src, dest)
        marker.write_text(version)
    return dest
