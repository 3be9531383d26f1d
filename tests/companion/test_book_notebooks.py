"""The notebook contract (book/contributing.md) and the book's configuration, checked on the real
files: header with a kernelspec, the hidden Colab setup cell first, a parameters cell, one
repository URL everywhere, a table of contents that matches the notebooks, nothing generated
committed."""

from __future__ import annotations

import ast
import re
import subprocess

import pytest
import yaml

from _companion import REPO
from gsepconv.companion import TRAIN_MODES
from gsepconv.companion import reproduce as rp
from gsepconv.companion.notebooks import DEVICE_PATTERN
from gsepconv.experiments.registry import PROFILES

CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
TOC = yaml.safe_load((REPO / "_toc.yml").read_text())
URL = CONFIG["repository"]["url"]
NOTEBOOKS = rp.find_notebooks(REPO)
CHAPTERS = [
    "01_lie_groups",
    "02_group_convolutions",
    "03_redundancy",
    "04_separable_kernels",
    "05_rotated_mnist",
    "06_natural_images",
    "07_efficiency",
    "08_results",
]


def toc_files() -> list[str]:
    found = [TOC["root"]]
    for part in TOC.get("parts", []):
        found += [c["file"] for c in part["chapters"]]
    return found


def test_every_chapter_exists_and_the_toc_lists_exactly_them():
    assert [nb.name for nb in NOTEBOOKS] == CHAPTERS
    files = toc_files()
    assert [f.split("/")[1] for f in files if f.startswith("notebooks/")] == CHAPTERS
    for page in files:
        source = REPO / (f"{page}.py" if page.startswith("notebooks/") else f"{page}.md")
        assert source.is_file(), f"_toc.yml names {page}, but {source.relative_to(REPO)} does not exist"
    assert "book/data" in files and "book/results" in files and "book/api" in files


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.name)
def test_notebook_contract(nb):
    import jupytext

    text = nb.path.read_text()
    assert text.startswith("# ---\n# jupyter:\n"), "the YAML header comes first"
    node = jupytext.read(str(nb.path))
    assert node.metadata["kernelspec"] == {"display_name": "Python 3", "language": "python", "name": "python3"}
    assert node.metadata["jupytext"]["text_representation"]["format_name"] == "percent"

    setup = node.cells[0]
    assert setup.cell_type == "code" and setup.metadata.get("tags") == ["remove-cell"], (
        "the first cell is the hidden (remove-cell) setup cell"
    )
    source = setup.source
    assert 'find_spec("gsepconv") is None' in source and "subprocess.check_call" in source and "%pip" not in source
    assert f'"{rp.install_spec(REPO)}"' in source, f"the setup cell installs {rp.install_spec(REPO)!r}"
    assert not re.search(r"""["']torch""", source), "the setup cell must not install torch (Colab has its own)"

    tagged = [i for i, c in enumerate(node.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged parameters"
    values = {}
    for statement in ast.parse(node.cells[tagged[0]].source).body:
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            values[statement.targets[0].id] = ast.literal_eval(statement.value)
    assert values.get("profile") in PROFILES and values.get("train") in TRAIN_MODES
    assert DEVICE_PATTERN.match(values.get("device", ""))
    titles = [c for c in node.cells[: tagged[0]] if c.cell_type == "markdown"]
    assert titles and titles[0].source.startswith("# "), "a markdown title cell (# Title) before the parameters"


def test_one_repository_url_everywhere():
    assert re.fullmatch(r"https://github\.com/[\w-]+/[\w.-]+", URL)
    readme = (REPO / "README.md").read_text()
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    pyproject = (REPO / "pyproject.toml").read_text()
    contributing = (REPO / "book" / "contributing.md").read_text()
    assert citation["repository-code"] == URL
    assert f'Repository = "{URL}"' in pyproject
    assert rp.install_spec(REPO) in contributing
    assert URL in readme
    github = set(re.findall(r"https://github\.com/[\w-]+/[\w.-]+?(?=[/@)\s\"'`.]|$)", readme + pyproject))
    assert github <= {URL}, f"other repository URLs: {github - {URL}}"


def test_citation_file():
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"].startswith("1.2")
    paper = citation["preferred-citation"]
    assert paper["title"].startswith("Exploiting Redundancy")
    assert [a["family-names"] for a in paper["authors"]] == ["Knigge", "Romero", "Bekkers"]
    assert paper["year"] == 2022 and "2110.13059" in str(paper.get("identifiers", "")) + str(paper.get("url", ""))


def test_book_config_keys_that_matter():
    assert CONFIG["only_build_toc_files"] is True
    assert CONFIG["execute"]["execute_notebooks"] == "off"
    assert "notebooks/*.py" in CONFIG["exclude_patterns"]
    sphinx = CONFIG["sphinx"]
    assert sphinx["recursive_update"] is True and sphinx["config"]["html_theme_options"]["use_download_button"]
    assert sphinx["config"]["mathjax_path"] == "mathjax/tex-chtml.js"
    assert "sphinx.ext.intersphinx" not in sphinx.get("extra_extensions", [])
    assert sphinx["config"]["bibtex_reference_style"] == "author_year"
    assert CONFIG["launch_buttons"]["colab_url"] and CONFIG["launch_buttons"]["binderhub_url"]
    assert CONFIG["html"]["use_repository_button"] is True


def test_nothing_generated_is_committed():
    tracked = subprocess.run(
        ["git", "ls-files", "notebooks", "results/smoke", "book/_static/mathjax", "node_modules"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not [p for p in tracked if not p.endswith(".py")], tracked
    ignored = subprocess.run(
        [
            "git",
            "check-ignore",
            "notebooks/01_lie_groups.ipynb",
            "notebooks/.stamps/x.json",
            "results/smoke/x.csv",
            "book/_static/mathjax/tex-chtml.js",
            "node_modules/x",
            "_build/html/index.html",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert len(ignored) == 6


def test_doc_stack_is_pinned():
    pins = dict(
        line.split("==")
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    pins = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    assert pins["jupyter-book"].startswith("1.")
    for name in (
        "sphinx",
        "myst-nb",
        "sphinx-book-theme",
        "sphinxcontrib-bibtex",
        "jupytext",
        "papermill",
        "nbclient",
        "ipykernel",
        "docutils",
        "playwright",
    ):
        assert name in pins, f"{name} is not pinned in constraints.txt"
    package = (REPO / "package.json").read_text()
    assert '"mathjax": "3.2.2"' in package and (REPO / "package-lock.json").is_file()


def test_committed_quick_measurement_tables_are_current():
    """The benchmark, sweep, layout, layer-cost and redundancy tables in results/quick are what `make book`
    would accept as current (a changed case, size or column format would re-measure them for
    ten minutes on a reader's machine instead of failing here)."""
    import pandas as pd

    from gsepconv.analysis import layer_costs_is_current, redundancy_is_current
    from gsepconv.experiments.bench import bench_is_current, layouts_is_current, sweep_is_current

    quick = REPO / "results" / "quick"
    for name, is_current in (
        ("efficiency", bench_is_current),
        ("efficiency_sweep", sweep_is_current),
        ("layer_costs", layer_costs_is_current),
        ("redundancy", redundancy_is_current),
        ("layouts", layouts_is_current),
    ):
        assert is_current(pd.read_csv(quick / f"{name}.csv"), "quick"), f"results/quick/{name}.csv is stale"


def test_committed_quick_results_cover_every_planned_run():
    """`make book` (train='auto') must train nothing on a fresh clone: every run the quick profile
    plans is in the committed results/quick tables (run ids hash the configuration, so a changed
    profile shows up here, not as an hour of surprise training), and every row comes from one
    reproduction's code (one git commit, no uncommitted changes)."""
    import pandas as pd

    from gsepconv.experiments.registry import EXPERIMENTS, get_runs

    commits = set()
    for name, experiment in EXPERIMENTS.items():
        if "quick" not in experiment.profiles:
            continue
        table = pd.read_csv(REPO / "results" / "quick" / f"{name}.csv")
        planned = {c.run_id() for c in get_runs(name, "quick")}
        assert planned <= set(table["run_id"]), (
            f"results/quick/{name}.csv lacks {sorted(planned - set(table['run_id']))[:3]}"
        )
        commits |= set(table["git_commit"].astype(str))
    assert len(commits) == 1 and not any("dirty" in c for c in commits), commits
