"""Build the book strictly: ``jupyter-book build -W -n --keep-going``, where any warning fails.

The book's sources (``_config.yml``, ``_toc.yml``, ``book/``) and the executed notebooks are built
as they are in the repository, or as a staged copy (:func:`stage_book`) that holds other result
tables. Before Sphinx starts, the build checks that the Jupyter Book 1 stack is installed
(:func:`check_book_stack`), copies MathJax into the book
(:func:`~gsepconv.companion.stamps.prepare_mathjax`) and names any page of the table of contents
that does not exist yet, such as a notebook that was never executed. The build's output is
searched for warnings and errors, which :class:`~gsepconv.companion.notebooks.BookBuildFailed`
lists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from gsepconv.companion.notebooks import (
    INSTALL_HINT,
    NOTEBOOK_DIR,
    BookBuildFailed,
    Log,
    MissingDependency,
    require_modules,
)
from gsepconv.companion.stamps import prepare_mathjax

__all__ = ["stage_book", "check_book_stack", "build_book"]

#: book files staged with ``out`` (the executed notebooks are written there too)
BOOK_FILES = ("_config.yml", "_toc.yml", "book")
#: the book stack: (import name, distribution)
BOOK_DEPS = (
    ("jupyter_book", "jupyter-book"),
    ("sphinx_book_theme", "sphinx-book-theme"),
    ("myst_nb", "myst-nb"),
    ("sphinxcontrib.bibtex", "sphinxcontrib-bibtex"),
)


def stage_book(root: str | Path, dest: str | Path, results: str | Path | None = None) -> Path:
    """Copy the book's sources (``_config.yml``, ``_toc.yml``, ``book/``) and the result tables
    (``<root>/results``, then ``results`` over it) to ``dest``; the executed notebooks are written
    to ``dest/notebooks`` by :func:`run_notebooks`. Returns ``dest``."""
    root, dest = Path(root), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in BOOK_FILES:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("mathjax"))
        else:
            shutil.copy2(src, dest / name)
    sources = [root / "results"] + ([Path(results)] if results else [])
    for src in sources:
        if src.is_dir() and src.resolve() != (dest / "results").resolve():
            shutil.copytree(src, dest / "results", dirs_exist_ok=True)
    (dest / NOTEBOOK_DIR).mkdir(exist_ok=True)
    return dest


def check_book_stack() -> None:
    """Jupyter Book **1** and its extensions, or :class:`MissingDependency` saying what to install."""
    require_modules(BOOK_DEPS, "building the book")
    version = metadata.version("jupyter-book")
    if not version.startswith("1."):
        raise MissingDependency(
            f"jupyter-book {version} is installed, but this book is a Jupyter Book 1 project "
            f"(2.x builds nothing from _config.yml/_toc.yml); {INSTALL_HINT}"
        )


def build_book(book: str | Path, root: str | Path | None = None, log: Log = print) -> Path:
    """``jupyter-book build -W -n --keep-going <book>``: any warning fails the build
    (:class:`BookBuildFailed`). Returns ``<book>/_build/html``."""
    book = Path(book).resolve()
    check_book_stack()
    prepare_mathjax(root or book, book)
    missing = _missing_chapters(book)
    if missing:
        raise BookBuildFailed(
            f"the book's table of contents names pages that do not exist: {', '.join(missing)} "
            f"(run the notebooks first: gsepconv reproduce --no-book …)"
        )
    command = [
        sys.executable,
        "-c",
        "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
        "build",
        "-W",
        "-n",
        "--keep-going",
        str(book),
    ]
    log(f"book: jupyter-book build -W -n --keep-going {book}")
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=book, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    problems = _problems(text)
    html = book / "_build" / "html"
    if proc.returncode != 0 or problems or not (html / "index.html").is_file():
        shown = "\n".join(problems[:40]) or text[-4000:]
        raise BookBuildFailed(
            f"the strict book build failed (exit {proc.returncode}, {len(problems)} warnings/errors):\n"
            f"{shown}\nrebuild with: jupyter-book build -W -n --keep-going {book}"
        )
    log(f"book: built {html} in {time.perf_counter() - start:.1f} s")
    return html


def _problems(text: str) -> list[str]:
    """The warnings and errors in a build's output, each with the lines that go on with it."""
    lines = text.splitlines()
    marks = [i for i, ln in enumerate(lines) if re.search(r"(WARNING|ERROR|CRITICAL|SEVERE):", ln)]
    problems = []
    for i in marks:  # a message may go on over the next lines (docutils: path, directive text)
        more = []
        for ln in lines[i + 1 : i + 3]:
            if not ln.strip() or re.search(r"(WARNING|ERROR|CRITICAL|SEVERE):|\.\.\.", ln):
                break
            more.append(ln)
        problems.append("\n".join([lines[i], *more]))
    return problems


def _missing_chapters(book: Path) -> list[str]:
    toc = yaml.safe_load((book / "_toc.yml").read_text())
    files: list[str] = [toc["root"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in toc.items() if k != "root"})
    exts = (".md", ".ipynb", ".rst")
    return [f for f in files if not any((book / f"{f}{e}").is_file() for e in exts)]
