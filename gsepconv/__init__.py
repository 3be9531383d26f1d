"""gsepconv: separable group convolutional networks on Lie groups.

Reproducible companion to Knigge, Romero & Bekkers, *Exploiting Redundancy: Separable Group
Convolutional Networks on Lie Groups* (ICML 2022).
"""

__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: `gsepconv --version` and light imports stay fast
    if name in ("load_run", "predict", "TrainedRun"):
        from gsepconv.experiments import load

        return getattr(load, name)
    raise AttributeError(f"module 'gsepconv' has no attribute {name!r}")
