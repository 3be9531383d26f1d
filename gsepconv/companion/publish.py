"""The notebooks Colab and Binder open: ``.ipynb`` files generated from ``notebooks/*.py`` and
published to a branch of the repository (``repository.branch`` in ``_config.yml``, ``notebooks``).

Colab opens only ``.ipynb`` files from GitHub, at ``<repo>/blob/<branch>/notebooks/NN_name.ipynb``:
the address sphinx-book-theme's Colab/Binder buttons and each notebook's badge link to. The
text sources stay the only copy on ``main``; the workflow ``.github/workflows/book.yml`` runs
``gsepconv publish-notebooks`` on every push to ``main``.

The published branch holds ``notebooks/NN_name.ipynb`` (no outputs, a Colab badge, the setup
cell that installs gsepconv from ``main``), a ``requirements.txt`` for Binder, and a README that
says the branch is generated. A publication that changes nothing makes no commit.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from gsepconv.companion.reproduce import (
    NOTEBOOK_DIR,
    ReproduceError,
    find_notebooks,
    install_spec,
    load_notebook,
    repository,
)

__all__ = ["export_notebooks", "publish_notebooks", "PublishError"]

README = """# Generated notebooks — do not edit

This branch is written by `gsepconv publish-notebooks` (workflow `book.yml`) from the Jupytext
sources `notebooks/*.py` on `main`. Edit those; every push to `main` republishes this branch.

Open a chapter in Colab or Binder from the book's launch buttons, or from the badge at the top of
each notebook. The first (hidden) cell installs `gsepconv` from `main` when it is missing; set
`profile`, `device` and `train` in the `parameters` cell.
"""


class PublishError(ReproduceError):
    """A git step of the publication failed."""


def export_notebooks(root: str | Path, dest: str | Path) -> list[Path]:
    """Write the published branch's files into ``dest``: ``notebooks/NN_name.ipynb`` for every
    ``notebooks/NN_name.py`` of ``root`` (outputs empty, Colab badge from Colab's site),
    ``requirements.txt`` (Binder) and ``README.md``. Returns the notebook paths."""
    import nbformat

    root, dest = Path(root), Path(dest)
    folder = dest / NOTEBOOK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for nb in find_notebooks(root):
        node = load_notebook(nb.path, root, badge="remote")
        node.metadata.setdefault("colab", {"provenance": []})
        path = folder / f"{nb.name}.ipynb"
        nbformat.write(node, str(path))
        written.append(path)
    if not written:
        raise PublishError(f"no notebooks found in {root / NOTEBOOK_DIR}; nothing to publish")
    (dest / "requirements.txt").write_text(f"{install_spec(root)}\nmatplotlib\nseaborn\n")
    (dest / "README.md").write_text(README)
    return written


def _git(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PublishError(f"`git {' '.join(args)}` failed in {cwd}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout.strip()


def publish_notebooks(
    root: str | Path,
    remote: str,
    branch: str | None = None,
    message: str | None = None,
    log: Callable[[str], None] = print,
) -> str | None:
    """Generate the notebooks and commit them to ``branch`` (default: ``repository.branch``) of the
    git remote ``remote`` (a URL or path), on top of its history; push. Returns the new commit, or
    ``None`` when the branch already holds exactly these files."""
    root = Path(root)
    branch = branch or repository(root)["branch"]
    if branch == "main":
        raise PublishError("refusing to publish generated notebooks to main; set repository.branch in _config.yml")
    if message is None:
        try:
            message = f"notebooks from {_git(['rev-parse', '--short', 'HEAD'], root)}"
        except PublishError:
            message = "notebooks"
    with tempfile.TemporaryDirectory(prefix="gsepconv-publish-") as tmp:
        work = Path(tmp)
        _git(["init", "-q"], work)
        _git(["remote", "add", "origin", remote], work)
        exists = bool(_git(["ls-remote", "--heads", "origin", branch], work))
        if exists:
            _git(["fetch", "-q", "--depth", "1", "origin", branch], work)
            _git(["checkout", "-q", "-B", branch, "FETCH_HEAD"], work)
            for entry in work.iterdir():  # the branch is generated: replace everything
                if entry.name != ".git":
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        else:
            _git(["checkout", "-q", "--orphan", branch], work)
        written = export_notebooks(root, work)
        _git(["add", "-A"], work)
        if exists and not _git(["status", "--porcelain"], work):
            log(f"publish: {branch} already holds these {len(written)} notebooks; nothing to push")
            return None
        identity = ["-c", "user.name=gsepconv publisher", "-c", "user.email=gsepconv-publisher@users.noreply.github.com"]
        _git([*identity, "commit", "-q", "-m", message], work)
        commit = _git(["rev-parse", "HEAD"], work)
        _git(["push", "-q", "origin", f"HEAD:refs/heads/{branch}"], work)
        log(f"publish: {len(written)} notebooks pushed to {branch} ({commit[:10]})")
        return commit
