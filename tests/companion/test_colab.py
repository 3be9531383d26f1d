"""Colab without surprises, piece by piece: the committed results fetched and checked
against the shipped manifest, training announced and refused on a notebook front end when long,
``device="auto"``, the commit of a pip/git install, the Colab form of the published notebooks,
and workers that stop when their parent dies. The whole thing end to end is
test_colab_notebooks.py."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from _companion import REPO
from gsepconv.companion import committed as cm
from gsepconv.companion import publish as pub
from gsepconv.companion import reproduce as rp
from gsepconv.experiments import io
from gsepconv.experiments import ondemand as en

QUICK = REPO / "results" / "quick"


@pytest.fixture
def colab(tmp_path, monkeypatch):
    """An empty working folder outside the repository, as on Colab: no $GSEPCONV_RESULTS or source."""
    work = tmp_path / "content"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("GSEPCONV_RESULTS", "GSEPCONV_RUNS", cm.ENV_SOURCE, en.ENV_MAX_TRAIN_MINUTES):
        monkeypatch.delenv(name, raising=False)
    return work


def test_the_shipped_manifest_is_the_committed_results():
    """The package's manifest lists exactly the committed input tables of results/quick with their
    SHA-256: a wheel built from this commit fetches and accepts exactly these bytes. When results
    change, `gsepconv reproduce` rewrites it (or call write_manifest); commit it with them."""
    manifest = cm.read_manifest()
    assert set(manifest) == {"quick"}
    assert manifest["quick"] == cm.manifest_entries(REPO / "results", "quick"), (
        "gsepconv/companion/results_manifest.json is stale: "
        "run gsepconv.companion.committed.write_manifest('results', ['quick'])"
    )
    assert "mnist_rot.csv" in manifest["quick"] and "layer_costs.csv" in manifest["quick"]
    assert {"film_SE2.pt", "film_Z2.pt"} <= set(manifest["quick"]), "chapter 02's film models travel with the tables"


def test_fetch_from_a_folder_verified_and_only_once(colab):
    lines = []
    base = cm.committed_results("quick", "auto", source=REPO / "results", log=lines.append)
    assert base.resolve() == (colab / "results").resolve()
    for name in cm.read_manifest()["quick"]:
        assert (base / "quick" / name).read_bytes() == (QUICK / name).read_bytes()
    assert not (base / "quick" / "figures").exists(), "derived figures are drawn by the chapters, not fetched"
    assert any("fetched" in line for line in lines)
    lines.clear()
    cm.committed_results("quick", "auto", source=REPO / "results", log=lines.append)
    assert lines == [], "a complete folder is not fetched again"


def test_a_local_table_that_differs_is_kept_and_reported(colab):
    mine = colab / "results" / "quick" / "mnist_rot.csv"
    mine.parent.mkdir(parents=True)
    mine.write_text("run_id\nmy-own-run\n")
    lines = []
    cm.committed_results("quick", "auto", source=REPO / "results", log=lines.append)
    assert mine.read_text() == "run_id\nmy-own-run\n", "nothing is overwritten"
    assert any("mnist_rot.csv" in line and "differ" in line for line in lines)
    assert (mine.parent / "cifar10.csv").read_bytes() == (QUICK / "cifar10.csv").read_bytes()


def test_checksum_mismatch_and_unreachable_source_say_what_is_missing(colab, tmp_path):
    wrong = tmp_path / "other-commit"
    shutil.copytree(REPO / "results" / "quick", wrong / "quick", ignore=shutil.ignore_patterns("figures", "tables"))
    (wrong / "quick" / "redundancy.csv").write_text("changed\n")
    with pytest.raises(cm.ResultsUnavailable) as err:
        cm.committed_results("quick", "auto", source=wrong, log=lambda m: None)
    text = str(err.value)
    assert "redundancy.csv: checksum mismatch" in text and "gsepconv reproduce --profile quick --train always" in text
    assert "Nothing was trained or overwritten" in text and cm.ENV_SOURCE in text
    folder = colab / "results" / "quick"
    assert not (folder / "redundancy.csv").exists(), "a file that fails its checksum is not kept"
    assert not list(folder.glob(".*part")), "no temporary file is left behind"
    assert (folder / "mnist_rot.csv").is_file(), "the verified files stay"

    with pytest.raises(cm.ResultsUnavailable, match=r"(?s)could not be fetched from file://.*redundancy\.csv"):
        cm.committed_results("quick", "never", source=(tmp_path / "nowhere").as_uri(), log=lambda m: None)
    assert isinstance(err.value, en.MissingResults)


def test_file_url_source_and_the_default_source_offline(colab, monkeypatch, offline_storage):
    base = cm.committed_results("quick", "auto", source=(REPO / "results").as_uri(), log=lambda m: None)
    assert (base / "quick" / "efficiency.csv").read_bytes() == (QUICK / "efficiency.csv").read_bytes()

    commit = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setattr(cm, "installed_commit", lambda: commit)
    url, about = cm.default_source()
    assert url == f"https://raw.githubusercontent.com/gsepconv/gsepconv/{commit}/results" and commit[:12] in about
    (base / "quick" / "efficiency.csv").unlink()
    import urllib.error

    from gsepconv.data import storage

    def offline(url, *args, **kwargs):  # what urlopen does without a network
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(storage, "urlopen", offline)
    with pytest.raises(cm.ResultsUnavailable) as err:
        cm.committed_results("quick", "auto", log=lambda m: None)
    assert "efficiency.csv: [Errno -3] Temporary failure in name resolution" in str(err.value)
    assert url in str(err.value) and not (base / "quick" / "efficiency.csv").exists()
    monkeypatch.setattr(cm, "installed_commit", lambda: None)
    assert cm.default_source()[0].endswith("/main/results")


def test_nothing_is_fetched_in_a_clone_for_always_or_for_uncommitted_profiles(colab, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("nothing should be fetched")

    monkeypatch.setattr(cm, "_copy", refuse)
    assert cm.committed_results("quick", "always", source=REPO / "results") == colab / "results"
    assert cm.committed_results("smoke", "auto", source=REPO / "results") == colab / "results"
    monkeypatch.chdir(REPO / "notebooks")
    assert cm.committed_results("quick", "auto").resolve() == (REPO / "results").resolve()


def test_the_manifest_is_refreshed_only_for_the_package_own_results(tmp_path):
    before = cm.MANIFEST.read_bytes()
    (tmp_path / "_config.yml").write_text("title: x\n")
    shutil.copytree(QUICK, tmp_path / "results" / "quick", ignore=shutil.ignore_patterns("figures", "tables"))
    (tmp_path / "results" / "quick" / "mnist_rot.csv").write_text("changed\n")
    assert rp.refresh_manifest(tmp_path, "quick", None, log=lambda m: None) is False
    assert rp.refresh_manifest(REPO, "smoke", None, log=lambda m: None) is False
    assert rp.refresh_manifest(REPO, "quick", None, log=lambda m: None) is False, "current already"
    assert cm.MANIFEST.read_bytes() == before


def test_write_and_read_manifest_refuse_paths(tmp_path):
    manifest = tmp_path / "m.json"
    assert cm.write_manifest(REPO / "results", ["quick"], manifest) is True
    assert cm.write_manifest(REPO / "results", ["quick"], manifest) is False
    manifest.write_text(json.dumps({"quick": {"../../etc/passwd": "0" * 64}}))
    with pytest.raises(ValueError, match="plain CSV or .pt names"):
        cm.read_manifest(manifest)
    manifest.write_text(json.dumps({"quick": {"setup.py": "0" * 64}}))  # only tables and weights, never code
    with pytest.raises(ValueError, match="plain CSV or .pt names"):
        cm.read_manifest(manifest)


# ------------------------------------------------------------------------ training guard
def test_max_train_minutes_defaults_and_env(monkeypatch):
    monkeypatch.delenv(en.ENV_MAX_TRAIN_MINUTES, raising=False)
    assert not en.on_notebook_front_end()  # pytest is a terminal, not a kernel
    assert en.max_train_minutes() == math.inf and en.max_train_minutes(3) == 3
    monkeypatch.setattr(en, "on_notebook_front_end", lambda: True)
    assert en.max_train_minutes() == en.NOTEBOOK_MAX_TRAIN_MINUTES
    monkeypatch.setenv(en.ENV_MAX_TRAIN_MINUTES, "none")
    assert en.max_train_minutes() == math.inf
    monkeypatch.setenv(en.ENV_MAX_TRAIN_MINUTES, "12.5")
    assert en.max_train_minutes() == 12.5
    monkeypatch.setenv(en.ENV_MAX_TRAIN_MINUTES, "soon")
    with pytest.raises(ValueError, match="number of minutes"):
        en.max_train_minutes()


def test_auto_training_is_announced_and_refused_above_the_limit(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(en.ENV_MAX_TRAIN_MINUTES, raising=False)
    calls = []

    class Started(Exception):
        pass

    def run_experiment(*args, **kwargs):
        calls.append(kwargs)
        raise Started

    monkeypatch.setattr(en, "run_experiment", run_experiment)
    with pytest.raises(en.TrainingNotStarted) as err:
        en.ensure_results(
            "mnist_rot", "smoke", "auto", results=tmp_path / "results", runs=tmp_path / "runs", max_train_minutes=0
        )
    text = str(err.value)
    assert "lacks" in text and "would take" in text and "train='always'" in text and en.ENV_MAX_TRAIN_MINUTES in text
    assert "gsepconv run mnist_rot --profile smoke" in text
    assert not calls and not (tmp_path / "runs").exists(), "nothing was started"

    with pytest.raises(Started):  # allowed: announced first, then the (stubbed) training starts
        en.ensure_results(
            "mnist_rot", "smoke", "auto", results=tmp_path / "results", runs=tmp_path / "runs", max_train_minutes=60
        )
    assert len(calls) == 1 and "Producing it now with train='auto': it would take" in capsys.readouterr().out

    # no limit (a terminal, gsepconv reproduce): announced without building models for an estimate
    monkeypatch.setattr(en, "training_minutes", lambda *a: pytest.fail("estimated without a limit"))
    with pytest.raises(Started):
        en.ensure_results("mnist_rot", "smoke", "auto", results=tmp_path / "results", runs=tmp_path / "runs")
    assert "no time limit applies here" in capsys.readouterr().out


def test_a_table_of_unknown_cost_needs_always_on_a_notebook(tmp_path, capsys, monkeypatch):
    path = tmp_path / "quick" / "table.csv"
    produced = []

    def produce():
        produced.append(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a\n1\n")

    monkeypatch.setattr(en, "on_notebook_front_end", lambda: True)
    monkeypatch.delenv(en.ENV_MAX_TRAIN_MINUTES, raising=False)
    with pytest.raises(en.TrainingNotStarted, match="has no estimate.*train='always'"):
        en.ensure_csv(path, "auto", produce, "gsepconv bench --profile quick")
    assert not produced
    en.ensure_csv(path, "auto", produce, "gsepconv bench", minutes=lambda: 0.5)
    assert produced and "under a minute" in capsys.readouterr().out
    path.unlink()
    en.ensure_csv(path, "always", produce, "gsepconv bench")  # asked for: produced, announced
    assert len(produced) == 2


def test_check_device():
    assert en.check_device("auto") in ("cpu", "cuda")
    assert en.check_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        en.check_device("gpu")
    import torch

    if not torch.cuda.is_available():
        assert en.check_device("auto") == "cpu"
        with pytest.raises(ValueError, match="no GPU"):
            en.check_device("cuda")


# ------------------------------------------------------------------------- provenance
def test_the_commit_of_a_pip_git_install(monkeypatch):
    from importlib import metadata

    commit = "fedcba9876543210fedcba9876543210fedcba98"

    class Dist:
        def __init__(self, text):
            self.text = text

        def read_text(self, name):
            return self.text if name == "direct_url.json" else None

    direct = {"url": "https://github.com/gsepconv/gsepconv", "vcs_info": {"vcs": "git", "commit_id": commit}}
    monkeypatch.setattr(metadata, "distribution", lambda name: Dist(json.dumps(direct)))
    assert io.installed_commit() == commit
    monkeypatch.setattr(io, "_GIT_COMMIT", None)
    monkeypatch.setattr(io, "_checkout_commit", lambda package: None)
    assert io.git_commit() == commit[:12]
    monkeypatch.setattr(io, "_GIT_COMMIT", None)
    monkeypatch.setattr(metadata, "distribution", lambda name: Dist(json.dumps({"url": "file:///x", "dir_info": {}})))
    assert io.installed_commit() is None and io.git_commit() == "unknown"
    monkeypatch.setattr(io, "_GIT_COMMIT", None)


def test_a_copy_inside_a_checkout_is_not_that_checkout(tmp_path):
    """A package installed into a virtual environment inside some git checkout must not report
    that checkout's commit."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    package = tmp_path / ".venv" / "lib" / "site-packages" / "gsepconv"
    package.mkdir(parents=True)
    assert io._checkout_commit(package.resolve()) is None
    assert io._checkout_commit((REPO / "gsepconv").resolve())  # the repository itself: its commit


