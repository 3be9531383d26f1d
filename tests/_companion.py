"""Helpers of the companion tests: throwaway books and notebooks, MathJax, and the smoke book
(every real notebook under papermill with ``profile="smoke"``, then a strict build of a copy of the
book), built once per test session and shared by test_book_pipeline.py and test_browser.py."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = bool(os.environ.get("CI"))

HEADER = """# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""

PARAMETERS = """
# %% tags=["parameters"]
profile = "quick"
device = "cpu"
train = "auto"
"""


def notebook_text(title: str, *cells: str) -> str:
    """A Jupytext percent notebook: header, a markdown title cell, the parameters cell, ``cells``."""
    body = f"\n# %% [markdown]\n# # {title}\n#\n# Some math: $e^{{i\\pi}} = -1$.\n{PARAMETERS}"
    return HEADER + body + "".join(f"\n# %%\n{c.strip()}\n" for c in cells)


def require(condition: bool, what: str) -> None:
    """Skip locally, fail in CI (``$CI`` set): a missing tool must not hide a test there."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} (CI must have it: .ci/run installs it)")
    pytest.skip(what)


def mathjax_dir() -> Path:
    path = REPO / "node_modules" / "mathjax" / "es5"
    require((path / "tex-chtml.js").is_file(), f"MathJax not installed in {path}: run `npm ci` (make test does)")
    return path


def make_book(root: Path, notebooks: dict[str, str], pages: dict[str, str] | None = None) -> Path:
    """A throwaway repository root: the real ``_config.yml`` and book support files, a ``_toc.yml``
    listing ``book/intro`` and the ``notebooks`` (name -> percent text), plus ``pages``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "_config.yml", root / "_config.yml")
    (root / "book").mkdir(exist_ok=True)
    for name in ("references.bib", "bibliography.md"):
        shutil.copy2(REPO / "book" / name, root / "book" / name)
    for folder in ("_static", "_ext"):
        shutil.copytree(
            REPO / "book" / folder,
            root / "book" / folder,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("mathjax", "__pycache__"),
        )
    (root / "book" / "intro.md").write_text(
        "# A throwaway book\n\nIt cites {cite:p}`knigge2022exploiting` and typesets $x^2$.\n\n"
        "```{tableofcontents}\n```\n"
    )
    (root / "notebooks").mkdir(exist_ok=True)
    for name, text in notebooks.items():
        (root / "notebooks" / f"{name}.py").write_text(text)
    chapters = [f"notebooks/{n}" for n in notebooks] + [f"book/{p}" for p in (pages or {})] + ["book/bibliography"]
    for name, text in (pages or {}).items():
        (root / "book" / f"{name}.md").write_text(text)
    toc = "format: jb-book\nroot: book/intro\nchapters:\n" + "".join(f"  - file: {c}\n" for c in chapters)
    (root / "_toc.yml").write_text(toc)
    return root


# ------------------------------------------------------------------------- the smoke book
_SMOKE: dict[str, Any] = {}


def smoke_book() -> dict[str, Any]:
    """Run every notebook of the repository with ``profile="smoke"`` (results, runs and executed
    notebooks in a temporary folder) and build a copy of the book strictly; once per session.
    Returns ``{"out", "html", "results", "outcomes", "seconds", "error"}``; ``error`` is the
    exception when the pipeline failed (each test that needs the book then fails with it)."""
    if _SMOKE:
        return _SMOKE
    from gsepconv.companion.reproduce import reproduce

    tmp = Path(tempfile.mkdtemp(prefix="gsepconv-smoke-book-"))
    atexit.register(shutil.rmtree, tmp, True)
    env = {"GSEPCONV_MATHJAX": str(mathjax_dir())}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    lines: list[str] = []
    start = time.perf_counter()
    try:
        result = reproduce(
            "smoke",
            "cpu",
            "auto",
            out=tmp / "book",
            results=tmp / "results",
            runs=tmp / "runs",
            root=REPO,
            log=lines.append,
        )
        _SMOKE.update(
            out=tmp / "book", html=result["html"], results=tmp / "results", outcomes=result["notebooks"], error=None
        )
    except Exception as err:  # reported by every test that needs the book
        _SMOKE.update(out=tmp / "book", html=None, results=tmp / "results", outcomes=[], error=err)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    _SMOKE.update(seconds=time.perf_counter() - start, log=lines)
    return _SMOKE


def git_status(paths: list[str]) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
