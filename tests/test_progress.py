"""Progress bars (gsepconv.progress): drawn where someone watches a terminal, never into log files;
``GSEPCONV_PROGRESS`` overrides."""

from __future__ import annotations

import sys

from gsepconv.progress import bars_enabled


def test_progress_bars_only_where_someone_watches(monkeypatch):
    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.delenv("GSEPCONV_PROGRESS", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert bars_enabled(True, Stream(True)) and not bars_enabled(True, Stream(False))
    assert not bars_enabled(False, Stream(True))
    monkeypatch.setenv("GSEPCONV_PROGRESS", "1")
    assert bars_enabled(True, Stream(False))
    monkeypatch.setenv("GSEPCONV_PROGRESS", "0")
    assert not bars_enabled(True, Stream(True))
