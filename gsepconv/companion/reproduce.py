"""Run the companion's notebooks in order with papermill, then build the book strictly.

``gsepconv reproduce`` (``make book``, ``make reproduce``) and ``gsepconv figures`` (``make figures``)
are thin wrappers over :func:`reproduce` and :func:`figures`.

The notebooks are Jupytext percent files ``notebooks/NN_name.py`` (the only source). Each is
converted in memory, given a Colab badge, executed by papermill with the parameters ``profile``,
``device`` and ``train`` injected, and written as ``notebooks/NN_name.ipynb`` (git-ignored; or
``<out>/notebooks/`` with ``out``). A small JSON stamp beside each output records what it was
executed from: the notebook source, the parameters, the gsepconv package sources and the result
tables under ``results/<profile>/`` (derived ``figures/`` and ``tables/`` excluded). A notebook
whose stamp still matches is skipped.

On failure the run stops with a :class:`NotebookFailed` naming the notebook, the failing cell (its
number, line and first line of code) and the command that reruns just that notebook. The book is
then built with ``jupyter-book build -W -n --keep-going``: any warning fails it.

Jupytext, papermill, nbformat and the book stack come with the optional ``docs`` extra: they are
imported inside the functions that use them, which first name any that is missing
(:class:`MissingDependency`).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path
from typing import Any

import torch
import yaml

from gsepconv.companion.committed import read_manifest, write_manifest
from gsepconv.errors import GsepconvError
from gsepconv.experiments.folders import ROOT_MARKER, repo_root
from gsepconv.experiments.io import atomic_write_text
from gsepconv.experiments.ondemand import ENV_MAX_TRAIN_MINUTES, FRESH_SINCE, TRAIN_MODES, MissingResults
from gsepconv.experiments.registry import PROFILES
from gsepconv.experiments.runner import default_devices, train_profile

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

NOTEBOOK_DIR = "notebooks"
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[a-z0-9_]+\.py$")
DEVICE_PATTERN = re.compile(r"^(cpu|cuda|cuda:\d+)$")
DEVICE_CHOICES = "cpu, cuda, cuda:N"
#: folders of ``results/<profile>/`` that are drawn from the tables, not inputs of the notebooks
DERIVED_RESULTS = ("figures", "tables")
STAMP_DIR = ".stamps"
#: the profile whose tables and figures the book's results page shows (book/results.md)
BOOK_PROFILE = "quick"
RESULTS_PAGE = "book/results.md"
STAMP_VERSION = 1
#: book files staged with ``out`` (the executed notebooks are written there too)
BOOK_FILES = ("_config.yml", "_toc.yml", "book")
COLAB = "https://colab.research.google.com"
COLAB_BADGE_REMOTE = f"{COLAB}/assets/colab-badge.svg"
COLAB_BADGE_LOCAL = "../book/_static/colab-badge.svg"  # relative to notebooks/; the book stays offline
BADGE_MARK = "<!-- colab-badge -->"
#: modules the companion needs: (import name, distribution, needed for)
NOTEBOOK_DEPS = (
    ("jupytext", "jupytext"),
    ("papermill", "papermill"),
    ("ipykernel", "ipykernel"),
    ("nbformat", "nbformat"),
)
BOOK_DEPS = (
    ("jupyter_book", "jupyter-book"),
    ("sphinx_book_theme", "sphinx-book-theme"),
    ("myst_nb", "myst-nb"),
    ("sphinxcontrib.bibtex", "sphinxcontrib-bibtex"),
)
INSTALL_HINT = 'pip install -c constraints.txt -e ".[docs]"   (or `make book`, which sets everything up)'

Log = Callable[[str], None]


# ------------------------------------------------------------------------------------ errors
class ReproduceError(GsepconvError):
    """A reproduction that cannot go on; the message says what to do (exit status 1)."""

    exit_code = 1


class UsageError(ReproduceError):
    """An unknown profile, device, train mode or notebook (exit status 2)."""

    exit_code = 2


class MissingDependency(ReproduceError):
    """A package or tool of the companion is not installed (exit status 2)."""

    exit_code = 2


class NotebookFailed(ReproduceError):
    """A notebook raised: which one, where, and the command that reruns it."""

    def __init__(
        self, notebook: str, cell: int, line: int | None, first_line: str, error: str, output: Path, command: str
    ) -> None:
        self.notebook, self.cell, self.line, self.first_line = notebook, cell, line, first_line
        self.error, self.output, self.command = error, output, command
        where = f"cell {cell}" + (f" (line {line} of {NOTEBOOK_DIR}/{notebook}.py)" if line else "")
        super().__init__(
            f"notebook {notebook} failed in {where}: {first_line}\n"
            f"  {error}\n"
            f"  executed notebook with the traceback: {output}\n"
            f"  fix it and rerun just this notebook:  {command}"
        )


class BookBuildFailed(ReproduceError):
    """``jupyter-book build -W -n`` reported a warning or an error."""


# --------------------------------------------------------------------------------- notebooks
@dataclass(frozen=True)
class Notebook:
    """One chapter source, ``notebooks/NN_name.py``."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def number(self) -> str:
        return self.path.name[:2]


