"""gsepconv publish-notebooks: the .ipynb files Colab opens, published to a branch of a local bare
git remote (as the workflow does to GitHub)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from _companion import REPO, make_book, notebook_text
from gsepconv.cli import main
from gsepconv.companion import publish as pub
from gsepconv.companion import reproduce as rp
from gsepconv.companion.stamps import COLAB_BADGE_REMOTE

pytestmark = pytest.mark.book

SETUP = """# %% tags=["remove-cell"]
import importlib.util, subprocess, sys
if importlib.util.find_spec("gsepconv") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "gsepconv @ git+https://github.com/gsepconv/gsepconv@main"])
"""


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def remote(tmp_path):
    bare = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    return bare


def with_setup(text: str) -> str:
    head, rest = text.split("\n# %% [markdown]", 1)
    return f"{head}\n{SETUP}\n# %% [markdown]{rest}"


def commit_all(root: Path, message: str = "sources") -> str:
    git("add", "-A", cwd=root)
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", message, cwd=root)
    return git("rev-parse", "HEAD", cwd=root).strip()


@pytest.fixture
def book(tmp_path):
    """A throwaway book in its own git repository (the notebooks are pinned to its commit)."""
    root = make_book(
        tmp_path / "repo",
        {
            "01_alpha": with_setup(notebook_text("Alpha", "print(profile)")),
            "02_beta": with_setup(notebook_text("Beta", "x = 2")),
        },
    )
    git("init", "-q", cwd=root)
    commit_all(root)
    return root


def branch_files(remote: Path, branch: str) -> list[str]:
    return git("ls-tree", "-r", "--name-only", branch, cwd=remote).split()


def test_publish_to_a_local_bare_remote(book, remote):
    commit = pub.publish_notebooks(book, str(remote), message="first", log=lambda m: None)
    assert commit and git("rev-parse", "notebooks", cwd=remote).strip() == commit
    files = branch_files(remote, "notebooks")
    assert files == ["README.md", "notebooks/01_alpha.ipynb", "notebooks/02_beta.ipynb", "requirements.txt"]
    nb = json.loads(git("show", "notebooks:notebooks/01_alpha.ipynb", cwd=remote))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    # the setup cell comes first, hidden (book) and folded (Colab), installing gsepconv at the published
    # commit; the badge sits under the title and opens this very file
    head = git("rev-parse", "HEAD", cwd=book).strip()
    setup = nb["cells"][0]
    assert "remove-cell" in setup["metadata"]["tags"] and setup["metadata"]["cellView"] == "form"
    assert f'"{rp.install_spec(book, head)}"' in "".join(setup["source"])
    title = "".join(nb["cells"][1]["source"])
    url = rp.colab_url(book, "01_alpha")
    assert f"({url})" in title and COLAB_BADGE_REMOTE in title
    assert url.split("/blob/notebooks/")[1] in files
    requirements = git("show", "notebooks:requirements.txt", cwd=remote)
    assert requirements.splitlines()[0] == rp.install_spec(book, head)

    # nothing changed: no new commit
    assert pub.publish_notebooks(book, str(remote), log=lambda m: None) is None
    assert git("rev-list", "--count", "notebooks", cwd=remote).strip() == "1"

    # a changed source and a removed chapter: one more commit on top of the history
    (book / "notebooks" / "02_beta.py").unlink()
    (book / "notebooks" / "01_alpha.py").write_text(
        (book / "notebooks" / "01_alpha.py").read_text() + "\n# %%\nx = 3\n"
    )
    commit_all(book, "second")
    second = pub.publish_notebooks(book, str(remote), message="second", log=lambda m: None)
    assert second and second != commit
    assert git("rev-list", "--count", "notebooks", cwd=remote).strip() == "2"
    assert branch_files(remote, "notebooks") == ["README.md", "notebooks/01_alpha.ipynb", "requirements.txt"]
    assert "x = 3" in git("show", "notebooks:notebooks/01_alpha.ipynb", cwd=remote)


def test_publish_refuses_main_and_reports_git_errors(book, tmp_path):
    with pytest.raises(pub.PublishError, match="main"):
        pub.publish_notebooks(book, str(tmp_path), branch="main", log=lambda m: None)
    with pytest.raises(pub.PublishError, match="git ls-remote"):
        pub.publish_notebooks(book, str(tmp_path / "no-such-remote"), log=lambda m: None)
    shutil.rmtree(book / ".git")
    with pytest.raises(pub.PublishError, match="not a git checkout"):
        pub.publish_notebooks(book, str(tmp_path / "r.git"), log=lambda m: None)


def test_export_and_cli(book, tmp_path, monkeypatch, capsys):
    from gsepconv.experiments import folders

    monkeypatch.setattr(folders, "repo_root", lambda start=None: book)
    assert main(["publish-notebooks"]) == 2 and "--remote" in capsys.readouterr().err
    assert main(["publish-notebooks", "--export", str(tmp_path / "export")]) == 0
    assert sorted(p.name for p in (tmp_path / "export" / "notebooks").iterdir()) == ["01_alpha.ipynb", "02_beta.ipynb"]
    remote = tmp_path / "r.git"
    git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    assert main(["publish-notebooks", "--remote", str(remote)]) == 0
    assert "notebooks/02_beta.ipynb" in branch_files(remote, "notebooks")


def test_the_real_notebooks_export(tmp_path):
    written = pub.export_notebooks(REPO, tmp_path)
    sources = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.py"))
    assert sorted(p.stem for p in written) == sources
    for path in written:
        nb = json.loads(path.read_text())
        assert rp.colab_url(REPO, path.stem) in json.dumps(nb)
