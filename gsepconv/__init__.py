"""gsepconv: separable group convolutional networks on Lie groups.

Reproducible companion to Knigge, Romero & Bekkers, *Exploiting Redundancy: Separable Group
Convolutional Networks on Lie Groups* (ICML 2022).
"""

__version__ = "0.1.0"