@dataclass
class Outcome:
    """What happened to one notebook: ``status`` is ``"ran"`` or ``"skipped"``."""

    notebook: str
    status: str
    seconds: float
    output: Path
    stamp: dict[str, Any] = field(default_factory=dict)


def find_notebooks(root: str | Path) -> list[Notebook]:
    """The chapters ``<root>/notebooks/NN_name.py``, in order."""
    folder = Path(root) / NOTEBOOK_DIR
    found = sorted(p for p in folder.glob("*.py") if NOTEBOOK_PATTERN.match(p.name))
    return [Notebook(p) for p in found]


def select_notebooks(notebooks: Sequence[Notebook], selection: str | Sequence[str] | None) -> list[Notebook]:
    """The notebooks named by ``selection`` ("03,05", "3", "05_rotated_mnist"; ``None``: all)."""
    if selection is None:
        return list(notebooks)
    items = selection.split(",") if isinstance(selection, str) else list(selection)
    items = [s.strip() for s in items if s.strip()]
    if not items:
        raise UsageError("--notebooks is empty; give numbers or names such as 03,05")
    chosen: list[Notebook] = []
    for item in items:
        key = item[:-3] if item.endswith(".py") else item
        key = Path(key).name
        matches = [nb for nb in notebooks if key == nb.name or (key.isdigit() and int(key) == int(nb.number))]
        if not matches:
            valid = ", ".join(nb.name for nb in notebooks) or f"(none: no {NOTEBOOK_DIR}/NN_name.py found)"
            raise UsageError(f"unknown notebook {item!r}; valid notebooks: {valid}")
        for nb in matches:
            if nb not in chosen:
                chosen.append(nb)
    return sorted(chosen, key=lambda nb: nb.name)


def check_choices(profile: str, device: str, train: str) -> None:
    """A :class:`UsageError` naming the valid choices for an unknown profile, device or train mode."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        raise UsageError(f"unknown device {device!r}; valid devices: {DEVICE_CHOICES}")
    if train not in TRAIN_MODES:
        raise UsageError(f"unknown train mode {train!r}; valid modes: {', '.join(TRAIN_MODES)}")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} asked for, but torch sees no CUDA device here; use --device cpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise UsageError(
                f"device {device!r} does not exist: torch sees {torch.cuda.device_count()} CUDA "
                f"device(s), cuda:0 … cuda:{torch.cuda.device_count() - 1}"
            )


def _require(deps: Sequence[tuple[str, str]], what: str) -> None:
    missing = [dist for module, dist in deps if util.find_spec(module) is None]
    if missing:
        raise MissingDependency(f"{what} needs {', '.join(missing)}, which is not installed; {INSTALL_HINT}")


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


def _stamp(nb: Notebook, parameters: dict[str, Any], results: Path, package: str) -> dict[str, Any]:
    return {
        "version": STAMP_VERSION,
        "notebook": nb.name,
        "source": hashlib.sha256(nb.path.read_bytes()).hexdigest(),
        "parameters": parameters,
        "results": str(results),
        "package": package,
        "inputs": results_digest(results, parameters["profile"]),
    }


def _stamp_path(out_dir: Path, nb: Notebook) -> Path:
    return out_dir / STAMP_DIR / f"{nb.name}.json"


def _unchanged(out_dir: Path, nb: Notebook, stamp: dict[str, Any]) -> dict[str, Any] | None:
    path = _stamp_path(out_dir, nb)
    if not (out_dir / f"{nb.name}.ipynb").is_file() or not path.is_file():
        return None
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    same = {k: v for k, v in old.items() if k not in ("finished", "seconds")} == stamp
    return old if same else None


# ------------------------------------------------------------------------------- execution
@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the kernels papermill starts (they inherit os.environ)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _cell_lines(path: Path) -> list[int]:
    """1-based line numbers of the ``# %%`` cell markers of a percent-format file."""
    return [i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("# %%")]


