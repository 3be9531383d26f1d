"""The built book in a real headless Chromium (Debian's ``chromium``, driven by Playwright with
``executable_path``; Playwright's own browser download is not used). Every page of the table of
contents must render with no console error and no network request (math typeset by the MathJax
copied from npm, images loaded from files), and every Colab link must open an ``.ipynb`` that
exists in the layout ``gsepconv publish-notebooks`` publishes.

The book is the smoke book of tests/_companion.py, or ``$GSEPCONV_BOOK_HTML`` (``make book-check``
points it at ``_build/html``). Locally a missing chromium skips; in CI (``$CI``) it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from _companion import REPO, require, smoke_book
from gsepconv.companion.publish import export_notebooks
from gsepconv.companion.stamps import COLAB

pytestmark = [pytest.mark.slow, pytest.mark.book]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOC = yaml.safe_load((REPO / "_toc.yml").read_text())
PAGES = [TOC["root"]] + [c["file"] for part in TOC["parts"] for c in part["chapters"]]
CHAPTERS = [p for p in PAGES if p.startswith("notebooks/")]


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    require(path is not None, "Debian's chromium is not installed (apt-get update && apt-get install -y chromium)")
    return str(path)


@pytest.fixture(scope="module")
def html() -> Path:
    given = os.environ.get("GSEPCONV_BOOK_HTML")
    if given:
        return Path(given)
    book = smoke_book()
    if book["error"] is not None:
        pytest.fail(f"the smoke book could not be built: {book['error']}")
    return book["html"]


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """The files of the published notebooks branch."""
    dest = tmp_path_factory.mktemp("published")
    export_notebooks(REPO, dest)
    return dest


@pytest.fixture(scope="module")
def pages(html, tmp_path_factory):
    """Every page of the toc as the browser saw it: {page: report}."""
    executable = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright (Python) is not installed: pip install -c constraints.txt -e '.[test]'")
    profile = tmp_path_factory.mktemp("chromium-profile")
    reports = {}
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=FLAGS
        )
        network: list[str] = []

        def route(r):
            if r.request.url.startswith(("file://", "data:", "about:")):
                r.continue_()
            else:
                network.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        context.set_default_timeout(120_000)  # a busy 2-core machine: generous, a real hang still fails
        for name in PAGES:
            page = context.new_page()
            messages: list[str] = []
            page.on(
                "console",
                lambda m, out=messages: (
                    out.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None
                ),
            )
            page.on("pageerror", lambda e, out=messages: out.append(f"page error: {e}"))
            page.on(
                "requestfailed",
                lambda r, out=messages: (
                    out.append(f"request failed: {r.url} {r.failure}") if r.url.startswith("file://") else None
                ),
            )
            before = len(network)
            page.goto((html / f"{name}.html").as_uri(), wait_until="load")
            has_math = page.evaluate("document.querySelectorAll('.math').length")
            if has_math:
                page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("MathJax.startup.promise")
            reports[name] = {
                "math": has_math,
                "mjx": page.evaluate("document.querySelectorAll('mjx-container').length"),
                "mjx_errors": page.evaluate("document.querySelectorAll('mjx-merror').length"),
                "h1": page.evaluate(
                    "Array.from(document.querySelectorAll('main h1, article h1')).map(h => h.textContent.trim())"
                ),
                "text": page.evaluate("(document.querySelector('main') || document.body).innerText.length"),
                "images": page.evaluate(
                    "Array.from(document.querySelectorAll('main img, article img')).map("
                    "i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"
                ),
                "tables": page.evaluate("document.querySelectorAll('main table, article table').length"),
                "links": page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"),
                "messages": messages,
                "network": network[before:],
            }
            page.close()
        context.close()
    return reports


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_offline_without_errors(pages, name):
    report = pages[name]
    assert report["h1"] and report["h1"][0], f"{name}: no title"
    assert report["text"] > 300, f"{name}: almost empty ({report['text']} characters)"
    assert not report["messages"], f"{name}: {report['messages']}"
    assert not report["network"], f"{name} fetched from the network: {report['network']}"
    broken = [src for src, ok in report["images"] if not ok]
    assert not broken, f"{name}: images that did not load: {broken}"
    if report["math"]:
        assert report["mjx"] >= 1, f"{name}: {report['math']} formulas, none typeset by MathJax"
        assert report["mjx_errors"] == 0, f"{name}: MathJax reported TeX errors"


def test_math_is_typeset_somewhere(pages):
    assert pages[TOC["root"]]["mjx"] >= 1, "the introduction's formula was not typeset"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_shows_figures_and_opens_in_colab(pages, published, name):
    report = pages[name]
    assert [src for src, ok in report["images"] if ok and "colab-badge" not in (src or "")], f"{name}: no figure"
    colab = sorted({u for u in report["links"] if u.startswith(COLAB + "/github/")})
    assert colab, f"{name}: no Colab link"
    branch = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["branch"]
    for url in colab:
        path = urlparse(url).path.split(f"/blob/{branch}/", 1)
        assert len(path) == 2, f"{url} does not open the {branch} branch"
        assert path[1] == f"{name}.ipynb" and (published / path[1]).is_file(), (
            f"{url} points at {path[1]}, which the published branch does not hold"
        )


def test_results_page_has_tables_and_figures(pages):
    report = pages["book/results"]
    assert report["tables"] >= 1, "the results page shows no table"
    assert [src for src, ok in report["images"] if ok], "the results page shows no figure"
