"""gsepconv reproduce / figures: the papermill runner, its stamps, its failures and usage errors,
and the strict book build, on throwaway notebooks and books in temporary folders."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from _companion import REPO, make_book, mathjax_dir, notebook_text
from gsepconv.cli import main
from gsepconv.companion import book as book_build
from gsepconv.companion import notebooks as chapters
from gsepconv.companion import reproduce as rp
from gsepconv.companion import stamps
from gsepconv.companion.execute import hide_repeated_parameters
from gsepconv.experiments.ondemand import FRESH_SINCE

pytestmark = pytest.mark.book

ALPHA = notebook_text(
    "Alpha",
    """
import os
from gsepconv.companion import results_dir
folder = results_dir(profile)
print("PARAMS", profile, device, train)
print("RUNS", os.environ["GSEPCONV_RUNS"])
print("TABLES", sorted(p.name for p in folder.glob("*.csv")) if folder.is_dir() else [])
""",
)

BROKEN = notebook_text(
    "Beta",
    "x = 1",
    """
# a comment first
value = 1 / 0
""",
)


def outputs(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])


@pytest.fixture
def book(tmp_path, monkeypatch):
    monkeypatch.delenv("GSEPCONV_RESULTS", raising=False)
    monkeypatch.delenv("GSEPCONV_RUNS", raising=False)
    return make_book(tmp_path / "repo", {"01_alpha": ALPHA})


def run(book: Path, tmp: Path, **kw):
    kw.setdefault("profile", "smoke")
    return rp.run_notebooks(
        rp.find_notebooks(book), root=book, results=tmp / "results", runs=tmp / "runs", log=lambda m: None, **kw
    )


# ------------------------------------------------------------------------ running, skipping
def test_runs_injects_parameters_and_skips_what_did_not_change(book, tmp_path):
    first = run(book, tmp_path, train="never")
    out = book / "notebooks" / "01_alpha.ipynb"
    assert [o.status for o in first] == ["ran"] and out.is_file()
    text = outputs(out)
    assert "PARAMS smoke cpu never" in text and f"RUNS {tmp_path / 'runs'}" in text
    nb = json.loads(out.read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in nb["cells"])
    assert "colab.research.google.com/github/gsepconv/gsepconv/blob/notebooks/notebooks/01_alpha.ipynb" in "".join(
        nb["cells"][0]["source"]
    )  # the badge, under the title
    stamp = json.loads((book / "notebooks" / ".stamps" / "01_alpha.json").read_text())
    assert stamp["parameters"] == {"profile": "smoke", "device": "cpu", "train": "never"} and stamp["seconds"] > 0

    assert [o.status for o in run(book, tmp_path, train="never")] == ["skipped"]
    # a new result table is a changed input
    (tmp_path / "results" / "smoke").mkdir(parents=True)
    (tmp_path / "results" / "smoke" / "mnist_rot.csv").write_text("a,b\n1,2\n")
    assert [o.status for o in run(book, tmp_path, train="never")] == ["ran"]
    assert "TABLES ['mnist_rot.csv']" in outputs(out)
    # derived figures/tables are not inputs
    (tmp_path / "results" / "smoke" / "tables").mkdir()
    (tmp_path / "results" / "smoke" / "tables" / "summary.csv").write_text("x\n1\n")
    assert [o.status for o in run(book, tmp_path, train="never")] == ["skipped"]
    # other parameters, a changed source, --force: rerun
    assert [o.status for o in run(book, tmp_path, train="auto")] == ["ran"]
    src = book / "notebooks" / "01_alpha.py"
    src.write_text(src.read_text() + "\n# %%\nprint('more')\n")
    assert [o.status for o in run(book, tmp_path, train="auto")] == ["ran"]
    assert [o.status for o in run(book, tmp_path, train="auto", force=True)] == ["ran"]
    # a missing output is rerun even with a matching stamp
    out.unlink()
    assert [o.status for o in run(book, tmp_path, train="auto")] == ["ran"]


def test_a_failing_notebook_names_cell_line_and_rerun_command(book, tmp_path, capsys):
    (book / "notebooks" / "02_beta.py").write_text(BROKEN)
    with pytest.raises(rp.NotebookFailed) as info:
        run(book, tmp_path)
    err = info.value
    lines = BROKEN.splitlines()
    marker = lines.index("# a comment first")  # 0-based index of the line after the marker = its 1-based number
    assert (err.notebook, err.cell, err.line) == ("02_beta", 4, marker)
    assert err.first_line == "value = 1 / 0"
    assert "ZeroDivisionError" in err.error and err.output == book / "notebooks" / "02_beta.ipynb"
    assert (
        err.command == f"gsepconv reproduce --profile smoke --device cpu --train auto --notebooks 02 --no-book "
        f"--results {tmp_path / 'results'}"
    )
    message = str(err)
    assert "notebook 02_beta failed in cell 4" in message and f"line {marker}" in message and err.command in message
    assert not (book / "notebooks" / ".stamps" / "02_beta.json").exists()  # a failure never counts as done
    # the earlier notebook ran; the CLI exits 1 with the same message
    assert (book / "notebooks" / ".stamps" / "01_alpha.json").is_file()


def test_cli_failure_exit_status(book, tmp_path, monkeypatch, capsys):
    (book / "notebooks" / "02_beta.py").write_text(BROKEN)
    monkeypatch.chdir(book)
    monkeypatch.setattr(rp, "repo_root", lambda start=None: book)
    code = main(
        [
            "reproduce",
            "--profile",
            "smoke",
            "--no-book",
            "--notebooks",
            "2",
            "--results",
            str(tmp_path / "results"),
            "--runs",
            str(tmp_path / "runs"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "notebook 02_beta failed in cell 4" in captured.err and "--notebooks 02 --no-book" in captured.err
    assert "[1/1] 02_beta: running" in captured.out


@pytest.mark.parametrize(
    "args, words",
    [
        (["--profile", "bogus"], ["unknown profile 'bogus'", "smoke, quick, paper"]),
        (["--device", "tpu"], ["unknown device 'tpu'", "cpu, cuda, cuda:N"]),
        (["--device", "cuda:x"], ["unknown device 'cuda:x'"]),
        (["--train", "sometimes"], ["unknown train mode 'sometimes'", "auto, always, never"]),
        (["--notebooks", "99"], ["unknown notebook '99'", "01_lie_groups"]),
        (["--notebooks", ","], ["--notebooks is empty"]),
    ],
)
def test_unknown_choices_exit_2_and_name_the_valid_ones(args, words, capsys):
    assert main(["reproduce", "--no-book", *args]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err


def test_cuda_without_a_gpu_is_a_usage_error(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(rp.UsageError, match="no CUDA device"):
        rp.check_choices("smoke", "cuda", "auto")


def test_select_notebooks():
    nbs = [rp.Notebook(Path(f"notebooks/{n}.py")) for n in ("01_a", "02_b", "05_c")]
    assert [n.name for n in rp.select_notebooks(nbs, "05,1")] == ["01_a", "05_c"]
    assert [n.name for n in rp.select_notebooks(nbs, ["02_b.py", "02"])] == ["02_b"]
    assert rp.select_notebooks(nbs, None) == nbs
    with pytest.raises(rp.UsageError, match="valid notebooks: 01_a, 02_b, 05_c"):
        rp.select_notebooks(nbs, "03")


def test_train_always_uses_a_runs_folder_per_commit(book, tmp_path, monkeypatch):
    monkeypatch.setattr(rp, "build_book", lambda *a, **k: pytest.fail("no book was asked for"))
    result = rp.reproduce(
        "smoke", "cpu", "always", book=False, results=tmp_path / "results", root=book, log=lambda m: None
    )
    text = outputs(result["notebooks"][0].output)
    assert f"RUNS {book / 'runs' / 'reproduce-nogit'}" in text  # the throwaway book is no git repository
    commit = rp.runs_for_commit(REPO).name
    assert commit.startswith("reproduce-") and len(commit.split("-")[1]) == 10


def test_colab_badge_and_addresses(book):
    assert (
        rp.colab_url(book, "05_x")
        == "https://colab.research.google.com/github/gsepconv/gsepconv/blob/notebooks/notebooks/05_x.ipynb"
    )
    assert rp.install_spec(book) == "gsepconv @ git+https://github.com/gsepconv/gsepconv@main"
    nb = rp.load_notebook(book / "notebooks" / "01_alpha.py", book, badge="remote")
    first = nb.cells[0].source.splitlines()
    assert first[0] == "# Alpha" and stamps.COLAB_BADGE_REMOTE in first[2]
    stamps.add_colab_badge(nb, "https://x", "img.svg")  # replaces, never duplicates
    assert nb.cells[0].source.count(stamps.BADGE_MARK) == 1 and "(https://x)" in nb.cells[0].source


# ---------------------------------------------------------------------- missing dependencies
def test_missing_doc_dependency_is_named(monkeypatch, capsys):
    real = chapters.util.find_spec

    def no_theme(name, *a):
        return None if name == "sphinx_book_theme" else real(name, *a)

    monkeypatch.setattr(chapters.util, "find_spec", no_theme)  # looked up by require_modules
    with pytest.raises(rp.MissingDependency, match=r"sphinx-book-theme.*pip install -c constraints.txt"):
        rp.check_book_stack()
    assert main(["reproduce", "--profile", "smoke"]) == 2
    assert "sphinx-book-theme" in capsys.readouterr().err


def test_jupyter_book_2_is_refused(monkeypatch):
    monkeypatch.setattr(book_build.metadata, "version", lambda name: "2.0.1")
    with pytest.raises(rp.MissingDependency, match="Jupyter Book 1 project"):
        rp.check_book_stack()


def test_missing_mathjax_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("GSEPCONV_MATHJAX", str(tmp_path / "nothing"))
    with pytest.raises(rp.MissingDependency, match="npm ci"):
        rp.prepare_mathjax(tmp_path)


def test_figures_needs_the_report_module(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gsepconv.report", None)  # import fails
    assert main(["figures", "--profile", "quick"]) == 2
    assert "gsepconv.report.make_all" in capsys.readouterr().err
    assert main(["figures", "--profile", "nope"]) == 2


def test_figures_calls_make_all(monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType("gsepconv.report")
    fake.make_all = lambda profile, results_root=None: (
        calls.append((profile, results_root)) or {"figures": {"a": {}}, "tables": {}, "skipped": {}, "seconds": 0.1}
    )
    monkeypatch.setitem(sys.modules, "gsepconv.report", fake)
    lines: list[str] = []
    rp.figures("quick", results=tmp_path, log=lines.append)
    assert calls == [("quick", tmp_path)] and "1 figures and 0 tables" in lines[0]


# ----------------------------------------------------------------------------- the book
@pytest.mark.slow
def test_reproduce_builds_a_strict_book_offline(book, tmp_path, monkeypatch):
    monkeypatch.setenv("GSEPCONV_MATHJAX", str(mathjax_dir()))
    result = rp.reproduce(
        "smoke",
        "cpu",
        "auto",
        out=tmp_path / "out",
        results=tmp_path / "results",
        runs=tmp_path / "runs",
        root=book,
        log=lambda m: None,
    )
    html = result["html"]
    assert html == tmp_path / "out" / "_build" / "html"
    page = (html / "notebooks" / "01_alpha.html").read_text()
    assert "PARAMS smoke cpu auto" in page and "mathjax/tex-chtml.js" in page
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert "Knigge" in (html / "book" / "intro.html").read_text()  # the citation resolved
    assert not (book / "notebooks" / "01_alpha.ipynb").exists()  # --out keeps the sources' folder clean


@pytest.mark.slow
def test_a_warning_fails_the_book(book, tmp_path, monkeypatch):
    monkeypatch.setenv("GSEPCONV_MATHJAX", str(mathjax_dir()))
    run(book, tmp_path)
    (book / "book" / "table.md").write_text("# Table\n\n```{csv-table}\n:file: ../results/quick/absent.csv\n```\n")
    with (book / "_toc.yml").open("a") as toc:
        toc.write("  - file: book/table\n")
    with pytest.raises(rp.BookBuildFailed, match="absent.csv"):
        rp.build_book(book)


def test_a_missing_chapter_fails_before_sphinx(book, monkeypatch):
    monkeypatch.setattr(book_build, "prepare_mathjax", lambda *a, **k: None)  # looked up by build_book
    with pytest.raises(rp.BookBuildFailed, match="notebooks/01_alpha"):
        rp.build_book(book)  # the notebook was never executed: no .ipynb


def test_the_results_page_is_redrawn_before_the_build(book, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(rp, "figures", lambda profile, results=None, log=None: calls.append((profile, results)))
    monkeypatch.setattr(rp, "build_book", lambda book_root, root=None, log=None: book_root / "_build" / "html")
    monkeypatch.setattr(rp, "check_book_stack", lambda: None)
    monkeypatch.setattr(rp, "mathjax_source", lambda root: REPO / "node_modules" / "mathjax" / "es5")
    monkeypatch.setattr(stamps, "mathjax_source", lambda root: REPO / "node_modules" / "mathjax" / "es5")
    (book / "book" / "results.md").write_text("# Results\n")
    out = tmp_path / "out"
    rp.reproduce(
        "smoke",
        "cpu",
        "auto",
        out=out,
        results=tmp_path / "results",
        runs=tmp_path / "runs",
        root=book,
        log=lambda m: None,
    )
    assert calls == [(rp.BOOK_PROFILE, out / "results")]  # drawn into the copy, never into the repository


def test_a_book_from_other_results_needs_out(book, tmp_path, monkeypatch):
    monkeypatch.setattr(rp, "check_book_stack", lambda: None)
    monkeypatch.setattr(rp, "mathjax_source", lambda root: REPO / "node_modules" / "mathjax" / "es5")
    monkeypatch.setattr(stamps, "mathjax_source", lambda root: REPO / "node_modules" / "mathjax" / "es5")
    with pytest.raises(rp.UsageError, match="add --out DIR"):
        rp.reproduce("smoke", "cpu", "auto", results=tmp_path / "elsewhere", root=book, log=lambda m: None)


def test_missing_results_with_train_never_stop_the_notebook(book, tmp_path):
    (book / "notebooks" / "02_needs_table.py").write_text(
        notebook_text(
            "Needs a table",
            """