def _rerun_command(nb: Notebook, parameters: dict[str, Any], results: Path | None, out: Path | None) -> str:
    parts = [
        "gsepconv reproduce",
        f"--profile {parameters['profile']}",
        f"--device {parameters['device']}",
        f"--train {parameters['train']}",
        f"--notebooks {nb.number}",
        "--no-book",
    ]
    if results is not None:
        parts.append(f"--results {results}")
    if out is not None:
        parts.append(f"--out {out}")
    return " ".join(parts)


def _failure(err: Any, nb: Notebook, source_nb: Any, output: Path, command: str) -> NotebookFailed:
    """Locate papermill's failing cell in the source file."""
    failing = str(getattr(err, "source", "") or "")
    index = next((i for i, c in enumerate(source_nb.cells) if c.source == failing), None)
    if index is None:  # papermill counts its injected-parameters cell
        executed = int(getattr(err, "cell_index", 0) or 0)
        params = next(
            (i for i, c in enumerate(source_nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), None
        )
        index = executed - 1 if params is not None and executed > params else executed
    markers = _cell_lines(nb.path)
    line = markers[index] if len(markers) == len(source_nb.cells) and index < len(markers) else None
    first = next(
        (ln.strip() for ln in failing.splitlines() if ln.strip() and not ln.strip().startswith("#")),
        failing.strip().splitlines()[0] if failing.strip() else "",
    )
    error = f"{getattr(err, 'ename', type(err).__name__)}: {getattr(err, 'evalue', err)}"
    return NotebookFailed(nb.name, index + 1, line, first, error, output, command)


def _assignments(source: str) -> dict[str, Any] | None:
    """``{name: literal}`` of a cell made only of ``name = <literal>`` lines (``None`` otherwise)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    values: dict[str, Any] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            return None
        try:
            values[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            return None
    return values


def hide_repeated_parameters(path: str | Path) -> bool:
    """Papermill puts an ``injected-parameters`` cell after the ``parameters`` cell. Where it only
    repeats the values the parameters cell already sets (``make book``), the book would show the
    same assignments twice: tag it ``remove-cell``. Where it changes any (another profile, device
    or train mode) it stays visible, because it says what ran. Returns whether it was hidden."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    tagged = {tag: c for c in nb.cells for tag in c.metadata.get("tags", [])}
    params, injected = tagged.get("parameters"), tagged.get("injected-parameters")
    if params is None or injected is None:
        return False
    defaults, given = _assignments(params.source), _assignments(injected.source)
    if defaults is None or given is None or any(k not in defaults or defaults[k] != v for k, v in given.items()):
        return False
    tags = injected.metadata.setdefault("tags", [])
    if "remove-cell" not in tags:
        tags.append("remove-cell")
        atomic_write_text(path, nbformat.writes(nb))
    return True


def run_notebooks(
    notebooks: Sequence[Notebook],
    *,
    root: str | Path,
    profile: str,
    device: str = "cpu",
    train: str = "auto",
    out_dir: str | Path | None = None,
    results: str | Path | None = None,
    runs: str | Path | None = None,
    force: bool = False,
    extra_parameters: dict[str, Any] | None = None,
    rerun_out: Path | None = None,
    log: Log = print,
) -> list[Outcome]:
    """Execute ``notebooks`` in order with papermill (kernel ``python3``); returns one
    :class:`Outcome` each. Outputs and stamps go to ``out_dir`` (default: ``<root>/notebooks``).
    ``results``/``runs``: the folders the kernels see as ``$GSEPCONV_RESULTS``/``$GSEPCONV_RUNS``
    (default: those variables, else ``<root>/results`` and ``<root>/runs``)."""
    check_choices(profile, device, train)
    _require(NOTEBOOK_DEPS, "executing the notebooks")
    import papermill
    from papermill.exceptions import PapermillExecutionError

    root = Path(root).resolve()
    out = Path(out_dir).resolve() if out_dir else root / NOTEBOOK_DIR
    results_base = Path(results or os.environ.get("GSEPCONV_RESULTS") or root / "results").resolve()
    runs_base = Path(runs or os.environ.get("GSEPCONV_RUNS") or root / "runs").resolve()
    parameters = {"profile": profile, "device": device, "train": train, **(extra_parameters or {})}
    env = {
        "GSEPCONV_RESULTS": str(results_base),
        "GSEPCONV_RUNS": str(runs_base),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "GSEPCONV_PROGRESS": "0",  # executed notebooks keep the per-epoch lines, not redrawn bars
        # asked for on the command line, which prints each notebook's progress: no per-notebook limit
        ENV_MAX_TRAIN_MINUTES: os.environ.get(ENV_MAX_TRAIN_MINUTES, "none"),
    }
    if train == "always":  # a table one chapter produced in this reproduction is not produced again by a later one
        env[FRESH_SINCE] = repr(time.time())
    out.mkdir(parents=True, exist_ok=True)
    package = package_digest()
    outcomes: list[Outcome] = []
    log(
        f"notebooks: {len(notebooks)} with profile={profile} device={device} train={train}; "
        f"results {results_base}, runs {runs_base}, executed notebooks to {out}"
    )
    for i, nb in enumerate(notebooks, 1):
        output = out / f"{nb.name}.ipynb"
        stamp = _stamp(nb, parameters, results_base, package)
        old = None if force else _unchanged(out, nb, stamp)
        if old is not None:
            log(
                f"[{i}/{len(notebooks)}] {nb.name}: unchanged since {old.get('finished', '?')} — skipped "
                f"(--force reruns it)"
            )
            outcomes.append(Outcome(nb.name, "skipped", 0.0, output, old))
            continue
        log(f"[{i}/{len(notebooks)}] {nb.name}: running …")
        source_nb = load_notebook(nb.path, root, badge="local")
        _stamp_path(out, nb).unlink(missing_ok=True)
        start = time.perf_counter()
        try:
            with _environ(env):
                papermill.execute_notebook(
                    source_nb,
                    str(output),
                    parameters=parameters,
                    kernel_name="python3",
                    cwd=str(nb.path.parent),
                    progress_bar=False,
                    log_output=False,
                )
        except PapermillExecutionError as err:
            raise _failure(
                err,
                nb,
                source_nb,
                output,
                _rerun_command(nb, parameters, Path(results) if results else None, rerun_out),
            ) from None
        seconds = time.perf_counter() - start
        hide_repeated_parameters(output)
        done = _stamp(nb, parameters, results_base, package)  # inputs as the notebook left them
        done.update(finished=time.strftime("%Y-%m-%d %H:%M:%S"), seconds=round(seconds, 1))
        _stamp_path(out, nb).parent.mkdir(exist_ok=True)
        _stamp_path(out, nb).write_text(json.dumps(done, indent=1) + "\n")
        log(f"[{i}/{len(notebooks)}] {nb.name}: done in {seconds:.1f} s")
        outcomes.append(Outcome(nb.name, "ran", seconds, output, done))
    return outcomes


# ------------------------------------------------------------------------------------ book
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


def check_book_stack() -> None:
    """Jupyter Book **1** and its extensions, or :class:`MissingDependency` saying what to install."""
    _require(BOOK_DEPS, "building the book")
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
    html = book / "_build" / "html"
    if proc.returncode != 0 or problems or not (html / "index.html").is_file():
        shown = "\n".join(problems[:40]) or text[-4000:]
        raise BookBuildFailed(
            f"the strict book build failed (exit {proc.returncode}, {len(problems)} warnings/errors):\n"
            f"{shown}\nrebuild with: jupyter-book build -W -n --keep-going {book}"
        )
    log(f"book: built {html} in {time.perf_counter() - start:.1f} s")
    return html


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


# ---------------------------------------------------------------------------------- driver
def runs_for_commit(root: str | Path) -> Path:
    """``<root>/runs/reproduce-<short commit>[-dirty]``: a reproduction resumes within a commit and
    retrains for a new one."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "gsepconv"], cwd=root, capture_output=True, text=True, check=True
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
    if not (root / ROOT_MARKER).is_file():
        raise UsageError(f"no {ROOT_MARKER} in {root}: run from the gsepconv repository")
    check_choices(profile, device, train)
    chosen = select_notebooks(find_notebooks(root), notebooks)
    if not chosen:
        raise UsageError(f"no notebooks found in {root / NOTEBOOK_DIR} (expected NN_name.py files)")
    if book:  # fail before hours of notebooks, not after
        check_book_stack()
        if not (mathjax_source(root) / "tex-chtml.js").is_file():
            prepare_mathjax(root)  # raises MissingDependency saying how to install it
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
    html = None
    if book:
        if out_path is not None:
            stage_book(root, out_path, results)  # tables/figures the notebooks just wrote
        # the results page shows BOOK_PROFILE's tables and figures: redraw them from their CSVs, so
        # the book never shows a stale figure (a missing CSV stops here, naming the command)
        if (book_root / RESULTS_PAGE).is_file():
            figures(BOOK_PROFILE, results=book_root / "results", log=log)
        html = build_book(book_root, root=root, log=log)
    seconds = time.perf_counter() - start
    ran = sum(o.status == "ran" for o in outcomes)
    log(
        f"done in {seconds:.0f} s: {ran} notebook(s) executed, {len(outcomes) - ran} unchanged"
        + (f"; book: {html / 'index.html'}" if html else "")
    )
    return {"notebooks": outcomes, "html": html, "seconds": seconds}


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
