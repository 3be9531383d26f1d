"""gsepconv: separable group convolutional networks on Lie groups.

Reproducible companion to Knigge, Romero & Bekkers, *Exploiting Redundancy: Separable Group
Convolutional Networks on Lie Groups* (ICML 2022).
"""

from gsepconv.version import __version__ as __version__


def __getattr__(name: str):
    """``gsepconv.load_run`` & co., imported on first use (PEP 562), so that ``import gsepconv`` and
    ``gsepconv --version`` do not import torch. This package is the top facade: no module of
    gsepconv imports it (they import :mod:`gsepconv.version`)."""
    if name in ("load_run", "predict", "TrainedRun"):
        from gsepconv.experiments import load

        return getattr(load, name)
    raise AttributeError(f"module 'gsepconv' has no attribute {name!r}")
