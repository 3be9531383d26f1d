"""Writing results (gsepconv.experiments.io): an output folder that cannot be written fails before
any work is done, a table that cannot be written at the end is kept elsewhere and the message says
where, written files get the mode an ordinary write would, and the write check creates nothing."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from _helpers import not_a_folder
from gsepconv import cli
from gsepconv.experiments.io import atomic_write_text, check_writable, write_table


def test_unwritable_output_folders_fail_before_any_work(tmp_path, capsys, monkeypatch):
    bad = not_a_folder(tmp_path)
    with pytest.raises(ValueError, match=r"cannot write the results table in .*--results"):
        check_writable(bad, "the results table", "--results")
    called = []
    monkeypatch.setattr("gsepconv.experiments.runner.run_experiment", lambda *a, **k: called.append(1))
    assert cli.main(["run", "cifar10", "--profile", "smoke", "--results", str(bad)]) == 2
    assert "cannot write the results table" in capsys.readouterr().err and not called
    monkeypatch.setattr("gsepconv.experiments.bench.benchmark.bench_case", lambda *a, **k: called.append(1))
    assert cli.main(["bench", "--profile", "smoke", "--out", str(bad / "efficiency.csv")]) == 2
    monkeypatch.setattr(
        "gsepconv.experiments.equivariance_report.equivariance_report", lambda *a, **k: called.append(1)
    )
    assert cli.main(["equivariance", "--profile", "quick", "--out", str(bad / "equivariance.csv")]) == 2
    assert cli.main(["train", "--dataset", "mnist_rot_seeded", "--runs", str(bad)]) == 2
    assert not called  # nothing was computed


def test_a_table_that_cannot_be_written_late_is_kept_and_the_message_says_where(tmp_path):
    target = not_a_folder(tmp_path) / "table.csv"
    with pytest.raises(OSError, match=r"saved to (\S+) instead") as err:
        write_table(target, "a,b\n1,2\n", "the benchmark table")
    kept = Path(re.search(r"saved to (\S+) instead", str(err.value)).group(1))
    assert kept.read_text() == "a,b\n1,2\n"
    kept.unlink()


def test_written_files_get_the_mode_an_ordinary_write_would(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "results.csv", "a\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not the 0600 of mkstemp
        os.chmod(path, 0o640)
        atomic_write_text(path, "b\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640  # a replaced file keeps its mode
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write_text(tmp_path / "private.csv", "c\n").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_the_write_check_creates_nothing(tmp_path):
    target = tmp_path / "results" / "smoke"
    assert check_writable(target, "the results table", "--results") == target
    assert not (tmp_path / "results").exists() and list(tmp_path.iterdir()) == []
