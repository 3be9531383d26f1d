"""Execute the chapters with papermill: parameters, kernel environment, stamps and failures.

Each chapter is loaded with its Colab badge (:func:`~gsepconv.companion.stamps.load_notebook`),
executed by papermill with the parameters ``profile``, ``device`` and ``train`` injected, and
written as ``notebooks/NN_name.ipynb`` (git-ignored; or another folder). A chapter whose stamp
(:mod:`gsepconv.companion.stamps`) still matches is skipped. On failure the run stops with a
:class:`~gsepconv.companion.notebooks.NotebookFailed` naming the chapter, the failing cell (its
number, line and first line of code) and the command that reruns just that chapter.

Jupytext, papermill and nbformat come with the optional ``docs`` extra: they are imported inside
the functions that use them, after :func:`~gsepconv.companion.notebooks.require_modules` has named
any that is missing.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gsepconv.companion.notebooks import (
    NOTEBOOK_DEPS,
    NOTEBOOK_DIR,
    Log,
    Notebook,
    NotebookFailed,
    check_choices,
    require_modules,
)
from gsepconv.companion.stamps import load_notebook, package_digest, stamp_path, stamp_record, unchanged_stamp
from gsepconv.experiments.io import atomic_write_text
from gsepconv.experiments.ondemand import ENV_MAX_TRAIN_MINUTES, FRESH_SINCE

__all__ = ["Outcome", "run_notebooks", "hide_repeated_parameters"]


@dataclass
class Outcome:
    """What happened to one notebook: ``status`` is ``"ran"`` or ``"skipped"``."""

    notebook: str
    status: str
    seconds: float
    output: Path
    stamp: dict[str, Any] = field(default_factory=dict)


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


def _kernel_environment(results: Path, runs: Path, train: str) -> dict[str, str]:
    """The environment variables the kernels papermill starts run with."""
    env = {
        "GSEPCONV_RESULTS": str(results),
        "GSEPCONV_RUNS": str(runs),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "GSEPCONV_PROGRESS": "0",  # executed notebooks keep the per-epoch lines, not redrawn bars
        # asked for on the command line, which prints each notebook's progress: no per-notebook limit
        ENV_MAX_TRAIN_MINUTES: os.environ.get(ENV_MAX_TRAIN_MINUTES, "none"),
    }
    if train == "always":  # a table one chapter produced in this reproduction is not produced again by a later one
        env[FRESH_SINCE] = repr(time.time())
    return env


def _execute(
    nb: Notebook, source_nb: Any, output: Path, parameters: dict[str, Any], env: dict[str, str], rerun: str
) -> float:
    """Execute ``source_nb`` (loaded from ``nb``) with papermill into ``output``; the seconds it
    took, or :class:`NotebookFailed` with the command ``rerun`` that reruns it."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

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
        raise _failure(err, nb, source_nb, output, rerun) from None
    return time.perf_counter() - start


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
    require_modules(NOTEBOOK_DEPS, "executing the notebooks")

    root = Path(root).resolve()
    out = Path(out_dir).resolve() if out_dir else root / NOTEBOOK_DIR
    results_base = Path(results or os.environ.get("GSEPCONV_RESULTS") or root / "results").resolve()
    runs_base = Path(runs or os.environ.get("GSEPCONV_RUNS") or root / "runs").resolve()
    parameters = {"profile": profile, "device": device, "train": train, **(extra_parameters or {})}
    env = _kernel_environment(results_base, runs_base, train)
    rerun_results = Path(results) if results else None
    out.mkdir(parents=True, exist_ok=True)
    package = package_digest()
    outcomes: list[Outcome] = []
    log(
        f"notebooks: {len(notebooks)} with profile={profile} device={device} train={train}; "
        f"results {results_base}, runs {runs_base}, executed notebooks to {out}"
    )
    for i, nb in enumerate(notebooks, 1):
        output = out / f"{nb.name}.ipynb"
        stamp = stamp_record(nb, parameters, results_base, package)
        old = None if force else unchanged_stamp(out, nb, stamp)
        if old is not None:
            log(
                f"[{i}/{len(notebooks)}] {nb.name}: unchanged since {old.get('finished', '?')} — skipped "
                f"(--force reruns it)"
            )
            outcomes.append(Outcome(nb.name, "skipped", 0.0, output, old))
            continue
        log(f"[{i}/{len(notebooks)}] {nb.name}: running …")
        source_nb = load_notebook(nb.path, root, badge="local")
        stamp_path(out, nb).unlink(missing_ok=True)
        rerun = _rerun_command(nb, parameters, rerun_results, rerun_out)
        seconds = _execute(nb, source_nb, output, parameters, env, rerun)
        hide_repeated_parameters(output)
        done = stamp_record(nb, parameters, results_base, package)  # inputs as the notebook left them
        done.update(finished=time.strftime("%Y-%m-%d %H:%M:%S"), seconds=round(seconds, 1))
        stamp_path(out, nb).parent.mkdir(exist_ok=True)
        stamp_path(out, nb).write_text(json.dumps(done, indent=1) + "\n")
        log(f"[{i}/{len(notebooks)}] {nb.name}: done in {seconds:.1f} s")
        outcomes.append(Outcome(nb.name, "ran", seconds, output, done))
    return outcomes
