r"""Efficiency benchmark: training-step and inference time, memory, parameters and MACs for every
group × implementation × number of elements.

For each case a G-ResNet (the paper's MNIST-rot architecture) is built and timed:

* ``train_ms``: one full step (forward, backward, Adam), median over ``repeats`` after ``warmup``;
* ``conv_only_train_ms``: the float32 limit of the step on this machine, the faster of the conv-only
  model's steps (the same convolutions with free weights, no kernel nets:
  :func:`gsepconv.experiments.against.conv_only_model`) with channels-last and with plain NCHW
  convolutions (``conv_only_train_ms_channels_last``, ``conv_only_train_ms_nchw``; the faster
  in ``limit_layout``); ``train_overhead = train_ms / conv_only_train_ms``;
* with ``--against PATH`` (a checkout of the original implementation): ``original_train_ms``,
  the original code's model of the case timed alternately with ours in the same process (at least
  ``against_repeats`` rounds: ``repeats``), the ratio of each round's two steps
  ``original_i / ours_i`` summarised by its median ``speedup_vs_original`` and its interquartile
  range ``speedup_vs_original_q25`` … ``speedup_vs_original_q75``, and ``verdict_vs_original``:
  ``"faster"`` or ``"slower"`` only when that whole range lies on one side of 1, else ``"tie"``
  (``speed_verdict``);
* with ``--bf16``: ``train_ms_bf16``, our step under bfloat16 autocast timed in the same loop, and
  ``bf16_speedup = train_ms / train_ms_bf16`` (``speedup_vs_original_bf16`` with ``--against``);
* on CUDA, every training step runs with the training loop's default cuDNN flags
  (``deterministic=True``: no autotuning), and ``train_ms_cudnn_benchmark`` is our step autotuned
  (``torch.backends.cudnn.benchmark``, as ``deterministic=False`` trains) in the same loop,
  ``cudnn_benchmark_speedup = train_ms / train_ms_cudnn_benchmark`` (``nan`` on CPU);
* ``infer_ms``: ``eval()`` forward under ``torch.inference_mode`` (sampled kernels cached);
* ``conv_only_ms``: the same forward of :func:`gsepconv.nn.export` (frozen kernels: the bare
  convolutions with the same weights); ``infer_overhead = infer_ms / conv_only_ms``;
* ``macs``: multiply–accumulates of one inference forward, counted by PyTorch's flop counter
  (``FlopCounterMode`` counts 2 FLOPs per MAC);
* ``peak_mem_mb``: CUDA peak allocation of a training step (parameters and Adam state included);
  on CPU the bytes of the distinct storages autograd saves for backward (activations, plus the
  sampled kernels and parameters they reference). The two are not comparable across devices.

Rows go to ``results/<profile>/efficiency.csv`` (atomic) with machine and versions; the summary
printed at the end gives ratios: separable-vs-nonseparable per number of elements and the
inference overhead over conv-only time.

The *sweep* (``gsepconv bench --sweep``, :func:`run_sweep`) measures how the costs grow: the
training step time, memory, MACs and parameters of separable and non-separable SE(2) and Sim(2)
G-ResNets (and the Z2 CNN) for every number of group elements × image size of a
:class:`SweepProfile`, written to ``results/<profile>/efficiency_sweep.csv``.

The *layout benchmark* (``gsepconv bench --layouts``, :func:`run_layouts`) times each
implementation's training step with its convolutions channels-last and NCHW, the measurement behind
each implementation's ``layout``; rows go to ``results/<profile>/layouts.csv``.

The package divides as the work does: ``cases`` (the cases, the profiles and what every row
shares), ``timing`` (alternating timings, per-round ratios and their verdicts), ``benchmark`` (the
model benchmark), ``layouts``, ``sweep``, ``micro`` (the micro-benchmarks of ``gsepconv bench --micro``) and
``command`` (``gsepconv bench``). The multiply–accumulate and saved-memory counts are
``gsepconv.nn.count_macs`` and ``gsepconv.nn.saved_activation_mb``.
"""

from __future__ import annotations

from .benchmark import (
    AGAINST_COLUMNS,
    against_is_current,
    bench_case,
    bench_is_current,
    bench_path,
    conv_only_limit,
    in_layout,
    run_benchmark,
    summarise_efficiency,
)
from .cases import BENCH_PROFILES, SWEEP_PROFILES, BenchCase, BenchProfile, SweepProfile
from .command import register
from .layouts import (
    bench_layout_case,
    layout_cases,
    layouts_is_current,
    layouts_path,
    run_layouts,
    summarise_layouts,
)
from .micro import microbench_batch_norm, microbench_rotation_scale
from .sweep import run_sweep, summarise_sweep, sweep_case, sweep_is_current, sweep_path
from .timing import paired_ratios, ratio_quartiles, speed_verdict, speed_words

__all__ = [
    "BENCH_PROFILES",
    "BenchCase",
    "BenchProfile",
    "bench_case",
    "bench_is_current",
    "bench_path",
    "AGAINST_COLUMNS",
    "against_is_current",
    "bench_layout_case",
    "layout_cases",
    "layouts_is_current",
    "layouts_path",
    "run_layouts",
    "summarise_layouts",
    "conv_only_limit",
    "in_layout",
    "microbench_batch_norm",
    "microbench_rotation_scale",
    "register",
    "run_benchmark",
    "summarise_efficiency",
    "paired_ratios",
    "ratio_quartiles",
    "speed_verdict",
    "speed_words",
    "SWEEP_PROFILES",
    "SweepProfile",
    "run_sweep",
    "summarise_sweep",
    "sweep_case",
    "sweep_is_current",
    "sweep_path",
]
