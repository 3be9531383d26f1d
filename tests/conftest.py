"""Shared fixtures of the test suite."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def single_thread():
    """Run a module's tests on one torch thread: small float64 convolutions are many times slower
    with 2 threads on a busy 2-core machine (thread hand-offs dominate)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def offline_storage(monkeypatch, tmp_path):
    """No network (only file:// URLs open), a fresh data folder under tmp_path, no mirror."""
    import socket

    from gsepconv.data import storage

    real = storage.urlopen

    def guarded(url, *args, **kwargs):
        if not str(url).startswith("file:"):
            raise AssertionError(f"a test tried the network: {url}")
        return real(url, *args, **kwargs)

    def no_connect(self, *args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(storage, "urlopen", guarded)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setenv(storage.ENV_DATA, str(tmp_path / "data"))
    monkeypatch.delenv(storage.ENV_MIRROR, raising=False)
