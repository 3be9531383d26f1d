"""The notebooks Colab and Binder open: ``.ipynb`` files generated from ``notebooks/*.py`` and
published to a branch of the repository (``repository.branch`` in ``_config.yml``, ``notebooks``).

Colab opens only ``.ipynb`` files from GitHub, at ``<repo>/blob/<branch>/notebooks/NN_name.ipynb``:
the address sphinx-book-theme's Colab/Binder buttons and each notebook's badge link to. The
text sources stay the only copy on ``main``; the workflow ``.github/workflows/book.yml`` runs
``gsepconv publish-notebooks`` on every push to ``main``.

The published branch holds ``notebooks/NN_name.ipynb``, a ``requirements.txt`` for Binder, and a
README that says the branch is generated. Each notebook is made for Colab (:func:`colab_notebook`):
no outputs, a Colab badge; the setup cell installs gsepconv pinned to the commit the notebook was
published from (so :func:`gsepconv.companion.committed_results` fetches that commit's results) and
is folded away on Colab (``cellView: form``); ``device = "auto"`` (CUDA when the runtime has it);
MyST-only markup (``{cite:p}`…```) is written out as text with a link to the book's
bibliography; a header ``accelerator: GPU`` in the source asks Colab for a GPU runtime. A
publication that changes nothing makes no commit.

nbformat and pybtex come with the optional ``docs`` extra and are imported inside the functions
that use them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gsepconv.companion.notebooks import NOTEBOOK_DIR, ReproduceError, find_notebooks
from gsepconv.companion.stamps import install_spec, load_notebook, repository

__all__ = ["export_notebooks", "publish_notebooks", "colab_notebook", "render_citations", "PublishError"]

#: Colab shows a cell with this metadata as its ``#@title`` line, the code folded away
SETUP_TITLE = "#@title Setup: install gsepconv {ref} (run this cell; its code is hidden)"
_ROLE = re.compile(r"\{([a-z][a-z:-]*)\}`([^`]*)`")
_DEVICE_LINE = re.compile(r'^device = "[^"]*"', re.MULTILINE)

README = """# Generated notebooks — do not edit

This branch is written by `gsepconv publish-notebooks` (workflow `book.yml`) from the Jupytext
sources `notebooks/*.py` on `main`. Edit those; every push to `main` republishes this branch.

