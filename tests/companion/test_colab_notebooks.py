"""A test that is Colab: gsepconv built as a wheel and installed without the repository
(non-editable, into a ``--target`` folder put first on the kernel's path), the published notebooks
exported as Colab gets them, and all eight run by papermill with their default parameters from an
empty folder outside the repository. The committed results come from this checkout's
``results/`` through a ``file://`` URL standing in for GitHub (``$GSEPCONV_RESULTS_SOURCE``).

Asserted: nothing trains or is re-measured, every chapter shows figures, the numbers are the
book's (the fetched tables are the committed bytes, and chapter 8 redraws exactly the committed
summary tables and the book's figure set), and each chapter runs in under a minute here."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _companion import REPO
from gsepconv.companion import committed as cm
from gsepconv.companion.publish import export_notebooks
from gsepconv.experiments import ondemand as en

pytestmark = [pytest.mark.slow, pytest.mark.book]

CHAPTER_SECONDS = 60
QUICK = REPO / "results" / "quick"
#: variables a reader's Colab session does not have (set by `gsepconv reproduce`, the Makefile or CI)
NOT_ON_COLAB = (
    "GSEPCONV_RESULTS",
    "GSEPCONV_RUNS",
    "GSEPCONV_PROGRESS",
    en.FRESH_SINCE,
    en.ENV_MAX_TRAIN_MINUTES,
    "GSEPCONV_MIRROR",
)


@contextlib.contextmanager
def colab_environment(values: dict[str, str]) -> Iterator[None]:
    """The environment the kernels inherit: ``values`` set, the variables of :data:`NOT_ON_COLAB` gone."""
    saved = dict(os.environ)
    for name in NOT_ON_COLAB:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def build_wheel(tmp: Path) -> Path:
    """A wheel of the package as ``pip install git+…`` builds it (from a copy of the sources, so the
    checkout gets no build folders)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "gsepconv", src / "gsepconv", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp / "dist").glob("gsepconv-*.whl")
    return wheel


@pytest.fixture(scope="module")
def colab(tmp_path_factory) -> dict[str, Any]:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    tmp = tmp_path_factory.mktemp("colab")
    wheel = build_wheel(tmp)
    site = tmp / "site-packages"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    published = export_notebooks(REPO, tmp / "published")
    content = tmp / "content"  # Colab's working folder: empty, no repository above it
    content.mkdir()
    out = tmp / "executed"
    out.mkdir()
    env = {
        "PYTHONPATH": str(site),
        cm.ENV_SOURCE: (REPO / "results").as_uri(),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    seconds: dict[str, float] = {}
    errors: dict[str, str] = {}
    with colab_environment(env):
        imported = subprocess.run(
            [sys.executable, "-c", "import gsepconv; print(gsepconv.__file__)"],
            cwd=content,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for path in published:
            start = time.perf_counter()
            try:
                papermill.execute_notebook(
                    str(path),
                    str(out / path.name),
                    kernel_name="python3",
                    cwd=str(content),
                    progress_bar=False,
                    log_output=False,
                )
            except PapermillExecutionError as err:
                errors[path.stem] = f"{err.ename}: {err.evalue}"
            seconds[path.stem] = round(time.perf_counter() - start, 1)
    print("\nColab chapter times (s):", json.dumps(seconds))
    return {
        "wheel": wheel,
        "site": site,
        "imported": imported,
        "content": content,
        "out": out,
        "published": published,
        "seconds": seconds,
        "errors": errors,
    }


def outputs(path: Path) -> list[dict[str, Any]]:
    nb = json.loads(path.read_text())
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def text_of(output: dict[str, Any]) -> str:
    if output["output_type"] == "stream":
        return "".join(output["text"])
    return "".join(
        "".join(v) if isinstance(v, list) else str(v)
        for k, v in output.get("data", {}).items()
        if k.startswith("text/")
    )


def test_the_wheel_is_what_colab_installs(colab):
    names = zipfile.ZipFile(colab["wheel"]).namelist()
    assert "gsepconv/companion/results_manifest.json" in names, "the wheel ships the results manifest"
    assert not [n for n in names if n.startswith("results/") or n.endswith(".csv")], "results are fetched, not shipped"
    assert Path(colab["imported"]).is_relative_to(colab["site"]), f"the kernels import {colab['imported']}"


def test_every_chapter_runs_in_under_a_minute_with_default_parameters(colab):
    assert not colab["errors"], colab["errors"]
    assert [p.stem for p in colab["published"]] == sorted(colab["seconds"])
    slow = {name: s for name, s in colab["seconds"].items() if s >= CHAPTER_SECONDS}
    assert not slow, f"chapters slower than {CHAPTER_SECONDS} s on Colab: {slow} (all: {colab['seconds']})"
    for path in colab["published"]:
        nb = json.loads((colab["out"] / path.name).read_text())
        assert nb["metadata"]["papermill"]["parameters"] == {}, "default parameters"


def test_nothing_trains_or_is_remeasured(colab):
    content = colab["content"]
    assert not (content / "runs").exists(), "a chapter trained (a runs folder appeared)"
    for name in cm.read_manifest()["quick"]:
        fetched = content / "results" / "quick" / name
        assert fetched.read_bytes() == (QUICK / name).read_bytes(), f"{name} is not the committed table"
    for path in colab["published"]:
        said = "\n".join(text_of(o) for o in outputs(colab["out"] / path.name))
        assert "Producing it now" not in said and "TrainingNotStarted" not in said, path.stem


def test_every_chapter_shows_its_figures(colab):
    for path in colab["published"]:
        images = [o for o in outputs(colab["out"] / path.name) if "image/png" in o.get("data", {})]
        assert images, f"{path.stem} shows no figure"
    drawn = {p.name for p in (colab["content"] / "results" / "quick" / "figures").iterdir()}
    committed = {p.name for p in (QUICK / "figures").iterdir()}
    assert drawn == committed, f"figures not drawn: {sorted(committed - drawn)}; extra: {sorted(drawn - committed)}"


def test_the_numbers_are_the_book_s(colab):
    """Chapter 8 redraws every summary table of the book (claims, comparisons, provenance) from the
    fetched tables: they are the committed ones, byte for byte."""
    tables = colab["content"] / "results" / "quick" / "tables"
    committed = sorted(p.name for p in (QUICK / "tables").glob("*.csv"))
    assert sorted(p.name for p in tables.glob("*.csv")) == committed
    differ = [name for name in committed if (tables / name).read_bytes() != (QUICK / "tables" / name).read_bytes()]
    assert not differ, f"tables that differ from the book's: {differ}"
    # the numbers chapter 4 prints are those of the committed layer-cost table, not a new measurement
    said = "\n".join(text_of(o) for o in outputs(colab["out"] / "04_separable_kernels.ipynb"))
    import pandas as pd

    costs = pd.read_csv(QUICK / "layer_costs.csv")
    assert f"commit {costs['git_commit'].iloc[0]}" in said and f"{costs['threads'].iloc[0]} threads" in said
