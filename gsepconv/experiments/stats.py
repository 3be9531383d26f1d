r"""Small-sample statistics for the verdicts: Student-t intervals, paired by seed.

Every comparison of two models in this project is *paired*: both train on the same seeds, and a
seed fixes the data order and the initialisation stream, so the per-seed difference
:math:`d_s = a_s - b_s` removes the variation the seeds share. With ``n`` seeds the
``confidence`` interval of the mean difference is

.. math::  \bar d \pm t_{(1+c)/2,\,n-1}\; s_d / \sqrt{n},

which assumes the differences are roughly normal (a handful of seeds cannot check that; the
interval is wide when they disagree). With one seed there is no interval at all: the comparison
is *undetermined*, whatever the difference.

Where seeds cannot be paired (the two models have no two seeds in common, or only their means and
standard deviations are known) :func:`welch_interval` gives the unpaired interval of the difference
of the means, with Welch's degrees of freedom. It is wider than the paired one whenever seeds share
variation, so it is the fallback, not the rule.

The Student-t quantile is computed here (regularised incomplete beta by its continued fraction,
inverted by bisection) so that the library needs no SciPy; it agrees with SciPy to 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Interval", "t_quantile", "mean_interval", "paired_interval", "welch_interval", "student_t_cdf"]


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz method)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta :math:`I_x(a, b)` for ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """``P(T <= t)`` for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df > 0`` degrees of freedom (``0 < p < 1``)."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p!r}, df={df!r}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if student_t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided Student-t interval over ``n`` values (``low``/``high`` are NaN
    for ``n < 2``: no interval from one value)."""

    n: int
    mean: float
    sd: float
    low: float
    high: float
    confidence: float

    @property
    def determined(self) -> bool:
        """Whether there is an interval at all (two values or more)."""
        return self.n >= 2 and not math.isnan(self.low)

    def sign(self) -> int:
        """+1 when the whole interval is above 0, -1 when below, 0 when it contains 0 or is undetermined."""
        if not self.determined:
            return 0
        return 1 if self.low > 0 else (-1 if self.high < 0 else 0)

    def text(self, digits: int = 1) -> str:
        """``"+2.3 [0.4, 4.2]"`` (or ``"+2.3 (1 seed)"``)."""
        if not self.determined:
            return f"{self.mean:+.{digits}f} ({self.n} seed{'s' if self.n != 1 else ''}, no interval)"
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of ``values`` with its Student-t ``confidence`` interval."""
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        raise ValueError("mean_interval needs at least one value")
    mean = sum(xs) / n
    if n < 2:
        return Interval(n, mean, float("nan"), float("nan"), float("nan"), confidence)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return Interval(n, mean, sd, mean - half, mean + half, confidence)


def paired_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Interval:
    """Interval of the mean of ``a[i] - b[i]`` (the same seeds, in the same order)."""
    if len(a) != len(b):
        raise ValueError(f"paired_interval needs pairs: {len(a)} values against {len(b)}")
    return mean_interval([float(x) - float(y) for x, y in zip(a, b)], confidence)


def welch_interval(
    mean_a: float, sd_a: float, n_a: int, mean_b: float, sd_b: float, n_b: int, confidence: float = 0.95
) -> Interval:
    """Unpaired interval of ``mean_a - mean_b`` from each sample's mean, sample sd and size:
    Student-t with Welch–Satterthwaite degrees of freedom. There are no per-pair values, so
    ``n`` is the smaller sample and ``sd`` is NaN; with fewer than two values on either side there
    is no interval (``low``/``high`` NaN). Equal values on both sides (both sds 0) give the point
    interval ``[d, d]``."""
    n_a, n_b = int(n_a), int(n_b)
    mean = float(mean_a) - float(mean_b)
    if min(n_a, n_b) < 2:
        return Interval(min(n_a, n_b), mean, float("nan"), float("nan"), float("nan"), confidence)
    var_a, var_b = float(sd_a) ** 2 / n_a, float(sd_b) ** 2 / n_b
    if math.isnan(var_a + var_b):
        raise ValueError(f"welch_interval needs the standard deviations of both samples, got {sd_a!r} and {sd_b!r}")
    if var_a + var_b == 0.0:
        return Interval(min(n_a, n_b), mean, float("nan"), mean, mean, confidence)
    df = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    half = t_quantile(0.5 + confidence / 2.0, df) * math.sqrt(var_a + var_b)
    return Interval(min(n_a, n_b), mean, float("nan"), mean - half, mean + half, confidence)