Open a chapter in Colab or Binder from the book's launch buttons, or from the badge at the top of
each notebook. The first (folded) cell installs `gsepconv` at the commit these notebooks were published from when it
is missing; each chapter then fetches that commit's committed results (checksummed) and trains
nothing unless asked. Set `profile`, `device` and `train` in the `parameters` cell.
"""


class PublishError(ReproduceError):
    """A git step of the publication failed."""


def _head(root: Path) -> str | None:
    try:
        return _git(["rev-parse", "HEAD"], root)
    except (PublishError, OSError):
        return None


def _bibliography(root: Path) -> dict[str, tuple[str, str]]:
    """``{key: (authors as cited, year)}`` of ``book/references.bib`` (author–year style, as the
    book cites: one or two family names, else the first and "et al.")."""
    from pybtex.database import parse_file

    entries = {}
    for key, entry in parse_file(str(root / "book" / "references.bib")).entries.items():
        names = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in entry.persons.get("author", [])]
        who = names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2 else f"{names[0]} et al."
        entries[key] = (who, entry.fields.get("year", "n.d."))
    return entries


def render_citations(text: str, bibliography: dict[str, tuple[str, str]], link: str) -> str:
    """``text`` with MyST roles Colab cannot render written out: ``{cite:p}`a,b``` becomes
    ``([A et al., 2022; B, 2020](link))``, ``{cite:t}`a``` becomes ``[A et al. (2022)](link)``, any
    other role its content in code quotes. An unknown citation key is a :class:`PublishError`."""

    def cite(match: re.Match[str]) -> str:
        role, content = match.groups()
        if not role.startswith("cite"):
            return f"`{content}`"
        keys = [k.strip() for k in content.split(",") if k.strip()]
        unknown = [k for k in keys if k not in bibliography]
        if unknown:
            raise PublishError(f"unknown citation key(s) {unknown}: add them to book/references.bib")
        if role == "cite:t":
            return "; ".join(f"[{bibliography[k][0]} ({bibliography[k][1]})]({link})" for k in keys)
        return "([" + "; ".join(f"{bibliography[k][0]}, {bibliography[k][1]}" for k in keys) + f"]({link}))"

    return _ROLE.sub(cite, text)


def colab_notebook(node: Any, root: Path, ref: str, bibliography: dict[str, tuple[str, str]]) -> Any:
    """Make a loaded chapter (:func:`~gsepconv.companion.stamps.load_notebook`) Colab's: the
    setup cell pinned to ``ref`` and folded (``cellView: form``), ``device = "auto"`` in the
    parameters cell, citations as text and links, Colab metadata (``accelerator`` from the
    source's header is kept, e.g. ``GPU``). Returns ``node``."""
    main_spec, pinned = install_spec(root), install_spec(root, ref)
    setup = node.cells[0] if node.cells and node.cells[0].cell_type == "code" else None
    if setup is None or main_spec not in setup.source:
        raise PublishError(f"the first cell does not install {main_spec!r}; every chapter starts with the setup cell")
    title = SETUP_TITLE.format(ref=f"at {ref[:12]}" if ref != "main" else "from main")
    setup.source = title + "\n" + setup.source.replace(main_spec, pinned)
    setup.metadata["cellView"] = "form"
    link = str(repository_book_url(root)) + "book/bibliography.html"
    for cell in node.cells:
        if cell.cell_type == "markdown":
            cell.source = render_citations(cell.source, bibliography, link)
        elif "parameters" in cell.metadata.get("tags", []):
            cell.source = _DEVICE_LINE.sub('device = "auto"', cell.source)
    colab = node.metadata.setdefault("colab", {})
    colab.setdefault("provenance", [])
    if node.metadata.get("accelerator") == "GPU":
        colab.setdefault("gpuType", "T4")
    return node


def repository_book_url(root: Path) -> str:
    """The website's address (``html.baseurl`` of ``_config.yml``), ending in ``/``."""
    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    url = str((config.get("html") or {}).get("baseurl") or "").strip()
    if not url:
        raise PublishError(f"{root / '_config.yml'} has no html.baseurl (the published notebooks link to the book)")
    return url.rstrip("/") + "/"


def export_notebooks(root: str | Path, dest: str | Path, ref: str | None = None) -> list[Path]:
    """Write the published branch's files into ``dest``: ``notebooks/NN_name.ipynb`` for every
    ``notebooks/NN_name.py`` of ``root`` (:func:`colab_notebook`: outputs empty, Colab badge from
    Colab's site, setup cell installing gsepconv at ``ref``), ``requirements.txt`` (Binder) and
    ``README.md``. ``ref``: default the commit checked out in ``root`` (``main`` outside git).
    Returns the notebook paths."""
    import nbformat

    root, dest = Path(root), Path(dest)
    ref = ref or _head(root) or "main"
    bibliography = _bibliography(root)
    folder = dest / NOTEBOOK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for nb in find_notebooks(root):
        node = colab_notebook(load_notebook(nb.path, root, badge="remote"), root, ref, bibliography)
        path = folder / f"{nb.name}.ipynb"
        nbformat.write(node, str(path))
        written.append(path)
    if not written:
        raise PublishError(f"no notebooks found in {root / NOTEBOOK_DIR}; nothing to publish")
    (dest / "requirements.txt").write_text(f"{install_spec(root, ref)}\nmatplotlib\nseaborn\n")
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
    head = _head(root)
    if head is None:
        raise PublishError(
            f"{root} is not a git checkout: the published notebooks install gsepconv at the "
            f"commit they come from, so publish from a clone"
        )
    message = message or f"notebooks from {head[:10]}"
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
        written = export_notebooks(root, work, head)
        _git(["add", "-A"], work)
        if exists and not _git(["status", "--porcelain"], work):
            log(f"publish: {branch} already holds these {len(written)} notebooks; nothing to push")
            return None
        identity = [
            "-c",
            "user.name=gsepconv publisher",
            "-c",
            "user.email=gsepconv-publisher@users.noreply.github.com",
        ]
        _git([*identity, "commit", "-q", "-m", message], work)
        commit = _git(["rev-parse", "HEAD"], work)
        _git(["push", "-q", "origin", f"HEAD:refs/heads/{branch}"], work)
        log(f"publish: {len(written)} notebooks pushed to {branch} ({commit[:10]})")
        return commit