# --------------------------------------------------------------------- published notebooks
def test_citations_become_text_and_links():
    bib = pub._bibliography(REPO)
    link = "https://example.org/book/bibliography.html"
    text = "as shown {cite:p}`knigge2022exploiting,cohen2016group` and by {cite:t}`bekkers2020bspline`; {abbr}`X`"
    out = pub.render_citations(text, bib, link)
    assert out == (
        f"as shown ([Knigge et al., 2022; Cohen and Welling, 2016]({link})) and by [Bekkers (2020)]({link}); `X`"
    )
    with pytest.raises(pub.PublishError, match="nosuchkey"):
        pub.render_citations("{cite:p}`nosuchkey`", bib, link)


def test_the_published_notebooks_are_made_for_colab(tmp_path):
    ref = "0123456789abcdef0123456789abcdef01234567"
    written = pub.export_notebooks(REPO, tmp_path, ref=ref)
    assert len(written) == 8
    for path in written:
        nb = json.loads(path.read_text())
        setup = nb["cells"][0]
        source = "".join(setup["source"])
        assert setup["metadata"]["cellView"] == "form" and source.startswith("#@title ")
        assert f'"{rp.install_spec(REPO, ref)}"' in source and "@main" not in source
        params = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
        assert 'device = "auto"' in "".join(params["source"])
        markdown = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        assert "{cite:" not in markdown and "](https://gsepconv.github.io/gsepconv/book/bibliography.html)" in markdown
        gpu = path.stem in ("05_rotated_mnist", "06_natural_images")
        assert (nb["metadata"].get("accelerator") == "GPU") == gpu, path.stem
        assert "provenance" in nb["metadata"]["colab"]
    assert (tmp_path / "requirements.txt").read_text().splitlines()[0] == rp.install_spec(REPO, ref)


