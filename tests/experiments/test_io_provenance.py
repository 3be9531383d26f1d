"""The commit stamped on result tables: a rewritten results manifest does not make it dirty."""

import subprocess
from pathlib import Path

from gsepconv.experiments.io import MANIFEST_IN_PACKAGE, _checkout_commit


def test_results_manifest_is_data_not_code(tmp_path: Path) -> None:
    package = tmp_path / "gsepconv"
    (package / "companion").mkdir(parents=True)
    (package / "core.py").write_text("x = 1\n")
    (package / MANIFEST_IN_PACKAGE).write_text("{}\n")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True, capture_output=True
        )

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "init")
    clean = _checkout_commit(package)
    assert clean is not None and not clean.endswith("+dirty")
    (package / MANIFEST_IN_PACKAGE).write_text('{"quick": {}}\n')
    assert _checkout_commit(package) == clean  # the checksums of results/ changed: not the code
    (package / "core.py").write_text("x = 2\n")
    assert _checkout_commit(package) == clean + "+dirty"
