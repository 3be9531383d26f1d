"""The smoke pipeline of ``make test``: every notebook of the repository executed by papermill with
``profile="smoke"`` (results, runs and executed notebooks in a temporary folder, so the repository
stays clean), then a strict build (``-W -n``) of a copy of the book."""

from __future__ import annotations

import json

import pytest
import yaml

from _companion import REPO, git_status, smoke_book

pytestmark = [pytest.mark.slow, pytest.mark.book]

#: with profile="smoke" a notebook must run in well under a minute on a 2-core CPU
SMOKE_SECONDS = 60


@pytest.fixture(scope="module")
def smoke():
    before = _snapshot()
    book = smoke_book()
    if book["error"] is not None:
        pytest.fail(f"the smoke pipeline failed: {book['error']}\n" + "\n".join(book["log"][-20:]))
    book["repo_status"] = (before, _snapshot())
    return book


def _snapshot():
    """What the pipeline could dirty: result tables and runs (tracked or not), executed notebooks."""
    files = [p for folder in ("results", "runs") for p in (REPO / folder).rglob("*") if p.is_file()]
    files += list((REPO / "notebooks").glob("*.ipynb")) + list((REPO / "notebooks").glob(".stamps/*"))
    return git_status(["results", "runs"]), {str(p): p.stat().st_mtime_ns for p in files}


def test_every_notebook_ran_quickly_with_the_smoke_profile(smoke):
    outcomes = smoke["outcomes"]
    names = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.py"))
    assert [o.notebook for o in outcomes] == names
    slow = {o.notebook: round(o.seconds) for o in outcomes if o.seconds > SMOKE_SECONDS}
    assert not slow, f"notebooks slower than {SMOKE_SECONDS} s with profile=smoke: {slow}"
    for o in outcomes:
        nb = json.loads(o.output.read_text())
        assert nb["metadata"]["papermill"]["parameters"] == {"profile": "smoke", "device": "cpu", "train": "auto"}
        errors = [
            out
            for c in nb["cells"]
            if c["cell_type"] == "code"
            for out in c.get("outputs", [])
            if out["output_type"] == "error"
        ]
        assert not errors
        warned = [
            "".join(out.get("text", ""))
            for c in nb["cells"]
            if c["cell_type"] == "code"
            for out in c.get("outputs", [])
            if out.get("name") == "stderr" and "Warning" in "".join(out.get("text", ""))
        ]
        assert not warned, f"{o.notebook} stores a warning a reader would see: {warned[0][:300]}"
        assert any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), f"{o.notebook} shows nothing"


def test_figures_go_to_the_temporary_results(smoke):
    figures = list((smoke["results"] / "smoke" / "figures").glob("*.png"))
    assert figures, "no notebook saved a figure under $GSEPCONV_RESULTS/smoke/figures"
    assert {p.with_suffix(".svg").is_file() for p in figures} == {True}


def test_the_repository_stays_clean(smoke):
    before, after = smoke["repo_status"]
    assert after == before, f"the smoke pipeline changed the repository:\n{after}"
    assert not (REPO / "results" / "smoke").exists()


def test_the_strict_book_has_every_page(smoke):
    html = smoke["html"]
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for page in pages:
        assert (html / f"{page}.html").is_file(), f"{page}.html was not built"
    assert (html / "index.html").is_file()
    api = (html / "book" / "api.html").read_text()
    for name in (
        "gsepconv.nn.GroupConv",
        "gsepconv.groups",
        "gsepconv.companion.ensure_results",
        "gsepconv.companion.reproduce.reproduce",
    ):
        assert name in api, f"the API page lacks {name}"
    bib = (html / "book" / "bibliography.html").read_text()
    assert "Exploiting Redundancy" in bib and "Knigge" in bib


def test_no_page_loads_anything_from_the_network(smoke):
    """Scripts, stylesheets, fonts and images come from the site itself (MathJax from npm); only
    links (launch buttons, repository, canonical URL) leave it."""
    import re

    html = smoke["html"]
    remote = re.compile(
        r"<(script|img|iframe|source)\b[^>]*\bsrc=\"https?://|<link\b(?![^>]*rel=\"canonical\")[^>]*href=\"https?://"
    )
    offenders = {
        str(p.relative_to(html)): m.group(0)
        for p in html.rglob("*.html")
        for m in [remote.search(p.read_text(errors="replace"))]
        if m
    }
    assert not offenders, offenders
    css = {
        str(p.relative_to(html))
        for p in (html / "_static").rglob("*.css")
        if re.search(r"url\(\s*['\"]?https?://", p.read_text(errors="replace"))
    }
    assert not css, f"stylesheets that fetch from the network: {css}"