# ------------------------------------------------------------------------ orphan workers
PARENT = '''
import os, sys, time
from pathlib import Path

from gsepconv.experiments import workers
from gsepconv.experiments.registry import get_runs

MARKS = Path(sys.argv[1])


def slow_factory(name, split, data):
    """Stands in for a long training run: a worker sits here until it is stopped."""
    (MARKS / f"worker-{os.getpid()}").write_text("started")
    while True:
        time.sleep(0.05)


if __name__ == "__main__":
    plan = get_runs("mnist_rot", "smoke")[:2]
    workers.run_parallel(plan, ["cpu", "cpu"], MARKS / "runs", False, slow_factory, print)
'''


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc (Linux)")
def test_workers_stop_when_their_parent_is_killed(tmp_path):
    """A killed kernel (SIGKILL: no cleanup of its own) leaves no worker training on."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(PARENT))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("worker-*"))) < 2:
            assert parent.poll() is None, parent.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
        assert all(_alive(pid) for pid in workers)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + orphan_grace() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [pid for pid in workers if _alive(pid)]
        assert not left, f"workers {left} outlived their killed parent"
        output = parent.stdout.read().decode()
        assert "stopping" in output, output[-2000:]
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in tmp_path.glob("worker-*"):
            pid = int(p.name.split("-")[1])
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def orphan_grace() -> float:
    from gsepconv.experiments.workers import ORPHAN_GRACE_S

    return ORPHAN_GRACE_S
