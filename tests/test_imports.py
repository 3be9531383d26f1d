"""What importing gsepconv pulls in: ``gsepconv --version`` answers without importing torch, and the
layers and models build and run with wandb impossible to import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_version_answers_without_importing_torch():
    code = "import sys; from gsepconv.cli import main; main(['--version']); print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("gsepconv ") and lines[1] == "False", proc.stdout


def test_trap7_no_wandb_needed():
    code = textwrap.dedent(
        """
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "wandb" or name.startswith("wandb."):
                    raise ImportError("wandb is blocked in this test")
        sys.meta_path.insert(0, Block())
        import gsepconv, gsepconv.groups, gsepconv.kernels, gsepconv.nn, gsepconv.models, gsepconv.equivariance
        import torch
        m = gsepconv.models.build_model("cnn", "SE2", "separable", 4, widths=(2, 2), kernel_size=3)
        m(torch.randn(2, 1, 12, 12))
        assert "wandb" not in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
