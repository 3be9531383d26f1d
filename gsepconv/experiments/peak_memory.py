"""Peak memory of a training run: ``torch.cuda.max_memory_allocated`` on CUDA (tensors only, reset
at the start of the run); on CPU the peak resident set size of the process, sampled every 50 ms
from ``/proc/self/statm`` by a background thread (it includes the Python/torch footprint and the
datasets; spikes shorter than 50 ms can be missed), or where ``/proc`` is missing
``resource.getrusage().ru_maxrss``, the process's lifetime peak.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
from pathlib import Path

import torch

__all__ = ["PeakMemory"]


class PeakMemory:
    """Peak memory of a run, as a context manager around it; :attr:`mb` reads it (see the module
    docstring for what is measured where)."""

    def __init__(self, device: torch.device, interval: float = 0.05) -> None:
        self.device = device
        self.interval = interval
        self._peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._statm = Path("/proc/self/statm")

    def _rss(self) -> int:
        return int(self._statm.read_text().split()[1]) * self._page

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak_bytes = max(self._peak_bytes, self._rss())

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self._statm.exists():
            self._peak_bytes = self._rss()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._peak_bytes = max(self._peak_bytes, self._rss())

    @property
    def mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self._thread is not None:
            return max(self._peak_bytes, self._rss()) / 2**20
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return rss / (2**20 if sys.platform == "darwin" else 2**10)