from gsepconv.companion import ensure_csv, results_dir
table = ensure_csv(results_dir(profile) / "absent.csv", train, produce=lambda: None,
                     command="gsepconv make-absent --profile " + profile)
""",
        )
    )
    with pytest.raises(rp.NotebookFailed) as info:
        rp.run_notebooks(
            rp.select_notebooks(rp.find_notebooks(book), "02"),
            root=book,
            profile="smoke",
            train="never",
            results=tmp_path / "results",
            runs=tmp_path / "runs",
            log=lambda m: None,
        )
    assert info.value.notebook == "02_needs_table" and "MissingResults" in info.value.error
    assert "gsepconv make-absent --profile smoke" in info.value.error and "--train never" in info.value.command


PRODUCER = """
from pathlib import Path
from gsepconv.companion import ensure_csv, results_dir
table = results_dir(profile) / "made.csv"
def produce():
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text("x\\n1\\n")
    with open(table.parent / "produced.log", "a") as log:
        log.write("produced\\n")
ensure_csv(table, train, produce, command="make it")
"""


def test_train_always_produces_each_table_once_per_reproduction(tmp_path, monkeypatch):
    """Two chapters need the same table (chapter 08 needs every table): `--train always` produces
    it in the first and reads it in the second; the next reproduction produces it again."""
    monkeypatch.delenv("GSEPCONV_RESULTS", raising=False)
    monkeypatch.delenv("GSEPCONV_RUNS", raising=False)
    monkeypatch.delenv(FRESH_SINCE, raising=False)
    root = make_book(
        tmp_path / "repo",
        {"01_first": notebook_text("First", PRODUCER), "02_second": notebook_text("Second", PRODUCER)},
    )
    log = tmp_path / "results" / "smoke" / "produced.log"
    for expected in (1, 2):
        run(root, tmp_path, train="always", force=True)
        assert log.read_text().count("produced") == expected
    run(root, tmp_path, train="auto", force=True)  # auto: the table exists, nothing is produced
    assert log.read_text().count("produced") == 2


def test_a_whole_train_always_reproduction_trains_the_profile_as_one_pool_first(book, tmp_path, monkeypatch):
    """With several workers (quick on CPU), `reproduce --train always` trains every run of the
    profile as one pool into the runs folder the notebooks use, before the first notebook; one
    worker, a notebook selection or train='auto' leave training to the notebooks."""
    calls = []
    monkeypatch.setattr(
        rp, "train_profile", lambda profile, **kw: calls.append((profile, kw)) or {"runs": 3, "failed": 0}
    )
    monkeypatch.setattr(rp, "default_devices", lambda profile, device=None, threads=None: ["cpu", "cpu"])
    monkeypatch.delenv("GSEPCONV_RUNS", raising=False)
    rp.reproduce("smoke", "cpu", "always", book=False, root=book, runs=tmp_path / "runs", log=lambda m: None)
    assert len(calls) == 1 and calls[0][0] == "smoke"
    assert Path(calls[0][1]["runs"]) == tmp_path / "runs" and calls[0][1]["devices"] == ["cpu", "cpu"]
    rp.reproduce(
        "smoke",
        "cpu",
        "always",
        notebooks="01",
        book=False,
        root=book,
        runs=tmp_path / "runs",
        force=True,
        log=lambda m: None,
    )
    rp.reproduce("smoke", "cpu", "auto", book=False, root=book, runs=tmp_path / "runs", force=True, log=lambda m: None)
    assert len(calls) == 1
    monkeypatch.setattr(rp, "default_devices", lambda profile, device=None, threads=None: ["cpu"])
    rp.reproduce(
        "smoke", "cpu", "always", book=False, root=book, runs=tmp_path / "runs", force=True, log=lambda m: None
    )
    assert len(calls) == 1


def test_injected_parameters_are_hidden_only_when_they_repeat_the_defaults(tmp_path):
    """`make book` injects the notebook's own defaults: the book shows the parameters once. A run
    with other values keeps the injected cell visible, since it says what ran."""
    import nbformat

    def notebook(injected: str):
        nb = nbformat.v4.new_notebook()
        nb.cells = [
            nbformat.v4.new_code_cell(
                'profile = "quick"  # which sizes\ntrain = "auto"', metadata={"tags": ["parameters"]}
            ),
            nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}),
            nbformat.v4.new_code_cell("print(profile)"),
        ]
        path = tmp_path / f"nb{len(list(tmp_path.iterdir()))}.ipynb"
        nbformat.write(nb, path)
        return path

    same = notebook('# Parameters\nprofile = "quick"\ntrain = "auto"\n')
    assert hide_repeated_parameters(same)
    assert "remove-cell" in nbformat.read(same, as_version=4).cells[1].metadata["tags"]
    other = notebook('# Parameters\nprofile = "smoke"\ntrain = "auto"\n')
    assert not hide_repeated_parameters(other)
    assert "remove-cell" not in nbformat.read(other, as_version=4).cells[1].metadata["tags"]
    extra = notebook('profile = "quick"\nseed = 3\n')  # a parameter the notebook does not declare
    assert not hide_repeated_parameters(extra)
